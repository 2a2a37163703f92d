// Review events in LangSmith: each decision is a run; an approval of text a person changed
// adds the pair (generated, approved) to a dataset, so the prompts can be evaluated against
// human edits; an approval of the untouched text adds nothing; and LangSmith that hangs
// never holds up a review.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { API_TOKEN, startPipeline } from "./harness.mjs";

const LANGSMITH_KEY = "lsv2_pt_review_0a1b2c3d4e5f60718293";
const REVIEWER_TOKEN = "reviewer-token-for-review-trace-5511";
const DATASET = "e2e-approvals";

let langsmith;
let hang;
let pipeline;
before(async () => {
  langsmith = await startFakeLangSmith();
  // Accepts, reads, never answers: a LangSmith that hangs.
  const sockets = new Set();
  const arrived = [];
  const server = createServer((req) => {
    arrived.push(Date.now());
    req.resume();
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  hang = {
    url: `http://127.0.0.1:${server.address().port}`,
    arrived,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
  const reviewSettings = {
    REVIEWERS: `Aiko:${REVIEWER_TOKEN}`,
    LANGSMITH_API_KEY: LANGSMITH_KEY,
    LANGSMITH_DATASET: DATASET,
  };
  pipeline = await startPipeline(
    { api: { ...reviewSettings, LANGSMITH_ENDPOINT: langsmith.url } },
    { variants: { hanging: { LANGSMITH_ENDPOINT: hang.url } } },
  );
});
after(async () => {
  await pipeline?.dispose();
  await langsmith?.close();
  await hang?.close();
});

/** A generated draft with its image stored, as a reviewer finds it. */
async function readyDraft(via = pipeline) {
  const made = await via.generate({ brief: "Chestnut cake is back at our cafe", language: "en" });
  assert.equal(made.status, 201, made.text);
  const id = made.json.draftId;
  return pipeline.eventually(
    async () => {
      const draft = await via.request("GET", `/api/v1/drafts/${id}`);
      return draft.json?.image?.status === "ready" ? draft.json : null;
    },
    { what: `the image of ${id}` },
  );
}

const runsNamed = (name, id) =>
  langsmith.runs().filter((run) => run.name === name && run.inputs?.draftId === id);

test("an edited, approved draft becomes an example of (generated, approved) text; each decision is a run", async () => {
  const draft = await readyDraft();
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${draft.draftId}`, {
    body: { revision: draft.revision, caption: "Chestnut cake is back! Only this week 🌰" },
  });
  assert.equal(edited.status, 200, edited.text);
  const approved = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: edited.json.revision, comment: "Shorter is better" },
    token: REVIEWER_TOKEN,
  });
  assert.equal(approved.status, 200, approved.text);

  const example = await pipeline.eventually(
    () => langsmith.examples().find((e) => e.metadata?.draftId === draft.draftId),
    { what: "the example in LangSmith" },
  );
  assert.equal(example.dataset, DATASET);
  assert.equal(example.inputs.generated.caption, draft.caption);
  assert.equal(example.outputs.approved.caption, "Chestnut cake is back! Only this week 🌰");
  assert.deepEqual(example.outputs.approved.hashtags, draft.hashtags);
  assert.equal(example.inputs.request.brief, "Chestnut cake is back at our cafe");
  assert.equal(example.metadata.revision, edited.json.revision);

  await pipeline.eventually(() => runsNamed("review.edit", draft.draftId).length === 1, { what: "the edit run" });
  await pipeline.eventually(() => runsNamed("review.approve", draft.draftId).length === 1, { what: "the approve run" });
  const run = runsNamed("review.approve", draft.draftId)[0];
  assert.equal(run.inputs.reviewer, "Aiko");
  assert.equal(run.outputs.details.comment, "Shorter is better");
  // No secret in anything sent.
  const sent = JSON.stringify(langsmith.requests.map((r) => r.json));
  for (const secret of [API_TOKEN, REVIEWER_TOKEN, LANGSMITH_KEY]) assert.ok(!sent.includes(secret), "a secret reached LangSmith");
});

test("approving the text as it was written adds no example", async () => {
  const draft = await readyDraft();
  const approved = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: draft.revision },
    token: REVIEWER_TOKEN,
  });
  assert.equal(approved.status, 200, approved.text);
  await pipeline.eventually(() => runsNamed("review.approve", draft.draftId).length === 1, { what: "the approve run" });
  assert.deepEqual(
    langsmith.examples().filter((e) => e.metadata?.draftId === draft.draftId),
    [],
  );
});

test("a LangSmith that hangs does not hold up a review", async () => {
  const via = pipeline.variant("hanging");
  const draft = await readyDraft(via);
  const before = hang.arrived.length;
  const started = Date.now();
  const edited = await via.request("PATCH", `/api/v1/drafts/${draft.draftId}`, {
    body: { revision: draft.revision, altText: "A slice of chestnut cake on a white plate" },
  });
  const approved = await via.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: edited.json.revision },
    token: REVIEWER_TOKEN,
  });
  const took = Date.now() - started;
  assert.equal(edited.status, 200, edited.text);
  assert.equal(approved.status, 200, approved.text);
  // The hanging LangSmith got the review's requests, and never answered them.
  await pipeline.eventually(() => hang.arrived.length > before, { what: "LangSmith to be called" });
  assert.ok(took < 4000, `the review waited ${took} ms for LangSmith`);
});
