// /media: the public images, served from R2 (streamed, typed, nosniff, conditional and ranged
// requests), the pending placeholder, and 404 for every key that is not an image's, a path
// that climbs out of images/ included.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { startPipeline } from "./harness.mjs";
import { withImages } from "./support.mjs";

let pipeline;
before(async () => {
  pipeline = await startPipeline();
});
after(() => pipeline?.dispose());

const { sharedDraft, r2Bytes, getBytes } = withImages(() => pipeline);

const NO_SUCH_MEDIA = { error: { code: "not_found", message: "no such media" } };

test("the pending placeholder is served while an image is being made", async () => {
  const response = await fetch(`${pipeline.url}/media/pending.svg`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/svg+xml");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.match(await response.text(), /<svg/);
});

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

// Guards workers/api/src/media.rs:56-84 (the object's own body, type and headers).
test("GET /media/<key> streams exactly the R2 object, typed, nosniff, Accept-Ranges", async () => {
  const { draft, key } = await sharedDraft();
  assert.equal(draft.image.url, `${pipeline.url}/media/${key}`);
  const stored = await r2Bytes(key);
  const got = await getBytes(`/media/${key}`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("content-type"), "image/jpeg");
  assert.equal(got.headers.get("x-content-type-options"), "nosniff");
  assert.equal(got.headers.get("accept-ranges"), "bytes");
  assert.ok(got.headers.get("etag"), "no ETag");
  assert.equal(got.bytes.length, stored.length);
  assert.ok(got.bytes.equals(stored), "the body is not the R2 object");

  const svg = await getBytes("/media/pending.svg");
  assert.equal(svg.status, 200);
  assert.equal(svg.headers.get("content-type"), "image/svg+xml");
  assert.equal(svg.headers.get("x-content-type-options"), "nosniff");
});

// Guards workers/api/src/media.rs:47-52 (If-None-Match becomes R2's etagDoesNotMatch) and
// :65-68 (a failed precondition answers 304 with the ETag).
test("If-None-Match with the current ETag answers 304; a stale one 200", async () => {
  const { key } = await sharedDraft();
  const first = await getBytes(`/media/${key}`);
  const etag = first.headers.get("etag");
  assert.match(etag, /^"[^"]+"$/, "ETag is not a strong quoted tag");

  const current = await getBytes(`/media/${key}`, { "if-none-match": etag });
  assert.equal(current.status, 304);
  assert.equal(current.bytes.length, 0, "a 304 has no body");
  assert.equal(current.headers.get("etag"), etag);
  assert.equal(current.headers.get("cache-control"), first.headers.get("cache-control"));

  const stale = await getBytes(`/media/${key}`, { "if-none-match": '"0123456789abcdef0123456789abcdef"' });
  assert.equal(stale.status, 200);
  assert.ok(stale.bytes.equals(first.bytes));
});

// RFC 9110 13.1.2: If-None-Match compares weakly and may list several tags; a cache that
// holds a copy sends `W/"..."` (a proxy that compressed it weakens the tag) or a list.
// Guards workers/api/src/media.rs:49, which passes the header to R2 as one strong tag.
test("If-None-Match matches a weak form of the current ETag and a list that contains it", async () => {
  const { key } = await sharedDraft();
  const etag = (await getBytes(`/media/${key}`)).headers.get("etag");
  for (const header of [`W/${etag}`, `"0000", ${etag}`, `${etag}, "0000"`, "*"]) {
    const response = await getBytes(`/media/${key}`, { "if-none-match": header });
    assert.equal(response.status, 304, `If-None-Match: ${header}`);
  }
  const none = await getBytes(`/media/${key}`, { "if-none-match": '"0000", W/"1111"' });
  assert.equal(none.status, 200);
});

// Guards workers/api/src/media.rs:36-45 (the size first, 416 when unsatisfiable), :53-55
// (R2 reads the range) and :75-81 (206 with Content-Range), with ByteRange::resolve.
test("Range answers 206 with exactly those bytes, suffix ranges included; an unsatisfiable one 416", async () => {
  const { key } = await sharedDraft();
  const stored = await r2Bytes(key);
  const size = stored.length;
  assert.ok(size > 200, `${size} bytes`);

  const first = await getBytes(`/media/${key}`, { range: "bytes=0-99" });
  assert.equal(first.status, 206);
  assert.equal(first.headers.get("content-range"), `bytes 0-99/${size}`);
  assert.equal(first.headers.get("accept-ranges"), "bytes");
  assert.equal(first.headers.get("content-type"), "image/jpeg");
  assert.equal(first.headers.get("x-content-type-options"), "nosniff");
  assert.ok(first.bytes.equals(stored.subarray(0, 100)), "bytes 0-99 are not the object's first 100");

  const last = await getBytes(`/media/${key}`, { range: "bytes=-100" });
  assert.equal(last.status, 206);
  assert.equal(last.headers.get("content-range"), `bytes ${size - 100}-${size - 1}/${size}`);
  assert.ok(last.bytes.equals(stored.subarray(size - 100)), "the last 100 bytes differ");

  const open = await getBytes(`/media/${key}`, { range: `bytes=${size - 10}-` });
  assert.equal(open.status, 206);
  assert.equal(open.headers.get("content-range"), `bytes ${size - 10}-${size - 1}/${size}`);
  assert.ok(open.bytes.equals(stored.subarray(size - 10)));

  const past = await getBytes(`/media/${key}`, { range: `bytes=${size}-` });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), `bytes */${size}`);
  assert.equal(past.bytes.length, 0);

  // A range of an object that does not exist is a 404, not a 416.
  const missing = await getBytes(`/media/images/${randomUUID()}/missing.jpg`, { range: "bytes=0-99" });
  assert.equal(missing.status, 404);
});

// The same against an object of several MiB written straight to R2: a range in its middle
// comes back byte for byte. Guards media.rs:53-55 (OffsetWithLength) and :75-84.
test("a range in the middle of a large object is read exactly; the whole object too", async () => {
  const bucket = await pipeline.mf.getR2Bucket("MEDIA", "api");
  const key = `images/${randomUUID()}/large.jpg`;
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  // A plain Uint8Array: Miniflare's proxy does not pass a Node Buffer.
  await bucket.put(key, new Uint8Array(bytes), { httpMetadata: { contentType: "image/jpeg" } });
  const middle = await getBytes(`/media/${key}`, { range: "bytes=1048576-1048675" });
  assert.equal(middle.status, 206);
  assert.equal(middle.headers.get("content-range"), `bytes 1048576-1048675/${bytes.length}`);
  assert.ok(middle.bytes.equals(bytes.subarray(1048576, 1048676)));
  const whole = await getBytes(`/media/${key}`);
  assert.equal(whole.status, 200);
  assert.ok(whole.bytes.equals(bytes), "the large object came back changed");
  await bucket.delete(key);
});
