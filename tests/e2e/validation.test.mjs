// Requests POST /api/v1/generate refuses: bad bodies (400, each problem by field path), the
// wrong content type (415), oversized bodies (413) and missing or wrong tokens (401). A
// refused request calls no model and stores nothing: no D1 row, no KV text, no claimed
// idempotency key, no image.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { startFakeOpenAI } from "../fakes/openai.mjs";
import { API_TOKEN, startPipeline } from "./harness.mjs";
import { assertNothingStored, OPENAI_KEY } from "./support.mjs";

const VALID = { brief: "Autumn menu launch at our cafe" };
const TOMORROW = new Date(Date.now() + 24 * 3600 * 1000).toISOString();

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  pipeline = await startPipeline({
    api: { LLM_PROVIDER: "openai", OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: OPENAI_KEY, LLM_TIMEOUT_MS: "5000" },
  });
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});
beforeEach(() => fake.reset());

/** Sends a request that must be refused, and checks that it changed nothing. */
async function refused(send) {
  const before = await pipeline.storedCounts();
  const response = await send();
  assert.equal(fake.calls().length, 0, "a refused request called the model");
  assertNothingStored(before, await pipeline.storedCounts(), `after ${response.status}`);
  return response;
}

/** Each body, and the paths of its problems in the order they are reported. */
const BAD_BODIES = [
  { name: "brief missing", body: { tone: "friendly" }, paths: ["brief"] },
  { name: "brief a number", body: { brief: 42 }, paths: ["brief"] },
  { name: "brief null", body: { brief: null }, paths: ["brief"] },
  { name: "brief blank", body: { brief: "  \n " }, paths: ["brief"] },
  { name: "brief of 2001 characters", body: { brief: "b".repeat(2001) }, paths: ["brief"] },
  { name: "unknown field", body: { ...VALID, colour: "red" }, paths: ["colour"] },
  { name: "keywords not an array", body: { ...VALID, keywords: "coffee, cake" }, paths: ["keywords"] },
  { name: "keywords[1] too long", body: { ...VALID, keywords: ["coffee", "k".repeat(51)] }, paths: ["keywords[1]"] },
  { name: "keywords[0] not a string", body: { ...VALID, keywords: [7] }, paths: ["keywords[0]"] },
  {
    name: "eleven keywords",
    body: { ...VALID, keywords: Array.from({ length: 11 }, (_, i) => `word${i}`) },
    paths: ["keywords"],
  },
  { name: "hashtagCount -1", body: { ...VALID, hashtagCount: -1 }, paths: ["hashtagCount"] },
  { name: "hashtagCount 99", body: { ...VALID, hashtagCount: 99 }, paths: ["hashtagCount"] },
  { name: "hashtagCount above MAX_HASHTAGS (5)", body: { ...VALID, hashtagCount: 6 }, paths: ["hashtagCount"] },
  { name: "hashtagCount 2.5", body: { ...VALID, hashtagCount: 2.5 }, paths: ["hashtagCount"] },
  { name: "hashtagCount a string", body: { ...VALID, hashtagCount: "3" }, paths: ["hashtagCount"] },
  { name: "language not a tag", body: { ...VALID, language: "English!" }, paths: ["language"] },
  { name: "language with a bad region", body: { ...VALID, language: "en-USA1" }, paths: ["language"] },
  { name: "tone unknown", body: { ...VALID, tone: "angry" }, paths: ["tone"] },
  { name: "imagePrompt of 1001 characters", body: { ...VALID, imagePrompt: "i".repeat(1001) }, paths: ["imagePrompt"] },
  { name: "scheduledAt not RFC 3339", body: { ...VALID, scheduledAt: "tomorrow at 9" }, paths: ["scheduledAt"] },
  { name: "scheduledAt without a time", body: { ...VALID, scheduledAt: "2031-01-31" }, paths: ["scheduledAt"] },
  { name: "scheduledAt without an offset", body: { ...VALID, scheduledAt: "2031-01-31T09:00:00" }, paths: ["scheduledAt"] },
  { name: "scheduledAt in the past", body: { ...VALID, scheduledAt: "2020-01-01T00:00:00Z" }, paths: ["scheduledAt"] },
  { name: "body not JSON", raw: '{"brief": "cafe"', paths: [""] },
  { name: "body empty", raw: "", paths: [""] },
  { name: "body an array", body: [VALID], paths: [""] },
  { name: "body a string", body: "Autumn menu", paths: [""] },
  { name: "body null", raw: "null", paths: [""] },
  {
    name: "several problems at once",
    body: {
      brief: "",
      tone: "angry",
      language: 3,
      keywords: ["ok", "k".repeat(51), ""],
      hashtagCount: 99,
      scheduledAt: "2020-01-01T00:00:00Z",
      extra: true,
    },
    paths: ["brief", "tone", "language", "keywords[1]", "keywords[2]", "hashtagCount", "scheduledAt", "extra"],
  },
];

for (const { name, body, raw, paths } of BAD_BODIES) {
  test(`400 validation_failed: ${name}`, async () => {
    const response = await refused(() =>
      pipeline.generate(body, {
        raw,
        headers: { "content-type": "application/json", "idempotency-key": `bad-${randomUUID()}` },
      }),
    );
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "validation_failed");
    assert.equal(response.json.error.message, "request body is invalid");
    const problems = response.json.error.problems;
    assert.deepEqual(
      problems.map((p) => p.path),
      paths,
      JSON.stringify(problems),
    );
    for (const problem of problems) {
      assert.equal(typeof problem.reason, "string");
      assert.ok(problem.reason.length > 5, JSON.stringify(problem));
    }
  });
}

test("the reasons say what is wrong", async () => {
  const { json } = await refused(() =>
    pipeline.generate({ brief: "b".repeat(2001), hashtagCount: 2.5, tone: "angry", scheduledAt: "2020-01-01T00:00:00Z" }),
  );
  const reasons = Object.fromEntries(json.error.problems.map((p) => [p.path, p.reason]));
  assert.match(reasons.brief, /at most 2000 characters, got 2001/);
  assert.match(reasons.hashtagCount, /integer/);
  assert.match(reasons.tone, /"friendly"/);
  assert.match(reasons.scheduledAt, /later than now/);
});

test("415 for a body that is not declared as JSON", async () => {
  for (const contentType of ["text/plain", "application/x-www-form-urlencoded", undefined]) {
    const response = await refused(() =>
      pipeline.request("POST", "/api/v1/generate", {
        raw: JSON.stringify(VALID),
        headers: contentType ? { "content-type": contentType } : {},
      }),
    );
    assert.equal(response.status, 415, `${contentType}: ${response.text}`);
    assert.equal(response.json.error.code, "unsupported_media_type");
  }
});

test("413 for a body over the largest valid one, declared or streamed without a length; the limit admits every valid body", async () => {
  const huge = JSON.stringify({ brief: "b".repeat(64 * 1024) });
  const declared = await refused(() => pipeline.generate(undefined, { raw: huge, headers: { "content-type": "application/json" } }));
  assert.equal(declared.status, 413, declared.text);
  assert.equal(declared.json.error.code, "payload_too_large");
  const limit = Number(declared.json.error.message.match(/^request body is larger than (\d+) bytes$/)?.[1]);
  assert.ok(Number.isInteger(limit), declared.json.error.message);

  // The boundary, byte for byte: `limit` bytes are read and validated, one more is refused.
  const padded = (bytes) => {
    const body = JSON.stringify({ brief: 42 });
    return body + " ".repeat(bytes - body.length);
  };
  const atLimit = await refused(() => pipeline.generate(undefined, { raw: padded(limit), headers: { "content-type": "application/json" } }));
  assert.equal(atLimit.status, 400, atLimit.text);
  assert.deepEqual(atLimit.json.error.problems.map((p) => p.path), ["brief"]);
  const over = await refused(() => pipeline.generate(undefined, { raw: padded(limit + 1), headers: { "content-type": "application/json" } }));
  assert.equal(over.status, 413, over.text);

  // The largest valid body in its longest encoding fits: every character outside the BMP,
  // escaped as two \uXXXX (12 bytes), as Python's json.dumps writes it.
  const leaf = "\\ud83c\\udf41"; // 🍁
  const worst =
    `{"brief":"${leaf.repeat(2000)}","keywords":[${Array.from({ length: 10 }, () => `"${leaf.repeat(50)}"`).join(",")}],` +
    `"imagePrompt":"${leaf.repeat(1000)}","language":"en","tone":"grumpy"}`;
  assert.ok(worst.length > 40_000 && worst.length <= limit, `${worst.length} bytes, limit ${limit}`);
  const parsed = await refused(() => pipeline.generate(undefined, { raw: worst, headers: { "content-type": "application/json" } }));
  assert.equal(parsed.status, 400, parsed.text.slice(0, 300));
  // Read whole and validated: only the deliberate mistake is reported.
  assert.deepEqual(parsed.json.error.problems.map((p) => p.path), ["tone"]);

  // Chunked: no Content-Length, so only counting the bytes read finds it.
  const streamed = await refused(async () => {
    const bytes = new TextEncoder().encode(huge);
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    const response = await fetch(`${pipeline.url}/api/v1/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body,
      duplex: "half",
    });
    return { status: response.status, json: await response.json() };
  });
  assert.equal(streamed.status, 413);
  assert.equal(streamed.json.error.code, "payload_too_large");
});

for (const { name, token, headers } of [
  { name: "no Authorization header", token: null },
  { name: "a wrong token", token: "not-the-token" },
  { name: "the token with a character more", token: `${API_TOKEN}x` },
  { name: "the token with a character less", token: API_TOKEN.slice(0, -1) },
  { name: "an empty bearer token", token: null, headers: { authorization: "Bearer " } },
  { name: "Basic credentials", token: null, headers: { authorization: `Basic ${btoa(`user:${API_TOKEN}`)}` } },
  { name: "the bare token without a scheme", token: null, headers: { authorization: API_TOKEN } },
]) {
  test(`401 with ${name}, and nothing happens`, async () => {
    const response = await refused(() =>
      pipeline.generate(VALID, { token, headers: { "idempotency-key": `auth-${randomUUID()}`, ...headers } }),
    );
    assert.equal(response.status, 401, response.text);
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
    assert.equal(response.json.error.code, "unauthorized");
    assert.ok(!response.text.includes(API_TOKEN), response.text);
  });
}

test("the scheme name is case-insensitive: 'bearer <token>' is accepted", async () => {
  const response = await pipeline.request("GET", `/api/v1/drafts/${randomUUID()}`, {
    token: null,
    headers: { authorization: `bearer ${API_TOKEN}` },
  });
  assert.equal(response.status, 404, response.text);
  assert.equal(response.json.error.code, "not_found");
});

test("the token is checked before the body: an invalid body without a token gets 401", async () => {
  const response = await refused(() => pipeline.generate({ brief: 42 }, { token: null }));
  assert.equal(response.status, 401);
  assert.equal(response.json.error.problems, undefined);
});

test("GET /api/v1/drafts/:id needs the token; /healthz and /media/pending.svg do not", async () => {
  const path = `/api/v1/drafts/${randomUUID()}`;
  const anonymous = await pipeline.request("GET", path, { token: null });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
  const wrong = await pipeline.request("GET", path, { token: "wrong" });
  assert.equal(wrong.status, 401);
  // With the token the same request gets past authentication to the lookup.
  const authorised = await pipeline.request("GET", path);
  assert.equal(authorised.status, 404, authorised.text);
  assert.equal(authorised.json.error.code, "not_found");

  const health = await pipeline.request("GET", "/healthz", { token: null });
  assert.equal(health.status, 200);
  const placeholder = await pipeline.request("GET", "/media/pending.svg", { token: null });
  assert.equal(placeholder.status, 200);
  assert.equal(placeholder.headers.get("content-type"), "image/svg+xml");
});

// Last, as it stores a draft: the refusals above are about the fields, not the setup.
test("control: a valid body with null optionals and a charset is accepted, with the defaults applied", async () => {
  const response = await pipeline.generate(
    { ...VALID, tone: null, keywords: null, hashtagCount: null, language: null, scheduledAt: TOMORROW },
    { headers: { "content-type": "application/json; charset=utf-8" } },
  );
  assert.equal(response.status, 201, response.text);
  assert.equal(response.json.language, "ja");
  assert.equal(response.json.scheduledAt, `${TOMORROW.slice(0, 19)}Z`);
  const [call] = fake.calls();
  const [system, user] = call.json.messages;
  assert.match(system.content, /Exactly 5 hashtags/);
  assert.match(system.content, /"ja"/);
  assert.match(user.content, /Tone: friendly/);
  assert.match(user.content, /Keywords to work in: none/);
});
