// A person's photos end to end: POST /api/v1/drafts/{id}/images against the compiled api, the
// image consumer fitting the upload from its queue, the stored JPEG read back from R2 and
// decoded by an independent decoder (sharp, libvips); then the images ordered and removed,
// the options set, each change at the revision seen, and housekeeping keeping every item's
// image while sweeping a removed one.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { API_TOKEN, REVIEWER, cronWorkerName, startPipeline } from "./harness.mjs";
import { assertInstagramSize, withImages } from "./support.mjs";

const CRON = cronWorkerName();
const HOUSEKEEPING = { ORPHAN_IMAGE_GRACE_MINUTES: "0" };
/** media::MAX_UPLOAD_BYTES */
const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

let pipeline;
before(async () => {
  pipeline = await startPipeline({ api: HOUSEKEEPING, [CRON]: HOUSEKEEPING }, { record: true });
});
after(async () => {
  await pipeline?.dispose();
});

const { draftWithImage, r2Bytes } = withImages(() => pipeline);

/** Stripes a camera would have stored sideways: red on the left quarter, blue on the right. */
function stripes(width, height) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const quarter = Math.floor((x * 4) / width);
      raw.set(quarter === 0 ? [220, 30, 30] : quarter === 3 ? [30, 30, 220] : [30, 200, 30], (y * width + x) * 3);
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

/** A phone's photo: 1200x900 stored, EXIF orientation 6 (shown 900x1200), GPS tags. */
async function phoneJpeg() {
  const bytes = await stripes(1200, 900)
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExifMerge({ IFD0: { Make: "PhoneCo" }, IFD3: { GPSLatitudeRef: "N", GPSLatitude: "35/1 39/1 3102/100" } })
    .toBuffer();
  const meta = await sharp(bytes).metadata();
  assert.equal(meta.orientation, 6);
  // The GPS IFD pointer (tag 0x8825, little-endian) is in the EXIF as sent.
  assert.ok(meta.exif.includes(Buffer.from([0x25, 0x88])), "the photo sent has GPS tags");
  return bytes;
}

function upload(id, name, bytes, type = "image/jpeg") {
  return pipeline.request("POST", `/api/v1/drafts/${id}/images?name=${encodeURIComponent(name)}`, {
    raw: bytes,
    headers: { "content-type": type },
  });
}

/** The object keys under uploads/ and images/ and the draft's stored items and revision. */
async function stored(id) {
  const row = await pipeline.draftRow(id);
  return { keys: (await pipeline.mediaKeys()).sort(), items: row.media_items, revision: row.revision };
}

test("each refused upload names the file and keeps nothing", async () => {
  const { id } = await draftWithImage("Refusals: a photo too big, a text, a thumbnail");
  const before = await stored(id);

  // 30 MB with its Content-Length: refused before it is read.
  const big = Buffer.alloc(30 * 1024 * 1024, 0x41);
  big.set([0xff, 0xd8, 0xff, 0xe0]);
  const declared = await upload(id, "holiday.jpg", big);
  assert.equal(declared.status, 413, declared.text);
  assert.match(declared.json.error.message, /^holiday\.jpg: /);
  assert.match(declared.json.error.message, /20 MiB/);

  // 30 MB streamed without a Content-Length: counted as it arrives, dropped at the limit.
  let sent = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (sent >= big.length) return controller.close();
      const chunk = big.subarray(sent, sent + 1024 * 1024);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const response = await fetch(`${pipeline.url}/api/v1/drafts/${id}/images?name=stream.jpg`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "image/jpeg" },
    body: stream,
    duplex: "half",
  });
  const streamed = await response.json();
  assert.equal(response.status, 413, JSON.stringify(streamed));
  assert.match(streamed.error.message, /^stream\.jpg: /);
  assert.ok(sent > MAX_UPLOAD_BYTES, `only ${sent} bytes were streamed`);

  // A text file named .jpg and sent as a JPEG: its bytes say otherwise.
  const text = await upload(id, "notes.jpg", Buffer.from("Shopping list: flour, eggs, butter\n".repeat(20)));
  assert.equal(text.status, 415, text.text);
  assert.match(text.json.error.message, /^notes\.jpg: it is in an unknown format, not a JPEG, PNG or WebP image/);

  // A 100x100 thumbnail.
  const tiny = await upload(id, "tiny.png", await stripes(100, 100).png().toBuffer(), "image/png");
  assert.equal(tiny.status, 422, tiny.text);
  assert.match(tiny.json.error.message, /^tiny\.png: it is 100x100 px; a photo needs at least 320 px on each side/);

  // Not sent as an image at all.
  const json = await upload(id, "data.json", Buffer.from("{}"), "application/json");
  assert.equal(json.status, 415, json.text);
  assert.match(json.json.error.message, /^data\.json: /);

  assert.deepEqual(await stored(id), before, "a refused upload stored something");
  assert.deepEqual(await pipeline.mediaKeys("uploads/"), []);
});

test("a phone photo is stored upright, fitted, and without its EXIF and GPS", async () => {
  const { id, key: generatedKey } = await draftWithImage("A phone photo of the new counter");
  const added = await upload(id, "IMG_0042.JPG", await phoneJpeg());
  assert.equal(added.status, 201, added.text);
  // The draft's generated image comes first; the photo waits to be fitted.
  const items = added.json.mediaItems;
  assert.equal(items.length, 2);
  assert.deepEqual(items[0], {
    id: "generated",
    source: "imageModel",
    altText: added.json.altText,
    image: { state: "ready", key: generatedKey, width: 0, height: 0 },
    url: `${pipeline.url}/media/${generatedKey}`,
  });
  assert.equal(items[1].source, "uploaded");
  const upload1 = items[1].id;
  const sentMessage = pipeline.sent.find((s) => s.queue === "image-queue" && s.body?.action === "fit_uploads" && s.body.id === id);
  assert.ok(sentMessage, "no fit_uploads message was sent");

  const ready = await pipeline.eventually(async () => {
    const row = await pipeline.draftRow(id);
    const item = JSON.parse(row.media_items).find((i) => i.id === upload1);
    return item.image.state !== "pending" && item;
  }, { what: "the upload to be fitted" });
  assert.equal(ready.image.state, "ready", JSON.stringify(ready));
  assert.deepEqual([ready.image.width, ready.image.height], [900, 1125]);
  assert.match(ready.image.key, new RegExp(`^images/${id}/[0-9a-f]{16}\\.jpg$`));

  const bytes = await r2Bytes(ready.image.key);
  assert.deepEqual(assertInstagramSize(bytes), { width: 900, height: 1125 });
  const meta = await sharp(bytes).metadata();
  assert.equal(meta.format, "jpeg");
  assert.deepEqual([meta.width, meta.height], [900, 1125]);
  assert.equal(meta.orientation, undefined, "an orientation tag was kept");
  assert.equal(meta.exif, undefined, "EXIF was kept");
  assert.equal(meta.xmp, undefined, "XMP was kept");
  assert.ok(!bytes.includes(Buffer.from("Exif")), "an Exif segment was kept");
  assert.ok(!bytes.includes(Buffer.from("PhoneCo")), "the camera's make was kept");
  // Upright: the stored left (red) quarter is the top, the right (blue) one the bottom.
  const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const at = (x, y) => [...data.subarray((y * 900 + x) * 3, (y * 900 + x) * 3 + 3)];
  const [top, bottom] = [at(450, 60), at(450, 1060)];
  assert.ok(top[0] > 180 && top[2] < 80, `top is ${top}, not red`);
  assert.ok(bottom[2] > 180 && bottom[0] < 80, `bottom is ${bottom}, not blue`);

  // The raw upload, metadata and all, is gone; the fitted image is served.
  assert.deepEqual(await pipeline.mediaKeys(`uploads/${id}/`), []);
  const served = await fetch(`${pipeline.url}/media/${ready.image.key}`);
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
});

test("images are ordered and removed, options set, each at the revision seen; approval waits for every image", async () => {
  const { id, key: generatedKey } = await draftWithImage("A carousel of the new counter");
  const png = await stripes(1600, 1000).png().toBuffer();
  const added = await upload(id, "counter.png", png, "image/png");
  assert.equal(added.status, 201, added.text);
  const photo = added.json.mediaItems[1].id;
  const revision = added.json.revision;

  // Approval needs every image ready: refused while the photo may still be waiting.
  const row = await pipeline.draftRow(id);
  if (JSON.parse(row.media_items)[1].image.state === "pending") {
    const early = await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, { token: REVIEWER.token, body: { revision } });
    assert.equal(early.status, 409, early.text);
    assert.match(early.json.error.message, /image 2 is still being fitted/);
  }
  await pipeline.eventually(async () => {
    const row = await pipeline.draftRow(id);
    return JSON.parse(row.media_items)[1].image.state === "ready";
  }, { what: "the PNG to be fitted" });
  // Fitting starts no revision: the person's revision still holds.
  assert.equal((await pipeline.draftRow(id)).revision, revision);

  // A stale revision is refused with the draft as it is.
  const stale = await pipeline.request("PUT", `/api/v1/drafts/${id}/images`, { body: { revision: revision - 1, items: [photo, "generated"] } });
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.error.code, "revision_conflict");
  // An id the post does not have, named by its path.
  const unknown = await pipeline.request("PUT", `/api/v1/drafts/${id}/images`, { body: { revision, items: [photo, "nope"] } });
  assert.equal(unknown.status, 400, unknown.text);
  assert.deepEqual(unknown.json.error.problems.map((p) => p.path), ["items[1]"]);

  const ordered = await pipeline.request("PUT", `/api/v1/drafts/${id}/images`, { body: { revision, items: [photo, "generated"] } });
  assert.equal(ordered.status, 200, ordered.text);
  assert.deepEqual(ordered.json.mediaItems.map((i) => i.id), [photo, "generated"]);
  assert.equal(ordered.json.revision, revision + 1);

  // Options: every problem by its field path, nothing written.
  const bad = await pipeline.request("PATCH", `/api/v1/drafts/${id}/options`, {
    body: {
      revision: revision + 1,
      firstComment: "more \u202Eof this",
      collaborators: ["aiko", "not a name", "x", "y", "z", "w"],
      locationId: "Shibuya",
      aiLabel: "maybe",
    },
  });
  assert.equal(bad.status, 400, bad.text);
  assert.deepEqual(bad.json.error.problems.map((p) => p.path), ["firstComment", "collaborators", "collaborators[1]", "locationId", "aiLabel"]);
  assert.equal((await pipeline.draftRow(id)).post_options, null);

  const set = await pipeline.request("PATCH", `/api/v1/drafts/${id}/options`, {
    body: { revision: revision + 1, firstComment: "Open till 18:00 #cafe", collaborators: ["@Aiko.Tanaka"], locationId: "110843418940484", aiLabel: "yes" },
  });
  assert.equal(set.status, 200, set.text);
  assert.deepEqual(set.json.postOptions, {
    firstComment: "Open till 18:00 #cafe",
    collaborators: ["aiko.tanaka"],
    locationId: "110843418940484",
    aiLabel: "yes",
    aiGenerated: true,
    aiGeneratedBecause: "you said an image was made with AI",
  });
  const staleOptions = await pipeline.request("PATCH", `/api/v1/drafts/${id}/options`, { body: { revision: revision + 1, locationId: null } });
  assert.equal(staleOptions.status, 409, staleOptions.text);
  assert.equal((await pipeline.draftRow(id)).revision, revision + 2);

  // The generated image removed: one photo is left, and housekeeping keeps it.
  const removed = await pipeline.request("PUT", `/api/v1/drafts/${id}/images`, { body: { revision: revision + 2, items: [photo] } });
  assert.equal(removed.status, 200, removed.text);
  assert.deepEqual(removed.json.mediaItems.map((i) => i.id), [photo]);
  const photoKey = removed.json.mediaItems[0].image.key;

  const approved = await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, {
    token: REVIEWER.token,
    body: { revision: revision + 3, scheduledAt: new Date(Date.now() + 86_400_000).toISOString() },
  });
  assert.equal(approved.status, 200, approved.text);
  const snapshot = await pipeline.draftRow(id);
  assert.deepEqual(JSON.parse(snapshot.approved_media_items).map((i) => i.id), [photo]);
  assert.equal(JSON.parse(snapshot.approved_post_options).firstComment, "Open till 18:00 #cafe");

  // Housekeeping: the item's image stays; the draft's own image_key also stays (it is the
  // draft's); an unreferenced object under the draft's folder goes.
  const bucket = await pipeline.mf.getR2Bucket("MEDIA", "api");
  const orphan = `images/${id}/0123456789abcdef.jpg`;
  await bucket.put(orphan, "an object no draft names");
  await pipeline.runCron({ at: new Date(Date.now() + 60_000), worker: CRON });
  await pipeline.eventually(async () => !(await pipeline.mediaKeys(`images/${id}/`)).includes(orphan), { what: "the orphan to be swept" });
  const left = await pipeline.mediaKeys(`images/${id}/`);
  assert.ok(left.includes(photoKey), `the item's image ${photoKey} was swept: ${left}`);
  assert.ok(left.includes(generatedKey), `the draft's image was swept: ${left}`);
});

test("at most ten images", async () => {
  const { id } = await draftWithImage("Ten photos");
  const jpeg = await stripes(400, 400).jpeg().toBuffer();
  for (let i = 0; i < 9; i++) {
    const added = await upload(id, `p${i}.jpg`, jpeg);
    assert.equal(added.status, 201, added.text);
  }
  const eleventh = await upload(id, "p9.jpg", jpeg);
  assert.equal(eleventh.status, 409, eleventh.text);
  assert.match(eleventh.json.error.message, /^p9\.jpg: the post has 10 images/);
});

test("a post of photos: no image is generated, the text waits, the photos are its images", async () => {
  const made = await pipeline.generate({ brief: "Our counter, in our own photos", language: "en", photos: true });
  assert.equal(made.status, 201, made.text);
  const id = made.json.draftId;
  assert.equal(made.json.caption, "");
  assert.equal(made.json.image.status, "ready");
  assert.equal(made.json.image.url, null);
  assert.equal(made.json.mediaItems, null);
  assert.ok(!pipeline.sent.some((s) => s.queue === "image-queue" && s.body?.id === id), "an image was asked for");
  // Nothing to approve yet.
  const empty = await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, { token: REVIEWER.token, body: { revision: made.json.revision } });
  assert.equal(empty.status, 409, empty.text);

  const added = await upload(id, "front.webp", await stripes(800, 800).webp().toBuffer(), "image/webp");
  assert.equal(added.status, 201, added.text);
  assert.deepEqual(added.json.mediaItems.map((i) => i.source), ["uploaded"]);
  const ready = await pipeline.eventually(async () => {
    const item = JSON.parse((await pipeline.draftRow(id)).media_items)[0];
    return item.image.state === "ready" && item;
  }, { what: "the WebP to be fitted" });
  assert.deepEqual([ready.image.width, ready.image.height], [800, 800]);
  assert.deepEqual(assertInstagramSize(await r2Bytes(ready.image.key)), { width: 800, height: 800 });
  // No image model drew it: no AI label unless a person says so.
  const draft = await pipeline.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(draft.json.postOptions.aiGenerated, false);
  const bad = await pipeline.generate({ brief: "x", photos: "yes" });
  assert.equal(bad.status, 400, bad.text);
  assert.deepEqual(bad.json.error.problems.map((p) => p.path), ["photos"]);
});
