// LangSmith tracing of POST /api/v1/generate: a `generate` chain run with a `chat_model` llm
// child per model call, sent once the request is answered (waitUntil), with no secret in
// it; failures are traced as errors; tracing never fails a request; and without a key
// nothing is sent.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { reply, startFakeOpenAI, VALID_POST } from "../fakes/openai.mjs";
import { API_TOKEN, startPipeline } from "./harness.mjs";
import { assertNoSecret, OPENAI_KEY, OPENAI_MODEL, UUID_V4 } from "./support.mjs";

const LANGSMITH_KEY = "lsv2_pt_e2e_9f8e7d6c5b4a39281706";
const PROJECT = "e2e-project";
const SECRETS = [OPENAI_KEY, API_TOKEN, LANGSMITH_KEY];
const BODY = { brief: "Autumn menu launch at our cafe", language: "en" };

/**
 * A LangSmith that accepts each request, reads it, and never answers: the connection stays
 * open until the client gives up. Records when each request arrived and when its connection
 * closed.
 */
async function startHangingLangSmith() {
  const requests = [];
  const sockets = new Set();
  const server = createServer((req, res) => {
    const request = { path: req.url, arrivedAt: Date.now(), closedAt: null };
    requests.push(request);
    req.resume();
    res.on("close", () => {
      request.closedAt = Date.now();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

let fake;
let langsmith;
let hanging;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  langsmith = await startFakeLangSmith();
  hanging = await startHangingLangSmith();
  pipeline = await startPipeline(
    {
      api: {
        LLM_PROVIDER: "openai",
        OPENAI_BASE_URL: fake.baseUrl,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_MODEL,
        LANGSMITH_API_KEY: LANGSMITH_KEY,
        LANGSMITH_ENDPOINT: langsmith.url,
        LANGSMITH_PROJECT: PROJECT,
      },
    },
    {
      variants: {
        untraced: { LANGSMITH_API_KEY: undefined },
        hanging: { LANGSMITH_ENDPOINT: hanging.url },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
  await langsmith?.close();
  await hanging?.close();
});
beforeEach(() => {
  fake.reset();
  langsmith.reset();
});

/** Waits for the one trace sent since the last reset: its root run and its children. */
async function theTrace() {
  const root = await pipeline.eventually(() => langsmith.runs().find((run) => run.name === "generate"), {
    timeoutMs: 10000,
    what: "the generate run at LangSmith",
  });
  const runs = langsmith.runs();
  assert.equal(runs.filter((run) => run.parent_run_id === null).length, 1, "more than one root run was sent");
  const children = runs.filter((run) => run.id !== root.id);
  return { root, children };
}

/** Every request LangSmith got carries no secret in its body, and the key in its header. */
function assertCleanRequests() {
  assert.ok(langsmith.requests.length > 0);
  for (const request of langsmith.requests) {
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/runs/batch");
    assert.equal(request.headers["x-api-key"], LANGSMITH_KEY);
    assert.match(request.headers["content-type"], /^application\/json/);
    assertNoSecret(request.text, SECRETS, "a LangSmith request body");
  }
}

test("a generate sends a chain run with an llm child run, linked, timed and marked successful", async () => {
  const created = await pipeline.generate(BODY);
  assert.equal(created.status, 201, created.text);
  const draftId = created.json.draftId;
  const { root, children } = await theTrace();

  assert.equal(root.run_type, "chain");
  assert.match(root.id, UUID_V4);
  assert.equal(root.trace_id, root.id);
  assert.equal(root.parent_run_id, null);
  assert.equal(root.session_name, PROJECT);
  assert.equal(root.inputs.draftId, draftId);
  assert.equal(root.inputs.request.brief, BODY.brief);
  assert.equal(root.outputs.draftId, draftId);
  assert.equal(root.outputs.text.caption, VALID_POST.caption);
  assert.equal(root.error, null);
  assert.equal(root.extra.metadata.provider, "openai");
  assert.equal(root.extra.metadata.model, OPENAI_MODEL);

  assert.equal(children.length, 1);
  const [child] = children;
  assert.equal(child.name, "chat_model");
  assert.equal(child.run_type, "llm");
  assert.equal(child.trace_id, root.id);
  assert.equal(child.parent_run_id, root.id);
  assert.ok(child.dotted_order.startsWith(`${root.dotted_order}.`), `${child.dotted_order} under ${root.dotted_order}`);
  assert.equal(child.session_name, PROJECT);
  assert.ok(child.inputs.messages.some((m) => m.role === "user" && m.content.includes(BODY.brief)));
  assert.equal(child.outputs.answer, JSON.stringify(VALID_POST));
  assert.equal(child.extra.metadata.attempt, 1);

  for (const run of [root, child]) {
    const { duration_ms: duration, status } = run.extra.metadata;
    assert.equal(typeof duration, "number", `${run.name} duration_ms`);
    assert.ok(Number.isInteger(duration) && duration >= 0, `${run.name} duration_ms ${duration}`);
    assert.equal(status, "success", run.name);
    assert.ok(Date.parse(run.start_time) <= Date.parse(run.end_time), run.name);
  }
  assert.ok(Date.parse(root.start_time) <= Date.parse(child.start_time));
  assert.ok(Date.parse(child.end_time) <= Date.parse(root.end_time));
  assert.equal(langsmith.requests.length, 1, "the runs went in more than one batch");
  assertCleanRequests();
});

test("a failed generate is traced as an error, with every attempt", async () => {
  fake.script(reply.garbage(), reply.garbage());
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 502, failed.text);
  const { root, children } = await theTrace();

  assert.equal(root.extra.metadata.status, "error");
  assert.match(root.error, /gave no usable answer/);
  assert.equal(root.outputs, null);
  assert.match(root.inputs.draftId, UUID_V4);
  assert.deepEqual(
    children.map((c) => [c.name, c.extra.metadata.attempt, c.extra.metadata.status]),
    [
      ["chat_model", 1, "success"],
      ["chat_model", 2, "success"],
    ],
  );
  assert.equal(children[1].inputs.messages.length, 4, "the repair round's prompt");
  for (const child of children) assert.equal(child.parent_run_id, root.id);
  assertCleanRequests();
});

test("a model call that fails is an llm run with status error", async () => {
  fake.script(reply.status(500));
  const failed = await pipeline.generate(BODY);
  assert.equal(failed.status, 502, failed.text);
  const { root, children } = await theTrace();
  assert.equal(root.extra.metadata.status, "error");
  assert.equal(children.length, 1);
  assert.equal(children[0].extra.metadata.status, "error");
  assert.match(children[0].error, /unavailable \(HTTP 500\)/);
  assert.equal(children[0].outputs, null);
  assertCleanRequests();
});

test("no secret reaches LangSmith, even one the provider echoes or a caller pastes into a brief", async () => {
  fake.script(reply.status(401, `invalid credentials (api_key=${OPENAI_KEY}), project key ${OPENAI_KEY}`));
  const brief = `Launch post. Internal notes: token ${API_TOKEN}, tracing key ${LANGSMITH_KEY}`;
  const failed = await pipeline.generate({ ...BODY, brief });
  assert.equal(failed.status, 502, failed.text);
  const { root, children } = await theTrace();
  assertCleanRequests();
  // The fields were sent, with the secrets taken out.
  assert.equal(root.inputs.request.brief, "Launch post. Internal notes: token [redacted], tracing key [redacted]");
  assert.match(children[0].error, /HTTP 401/);
  assert.match(children[0].error, /\[redacted\]/);
  assert.match(root.error, /HTTP 401/);
});

test("LangSmith answering 500 does not fail generate", async () => {
  langsmith.answerWith(500);
  const created = await pipeline.generate(BODY);
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.caption, VALID_POST.caption);
  // The trace was attempted and refused.
  await theTrace();
  const read = await pipeline.request("GET", `/api/v1/drafts/${created.json.draftId}`);
  assert.equal(read.status, 200);
});

test("a LangSmith that accepts and never answers does not fail or hold up generate", async () => {
  const started = Date.now();
  // Bounded, so a generate that waited for the trace fails here rather than hanging the run.
  const created = await pipeline.variant("hanging").generate(BODY, { signal: AbortSignal.timeout(8000) });
  const answeredAt = Date.now();
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.caption, VALID_POST.caption);
  assert.equal(fake.calls().length, 1);
  // The fault happened: the trace was sent to the hanging LangSmith, which took it and never
  // answered (it is sent after the answer, through waitUntil).
  const [request] = await pipeline.eventually(() => (hanging.requests.length > 0 ? hanging.requests : null), {
    timeoutMs: 5000,
    what: "the trace at the hanging LangSmith",
  });
  assert.equal(hanging.requests.length, 1);
  assert.equal(request.path, "/runs/batch");
  // The answer came while that request was still open: generate did not wait for it, and it
  // is far below the 5 s deadline the trace send has (platform::trace), so it did not wait that out either.
  assert.ok(request.closedAt === null || request.closedAt > answeredAt, `the trace request closed at ${request.closedAt}, the answer came at ${answeredAt}`);
  assert.ok(answeredAt - started < 3000, `took ${answeredAt - started} ms`);
  // The draft is complete and readable while the trace still hangs.
  const read = await pipeline.request("GET", `/api/v1/drafts/${created.json.draftId}`);
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json.caption, VALID_POST.caption);
  assert.equal(request.closedAt, null, "the hanging request closed before the draft was read back");
});

test("without LANGSMITH_API_KEY nothing is sent", async () => {
  const untraced = await pipeline.variant("untraced").generate(BODY);
  assert.equal(untraced.status, 201, untraced.text);
  const failed = await (async () => {
    fake.script(reply.status(500));
    return pipeline.variant("untraced").generate(BODY);
  })();
  assert.equal(failed.status, 502);
  // A traced request afterwards: once its trace is in, an untraced one would have been too.
  const traced = await pipeline.generate(BODY);
  assert.equal(traced.status, 201);
  const { root } = await theTrace();
  assert.equal(root.inputs.draftId, traced.json.draftId);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(
    langsmith.runs().filter((run) => run.parent_run_id === null).map((run) => run.inputs.draftId),
    [traced.json.draftId],
  );
  assert.equal(langsmith.requests.length, 1);
});
