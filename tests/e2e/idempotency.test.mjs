// Idempotency-Key on generate: a repeat replays the draft without a second model call or
// image, another body under the same key is refused, a request still running makes a repeat
// wait (409 with Retry-After), a request that died frees its key after its lease, and the
// scheduler's housekeeping purges expired keys. The model is the fake OpenAI server.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { reply, startFakeOpenAI, VALID_POST } from "../fakes/openai.mjs";
import { cronWorkerName, startPipeline } from "./harness.mjs";
import { assertNothingStored, draftIds, newDraftRows, OPENAI_KEY, OPENAI_MODEL, rfc3339 } from "./support.mjs";

const BRIEF = "Autumn menu launch at our Shibuya cafe: squash soup and chestnut cake";
const BODY = { brief: BRIEF, language: "en", tone: "playful", keywords: ["autumn", "chestnut cake"], hashtagCount: 5 };
const EN = { language: "en" };
/** The `writer` variant's LLM_TIMEOUT_MS: long, so a held model call does not time out. */
const WRITER_TIMEOUT_MS = 60_000;
/** How long the slow model takes to answer; the Idempotency-Key lease is 2 x LLM_TIMEOUT_MS + 30 s. */
const SLOW_MODEL_MS = 3000;
const SLOW_TIMEOUT_MS = 10000;
/** The Worker whose Cron Trigger runs housekeeping. */
const CRON = cronWorkerName();

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  const openai = { LLM_PROVIDER: "openai", OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: OPENAI_KEY, OPENAI_MODEL };
  pipeline = await startPipeline(
    { api: { ...openai, LLM_TIMEOUT_MS: String(SLOW_TIMEOUT_MS) } },
    {
      variants: {
        // The provider from wrangler/api.toml, without a key.
        template: { LLM_PROVIDER: undefined, OPENAI_API_KEY: undefined },
        // An OpenAI-compatible model that answers as slowly as the test scripts it.
        slow: {},
        writer: { LLM_TIMEOUT_MS: String(WRITER_TIMEOUT_MS) },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});
beforeEach(() => fake.reset());

/** Waits until the image queue has worked through everything sent so far: a draft made now
 * has its image, and the queue delivers in order. */
async function drainImageQueue() {
  const sentinel = await pipeline.variant("template").generate({ brief: "Queue sentinel", language: "en" });
  assert.equal(sentinel.status, 201, sentinel.text);
  await pipeline.eventually(async () => (await pipeline.draftRow(sentinel.json.draftId))?.image_status === "ready", {
    what: "the sentinel draft's image",
  });
}

function keyRow(key) {
  return pipeline.db.prepare("SELECT * FROM idempotency_keys WHERE key = ?1").bind(key).first();
}

function seconds(text) {
  return Date.parse(text) / 1000;
}

/** A promise that stays pending until `open(behaviour)` is called: a model call held open. */
function held() {
  let open;
  const answered = new Promise((resolve) => {
    open = resolve;
  });
  return { behaviour: () => answered, open };
}

test("idempotency: a repeated request returns the same draft, with one model call, one row and one image", async () => {
  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  const key = `idem-${randomUUID()}`;
  const first = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(first.status, 201, first.text);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  const second = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(second.status, 200, second.text);
  assert.equal(second.headers.get("idempotent-replayed"), "true");
  assert.equal(second.json.draftId, first.json.draftId);
  assert.equal(second.json.caption, first.json.caption);
  assert.deepEqual(second.json.writer, first.json.writer);
  assert.equal(fake.calls().length, 1, "the replay called the model");

  const id = first.json.draftId;
  await pipeline.eventually(async () => (await pipeline.draftRow(id))?.image_status === "ready", { what: "the image" });
  await drainImageQueue();
  assert.equal((await pipeline.mediaKeys(`images/${id}/`)).length, 1, "images stored for the draft");
  const after = await pipeline.storedCounts();
  // One draft for the pair, one for the queue sentinel.
  assert.equal(after.drafts, before.drafts + 2);
  assert.equal(after.kvDrafts, before.kvDrafts + 2);
  assert.equal(after.media, before.media + 2);
  assert.equal(after.idempotencyKeys, before.idempotencyKeys + 1);
  const held = await pipeline.db.prepare("SELECT draft_id FROM idempotency_keys WHERE key = ?1").bind(key).first();
  assert.equal(held.draft_id, id);

  // A replay after the image is made shows it.
  const third = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(third.status, 200);
  assert.equal(third.json.image.status, "ready");
  assert.equal(fake.calls().length, 1);
});

test("idempotency: the same key with another body is refused with 422, and nothing runs", async () => {
  const key = `idem-${randomUUID()}`;
  const first = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(first.status, 201, first.text);
  const before = await pipeline.storedCounts();
  const other = await pipeline.generate({ ...BODY, brief: "A different brief" }, { headers: { "idempotency-key": key } });
  assert.equal(other.status, 422, other.text);
  assert.equal(other.json.error.code, "unprocessable");
  assert.match(other.json.error.message, /Idempotency-Key/);
  assert.equal(fake.calls().length, 1);
  assertNothingStored(before, await pipeline.storedCounts(), "after a 422");
  // The fingerprint is of the body as sent, before defaults and normalisation: a body that
  // means the same but is written differently is another body.
  for (const written of [{ ...BODY, brief: `  ${BRIEF} ` }, { ...BODY, language: "EN" }, { ...BODY, tone: undefined }]) {
    const refused = await pipeline.generate(written, { headers: { "idempotency-key": key } });
    assert.equal(refused.status, 422, `${JSON.stringify(written)}: ${refused.text}`);
    assert.equal(refused.json.error.code, "unprocessable");
  }
  // The same JSON with its keys in another order and other spacing is the same body.
  const reordered = `{\n  "hashtagCount": 5,\n  "keywords": [ "autumn", "chestnut cake" ],\n  "tone": "playful",  "language": "en",\n  "brief": ${JSON.stringify(BRIEF)}\n}`;
  assert.notEqual(reordered, JSON.stringify(BODY));
  assert.deepEqual(JSON.parse(reordered), BODY);
  const same = await pipeline.generate(undefined, {
    raw: reordered,
    headers: { "content-type": "application/json", "idempotency-key": key },
  });
  assert.equal(same.status, 200, same.text);
  assert.equal(same.headers.get("idempotent-replayed"), "true");
  assert.equal(same.json.draftId, first.json.draftId);
  assert.equal(fake.calls().length, 1);
  assertNothingStored(before, await pipeline.storedCounts(), "after the 422s and the replay");
});

test("idempotency: after a 502 the key is free, and the retry makes the draft", async () => {
  const key = `idem-${randomUUID()}`;
  const before = await pipeline.storedCounts();
  fake.script(reply.garbage(), reply.garbage());
  const failed = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(failed.status, 502, failed.text);
  assert.equal(await pipeline.count("idempotency_keys"), before.idempotencyKeys);

  const retried = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(retried.status, 201, retried.text);
  assert.equal(retried.headers.get("idempotent-replayed"), null);
  assert.equal(retried.json.caption, VALID_POST.caption);
  assert.equal(fake.calls().length, 3);
  const held = await pipeline.db.prepare("SELECT draft_id FROM idempotency_keys WHERE key = ?1").bind(key).first();
  assert.equal(held.draft_id, retried.json.draftId);
});

test("idempotency: a repeat while the first request still runs gets 409, then the draft", async () => {
  const key = `idem-${randomUUID()}`;
  fake.script(reply.delay(1000));
  const first = pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  await pipeline.eventually(() => fake.calls().length === 1, { what: "the first model call" });
  const early = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(early.status, 409, early.text);
  assert.equal(early.json.error.code, "in_progress");
  // The lease is 2 x LLM_TIMEOUT_MS (10 s) + 30 s = 50 s away; the wait asked for is capped at 60.
  const retryAfter = Number(early.headers.get("retry-after"));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 45 && retryAfter <= 50, `Retry-After ${early.headers.get("retry-after")}`);
  const created = await first;
  assert.equal(created.status, 201, created.text);
  const late = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(late.status, 200);
  assert.equal(late.json.draftId, created.json.draftId);
  assert.equal(fake.calls().length, 1);
});

test("an invalid Idempotency-Key is refused before anything runs", async () => {
  const before = await pipeline.storedCounts();
  for (const key of ["x".repeat(256), "two words"]) {
    const refused = await pipeline.generate(BODY, { headers: { "idempotency-key": key } });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.error.code, "bad_request");
    assert.match(refused.json.error.message, /Idempotency-Key/);
  }
  assert.equal(fake.calls().length, 0);
  assertNothingStored(before, await pipeline.storedCounts(), "after a refused key");
});

// Guards workers/api/src/generate.rs:104-108 and reply.rs:90-93, 109-113 (InProgress carries
// Retry-After) with domain::idempotency::judge's wait.
test("a repeat while the first request still runs is 409 in_progress with Retry-After", async () => {
  fake.reset();
  fake.script(reply.delay(SLOW_MODEL_MS));
  const slow = pipeline.variant("slow");
  const key = `http-${randomUUID()}`;
  const body = { brief: "A slow model and an impatient client", language: "en" };
  const first = slow.generate(body, { headers: { "idempotency-key": key } });
  await pipeline.eventually(() => fake.calls().length === 1, { intervalMs: 20, what: "the model call of the first request" });

  const repeat = await slow.generate(body, { headers: { "idempotency-key": key } });
  assert.equal(repeat.status, 409, repeat.text);
  assert.equal(repeat.json.error.code, "in_progress");
  const retryAfter = repeat.headers.get("retry-after");
  assert.match(retryAfter ?? "", /^\d+$/, `Retry-After ${retryAfter}`);
  const seconds = Number(retryAfter);
  assert.ok(seconds >= 1 && seconds <= (2 * SLOW_TIMEOUT_MS) / 1000 + 30, `Retry-After ${seconds}`);

  const done = await first;
  assert.equal(done.status, 201, done.text);
  const replayed = await slow.generate(body, { headers: { "idempotency-key": key } });
  assert.equal(replayed.status, 200, replayed.text);
  assert.equal(replayed.json.draftId, done.json.draftId);
  assert.equal(fake.calls().length, 1, "the repeats called the model");
});

test("idempotency: a cancelled generate's key answers 409 in_progress within its lease, and is taken over after it", async () => {
  const writer = pipeline.variant("writer");
  const body = { brief: "A launch post whose first request was cancelled", ...EN };
  const key = `cancelled-${randomUUID()}`;
  const headers = { "idempotency-key": key };
  const firstCall = held();
  const secondCall = held();
  fake.script(firstCall.behaviour, secondCall.behaviour);
  const known = await draftIds(pipeline);

  const controller = new AbortController();
  const started = Date.now();
  const first = writer.generate(body, { headers, signal: controller.signal });
  await pipeline.eventually(() => fake.calls().length === 1, { what: "the first request's model call" });
  const [abandoned] = await newDraftRows(pipeline, known);
  assert.ok(abandoned, "no draft row for the first request");
  assert.equal(abandoned.caption, null);
  controller.abort();
  await assert.rejects(first, { name: "AbortError" });

  // The claim outlives the client; workerd lets the request run on (its model call is held
  // open), as a request that died after its claim would leave it.
  const claim = await keyRow(key);
  assert.equal(claim.state, "running");
  assert.equal(claim.draft_id, null);
  // Lease: two model calls and 30 s; kept for IDEMPOTENCY_KEY_TTL_HOURS (24).
  assert.equal(seconds(claim.lease_expires_at) - seconds(claim.created_at), (2 * WRITER_TIMEOUT_MS) / 1000 + 30);
  assert.equal(seconds(claim.expires_at) - seconds(claim.created_at), 24 * 3600);
  assert.ok(Math.abs(seconds(claim.created_at) - started / 1000) < 5);

  // A retry within the lease waits: 409 in_progress, Retry-After capped at 60 s.
  const early = await writer.generate(body, { headers });
  assert.equal(early.status, 409, early.text);
  assert.equal(early.json.error.code, "in_progress");
  assert.equal(early.headers.get("retry-after"), "60");
  const otherBody = await writer.generate({ ...body, brief: "Another post" }, { headers });
  assert.equal(otherBody.status, 422, otherBody.text);
  assert.equal(fake.calls().length, 1, "a refused retry called the model");
  assert.deepEqual(await keyRow(key), claim, "a refused retry changed the claim");

  // The lease lapses (forced: it is 150 s): a retry with the same body takes the key over.
  await pipeline.db.prepare("UPDATE idempotency_keys SET lease_expires_at = ?2 WHERE key = ?1").bind(key, rfc3339(Date.now() - 1000)).run();
  const second = writer.generate(body, { headers });
  await pipeline.eventually(() => fake.calls().length === 2, { what: "the retry's model call" });
  const taken = await keyRow(key);
  assert.equal(taken.state, "running");
  assert.notEqual(taken.owner, claim.owner, "the retry did not take the key over");
  assert.ok(Date.parse(taken.lease_expires_at) > Date.now() + 100_000, "the new claim got no new lease");

  // Now the first request fails (its model answers 503) and releases the key: only its own claim.
  firstCall.open(reply.status(503));
  await pipeline.eventually(async () => (await pipeline.draftRow(abandoned.id)) === null, {
    what: "the first request to discard its draft and release its claim",
  });
  assert.deepEqual(await keyRow(key), taken, "the first request released the claim the retry holds");

  secondCall.open(reply.post());
  const created = await second;
  assert.equal(created.status, 201, created.text);
  assert.equal(created.headers.get("idempotent-replayed"), null);
  assert.notEqual(created.json.draftId, abandoned.id);
  assert.equal(created.json.caption, VALID_POST.caption);
  const done = await keyRow(key);
  assert.equal(done.state, "done");
  assert.equal(done.draft_id, created.json.draftId);

  const replayed = await writer.generate(body, { headers });
  assert.equal(replayed.status, 200, replayed.text);
  assert.equal(replayed.headers.get("idempotent-replayed"), "true");
  assert.equal(replayed.json.draftId, created.json.draftId);
  assert.equal(fake.calls().length, 2);
});

test("idempotency: a byte-identical retry replays after scheduledAt has passed", async () => {
  const key = `scheduled-${randomUUID()}`;
  const scheduledAt = rfc3339(Date.now() + 3000);
  const raw = JSON.stringify({ brief: "A post scheduled a moment from now", ...EN, scheduledAt });
  const options = { raw, headers: { "content-type": "application/json", "idempotency-key": key } };
  const created = await pipeline.request("POST", "/api/v1/generate", options);
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.scheduledAt, scheduledAt);

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(scheduledAt) + 1500 - Date.now())));
  // The time has passed: as a new request the body is refused now.
  const fresh = await pipeline.request("POST", "/api/v1/generate", { ...options, headers: { "content-type": "application/json" } });
  assert.equal(fresh.status, 400, fresh.text);
  assert.deepEqual(fresh.json.error.problems.map((p) => p.path), ["scheduledAt"]);

  // The client's retry of the request that succeeded still gets its draft.
  for (const body of [raw, `{ "scheduledAt": "${scheduledAt}", "language": "en",\n "brief": "A post scheduled a moment from now" }`]) {
    const replayed = await pipeline.request("POST", "/api/v1/generate", { ...options, raw: body });
    assert.equal(replayed.status, 200, replayed.text);
    assert.equal(replayed.headers.get("idempotent-replayed"), "true");
    assert.equal(replayed.json.draftId, created.json.draftId);
    assert.equal(replayed.json.scheduledAt, scheduledAt);
  }
});

test("idempotency: the cron purges expired keys and keeps live ones; an expired key is free to reuse", async () => {
  const now = Date.now();
  const insert = (key, expiresAt, state = "done") =>
    pipeline.db
      .prepare(
        `INSERT INTO idempotency_keys (key, fingerprint, state, owner, lease_expires_at, draft_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)`,
      )
      .bind(key, randomBytes(32).toString("hex"), state, randomBytes(16).toString("hex"), rfc3339(now - 86_400_000), rfc3339(now - 90_000_000), expiresAt)
      .run();
  const expired = `expired-${randomUUID()}`;
  const expiredRunning = `expired-running-${randomUUID()}`;
  const reused = `reused-${randomUUID()}`;
  const live = `live-${randomUUID()}`;
  await insert(expired, rfc3339(now - 60_000));
  await insert(expiredRunning, rfc3339(now - 1000), "running");
  await insert(reused, rfc3339(now - 60_000));
  await insert(live, rfc3339(now + 3_600_000));

  // An expired key is as good as absent: a request with another body may claim it.
  const claimed = await pipeline.generate({ brief: "A post under a recycled key", ...EN }, { headers: { "idempotency-key": reused } });
  assert.equal(claimed.status, 201, claimed.text);
  assert.equal((await keyRow(reused)).draft_id, claimed.json.draftId);

  await pipeline.runCron({ worker: CRON });
  assert.equal(await keyRow(expired), null, "an expired key was kept");
  assert.equal(await keyRow(expiredRunning), null, "an expired running key was kept");
  assert.ok(await keyRow(live), "a live key was purged");
  assert.ok(await keyRow(reused), "a key claimed again was purged");
});
