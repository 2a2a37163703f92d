// POST /api/v1/generate with LLM_PROVIDER=workers-ai: the api calls `env.AI.run(model, input)`,
// here a stand-in that forwards to a fake (tests/fakes/workers-ai.mjs).
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { VALID_POST } from "../fakes/openai.mjs";
import { aiReply, startFakeWorkersAI } from "../fakes/workers-ai.mjs";
import { startPipeline } from "./harness.mjs";
import { assertNothingStored, UUID_V4 } from "./support.mjs";

const MODEL = "@cf/e2e/fake-instruct";
const BRIEF = "Autumn menu launch at our Shibuya cafe";
const BODY = { brief: BRIEF, language: "en", hashtagCount: 5 };

let ai;
let pipeline;
before(async () => {
  ai = await startFakeWorkersAI();
  pipeline = await startPipeline(
    { api: { LLM_PROVIDER: "workers-ai", WORKERS_AI_MODEL: MODEL, LLM_TIMEOUT_MS: "10000" } },
    { ai: ai.url, variants: { impatient: { LLM_TIMEOUT_MS: "500" } } },
  );
});
after(async () => {
  await pipeline?.dispose();
  await ai?.close();
});
beforeEach(() => ai.reset());

function assertValidPostDraft(created) {
  assert.equal(created.status, 201, created.text);
  assert.match(created.json.draftId, UUID_V4);
  assert.equal(created.json.caption, VALID_POST.caption);
  assert.deepEqual(created.json.hashtags, VALID_POST.hashtags);
  assert.equal(created.json.altText, VALID_POST.altText);
  assert.deepEqual(created.json.writer, { provider: "workers-ai", model: MODEL, offline: false });
}

test("workers-ai: run(model, input) gets the messages and the JSON schema; a text response makes the draft", async () => {
  ai.script(aiReply.text());
  const created = await pipeline.generate(BODY);
  assertValidPostDraft(created);

  const calls = ai.calls();
  assert.equal(calls.length, 1);
  const [{ model, input }] = calls;
  assert.equal(model, MODEL);
  assert.deepEqual(
    input.messages.map((m) => m.role),
    ["system", "user"],
  );
  assert.match(input.messages[0].content, /Exactly 5 hashtags/);
  assert.ok(input.messages[1].content.includes(BRIEF));
  assert.equal(input.response_format.type, "json_schema");
  assert.deepEqual(input.response_format.json_schema.required, ["caption", "hashtags", "altText"]);
  assert.equal(input.max_tokens, 1024);

  const id = created.json.draftId;
  assert.equal((await pipeline.draftRow(id)).provider, "workers-ai");
  const read = await pipeline.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(read.status, 200);
  assert.equal(read.json.caption, VALID_POST.caption);
  assert.deepEqual(read.json.writer, created.json.writer);
});

test("workers-ai: a response the binding hands back already parsed is used as well", async () => {
  ai.script(aiReply.object());
  assertValidPostDraft(await pipeline.generate(BODY));
  assert.equal(ai.calls().length, 1);
});

test("workers-ai: an OpenAI-style output with choices is used as well", async () => {
  ai.script(aiReply.output({ choices: [{ message: { role: "assistant", content: JSON.stringify(VALID_POST) } }] }));
  assertValidPostDraft(await pipeline.generate(BODY));
});

test("workers-ai: an unusable answer gets the repair round", async () => {
  ai.script(aiReply.output({ response: "Here is your caption!" }), aiReply.object());
  assertValidPostDraft(await pipeline.generate(BODY));
  const calls = ai.calls();
  assert.equal(calls.length, 2);
  const messages = calls[1].input.messages;
  assert.deepEqual(
    messages.map((m) => m.role),
    ["system", "user", "assistant", "user"],
  );
  assert.equal(messages[2].content, "Here is your caption!");
  assert.match(messages[3].content, /answer is not a JSON object/);
});

test("workers-ai: a failing binding is a 502 that stores nothing and passes none of its words on", async () => {
  ai.script(aiReply.error("InferenceUpstreamError: 5004: upstream node crashed at 10.0.0.7"));
  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 502, failed.text);
  assert.equal(failed.json.error.code, "model_failed");
  // A clean reason: the binding's own words go to the log, not to the client.
  assert.equal(failed.json.error.message, "the caption model (workers-ai) could not be reached; nothing was stored");
  assert.ok(!failed.text.includes("upstream node") && !failed.text.includes("10.0.0.7"), failed.text);
  assert.equal(ai.calls().length, 1, "the binding was not called");
  assertNothingStored(before, await pipeline.storedCounts(), "after a 502");
});

test("workers-ai: a binding out of capacity (3040) is a 503 the client may retry after 30 s", async () => {
  ai.script(aiReply.error("AiError: 3040: Capacity temporarily exceeded"));
  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 503, failed.text);
  assert.equal(failed.json.error.code, "model_unavailable");
  assert.equal(failed.json.error.message, "the caption model (workers-ai) is rate limiting requests; nothing was stored, retry later");
  assert.equal(failed.headers.get("retry-after"), "30");
  assert.equal(ai.calls().length, 1, "the binding was not called");
  assertNothingStored(before, await pipeline.storedCounts(), "after a 503");
});

test("workers-ai: output without a response is a 502", async () => {
  ai.script(aiReply.output({ result: "nothing here" }));
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 502, failed.text);
  assert.equal(failed.json.error.code, "model_failed");
  assert.equal(
    failed.json.error.message,
    "the caption model (workers-ai) answered with something that is not a usable response; nothing was stored",
  );
  assert.equal(ai.calls().length, 1);
});

test("workers-ai: a binding that never answers is a 502 after LLM_TIMEOUT_MS", async () => {
  ai.script(aiReply.hang());
  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  const started = Date.now();
  const failed = await pipeline.variant("impatient").generate(BODY, { signal: AbortSignal.timeout(8000) });
  const elapsedMs = Date.now() - started;
  assert.equal(failed.status, 502, failed.text);
  assert.equal(failed.json.error.message, "the caption model (workers-ai) did not answer within 500 ms; nothing was stored");
  assert.equal(ai.calls().length, 1, "the binding was not called");
  assert.ok(elapsedMs >= 450 && elapsedMs < 5000, `answered after ${elapsedMs} ms with a 500 ms timeout`);
  assertNothingStored(before, await pipeline.storedCounts(), "after a 502");
});
