// POST /api/v1/drafts/{id}/describe: the photos of a draft's ready items, read from R2, are
// sent to a vision model (the OpenAI-compatible fake, or Workers AI through the AI
// stand-in) with the brief; the caption, hashtags and each item's alt text come back in one
// conditional write, traced to LangSmith without the photos' bytes. The fakes describe each
// photo by its size (tests/fakes/vision.mjs), so the alt texts show which photo went where.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import sharp from "sharp";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { reply, startFakeOpenAI } from "../fakes/openai.mjs";
import { describePhoto, photoUrls, VISION_CAPTION, visionAiReply, visionReply } from "../fakes/vision.mjs";
import { startFakeWorkersAI } from "../fakes/workers-ai.mjs";
import { API_TOKEN, REVIEWER, startPipeline } from "./harness.mjs";
import { assertNoSecret, OPENAI_KEY, OPENAI_MODEL } from "./support.mjs";

const LANGSMITH_KEY = "lsv2_pt_e2e_describe_5a4b3c2d1e0f";
const SECRETS = [OPENAI_KEY, API_TOKEN, LANGSMITH_KEY];
const VISION_MODEL = "gpt-e2e-vision";
const AI_VISION_MODEL = "@cf/e2e/fake-vision";
const BRIEF = "Autumn menu launch at our Shibuya cafe";

/**
 * Three 1440x1800 JPEGs, as the image consumer fits photos for a 4:5 post, with grain of
 * three strengths so that their sizes differ (about 450, 650 and 880 KB, as photos are).
 */
async function photos() {
  const [width, height] = [1440, 1800];
  const made = [];
  for (const grain of [10, 16, 24]) {
    const raw = Buffer.alloc(width * height * 3);
    let seed = grain;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const noise = ((seed >>> 16) % (2 * grain + 1)) - grain;
        const i = (y * width + x) * 3;
        raw[i] = (x * 255) / width + noise;
        raw[i + 1] = (y * 255) / height + noise;
        raw[i + 2] = 128 + 60 * Math.sin(x / 40) * Math.cos(y / 50) + noise;
      }
    }
    made.push(await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer());
  }
  return made;
}

let fake;
let ai;
let langsmith;
let pipeline;
let jpegs;
before(async () => {
  [fake, ai, langsmith, jpegs] = await Promise.all([startFakeOpenAI(), startFakeWorkersAI(), startFakeLangSmith(), photos()]);
  pipeline = await startPipeline(
    {
      api: {
        LLM_PROVIDER: "openai",
        OPENAI_BASE_URL: fake.baseUrl,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_MODEL,
        OPENAI_VISION_MODEL: VISION_MODEL,
        LANGSMITH_API_KEY: LANGSMITH_KEY,
        LANGSMITH_ENDPOINT: langsmith.url,
        LANGSMITH_PROJECT: "e2e-describe",
        LLM_TIMEOUT_MS: "10000",
      },
    },
    {
      ai: ai.url,
      variants: {
        template: { LLM_PROVIDER: "template" },
        impatient: { LLM_TIMEOUT_MS: "500" },
        workersAi: { LLM_PROVIDER: "workers-ai", WORKERS_AI_VISION_MODEL: AI_VISION_MODEL },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
  await ai?.close();
  await langsmith?.close();
});
beforeEach(() => {
  fake.reset();
  ai.reset();
  langsmith.reset();
});

let drafts = 0;

/**
 * A draft made by the template writer whose items are the three photos, Ready at keys in
 * R2, as the image consumer leaves uploads it fitted: `{ id, revision, items }`. `states`
 * overrides an item's image (e.g. `{ 1: { state: "pending", upload: "..." } }`).
 */
async function draftWithPhotos(states = {}) {
  drafts += 1;
  const created = await pipeline.variant("template").generate({ brief: BRIEF, language: "en", hashtagCount: 3 });
  assert.equal(created.status, 201, created.text);
  const id = created.json.draftId;
  await pipeline.settleImages();
  const bucket = await pipeline.mf.getR2Bucket("MEDIA", "api");
  const items = [];
  for (const [index, bytes] of jpegs.entries()) {
    const key = `uploads/${id}/fitted-${index + 1}.jpg`;
    await bucket.put(key, new Uint8Array(bytes), { httpMetadata: { contentType: "image/jpeg" } });
    items.push({
      id: `photo-${drafts}-${index + 1}`,
      source: "uploaded",
      altText: "",
      image: states[index] ?? { state: "ready", key, width: 1440, height: 1800 },
    });
  }
  await pipeline.db.prepare("UPDATE drafts SET media_items = ?1 WHERE id = ?2").bind(JSON.stringify(items), id).run();
  const row = await pipeline.draftRow(id);
  return { id, revision: row.revision, items };
}

function describe(id, revision, { via = pipeline, token } = {}) {
  return via.request("POST", `/api/v1/drafts/${id}/describe`, { body: { revision }, ...(token ? { token } : {}) });
}

/** What the fakes say of photo `index`: its size in pixels and in bytes. */
function seen(index) {
  return `Photo ${index + 1}: 1440x1800 pixels, ${jpegs[index].length} bytes`;
}

/** The draft's row, for comparing before and after a request that must change nothing. */
async function snapshot(id) {
  const row = await pipeline.draftRow(id);
  return { revision: row.revision, caption: row.caption, hashtags: row.hashtags, alt_text: row.alt_text, media_items: row.media_items, updated_at: row.updated_at };
}

test("three ready photos are described: the caption from the model, one alt text per item in order, traced without the photos", async (t) => {
  const { id, revision, items } = await draftWithPhotos();
  fake.script(visionReply.describe());
  const started = performance.now();
  const described = await describe(id, revision);
  const elapsedMs = performance.now() - started;
  assert.equal(described.status, 200, described.text);

  // One request to the vision model, with the three photos whole and in order.
  const calls = fake.calls();
  assert.equal(calls.length, 1);
  const body = calls[0].json;
  assert.equal(body.model, VISION_MODEL);
  assert.equal(calls[0].headers.authorization, `Bearer ${OPENAI_KEY}`);
  const urls = photoUrls(body.messages);
  assert.deepEqual(
    urls.map((url, i) => Buffer.from(url.split(",")[1], "base64").equals(jpegs[i])),
    [true, true, true],
  );
  assert.ok(body.messages[1].content[0].text.includes(BRIEF));
  assert.match(body.messages[0].content, /exactly 3 strings, the alt text of each photo/);
  t.diagnostic(
    `vision request for 3 photos of ${jpegs.map((b) => b.length).join(", ")} bytes: ${calls[0].text.length} bytes of JSON; describe answered in ${elapsedMs.toFixed(0)} ms`,
  );

  // The answer and the row: the text, and each item's alt text by id.
  assert.equal(described.json.caption, VISION_CAPTION);
  assert.equal(described.json.hashtags.length, 3);
  assert.equal(described.json.revision, revision + 1);
  const expected = items.map((item, index) => ({ itemId: item.id, altText: seen(index) }));
  assert.deepEqual(described.json.description, { provider: "openai", model: VISION_MODEL, offline: false, altTexts: expected });
  const row = await pipeline.draftRow(id);
  assert.equal(row.caption, VISION_CAPTION);
  assert.equal(row.generated_caption, VISION_CAPTION);
  assert.equal(row.alt_text, seen(0));
  const stored = JSON.parse(row.media_items);
  assert.deepEqual(
    stored.map((item) => [item.id, item.altText]),
    expected.map((e) => [e.itemId, e.altText]),
  );
  assert.deepEqual(
    stored.map((item) => item.image),
    items.map((item) => item.image),
  );

  // Traced: a describe run with a vision_model child, sizes only, no bytes, no secret.
  const root = await pipeline.eventually(() => langsmith.runs().find((run) => run.name === "describe"), {
    timeoutMs: 10000,
    what: "the describe run at LangSmith",
  });
  const children = langsmith.runs().filter((run) => run.parent_run_id === root.id);
  assert.deepEqual(
    children.map((run) => [run.name, run.run_type]),
    [["vision_model", "llm"]],
  );
  assert.deepEqual(
    root.inputs.photos.map((p) => p.bytes),
    jpegs.map((b) => b.length),
  );
  assert.deepEqual(root.outputs.altTexts, expected.map((e) => e.altText));
  assert.equal(children[0].extra.metadata.photoBytes, jpegs.reduce((sum, b) => sum + b.length, 0));
  t.diagnostic(`the vision call took ${children[0].extra.metadata.elapsedMs} ms in the Worker (the fake answers at once)`);
  for (const request of langsmith.requests) {
    assert.ok(!request.text.includes("base64,"), "a photo went to LangSmith");
    for (const bytes of jpegs) {
      assert.ok(!request.text.includes(bytes.toString("base64").slice(1000, 1100)), "a photo's bytes went to LangSmith");
    }
    assertNoSecret(request.text, SECRETS, "a LangSmith request");
  }
});

test("a reviewer may describe too; it is no decision and records no comment", async () => {
  const { id, revision } = await draftWithPhotos();
  fake.script(visionReply.describe());
  const described = await describe(id, revision, { token: REVIEWER.token });
  assert.equal(described.status, 200, described.text);
  const history = await pipeline.request("GET", `/api/v1/drafts/${id}/history`);
  assert.deepEqual(history.json.comments, []);
});

test("an answer with an alt text missing is repaired in a second round", async () => {
  const { id, revision } = await draftWithPhotos();
  fake.script(visionReply.oneShort(), visionReply.describe());
  const described = await describe(id, revision);
  assert.equal(described.status, 200, described.text);
  const calls = fake.calls();
  assert.equal(calls.length, 2);
  const repair = calls[1].json.messages.at(-1).content;
  assert.match(repair, /2 alt texts given, but 3 photos were sent: exactly 3 are required/);
  // The repair round sends the photos again, with the first user message.
  assert.equal(photoUrls(calls[1].json.messages).length, 3);
  assert.deepEqual(
    described.json.description.altTexts.map((a) => a.altText),
    [seen(0), seen(1), seen(2)],
  );
});

test("an answer that stays unusable is refused and changes nothing", async () => {
  const { id, revision } = await draftWithPhotos();
  const before = await snapshot(id);
  fake.script(visionReply.oneShort(), visionReply.oneShort());
  const described = await describe(id, revision);
  assert.equal(described.status, 502, described.text);
  assert.match(described.json.error.message, /vision model \(openai\) gave no usable answer, also after one repair round/);
  assert.equal(fake.calls().length, 2);
  assert.deepEqual(await snapshot(id), before);
});

test("model faults (5xx, timeout, not JSON) leave the draft unchanged with a clear error", async () => {
  const { id, revision } = await draftWithPhotos();
  const before = await snapshot(id);
  const cases = [
    { via: pipeline, behaviours: [reply.status(503)], message: /is unavailable \(HTTP 503\); nothing was stored/ },
    { via: pipeline.variant("impatient"), behaviours: [reply.hang()], message: /did not answer within 500 ms; nothing was stored/ },
    { via: pipeline, behaviours: [reply.garbage(), reply.garbage()], message: /gave no usable answer/ },
  ];
  for (const { via, behaviours, message } of cases) {
    fake.reset();
    fake.script(...behaviours);
    const described = await describe(id, revision, { via });
    assert.equal(described.status, 502, described.text);
    assert.match(described.json.error.message, message);
    assert.equal(fake.calls().length, behaviours.length, "the fault did not happen");
    assert.deepEqual(await snapshot(id), before);
  }
});

test("with the template writer the caption comes from the brief and each alt text says no model described it", async () => {
  const { id, revision, items } = await draftWithPhotos();
  const described = await describe(id, revision, { via: pipeline.variant("template") });
  assert.equal(described.status, 200, described.text);
  assert.equal(fake.calls().length, 0);
  assert.ok(described.json.caption.includes(BRIEF), described.json.caption);
  assert.deepEqual(described.json.description, {
    provider: "template",
    model: null,
    offline: true,
    altTexts: items.map((item, i) => ({ itemId: item.id, altText: `Photo ${i + 1} of 3, not described by a model` })),
  });
  const stored = JSON.parse((await pipeline.draftRow(id)).media_items);
  assert.equal(stored[2].altText, "Photo 3 of 3, not described by a model");
});

test("Workers AI: the photos go to the vision model as image_url parts", async () => {
  const { id, revision } = await draftWithPhotos();
  ai.script(visionAiReply.describe());
  const described = await describe(id, revision, { via: pipeline.variant("workersAi") });
  assert.equal(described.status, 200, described.text);
  const [call, ...more] = ai.calls();
  assert.equal(more.length, 0);
  assert.equal(call.model, AI_VISION_MODEL);
  assert.equal(call.input.response_format.type, "json_schema");
  assert.equal(photoUrls(call.input.messages).length, 3);
  assert.deepEqual(
    described.json.description.altTexts.map((a) => a.altText),
    [0, 1, 2].map(seen),
  );
  assert.equal(describePhoto(photoUrls(call.input.messages)[1], 1), seen(1));
});

test("a revision that moved on is a conflict, before the model and while it runs", async () => {
  const { id, revision } = await draftWithPhotos();
  const stale = await describe(id, revision - 1);
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.error.code, "revision_conflict");
  assert.equal(fake.calls().length, 0);

  // Edited while the model runs: the edit stays, the description is dropped.
  fake.script((request) => ({ delayMs: 1500, ...visionReply.describe()(request) }));
  const running = describe(id, revision);
  await pipeline.eventually(() => fake.calls().length === 1, { what: "the vision call" });
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${id}`, {
    body: { revision, caption: "A person's own words" },
    token: REVIEWER.token,
  });
  assert.equal(edited.status, 200, edited.text);
  const described = await running;
  assert.equal(described.status, 409, described.text);
  assert.equal(described.json.error.code, "revision_conflict");
  const row = await pipeline.draftRow(id);
  assert.equal(row.caption, "A person's own words");
  assert.ok(JSON.parse(row.media_items).every((item) => item.altText === ""));
});

test("items changed while the model runs are a conflict too", async () => {
  const { id, revision, items } = await draftWithPhotos();
  fake.script((request) => ({ delayMs: 1500, ...visionReply.describe()(request) }));
  const running = describe(id, revision);
  await pipeline.eventually(() => fake.calls().length === 1, { what: "the vision call" });
  const reordered = JSON.stringify([items[2], items[0], items[1]]);
  await pipeline.db.prepare("UPDATE drafts SET media_items = ?1 WHERE id = ?2").bind(reordered, id).run();
  const described = await running;
  assert.equal(described.status, 409, described.text);
  assert.equal((await pipeline.draftRow(id)).media_items, reordered);
});

test("a photo not ready, or no photos at all, is a conflict and no model is asked", async () => {
  const { id, revision } = await draftWithPhotos({ 1: { state: "pending", upload: "uploads/x/raw.heic" } });
  const pending = await describe(id, revision);
  assert.equal(pending.status, 409, pending.text);
  assert.match(pending.json.error.message, /photo 2 \(photo-\d+-2\) is still being prepared/);

  const plain = await pipeline.variant("template").generate({ brief: BRIEF, language: "en" });
  await pipeline.settleImages();
  const row = await pipeline.draftRow(plain.json.draftId);
  const none = await describe(plain.json.draftId, row.revision);
  assert.equal(none.status, 409, none.text);
  assert.match(none.json.error.message, /no photos to describe/);
  assert.equal(fake.calls().length, 0);
});
