// The image providers end to end, against the compiled image-consumer: copies of it configured
// for an OpenAI-compatible images endpoint and for the Workers AI binding (flux-style base64
// JPEG, stable-diffusion-xl-style PNG bytes) are handed batches directly (pipeline.deliver),
// with a local fake provider (tests/fakes/images.mjs) that records calls and injects faults.
// Every stored image is read back from R2 and through GET /media/{key}, and decoded by an
// independent decoder (sharp, libvips) to prove it is a JPEG within Instagram's rules.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import sharp from "sharp";
import { imageReply, startFakeImages } from "../fakes/images.mjs";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { startPipeline } from "./harness.mjs";
import { queueProbes } from "./queues.mjs";
import { assertInstagramSize, assertJpegAt } from "./support.mjs";

const IMAGE = "image-consumer";
const OPENAI = "images-openai";
/** A second OpenAI copy: two deliveries of one message at the same moment, one per Worker. */
const OPENAI_TWIN = "images-openai-twin";
const FLUX = "images-flux";
const SDXL = "images-sdxl";
const KEY = "sk-images-e2e-5mQ8vT2xK7pL9wR3";
const LANGSMITH_KEY = "lsv2_pt_images_e2e_0a1b2c3d4e5f";
const OPENAI_MODEL = "gpt-image-e2e";
const FLUX_MODEL = "@cf/black-forest-labs/flux-1-schnell";
const SDXL_MODEL = "@cf/stabilityai/stable-diffusion-xl-base-1.0";
const TIMEOUT_MS = 1500;
/** domain::backoff::Backoff::IMAGE */
const BACKOFF = { baseSeconds: 10, capSeconds: 300, maxAttempts: 4 };

let fake;
let langsmith;
let pipeline;
before(async () => {
  fake = await startFakeImages();
  langsmith = await startFakeLangSmith();
  const tracing = { LANGSMITH_API_KEY: LANGSMITH_KEY, LANGSMITH_ENDPOINT: langsmith.url, IMAGE_TIMEOUT_MS: String(TIMEOUT_MS) };
  const openai = {
    IMAGE_PROVIDER: "openai",
    IMAGE_OPENAI_BASE_URL: fake.baseUrl,
    IMAGE_OPENAI_MODEL: OPENAI_MODEL,
    IMAGE_OPENAI_API_KEY: KEY,
    ...tracing,
  };
  pipeline = await startPipeline(
    {},
    {
      record: true,
      ai: fake.url,
      copies: {
        [OPENAI]: { of: IMAGE, vars: openai },
        [OPENAI_TWIN]: { of: IMAGE, vars: openai },
        [FLUX]: { of: IMAGE, ai: true, vars: { IMAGE_PROVIDER: "workers-ai", IMAGE_MODEL: FLUX_MODEL, ...tracing } },
        [SDXL]: { of: IMAGE, ai: true, vars: { IMAGE_PROVIDER: "workers-ai", IMAGE_MODEL: SDXL_MODEL, ...tracing } },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
  await langsmith?.close();
});
beforeEach(() => {
  fake.reset();
  fake.setDefaultOpenAI(null);
  fake.setDefaultAI(null);
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** Raw RGB of a picture whose colour tells where a pixel came from: red grows to the right,
 * green downwards, blue is fixed. */
function gradient(width, height) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      raw[at] = Math.floor((x * 255) / width);
      raw[at + 1] = Math.floor((y * 255) / height);
      raw[at + 2] = 96;
    }
  }
  return raw;
}

const pictures = new Map();
/** A real PNG or JPEG of `width` x `height`, made by libvips. */
async function picture(format, width, height) {
  const name = `${format}-${width}x${height}`;
  if (!pictures.has(name)) {
    const image = sharp(gradient(width, height), { raw: { width, height, channels: 3 } });
    const encoded = { png: () => image.png(), webp: () => image.webp({ lossless: true }) }[format]?.() ?? image.jpeg({ quality: 90 });
    pictures.set(name, await encoded.toBuffer());
  }
  return pictures.get(name);
}

const { insertDraft } = queueProbes(() => pipeline);

function message(id, { attempt = 1 } = {}) {
  return { id, action: "generate_image", attempt, requestedAt: new Date().toISOString() };
}

async function bucket() {
  return pipeline.mf.getR2Bucket("MEDIA", "api");
}

/**
 * The draft's stored image: read from R2 and through GET /media/{key} (the same bytes),
 * within Instagram's rules, and fully decoded by libvips as a baseline sRGB JPEG of `size`.
 * Answers the bytes and the decoded pixels.
 */
async function storedImage(id, { width, height, progressive = false }) {
  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "ready", `image ${row.image_status}: ${row.image_error}`);
  assert.equal(row.image_error, null);
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [row.image_key], "exactly one image in R2");
  const object = await (await bucket()).get(row.image_key);
  assert.equal(object.httpMetadata.contentType, "image/jpeg");
  const bytes = new Uint8Array(await object.arrayBuffer());
  const served = await assertJpegAt(`${pipeline.url}/media/${row.image_key}`);
  assert.deepEqual(served, bytes, "GET /media/{key} serves other bytes than R2 holds");
  assert.deepEqual(assertInstagramSize(bytes), { width, height });
  const meta = await sharp(bytes).metadata();
  assert.equal(meta.format, "jpeg");
  assert.deepEqual([meta.width, meta.height], [width, height]);
  assert.equal(meta.isProgressive, progressive);
  assert.equal(meta.space, "srgb");
  assert.equal(meta.channels, 3);
  assert.equal(meta.hasProfile, false, "no ICC profile: readers take JFIF as sRGB");
  // A full decode, not just the headers: a cut or corrupt file fails here.
  const { data, info } = await sharp(bytes, { failOn: "truncated" }).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [width, height, 3]);
  return { row, bytes, pixels: data };
}

/** Asserts the decoded pixel at (x, y) is within 12 per channel of `colour`. */
function assertPixel(pixels, width, [x, y], colour) {
  const at = (y * width + x) * 3;
  const actual = [pixels[at], pixels[at + 1], pixels[at + 2]];
  const off = Math.max(...actual.map((v, c) => Math.abs(v - colour[c])));
  assert.ok(off <= 12, `at (${x}, ${y}): expected ${colour}, decoded ${actual}`);
}

function sentFor(id) {
  return pipeline.sent.filter((sent) => sent.body?.id === id);
}

async function pointFor(id) {
  return pipeline.eventually(() => pipeline.metrics.find((point) => point.indexes[0] === id), {
    timeoutMs: 5000,
    intervalMs: 20,
    what: `a data point for ${id}`,
  });
}

/** The `generate_image` runs traced for draft `id`, with their children. */
async function traceFor(id) {
  return pipeline.eventually(
    () => {
      const runs = langsmith.runs();
      const root = runs.find((run) => run.name === "generate_image" && run.inputs?.draftId === id);
      if (!root) return null;
      return { root, children: runs.filter((run) => run.parent_run_id === root.id) };
    },
    { timeoutMs: 5000, intervalMs: 50, what: `the trace of ${id}` },
  );
}

/** Asserts the draft's image is still pending, with the failed attempt's reason, and the next
 * attempt queued; answers the delay asked for. */
function assertRetried(row, sent, attempt, reason) {
  assert.equal(row.image_status, "pending", `attempt ${attempt}: ${row.image_error}`);
  assert.match(row.image_error, new RegExp(`^attempt ${attempt} failed: `));
  assert.match(row.image_error, reason);
  assert.equal(sent.length, 1, JSON.stringify(sent));
  assert.equal(sent[0].body.attempt, attempt + 1);
  return sent[0].options.delaySeconds;
}

function backoffWindow(attempt) {
  const step = Math.min(BACKOFF.baseSeconds * 2 ** (attempt - 1), BACKOFF.capSeconds);
  return [Math.floor(step / 2), step];
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible images endpoint

test("openai: a b64_json PNG is stored as a baseline JPEG with its pixels, and traced", async () => {
  fake.scriptOpenAI(imageReply.b64(await picture("png", 1024, 1024)));
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);

  const { row, pixels } = await storedImage(id, { width: 1024, height: 1024 });
  for (const [x, y] of [[8, 8], [1000, 20], [20, 1000], [512, 512]]) {
    assertPixel(pixels, 1024, [x, y], [Math.floor((x * 255) / 1024), Math.floor((y * 255) / 1024), 96]);
  }
  const [call] = fake.openaiCalls();
  assert.equal(call.headers.authorization, `Bearer ${KEY}`);
  assert.deepEqual(call.json, { model: OPENAI_MODEL, prompt: row.image_prompt, n: 1 });
  assert.deepEqual(sentFor(id), []);
  assert.equal((await pointFor(id)).blobs[3], "stored");

  const { root, children } = await traceFor(id);
  assert.equal(root.extra.metadata.provider, "openai");
  assert.equal(root.extra.metadata.model, OPENAI_MODEL);
  assert.equal(root.extra.metadata.status, "success");
  assert.ok(Number.isInteger(root.extra.metadata.duration_ms) && root.extra.metadata.duration_ms >= 0);
  assert.equal(root.outputs.key, row.image_key);
  assert.equal(root.outputs.bytes, (await (await bucket()).get(row.image_key)).size);
  assert.deepEqual(root.outputs.source, { format: "PNG", width: 1024, height: 1024 });
  assert.equal(root.outputs.reencoded, true);
  const model = children.find((run) => run.name === "image_model");
  assert.equal(model.run_type, "llm");
  assert.equal(model.extra.metadata.bytes, (await picture("png", 1024, 1024)).length);
  assert.equal(model.outputs.via, "b64_json");
  assert.ok(!JSON.stringify(langsmith.runs()).includes(KEY), "the key reached LangSmith");
});

test("openai: a url answer is downloaded without the key, and a 2:3 JPEG is centre-cropped to 4:5", async () => {
  fake.file("tall.jpg", await picture("jpeg", 1024, 1536), "image/jpeg");
  fake.scriptOpenAI(imageReply.url("tall.jpg"));
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);

  const { pixels } = await storedImage(id, { width: 1024, height: 1280 });
  // 128 rows went from the top: the stored row 0 was source row 128.
  assertPixel(pixels, 1024, [512, 0], [127, Math.floor((128 * 255) / 1536), 96]);
  const [download] = fake.downloads();
  assert.equal(download.headers.authorization, undefined, "the key went to the download host");
});

test("openai: a b64_json WebP is stored as a baseline JPEG with its pixels", async () => {
  fake.scriptOpenAI(imageReply.b64(await picture("webp", 1024, 1024)));
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);
  const { pixels } = await storedImage(id, { width: 1024, height: 1024 });
  for (const [x, y] of [[8, 8], [512, 512], [1000, 1000]]) {
    assertPixel(pixels, 1024, [x, y], [Math.floor((x * 255) / 1024), Math.floor((y * 255) / 1024), 96]);
  }
});

test("openai: a wide 1792x1024 image is stored 1440x823, within the rules", async () => {
  fake.scriptOpenAI(imageReply.b64(await picture("png", 1792, 1024)));
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);
  const { pixels } = await storedImage(id, { width: 1440, height: 823 });
  assertPixel(pixels, 1440, [720, 411], [127, 127, 96]);
});

test("openai: a provider that hangs is given up after IMAGE_TIMEOUT_MS and the attempt retried", async () => {
  fake.scriptOpenAI(imageReply.hang());
  const id = await insertDraft();
  const started = Date.now();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);
  const took = Date.now() - started;

  // It hung: the call arrived and was never answered; the Worker closed it at its deadline.
  const [call] = fake.openaiCalls();
  assert.equal(call.answered, false, "the fake answered");
  const closed = await pipeline.eventually(() => call.closedAt, { timeoutMs: 3000, what: "the hung call to close" });
  assert.ok(closed - call.at >= TIMEOUT_MS - 100, `closed after ${closed - call.at} ms`);
  assert.ok(took >= TIMEOUT_MS && took < TIMEOUT_MS + 5000, `the delivery took ${took} ms`);

  const delay = assertRetried(await pipeline.draftRow(id), sentFor(id), 1, /did not answer within 1500 ms/);
  const [low, high] = backoffWindow(1);
  assert.ok(delay >= low && delay <= high, `delay ${delay}`);
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), []);
  assert.equal((await pointFor(id)).blobs[3], "retrying");
});

test("openai: a 429 waits what its Retry-After says; a 5xx waits the backoff", async () => {
  fake.scriptOpenAI(
    imageReply.error(429, { code: "rate_limit_exceeded", message: "Rate limit reached", headers: { "retry-after": "37" } }),
    imageReply.error(503, { message: "upstream overloaded" }),
  );
  const limited = await insertDraft();
  const down = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(limited, { attempt: 2 })])).outcomes, ["acked"]);
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(down, { attempt: 2 })])).outcomes, ["acked"]);

  const wait = assertRetried(await pipeline.draftRow(limited), sentFor(limited), 2, /rate limiting requests, retry after 37 seconds/);
  // Outside the backoff's window after attempt 2 (10 to 20 s): the provider's wait won.
  assert.equal(wait, 37);
  const delay = assertRetried(await pipeline.draftRow(down), sentFor(down), 2, /unavailable: HTTP 503/);
  const [low, high] = backoffWindow(2);
  assert.ok(delay >= low && delay <= high, `delay ${delay}`);
});

test("openai: a refusal fails the image at once with the provider's reason, without the key", async () => {
  fake.scriptOpenAI(
    imageReply.error(400, {
      code: "content_policy_violation",
      message: `Your request was rejected as a result of our safety system. (request made with ${KEY})`,
    }),
  );
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(OPENAI, "image-queue", [message(id)])).outcomes, ["acked"]);
  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "failed");
  assert.match(row.image_error, /^image generation gave up at attempt 1 without retrying: /);
  assert.match(row.image_error, /refused the request \(HTTP 400\): content_policy_violation: Your request was rejected as a result of our safety system/);
  assert.ok(!row.image_error.includes(KEY) && !row.image_error.includes(KEY.slice(-10)), row.image_error);
  assert.deepEqual(sentFor(id), [], "a refusal was retried");
  assert.equal(fake.openaiCalls().length, 1);
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), []);
  assert.equal((await pointFor(id)).blobs[3], "gave_up");
  const { root } = await traceFor(id);
  assert.equal(root.extra.metadata.status, "error");
  assert.ok(!JSON.stringify(langsmith.runs()).includes(KEY.slice(-10)), "the key reached LangSmith");
});

test("openai: garbage bytes are no image: the image fails at once and nothing is stored", async () => {
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
  fake.scriptOpenAI(imageReply.b64(garbage));
  const truncated = (await picture("png", 1024, 1024)).subarray(0, 20000);
  fake.scriptOpenAI(imageReply.b64(truncated));
  const noise = await insertDraft();
  const cut = await insertDraft();
  await pipeline.deliver(OPENAI, "image-queue", [message(noise)]);
  await pipeline.deliver(OPENAI, "image-queue", [message(cut)]);
  for (const [id, reason] of [
    [noise, /the openai answer is no usable image: the answer is in an unknown format, not a JPEG, PNG or WebP image/],
    [cut, /the openai answer is no usable image: the PNG image cannot be decoded/],
  ]) {
    const row = await pipeline.draftRow(id);
    assert.equal(row.image_status, "failed");
    assert.match(row.image_error, reason);
    assert.deepEqual(sentFor(id), []);
    assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), []);
  }
});

test("openai: after the last attempt a transient failure marks the image failed with the reason", async () => {
  fake.scriptOpenAI(imageReply.error(500, { message: "boom" }));
  const id = await insertDraft();
  await pipeline.deliver(OPENAI, "image-queue", [message(id, { attempt: BACKOFF.maxAttempts })]);
  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "failed");
  assert.equal(row.image_error, "image generation failed 4 times; last error: the image provider is unavailable: HTTP 500");
  assert.deepEqual(sentFor(id), []);
});

// ---------------------------------------------------------------------------------------------
// Workers AI binding

test("workers-ai: flux's base64 JPEG within the rules is stored byte for byte", async () => {
  const jpeg = await picture("jpeg", 1024, 1024);
  fake.scriptAI(imageReply.aiBase64(jpeg));
  const id = await insertDraft();
  assert.deepEqual((await pipeline.deliver(FLUX, "image-queue", [message(id)])).outcomes, ["acked"]);
  const { row, bytes } = await storedImage(id, { width: 1024, height: 1024 });
  assert.deepEqual(Buffer.from(bytes), jpeg, "a JPEG within the rules was changed");
  assert.deepEqual(fake.aiCalls(), [{ model: FLUX_MODEL, input: { prompt: row.image_prompt } }]);
  const { root } = await traceFor(id);
  assert.equal(root.extra.metadata.provider, "workers-ai");
  assert.equal(root.extra.metadata.model, FLUX_MODEL);
  assert.equal(root.outputs.reencoded, false);
});

test("workers-ai: stable-diffusion-xl's PNG bytes, as a stream or a Uint8Array, are stored as JPEG", async () => {
  const png = await picture("png", 1024, 1024);
  for (const as of ["stream", "uint8array"]) {
    fake.scriptAI(imageReply.aiBinary(png, { as }));
    const id = await insertDraft();
    assert.deepEqual((await pipeline.deliver(SDXL, "image-queue", [message(id)])).outcomes, ["acked"], as);
    const { pixels } = await storedImage(id, { width: 1024, height: 1024 });
    assertPixel(pixels, 1024, [512, 512], [127, 127, 96]);
    const { children } = await traceFor(id);
    assert.equal(children.find((run) => run.name === "image_model").outputs.via, "binary", as);
  }
  assert.deepEqual(
    fake.aiCalls().map((call) => call.model),
    [SDXL_MODEL, SDXL_MODEL],
  );
});

test("workers-ai: an NSFW refusal fails at once; out of capacity (3040) is retried", async () => {
  fake.scriptAI(
    imageReply.aiError("AiError: Input prompt contains NSFW content (3030)"),
    imageReply.aiError("AiError: 3040: Capacity temporarily exceeded"),
  );
  const refused = await insertDraft();
  const busy = await insertDraft();
  await pipeline.deliver(FLUX, "image-queue", [message(refused)]);
  await pipeline.deliver(FLUX, "image-queue", [message(busy)]);
  const row = await pipeline.draftRow(refused);
  assert.equal(row.image_status, "failed");
  assert.match(row.image_error, /gave up at attempt 1 without retrying: the image provider refused the request: AiError: Input prompt contains NSFW content/);
  assert.deepEqual(sentFor(refused), []);
  assertRetried(await pipeline.draftRow(busy), sentFor(busy), 1, /rate limiting requests/);
});

// ---------------------------------------------------------------------------------------------
// Concurrency

test("two deliveries of one message at the same moment leave exactly one image, the one recorded", async () => {
  fake.setDefaultOpenAI(imageReply.slow(400, imageReply.b64(await picture("png", 1024, 1024))));
  // Once in two Workers at once, once twice in one batch.
  const apart = await insertDraft();
  const together = await insertDraft();
  const body = message(apart);
  const [a, b] = await Promise.all([
    pipeline.deliver(OPENAI, "image-queue", [body]),
    pipeline.deliver(OPENAI_TWIN, "image-queue", [body]),
  ]);
  assert.deepEqual([...a.outcomes, ...b.outcomes], ["acked", "acked"]);
  const same = await pipeline.deliver(OPENAI, "image-queue", [message(together), message(together)]);
  assert.deepEqual(same.outcomes, ["acked", "acked"]);

  for (const id of [apart, together]) {
    await storedImage(id, { width: 1024, height: 1024 });
  }
  // One claim won each race: one provider call per draft; the other delivery stepped aside.
  assert.equal(fake.openaiCalls().length, 2, "a duplicate delivery called the provider");
  const outcomes = pipeline.metrics
    .filter((point) => [apart, together].includes(point.indexes[0]))
    .map((point) => point.blobs[3])
    .sort();
  assert.deepEqual(outcomes, ["busy", "busy", "stored", "stored"]);
});

test("a batch of 8 runs its image jobs 5 at a time, not one after another", async () => {
  const delayMs = 700;
  fake.setDefaultOpenAI(imageReply.slow(delayMs, imageReply.b64(await picture("png", 1024, 1024))));
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(await insertDraft());
  const started = Date.now();
  const { outcomes } = await pipeline.deliver(OPENAI, "image-queue", ids.map((id) => message(id)));
  const took = Date.now() - started;
  assert.deepEqual(outcomes, Array(8).fill("acked"));
  assert.equal(fake.maxInFlight(), 5, "the most calls in flight at once");
  assert.equal(fake.openaiCalls().length, 8);
  // Two waves of calls, not eight.
  assert.ok(took >= 2 * delayMs && took < 8 * delayMs, `the batch took ${took} ms`);
  for (const id of ids) await storedImage(id, { width: 1024, height: 1024 });
});

// ---------------------------------------------------------------------------------------------
// A new image replaces the old one

test("a new image replaces the old one in R2, but an image an approval names stays", async () => {
  fake.setDefaultOpenAI(imageReply.b64(await picture("png", 1024, 1024)));
  const r2 = await bucket();
  // A plain Uint8Array: Miniflare's proxy refuses a pooled Buffer.
  const old = new Uint8Array(await picture("jpeg", 1080, 1080));
  const plain = randomUUID();
  const approved = randomUUID();
  const plainKey = `images/${plain}/00000000000000aa.jpg`;
  const approvedKey = `images/${approved}/00000000000000bb.jpg`;
  await r2.put(plainKey, old);
  await r2.put(approvedKey, old);
  // As after ImageRequested: pending, the old key still recorded until the new one is stored.
  await insertDraft({ id: plain, image_key: plainKey, revision: 2 });
  await insertDraft({ id: approved, image_key: approvedKey, approved_image_key: approvedKey, revision: 2 });

  await pipeline.deliver(OPENAI, "image-queue", [message(plain), message(approved)]);
  const plainRow = await pipeline.draftRow(plain);
  const approvedRow = await pipeline.draftRow(approved);
  for (const row of [plainRow, approvedRow]) {
    assert.equal(row.image_status, "ready", row.image_error);
    assert.notEqual(row.image_key, plainKey);
    assert.notEqual(row.image_key, approvedKey);
  }
  assert.deepEqual(await pipeline.mediaKeys(`images/${plain}/`), [plainRow.image_key], "the old image stayed");
  assert.deepEqual(
    (await pipeline.mediaKeys(`images/${approved}/`)).sort(),
    [approvedKey, approvedRow.image_key].sort(),
    "the approved image was removed",
  );
  assert.equal(approvedRow.approved_image_key, approvedKey);
});
