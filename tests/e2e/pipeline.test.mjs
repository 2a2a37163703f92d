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
  // before any delivery is tested deterministically in state.test.mjs.
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

test("the pending placeholder is served while an image is being made", async () => {
  const response = await fetch(`${pipeline.url}/media/pending.svg`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/svg+xml");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.match(await response.text(), /<svg/);
});

const NO_SUCH_MEDIA = { error: { code: "not_found", message: "no such media" } };

test("unknown media keys are not found", async () => {
  for (const path of ["/media/images/nope.jpg", "/media/other/x.jpg"]) {
    const answer = await pipeline.request("GET", path, { token: null });
    assert.equal(answer.status, 404, path);
    assert.deepEqual(answer.json, NO_SUCH_MEDIA, path);
  }
});

test("media: a path that climbs out of images/ reaches the Worker as sent and gets its 404", async () => {
  // fetch resolves dot segments before sending, so these go out with node:http as written.
  assert.equal(new URL(`${pipeline.url}/media/images/../x`).pathname, "/media/x");
  const bucket = await pipeline.mf.getR2Bucket("MEDIA", "api");
  // What a traversal would be after: an object outside images/, which /media must never serve.
  await bucket.put("private/secret.txt", "top secret", { httpMetadata: { contentType: "text/plain" } });
  // A key with ".." that no image job writes: never looked up, even though it exists.
  await bucket.put("images/a..b/x.jpg", "not an image", { httpMetadata: { contentType: "image/jpeg" } });
  for (const path of [
    "/media/images/../private/secret.txt",
    "/media/images/%2e%2e/private/secret.txt",
    "/media/images/x/../../private/secret.txt",
    "/media/images/..%2fprivate/secret.txt",
    "/media/images/a..b/x.jpg",
  ]) {
    const answer = await pipeline.rawGet(path);
    assert.equal(answer.status, 404, `${path}: ${answer.text}`);
    assert.deepEqual(answer.json, NO_SUCH_MEDIA, path);
    assert.match(answer.headers.get("content-type"), /^application\/json/, path);
    assert.ok(!answer.text.includes("top secret") && !answer.text.includes("not an image"), path);
  }
  // Climbing above /media/ leaves the media routes altogether: the router's own 404.
  const above = await pipeline.rawGet("/media/../private/secret.txt");
  assert.equal(above.status, 404, above.text);
  assert.deepEqual(above.json, { error: { code: "not_found", message: "no route for /private/secret.txt" } });
});
