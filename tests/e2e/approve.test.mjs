// Approval against a KV copy that lags D1, and a publish message that cannot be queued: an
// approval snapshots exactly the revision it names, read from D1, and a draft never waits in
// `approved` without a message.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { REVIEWER, startPipeline } from "./harness.mjs";

let pipeline;
before(async () => {
  // The publish consumer is idle: messages stay in the queue, where `sent` records them.
  pipeline = await startPipeline({}, { record: true, idle: ["publish-consumer"] });
});
after(() => pipeline?.dispose());

/** A generated draft with its image stored, as a reviewer finds it. */
async function readyDraft() {
  const made = await pipeline.generate({ brief: "Pumpkin soup is back on the menu", language: "en" });
  assert.equal(made.status, 201, made.text);
  return pipeline.eventually(
    async () => {
      const draft = await pipeline.request("GET", `/api/v1/drafts/${made.json.draftId}`);
      return draft.json?.image?.status === "ready" ? draft.json : null;
    },
    { what: "the image" },
  );
}

const publishSends = (id) => pipeline.sent.filter((s) => s.queue === "publish-queue" && s.body?.id === id);

test("with the KV copy behind D1, an approval snapshots D1's text at the revision it names, never the copy's", async () => {
  const draft = await readyDraft();
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${draft.draftId}`, {
    body: { revision: draft.revision, caption: "Pumpkin soup is back, now with ginger" },
  });
  assert.equal(edited.status, 200, edited.text);
  // The copy lags: it holds the text before the edit, at the older revision.
  const kv = await pipeline.draftsKv();
  await pipeline.eventually(async () => (await kv.get(`draft:${draft.draftId}`, "json"))?.revision === edited.json.revision, {
    what: "the KV copy",
  });
  const copy = await kv.get(`draft:${draft.draftId}`, "json");
  const stale = { ...copy, revision: draft.revision, text: { ...copy.text, caption: draft.caption } };
  await kv.put(`draft:${draft.draftId}`, JSON.stringify(stale));

  // A page that read the copy names its revision: refused, nothing approved or queued.
  const byCopy = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: stale.revision },
    token: REVIEWER.token,
  });
  assert.equal(byCopy.status, 409, byCopy.text);
  assert.equal(byCopy.json.error.code, "revision_conflict");
  assert.equal(byCopy.json.error.current.caption, "Pumpkin soup is back, now with ginger");
  assert.equal((await pipeline.draftRow(draft.draftId)).status, "draft");
  assert.deepEqual(publishSends(draft.draftId), []);

  // D1's revision: the snapshot is D1's text and image at that revision.
  const approved = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: edited.json.revision },
    token: REVIEWER.token,
  });
  assert.equal(approved.status, 200, approved.text);
  const row = await pipeline.draftRow(draft.draftId);
  assert.equal(row.status, "approved");
  assert.equal(row.approved_revision, edited.json.revision);
  assert.equal(row.approved_caption, "Pumpkin soup is back, now with ginger");
  assert.equal(row.approved_hashtags, JSON.stringify(edited.json.hashtags));
  assert.equal(row.approved_alt_text, edited.json.altText);
  assert.equal(row.approved_image_key, row.image_key);
  assert.equal(publishSends(draft.draftId).length, 1);
});

test("a publish message that cannot be queued leaves the draft failed with the reason, not approved without a message", async () => {
  const draft = await readyDraft();
  pipeline.refuseSends((s) => s.queue === "publish-queue" && s.body?.id === draft.draftId);
  try {
    const approved = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
      body: { revision: draft.revision },
      token: REVIEWER.token,
    });
    assert.equal(approved.status, 503, approved.text);
    assert.ok(approved.headers.get("retry-after"), "no Retry-After");
    assert.match(approved.json.error.message, /could not be queued/);
  } finally {
    pipeline.refuseSends(null);
  }
  // The send was really tried and refused.
  assert.equal(pipeline.refused.filter((s) => s.body?.id === draft.draftId).length, 1);
  const row = await pipeline.draftRow(draft.draftId);
  assert.equal(row.status, "failed");
  assert.match(row.last_error, /could not be queued/);
  assert.deepEqual(publishSends(draft.draftId), []);

  // The way out works: approve it again, and one message goes.
  const again = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/reapprove`, {
    body: { revision: row.revision },
    token: REVIEWER.token,
  });
  assert.equal(again.status, 200, again.text);
  assert.equal((await pipeline.draftRow(draft.draftId)).status, "approved");
  assert.equal(publishSends(draft.draftId).length, 1);
});
