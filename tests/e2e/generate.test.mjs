// POST /api/v1/generate against a fake OpenAI-compatible provider: the request the model
// gets, the draft that is stored and answered, the repair round, every way the model can
// fail (and that a failure leaves nothing behind), idempotency, and the image being made
// while the text is written.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { reply, startFakeOpenAI, VALID_POST } from "../fakes/openai.mjs";
import { startPipeline } from "./harness.mjs";
import {
  assertJpegAt,
  assertNoSecret,
  assertNothingStored,
  closedPortUrl,
  draftIds,
  newDraftRows,
  OPENAI_KEY,
  OPENAI_MODEL,
  UUID_V4,
} from "./support.mjs";

const BRIEF = "Autumn menu launch at our Shibuya cafe: squash soup and chestnut cake";
const BODY = { brief: BRIEF, language: "en", tone: "playful", keywords: ["autumn", "chestnut cake"], hashtagCount: 5 };

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  pipeline = await startPipeline(
    {
      api: {
        LLM_PROVIDER: "openai",
        OPENAI_BASE_URL: fake.baseUrl,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_MODEL,
        LLM_TIMEOUT_MS: "10000",
      },
    },
    {
      variants: {
        // The provider from wrangler/api.toml, without a key.
        template: { LLM_PROVIDER: undefined, OPENAI_API_KEY: undefined },
        unstructured: { OPENAI_STRUCTURED_OUTPUT: "false" },
        impatient: { LLM_TIMEOUT_MS: "500" },
        // Nothing listens there: every call is refused.
        unreachable: { OPENAI_BASE_URL: `${await closedPortUrl()}/v1` },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});
beforeEach(() => fake.reset());

/** Reads the KV document of a draft. */
async function kvDocument(id) {
  const kv = await pipeline.mf.getKVNamespace("DRAFTS", "api");
  return kv.get(`draft:${id}`, "json");
}

/**
 * Polls D1, as a model call in flight, until a draft not in `known` has its image stored;
 * throws (the fake then answers 500) when none does within `timeoutMs`.
 */
function readyImageOfNewDraft(known, timeoutMs = 8000) {
  return pipeline.eventually(
    async () => (await newDraftRows(pipeline, known)).find((row) => row.image_status === "ready"),
    { timeoutMs, intervalMs: 50, what: "the new draft's image while the model call is in flight" },
  );
}

/** Waits until the image queue has worked through everything sent so far: a draft made now
 * has its image, and the queue delivers in order. */
async function drainImageQueue() {
  const sentinel = await pipeline.variant("template").generate({ brief: "Queue sentinel", language: "en" });
  assert.equal(sentinel.status, 201, sentinel.text);
  await pipeline.eventually(async () => (await pipeline.draftRow(sentinel.json.draftId))?.image_status === "ready", {
    what: "the sentinel draft's image",
  });
}

test("openai: the draft holds the model's answer, and the model got the brief with key, model and schema", async () => {
  const before = await pipeline.storedCounts();
  const created = await pipeline.generate(BODY);

  assert.equal(created.status, 201, created.text);
  const draft = created.json;
  assert.match(draft.draftId, UUID_V4);
  assert.equal(draft.status, "draft");
  assert.equal(draft.caption, VALID_POST.caption);
  assert.deepEqual(draft.hashtags, VALID_POST.hashtags);
  assert.equal(draft.altText, VALID_POST.altText);
  assert.equal(draft.instagramCaption, `${VALID_POST.caption}\n\n${VALID_POST.hashtags.map((t) => `#${t}`).join(" ")}`);
  assert.equal(draft.language, "en");
  assert.deepEqual(draft.writer, { provider: "openai", model: OPENAI_MODEL, offline: false });
  assert.equal(draft.approval, null);
  assert.equal(draft.lastError, null);
  // Whether the image is made yet depends on the image queue's batch timing here (the state
  // before any delivery is tested deterministically in edit.test.mjs). Either way the answer
  // is consistent: the text is the first revision, a stored image one more.
  const imageReady = draft.image.status === "ready";
  assert.equal(draft.revision, imageReady ? 2 : 1, JSON.stringify(draft.image));
  assert.equal(draft.image.status, imageReady ? "ready" : "pending");
  assert.equal(draft.image.previewUrl, imageReady ? draft.image.url : `${pipeline.url}/media/pending.svg`);
  assert.match(created.headers.get("content-type"), /^application\/json/);

  // Exactly one model call, with the key, the model, the brief and the output schema.
  const calls = fake.calls();
  assert.equal(calls.length, 1);
  const [call] = calls;
  assert.equal(call.method, "POST");
  assert.equal(call.headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.match(call.headers["content-type"], /^application\/json/);
  assert.equal(call.json.model, OPENAI_MODEL);
  const messages = call.json.messages;
  assert.deepEqual(
    messages.map((m) => m.role),
    ["system", "user"],
  );
  assert.match(messages[0].content, /Exactly 5 hashtags/);
  assert.match(messages[0].content, /"en"/);
  assert.ok(messages[1].content.includes(BRIEF), messages[1].content);
  assert.match(messages[1].content, /Tone: playful/);
  assert.match(messages[1].content, /autumn, chestnut cake/);
  assert.equal(call.json.response_format?.type, "json_schema");
  const schema = call.json.response_format.json_schema;
  assert.equal(schema.strict, true);
  assert.deepEqual(schema.schema.required, ["caption", "hashtags", "altText"]);

  // Stored: one D1 row and one KV document, and nothing else.
  const after = await pipeline.storedCounts();
  assert.equal(after.drafts, before.drafts + 1);
  assert.equal(after.kvDrafts, before.kvDrafts + 1);
  assert.equal(after.idempotencyKeys, before.idempotencyKeys);
  const row = await pipeline.draftRow(draft.draftId);
  assert.equal(row.status, "draft");
  assert.equal(row.provider, "openai");
  assert.equal(row.language, "en");
  assert.equal(row.image_prompt, BRIEF);
  assert.equal(row.scheduled_at, null);
  const document = await kvDocument(draft.draftId);
  assert.deepEqual(document.text, { caption: VALID_POST.caption, hashtags: VALID_POST.hashtags, altText: VALID_POST.altText });
  assert.equal(document.request.brief, BRIEF);

  // Readable through the API, with the token only.
  const read = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}`);
  assert.equal(read.status, 200, read.text);
  for (const field of ["draftId", "status", "caption", "hashtags", "altText", "writer", "language"]) {
    assert.deepEqual(read.json[field], draft[field], field);
  }
  // The image may have been stored in between, which is a new revision.
  assert.equal(read.json.revision, read.json.image.status === "ready" ? 2 : 1);
  const anonymous = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}`, { token: null });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
  assert.ok(!anonymous.text.includes(VALID_POST.caption), anonymous.text);
});

test("openai without structured outputs: no response_format, same draft", async () => {
  const created = await pipeline.variant("unstructured").generate(BODY);
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.caption, VALID_POST.caption);
  assert.deepEqual(created.json.writer, { provider: "openai", model: OPENAI_MODEL, offline: false });
  const calls = fake.calls();
  assert.equal(calls.length, 1);
  assert.ok(!("response_format" in calls[0].json), JSON.stringify(calls[0].json));
  assert.deepEqual(
    calls[0].json.messages.map((m) => m.role),
    ["system", "user"],
  );
  assert.ok(calls[0].json.messages[1].content.includes(BRIEF));
});

test("default provider: the offline template writer, said so in the answer and the stored draft", async () => {
  const template = pipeline.variant("template");
  const created = await template.generate(BODY);
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json.writer, { provider: "template", model: null, offline: true });
  assert.equal(created.json.hashtags.length, 5);
  assert.ok(created.json.caption.length > 0);
  assert.equal(fake.calls().length, 0, "the template writer called a model");

  const id = created.json.draftId;
  assert.equal((await pipeline.draftRow(id)).provider, "template");
  assert.deepEqual((await kvDocument(id)).writer, { provider: "template", model: null, offline: true });
  const read = await template.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(read.status, 200);
  assert.deepEqual(read.json.writer, { provider: "template", model: null, offline: true });
});

for (const { name, bad, problem } of [
  { name: "an answer that is not JSON", bad: reply.garbage(), problem: /answer is not a JSON object/ },
  {
    name: "a wrong number of hashtags",
    bad: reply.post({ ...VALID_POST, hashtags: ["Autumn", "Cafe", "Soup"] }),
    problem: /3 hashtags given, exactly 5 are required/,
  },
  {
    name: "a caption that is too long",
    bad: reply.post({ ...VALID_POST, caption: "Chestnut ".repeat(300).trim() }),
    problem: /caption has 2699 characters, at most 2200 are allowed/,
  },
]) {
  test(`repair round: ${name} is fed back to the model once, and its second answer is used`, async () => {
    fake.script(bad, reply.post());
    const created = await pipeline.generate(BODY);
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.caption, VALID_POST.caption);
    assert.deepEqual(created.json.hashtags, VALID_POST.hashtags);

    const calls = fake.calls();
    assert.equal(calls.length, 2);
    const [first, second] = calls.map((call) => call.json.messages);
    assert.equal(first.length, 2);
    assert.equal(second.length, 4);
    assert.deepEqual(second.slice(0, 2), first, "the repair round changed the original conversation");
    assert.equal(second[2].role, "assistant");
    assert.equal(second[2].content, bad.body.choices[0].message.content);
    assert.equal(second[3].role, "user");
    assert.match(second[3].content, problem);
    assert.match(second[3].content, /corrected JSON object/);
  });
}

/**
 * Runs one request that the model makes fail and checks the 502 and that nothing was kept:
 * no D1 row, no KV text, no claimed idempotency key, and (once the image queue has caught up)
 * no image.
 */
async function expectModelFailure({ client = pipeline, behaviours, calls, message, status = 502, code = "model_failed" }) {
  await pipeline.settleImages();
  const known = await draftIds(pipeline);
  const before = await pipeline.storedCounts();
  let failedId;
  const [firstBehaviour, ...rest] = behaviours;
  fake.script(async (request) => {
    // The row exists while the model is asked; remember it to check it is gone afterwards.
    failedId = (await newDraftRows(pipeline, known))[0]?.id;
    return typeof firstBehaviour === "function" ? firstBehaviour(request) : firstBehaviour;
  }, ...rest);

  const started = Date.now();
  const failed = await client.generate(BODY, { headers: { "idempotency-key": `failing-${randomUUID()}` } });
  const elapsedMs = Date.now() - started;
  assert.equal(failed.status, status, failed.text);
  assert.equal(failed.json.error.code, code);
  assert.match(failed.json.error.message, /^the caption model \(openai\) /);
  if (typeof message === "string") assert.equal(failed.json.error.message, message);
  else assert.match(failed.json.error.message, message);
  assertNoSecret(failed.text, [OPENAI_KEY], `the ${status} answer`);
  // A clean reason: no transport detail naming where the provider is.
  assert.doesNotMatch(failed.json.error.message, /https?:|127\.0\.0\.1|\/v1/, "the answer names the provider's address");
  assert.equal(fake.calls().length, calls, "model calls");
  if (calls > 0) assert.match(failedId ?? "", UUID_V4, "no draft row existed while the model was called");
  assertNothingStored(before, await pipeline.storedCounts(), `after a ${status}`);

  await drainImageQueue();
  if (failedId !== undefined) {
    assert.equal(await pipeline.draftRow(failedId), null);
    assert.deepEqual(await pipeline.mediaKeys(`images/${failedId}/`), [], "an image was stored for a failed draft");
  }
  return { failed, elapsedMs };
}

test("502 when the model answers garbage twice", async () => {
  const { failed } = await expectModelFailure({
    behaviours: [reply.garbage(), reply.garbage()],
    calls: 2,
    message: "the caption model (openai) gave no usable answer, also after one repair round",
  });
  assert.ok(!failed.text.includes("lovely caption"), "the model's own words reached the client");
});

test("502 when the provider answers HTTP 500, without a retry", async () => {
  await expectModelFailure({
    behaviours: [reply.status(500, "upstream exploded at https://internal.example/v1")],
    calls: 1,
    message: "the caption model (openai) is unavailable (HTTP 500); nothing was stored",
  });
});

test("502 when the provider does not answer within LLM_TIMEOUT_MS", async () => {
  const { elapsedMs } = await expectModelFailure({
    client: pipeline.variant("impatient"),
    behaviours: [reply.hang()],
    calls: 1,
    message: "the caption model (openai) did not answer within 500 ms; nothing was stored",
  });
  assert.ok(elapsedMs >= 450 && elapsedMs < 5000, `answered after ${elapsedMs} ms with a 500 ms timeout`);
});

test("502 when the provider sends its headers and stalls halfway through the body", async () => {
  const { elapsedMs } = await expectModelFailure({
    client: pipeline.variant("impatient"),
    behaviours: [reply.stall()],
    calls: 1,
    message: "the caption model (openai) did not answer within 500 ms; nothing was stored",
  });
  assert.equal(fake.calls()[0].stalled, true, "the fake never sent its headers and half a body");
  assert.ok(elapsedMs >= 450 && elapsedMs < 5000, `answered after ${elapsedMs} ms with a 500 ms timeout`);
});

test("502 when the provider cannot be reached, without naming where it is", async () => {
  const { elapsedMs } = await expectModelFailure({
    client: pipeline.variant("unreachable"),
    behaviours: [],
    calls: 0,
    message: "the caption model (openai) could not be reached; nothing was stored",
  });
  assert.ok(elapsedMs < 5000, `answered after ${elapsedMs} ms`);
});

test("502 when the provider rejects the key (HTTP 401), and nothing the provider said is passed on", async () => {
  const { failed } = await expectModelFailure({
    behaviours: [
      reply.status(
        401,
        `Incorrect API key provided: ${OPENAI_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      ),
    ],
    calls: 1,
    message: "the caption model (openai) rejected the request (HTTP 401); nothing was stored",
  });
  assert.ok(!failed.text.includes("sk-"), failed.text);
  assert.ok(!failed.text.includes("Incorrect API key"), failed.text);
  assert.ok(!failed.text.includes("platform.openai.com"), failed.text);
});

test("502 when the provider echoes the key in a form the message cleaner does not know", async () => {
  const { failed } = await expectModelFailure({
    behaviours: [reply.status(401, `invalid credentials (api_key=${OPENAI_KEY})`)],
    calls: 1,
    message: "the caption model (openai) rejected the request (HTTP 401); nothing was stored",
  });
  assert.ok(!failed.text.includes("invalid credentials"), failed.text);
});

for (const { name, behaviour, retryAfter } of [
  {
    name: "the wait OpenAI names in its message",
    behaviour: reply.status(429, "Rate limit reached for gpt-e2e-fake. Please try again in 7s. Visit https://platform.openai.com/account/rate-limits"),
    retryAfter: "7",
  },
  {
    name: "the wait of the provider's Retry-After header",
    behaviour: { ...reply.status(429, "Rate limit reached"), headers: { "retry-after": "12" } },
    retryAfter: "12",
  },
  { name: "30 s when the provider names no wait", behaviour: reply.status(429, "Rate limit reached"), retryAfter: "30" },
]) {
  test(`503 model_unavailable when the provider rate limits (429), with Retry-After: ${name}`, async () => {
    const { failed } = await expectModelFailure({
      behaviours: [behaviour],
      calls: 1,
      status: 503,
      code: "model_unavailable",
      message: "the caption model (openai) is rate limiting requests; nothing was stored, retry later",
    });
    assert.equal(failed.headers.get("retry-after"), retryAfter);
  });
}

test("a draft whose text fails after its image was made leaves no image behind", async () => {
  await pipeline.settleImages();
  const known = await draftIds(pipeline);
  const before = await pipeline.storedCounts();
  let imaged;
  fake.script(async () => {
    imaged = await readyImageOfNewDraft(known);
    return reply.status(503);
  });
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 502, failed.text);
  assert.ok(imaged, "the image was not made while the model was called");
  assert.equal(await pipeline.draftRow(imaged.id), null);
  assert.deepEqual(await pipeline.mediaKeys(`images/${imaged.id}/`), [], "the failed draft's image was left in R2");
  assertNothingStored(before, await pipeline.storedCounts(), "after a 502");
});

test("the image is requested at once: it is made while the model is still writing the text", async () => {
  await pipeline.settleImages();
  const known = await draftIds(pipeline);
  let imaged;
  // The model answers only once the new draft's image is stored; were the image requested
  // after the text, this would wait in vain and the request would fail.
  fake.script(async () => {
    imaged = await readyImageOfNewDraft(known);
    return reply.post();
  });
  const created = await pipeline.generate(BODY);
  const waitedInVain = "the fake model answers 500 when no image is made while it waits";
  assert.equal(created.status, 201, `${created.text}\n(${waitedInVain})`);
  assert.ok(imaged, "the image was not made while the model was called");

  const id = created.json.draftId;
  assert.equal(imaged.id, id);
  // The queue message named the draft: the consumer stored the image under its id.
  assert.match(imaged.image_key, new RegExp(`^images/${id}/[0-9a-f]{16}\\.jpg$`));
  // The answer is read after the text is written, so it already shows the image.
  assert.equal(created.json.image.status, "ready");
  assert.equal(created.json.image.url, `${pipeline.url}/media/${imaged.image_key}`);
  assert.equal(created.json.image.previewUrl, created.json.image.url);
  assert.equal(created.json.image.error, null);
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [imaged.image_key]);
  await assertJpegAt(created.json.image.url);

  const read = await pipeline.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(read.json.image.status, "ready");
  assert.equal(read.json.image.url, created.json.image.url);
});
