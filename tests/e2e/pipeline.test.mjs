// The Workers together: a request to api leads to a queue message, a consumer acts on it,
// and the effect is visible through api.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPipeline } from "./harness.mjs";
import { assertJpegAt } from "./support.mjs";

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
  // The broker may deliver within its 1 s batch timeout, even before the answer; the state
  // before any delivery is tested deterministically in edit.test.mjs.
  assert.ok(["pending", "generating", "ready"].includes(created.json.image.status), created.json.image.status);
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
  assert.equal(ready.image.previewUrl, ready.image.url);
  // The text is revision 1, the stored image revision 2.
  assert.equal(ready.revision, 2);

  // The image is public (Instagram downloads it itself), a whole JPEG, served as one (nosniff).
  await assertJpegAt(ready.image.url);
});
