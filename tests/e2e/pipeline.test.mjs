// The Workers together: a request to api leads to a queue message, a consumer acts on it,
// and the effect is visible through api.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPipeline } from "./harness.mjs";

let pipeline;
before(async () => {
  pipeline = await startPipeline();
});
after(() => pipeline?.dispose());

test("healthz answers with the version, without a token", async () => {
  const { status, json } = await pipeline.request("GET", "/healthz", { token: null });
  assert.equal(status, 200);
  assert.equal(json.status, "ok");
  assert.match(json.version, /^\d+\.\d+\.\d+$/);
});

test("a generated draft gets its image from image-consumer through IMAGE_QUEUE", async () => {
  const created = await pipeline.generate({ brief: "Autumn menu launch at our cafe", language: "en" });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.status, "draft");
  assert.equal(created.json.image.status, "pending");
  assert.match(created.json.image.previewUrl, /\/media\/pending\.svg$/);
  const id = created.json.draftId;

  const ready = await pipeline.eventually(
    async () => {
      const { json } = await pipeline.request("GET", `/api/v1/drafts/${id}`);
      return json?.image?.status === "ready" ? json : null;
    },
    { what: "the image to be ready" },
  );
  assert.equal(ready.status, "draft");
  assert.match(ready.image.url, new RegExp(`/media/images/${id}/[0-9a-f]{16}\\.jpg$`));

  // The image is public (Instagram downloads it itself) and is a JPEG.
  const image = await fetch(ready.image.url);
  assert.equal(image.status, 200);
  assert.equal(image.headers.get("content-type"), "image/jpeg");
  const bytes = new Uint8Array(await image.arrayBuffer());
  assert.deepEqual([...bytes.slice(0, 3)], [0xff, 0xd8, 0xff]);
  assert.ok(bytes.length > 1000, `only ${bytes.length} bytes`);
});

test("the pending placeholder is served while an image is being made", async () => {
  const response = await fetch(`${pipeline.url}/media/pending.svg`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/svg+xml");
  assert.match(await response.text(), /<svg/);
});

test("unknown media keys are not found", async () => {
  for (const path of ["/media/images/nope.jpg", "/media/../secrets", "/media/other/x.jpg"]) {
    const { status } = await pipeline.request("GET", path, { token: null });
    assert.equal(status, 404, path);
  }
});
