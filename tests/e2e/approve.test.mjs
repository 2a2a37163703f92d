// Approving and withdrawing: an approval queues its post at once, or leaves a timed one to the
// scheduler; a reviewer's token or session approves under their name; an approval snapshots
// exactly the revision it names, read from D1 even with the KV copy behind; a draft never
// waits in `approved` without a message; an approval is taken back while nothing can have gone
// to Instagram, and not after.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { REVIEWER, startPipeline } from "./harness.mjs";
import { reviewing } from "./reviewing.mjs";

const AIKO = { name: "Aiko", token: "aiko-review-7c1f0e9b2d4a68f3c5e1" };
const REVIEWERS = [REVIEWER, AIKO].map((r) => `${r.name}:${r.token}`).join("\n");

let pipeline;
before(async () => {
  // The publish consumer is idle: messages stay in the queue, where `sent` records them, so a
  // withdrawn post's message can be handed over.
  pipeline = await startPipeline({ api: { REVIEWERS } }, { record: true, idle: ["publish-consumer"] });
});
after(() => pipeline?.dispose());

const { readyDraft, signIn, withSession, publishSends, approvedDraft } = reviewing(() => pipeline);

test("approval: without a time the publish message goes at once, due now; with one, nothing is queued at approval", async () => {
  const now = await readyDraft();
  const later = await readyDraft();
  const approve = (draft, body) =>
    pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, { body: { revision: draft.revision, ...body }, token: REVIEWER.token });
  const approveAt = Date.now();
  const approved = await approve(now, {});
  assert.equal(approved.status, 200, approved.text);
  assert.deepEqual(approved.json.publish, { queued: "now" });
  assert.equal(approved.json.publishHold, null);
  const sentByApi = pipeline.sent.filter((s) => s.worker === "api" && s.queue === "publish-queue" && s.body.id === now.draftId);
  assert.equal(sentByApi.length, 1);
  assert.deepEqual([sentByApi[0].body.action, sentByApi[0].body.attempt], ["publish", 1]);
  const nowRow = await pipeline.draftRow(now.draftId);
  assert.equal(nowRow.publish_due_at, sentByApi[0].body.requestedAt, "the approval records when its message is due");
  assert.ok(Math.abs(Date.parse(nowRow.publish_due_at) - approveAt) < 5000);

  // Timed: the scheduler queues it (scheduler.test.mjs, "a timed post").
  const scheduledAt = Math.ceil((Date.now() + 2 * 60_000) / 1000) * 1000;
  const timed = await approve(later, { scheduledAt: new Date(scheduledAt).toISOString().replace("Z", "+00:00") });
  assert.equal(timed.status, 200, timed.text);
  assert.deepEqual(timed.json.publish, { queued: "at_scheduled_time" });
  assert.equal(publishSends(later.draftId).length, 0, "a scheduled post was queued at approval");
  assert.equal((await pipeline.draftRow(later.draftId)).publish_due_at, null);
});

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

test("a reviewer's token or session approves, and the approval names that reviewer", async () => {
  const byToken = await readyDraft();
  const approved = await pipeline.request("POST", `/api/v1/drafts/${byToken.draftId}/approve`, {
    body: { revision: byToken.revision, comment: "From my script" },
    token: AIKO.token,
  });
  assert.equal(approved.status, 200, approved.text);
  const row = await pipeline.draftRow(byToken.draftId);
  assert.equal(row.status, "approved");
  assert.equal(row.approved_by, "Aiko");
  const history = await pipeline.request("GET", `/api/v1/drafts/${byToken.draftId}/history`);
  assert.deepEqual(history.json.comments.map((c) => `${c.reviewer} ${c.decision} ${c.comment}`), ["Aiko approve From my script"]);

  const bySession = await readyDraft();
  const cookie = await signIn(REVIEWER);
  assert.match(cookie, /^__Host-review_session=[0-9a-f]{64}$/);
  const viaPage = await withSession(pipeline, cookie, "POST", `/api/v1/drafts/${bySession.draftId}/approve`, { revision: bySession.revision });
  assert.equal(viaPage.status, 200, viaPage.text);
  assert.equal((await pipeline.draftRow(bySession.draftId)).approved_by, REVIEWER.name);
});

test("withdraw: an approved post not yet sent goes back to review, and its queued message publishes nothing", async () => {
  const approved = await approvedDraft();
  const [message] = publishSends(approved.draftId);
  assert.ok(message, "the approval queued no message");
  const withdrawn = await pipeline.request("POST", `/api/v1/drafts/${approved.draftId}/withdraw`, {
    body: { revision: approved.revision, comment: "The offer changed" },
    token: AIKO.token,
  });
  assert.equal(withdrawn.status, 200, withdrawn.text);
  assert.equal(withdrawn.json.status, "draft");
  const row = await pipeline.draftRow(approved.draftId);
  assert.equal(row.status, "draft");
  assert.equal(row.approved_caption, null);
  assert.equal(row.approved_by, null);
  assert.equal(row.publish_due_at, null);
  const history = await pipeline.request("GET", `/api/v1/drafts/${approved.draftId}/history`);
  assert.deepEqual(history.json.comments.map((c) => `${c.reviewer} ${c.decision}`).at(-1), "Aiko withdraw");
  // The message already in the queue reaches a draft under review: nothing is published.
  const { outcomes } = await pipeline.deliver("publish-consumer", "publish-queue", [message.body]);
  assert.deepEqual(outcomes, ["acked"]);
  const after = await pipeline.draftRow(approved.draftId);
  assert.equal(after.status, "draft");
  assert.equal(after.container_id, null);
  assert.equal(after.media_id, null);
  // Withdrawn twice: nothing left to take back.
  const again = await pipeline.request("POST", `/api/v1/drafts/${approved.draftId}/withdraw`, {
    body: { revision: withdrawn.json.revision },
    token: AIKO.token,
  });
  assert.equal(again.status, 409, again.text);
});

test("withdraw once media_publish may have been called: 409 saying so, nothing changes", async () => {
  for (const [what, change] of [
    ["a container sent to media_publish", "publish_sent_container = 'container-1', publish_sent_at = '2030-01-01T00:00:00Z'"],
    ["a publisher holding the claim", "status = 'publishing', publish_claim = 'claim-1', claim_expires_at = '2999-01-01T00:00:00Z'"],
    ["a published post", "status = 'published', media_id = 'media-1'"],
  ]) {
    const approved = await approvedDraft();
    await pipeline.db.prepare(`UPDATE drafts SET ${change} WHERE id = ?1`).bind(approved.draftId).run();
    const before = await pipeline.draftRow(approved.draftId);
    const refused = await pipeline.request("POST", `/api/v1/drafts/${approved.draftId}/withdraw`, {
      body: { revision: before.revision },
      token: REVIEWER.token,
    });
    assert.equal(refused.status, 409, `${what}: ${refused.text}`);
    assert.match(refused.json.error.message, /media_publish may already have been called/, what);
    assert.deepEqual(await pipeline.draftRow(approved.draftId), before, `${what}: the draft changed`);
    const history = await pipeline.request("GET", `/api/v1/drafts/${approved.draftId}/history`);
    assert.ok(!history.json.comments.some((c) => c.decision === "withdraw"), `${what}: a withdrawal was recorded`);
  }
});
