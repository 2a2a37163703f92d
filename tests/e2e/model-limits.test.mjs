// A model provider's limits, end to end: a rate-limited model call (OpenAI's 429, Workers
// AI's "out of capacity") reaches the client as 503 `model_unavailable` with the provider's
// wait in `Retry-After` (30 seconds when the provider named none), and leaves nothing stored;
// an exhausted quota is no rate limit. The LangSmith trace keeps the wait and token counts
// but never the key.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { startFakeOpenAI } from "../fakes/openai.mjs";
import { aiReply, startFakeWorkersAI } from "../fakes/workers-ai.mjs";
import { API_TOKEN, startPipeline } from "./harness.mjs";
import { assertNoSecret, assertNothingStored, draftIds, newDraftRows, OPENAI_KEY, OPENAI_MODEL, UUID_V4 } from "./support.mjs";

const LANGSMITH_KEY = "lsv2_pt_e2e_limits_0a1b2c3d4e5f6071";
const SECRETS = [OPENAI_KEY, API_TOKEN, LANGSMITH_KEY];
const BODY = { brief: "Autumn menu launch at our Shibuya cafe", language: "en", hashtagCount: 5 };

/** OpenAI's answer to a rate-limited call: 429, the error body, and `Retry-After` if given. */
function rateLimited({ retryAfter, message = "Rate limit reached for requests per min (RPM): Limit 3." } = {}) {
  return {
    status: 429,
    headers: retryAfter === undefined ? {} : { "retry-after": retryAfter },
    body: { error: { message, type: "requests", param: null, code: "rate_limit_exceeded" } },
  };
}

let openai;
let ai;
let langsmith;
let pipeline;
before(async () => {
  openai = await startFakeOpenAI();
  ai = await startFakeWorkersAI();
  langsmith = await startFakeLangSmith();
  pipeline = await startPipeline(
    {
      api: {
        LLM_PROVIDER: "openai",
        OPENAI_BASE_URL: openai.baseUrl,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_MODEL,
        LLM_TIMEOUT_MS: "10000",
        LANGSMITH_API_KEY: LANGSMITH_KEY,
        LANGSMITH_ENDPOINT: langsmith.url,
      },
    },
    {
      ai: ai.url,
      variants: {
        workersAi: { LLM_PROVIDER: "workers-ai", OPENAI_API_KEY: undefined, LANGSMITH_API_KEY: undefined },
        // The provider from wrangler/api.toml: drafts made at once, to drain the image queue.
        template: { LLM_PROVIDER: undefined, OPENAI_API_KEY: undefined, LANGSMITH_API_KEY: undefined },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await openai?.close();
  await ai?.close();
  await langsmith?.close();
});
beforeEach(() => {
  openai.reset();
  ai.reset();
  langsmith.reset();
});

/** Waits until the image queue has worked through everything sent so far: a draft made now
 * has its image, and the queue delivers in order. */
async function drainImageQueue() {
  const sentinel = await pipeline.variant("template").generate({ brief: "Queue sentinel", language: "en" });
  assert.equal(sentinel.status, 201, sentinel.text);
  await pipeline.eventually(async () => (await pipeline.draftRow(sentinel.json.draftId))?.image_status === "ready", {
    what: "the sentinel draft's image",
  });
}

/**
 * Sends one generate (with an idempotency key) whose model call `fail` answers, through
 * `client`, and checks that nothing stays behind: no draft row (one existed during the call),
 * no KV text, no claimed idempotency key, no image once the image queue has caught up.
 * `fake` is the fake `fail` is scripted on. Returns the response.
 */
async function generateFailing({ client = pipeline, fake = openai, fail }) {
  await pipeline.settleImages();
  const known = await draftIds(pipeline);
  const before = await pipeline.storedCounts();
  let rowDuringCall;
  fake.script(async (request) => {
    rowDuringCall = (await newDraftRows(pipeline, known))[0]?.id;
    return fail;
  });
  const key = `limited-${randomUUID()}`;
  const response = await client.generate(BODY, { headers: { "idempotency-key": key } });
  assert.equal(fake.calls().length, 1, "model calls: a rate limit is not retried by the api");
  assertNoSecret(response.text, SECRETS, "the answer");
  assert.match(rowDuringCall ?? "", UUID_V4, "no draft row existed while the model was called");
  assertNothingStored(before, await pipeline.storedCounts(), `after a ${response.status}`);
  const held = await pipeline.db.prepare("SELECT key FROM idempotency_keys WHERE key = ?1").bind(key).first();
  assert.equal(held, null, "the idempotency key is still claimed");
  await drainImageQueue();
  assert.equal(await pipeline.draftRow(rowDuringCall), null);
  assert.deepEqual(await pipeline.mediaKeys(`images/${rowDuringCall}/`), [], "an image was stored for a failed draft");
  return response;
}

function assertUnavailable(response, retryAfter, provider = "openai") {
  assert.equal(response.status, 503, response.text);
  assert.equal(response.json.error.code, "model_unavailable");
  assert.match(response.json.error.message, new RegExp(`^the caption model \\(${provider}\\) is rate limiting requests`));
  assert.equal(response.headers.get("retry-after"), retryAfter);
}

for (const { name, fail, retryAfter } of [
  { name: "with Retry-After: 17", fail: rateLimited({ retryAfter: "17" }), retryAfter: "17" },
  {
    name: "with Retry-After: 17 and a hint of 20 s in the body: the header wins",
    fail: rateLimited({ retryAfter: "17", message: "Rate limit reached. Please try again in 20s." }),
    retryAfter: "17",
  },
  {
    name: "without Retry-After but with a hint of 20 s in the body",
    fail: rateLimited({ message: "Rate limit reached. Please try again in 20s." }),
    retryAfter: "20",
  },
  { name: "without Retry-After: 30 s", fail: rateLimited(), retryAfter: "30" },
  {
    name: "with an HTTP-date Retry-After, which is not read: 30 s",
    fail: rateLimited({ retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT" }),
    retryAfter: "30",
  },
]) {
  test(`openai 429 ${name} -> 503 model_unavailable, Retry-After ${retryAfter}, nothing stored`, async () => {
    assertUnavailable(await generateFailing({ fail }), retryAfter);
  });
}

test("openai 429 for an exhausted quota is a 502, Retry-After or not, and nothing is stored", async () => {
  const response = await generateFailing({
    fail: {
      status: 429,
      headers: { "retry-after": "17" },
      body: { error: { message: "You exceeded your current quota.", type: "insufficient_quota", code: "insufficient_quota" } },
    },
  });
  assert.equal(response.status, 502, response.text);
  assert.equal(response.json.error.code, "model_failed");
  assert.match(response.json.error.message, /rejected the request \(HTTP 429\)/);
  assert.equal(response.headers.get("retry-after"), null);
});

test("workers-ai out of capacity (3040) -> 503 model_unavailable, Retry-After 30, nothing stored", async () => {
  const response = await generateFailing({
    client: pipeline.variant("workersAi"),
    fake: ai,
    fail: aiReply.error("AiError: 3040: Capacity temporarily exceeded, please try again."),
  });
  assertUnavailable(response, "30", "workers-ai");
});

test("workers-ai daily allocation used up (3036) is a 502, not a wait", async () => {
  const response = await generateFailing({
    client: pipeline.variant("workersAi"),
    fake: ai,
    fail: aiReply.error("AiError: 3036: You have used up your daily free allocation of 10,000 neurons."),
  });
  assert.equal(response.status, 502, response.text);
  assert.equal(response.json.error.code, "model_failed");
  assert.equal(response.headers.get("retry-after"), null);
});

/** The one trace sent since the last reset: its root run and its children. */
async function theTrace() {
  const root = await pipeline.eventually(() => langsmith.runs().find((run) => run.name === "generate"), {
    timeoutMs: 10000,
    what: "the generate run at LangSmith",
  });
  for (const request of langsmith.requests) assertNoSecret(request.text, SECRETS, "a LangSmith request body");
  return { root, children: langsmith.runs().filter((run) => run.id !== root.id) };
}

test("the trace of a rate-limited call has the provider's wait, and no key", async () => {
  openai.script(rateLimited({ retryAfter: "17" }));
  const response = await pipeline.generate(BODY);
  assertUnavailable(response, "17");
  const { root, children } = await theTrace();
  assert.equal(root.extra.metadata.status, "error");
  assert.match(root.error, /is rate limiting requests/);
  assert.equal(children.length, 1);
  assert.equal(children[0].extra.metadata.status, "error");
  assert.equal(children[0].error, "the model provider is rate limiting requests, retry after 17 seconds");
});

// Each model call's run carries the provider's `usage` (prompt_tokens, completion_tokens) and
// the request's max_tokens: keys with "token" in them that are not secrets.
test(
  "token counts reach the trace unredacted, the key does not",
  async () => {
    const created = await pipeline.generate(BODY);
    assert.equal(created.status, 201, created.text);
    const { children } = await theTrace();
    const text = JSON.stringify(children);
    assert.match(text, /"prompt_tokens":100/);
    assert.match(text, /"completion_tokens":50/);
    assert.match(text, /"max_tokens":\d+/);
  },
);
