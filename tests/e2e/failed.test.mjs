// The way out when publishing gives up: the failed queue fails the draft with the reason
// from its publish logs and alerts the operator through the webhook, once per failure; an
// alert that cannot be sent keeps the message in the queue (retried, then dead-lettered and
// recorded), never lost.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { message, PUBLISH, rfc3339, startPublishing } from "./publish-support.mjs";

/** A copy of the publish consumer that gives up after 2 attempts (PUBLISH_MAX_ATTEMPTS). */
const SHORT = "publish-consumer-short";
let p;
before(async () => {
  p = await startPublishing({ copies: { [SHORT]: { of: PUBLISH, vars: { PUBLISH_MAX_ATTEMPTS: "2" } } } });
});
after(() => p?.dispose());
beforeEach(() => {
  p.resetSim();
  p.webhook.reset();
});

function onlySent(queue, id) {
  const sent = p.sent(queue, id);
  assert.equal(sent.length, 1, `${queue}: ${JSON.stringify(sent)}`);
  return sent[0];
}

async function deadLetter(messageId) {
  return p.db.prepare("SELECT * FROM dead_letters WHERE message_id = ?1").bind(messageId).first();
}

test("after the configured attempts the draft fails, then the operator is alerted once", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "container", code: 2, message: "An unexpected error has occurred.", times: 2 });
  // Attempt 1 of 2 retries; attempt 2 is the last.
  await p.pipeline.deliver(SHORT, "publish-queue", [message(draft.id)]);
  const retry = onlySent("publish-queue", draft.id);
  assert.equal(retry.body.attempt, 2);
  assert.deepEqual((await p.pipeline.deliver(SHORT, "publish-queue", [retry.body])).outcomes, ["acked"]);

  const row = await p.row(draft.id);
  assert.equal(row.status, "failed");
  assert.match(row.last_error, /^publishing gave up after attempt 2: the Graph API failed temporarily \(code 2\)/);
  assert.equal(p.sent("publish-queue", draft.id).length, 1, "no third attempt");
  // The alert went out, so nothing goes to the failed queue.
  assert.deepEqual(p.sent("failed-queue", draft.id), []);
  const giveUp = (await p.logs(draft.id)).at(-1);
  assert.deepEqual([giveUp.step, giveUp.outcome, giveUp.attempt, giveUp.error_class], ["give_up", "failed", 2, "transient"]);

  // The operator was alerted with the reason, Slack-style.
  const letter = { body: message(draft.id, { action: "retry", attempt: 2 }) };
  assert.equal(p.webhook.calls().length, 1);
  const [alert] = p.webhook.calls();
  assert.equal(alert.headers["content-type"], "application/json");
  assert.deepEqual(Object.keys(alert.json), ["text"]);
  assert.match(alert.json.text, new RegExp(draft.id));
  assert.match(alert.json.text, /publishing gave up after attempt 2/);
  // Delivered again (at least once): no second alert, the draft as it was.
  assert.deepEqual((await p.failed([letter.body])).outcomes, ["acked"]);
  assert.equal(p.webhook.calls().length, 1);
  assert.deepEqual(await p.row(draft.id), row);
});

test("a publish message the queue gave up on fails its draft with the reason from the logs", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "container", kind: "raw", status: 503, body: "upstream unavailable" });
  await p.publish([message(draft.id)]);
  const retry = onlySent("publish-queue", draft.id).body;
  // The retry message kept failing in the consumer (a crash, say) and was dead-lettered.
  assert.deepEqual((await p.failed([retry])).outcomes, ["acked"]);
  const row = await p.row(draft.id);
  assert.equal(row.status, "failed");
  assert.match(
    row.last_error,
    /^publishing gave up after attempt 2: its message reached the failed queue; the last error \(unavailable at step container\) was: the Graph API is unavailable \(HTTP 503\)$/,
  );
  const giveUp = (await p.logs(draft.id)).at(-1);
  assert.deepEqual([giveUp.step, giveUp.outcome, giveUp.error_class, giveUp.message], ["give_up", "failed", "unavailable", row.last_error]);
  assert.equal(p.webhook.calls().length, 1);
  assert.match(p.webhook.calls()[0].json.text, /unavailable/);
});

test("a failing alert webhook keeps the failed-queue message: retried and recorded, then alerted once it works", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "container", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." });
  // The webhook is down when the consumer fails the draft: the failed queue alerts instead.
  p.webhook.setDefault({ status: 500, body: { error: "down" } });
  await p.publish([message(draft.id)]);
  assert.equal((await p.row(draft.id)).status, "failed");
  const letter = onlySent("failed-queue", draft.id).body;
  assert.equal(p.webhook.calls().length, 1);

  const first = await p.failed([letter]);
  assert.deepEqual(first.outcomes, ["retried"], "an unsent alert was acked");
  const messageId = first.messages[0].id;
  const recorded = await deadLetter(messageId);
  assert.ok(recorded, "the unsent alert is not recorded in dead_letters");
  assert.equal(recorded.queue, "failed-queue");
  assert.match(recorded.reason, /the operator alert could not be sent: the alert webhook answered HTTP 500/);
  assert.equal(p.webhook.calls().length, 2);

  // The queue delivers it again while the webhook is still down, then once it is back.
  assert.deepEqual((await p.failed([letter], { ids: [messageId], attempts: 2 })).outcomes, ["retried"]);
  assert.equal((await deadLetter(messageId)).deliveries, 2);
  p.webhook.setDefault({ status: 200, body: { ok: true } });
  assert.deepEqual((await p.failed([letter], { ids: [messageId], attempts: 3 })).outcomes, ["acked"]);
  const calls = p.webhook.calls();
  assert.equal(calls.length, 4);
  assert.match(calls[3].json.text, /2207009/);
  assert.deepEqual((await p.failed([letter])).outcomes, ["acked"]);
  assert.equal(p.webhook.calls().length, 4, "alerted twice");
});

test("a failed-queue message for a draft a live claim holds leaves it to the holder", async () => {
  const draft = await p.approvedDraft();
  const lease = rfc3339(new Date(Date.now() + 60_000));
  await p.db
    .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'live-consumer', claim_expires_at = ?2 WHERE id = ?1")
    .bind(draft.id, lease)
    .run();
  const before = await p.row(draft.id);
  assert.deepEqual((await p.failed([message(draft.id, { action: "retry", attempt: 3 })])).outcomes, ["acked"]);
  assert.deepEqual(await p.row(draft.id), before);
  assert.equal(p.webhook.calls().length, 0);
});

test("a dead-lettered publish whose media_publish may have gone out reads the container first: live is published, unreadable stays unresolved, never failed", async () => {
  for (const readable of [true, false]) {
    p.resetSim();
    p.webhook.reset();
    const draft = await p.approvedDraft();
    // media_publish's answer is lost and the status cannot be read after it.
    p.sim.control.fault([
      { op: "publish", kind: "lost_answer", mode: "destroy" },
      { op: "status", kind: "latency", delayMs: 1 },
      { op: "status", code: 2, message: "An unexpected error has occurred." },
    ]);
    await p.publish([message(draft.id)]);
    assert.equal(p.media().length, 1, "the post is live");
    assert.ok((await p.row(draft.id)).publish_sent_container, "the send was recorded before the call");
    const retry = onlySent("publish-queue", draft.id).body;
    // That retry then dies in the queue (a crash, D1 down) and reaches the failed queue,
    // whose give-up reads the container first.
    if (!readable) p.sim.control.fault({ op: "status", code: 100, message: "Unsupported get request.", times: 1 });
    assert.deepEqual((await p.failed([retry])).outcomes, ["acked"]);
    const row = await p.row(draft.id);
    assert.equal(p.calls("publish").length, 1, "published twice");
    if (readable) {
      assert.equal(row.status, "published", "a live post was not recorded as published");
      assert.equal(row.media_id, p.media()[0].id);
      assert.equal(p.webhook.calls().length, 0);
    } else {
      // Meta refused the read: unresolved, the operator told at once it needs a look.
      assert.equal(row.status, "approved", "a post that may be live was marked failed");
      assert.ok(row.unresolved_since);
      assert.equal(p.webhook.calls().length, 1);
      assert.match(p.webhook.calls()[0].json.text, /needs a look/);
      const back = p.sent("publish-queue", draft.id).at(-1);
      assert.equal(back.body.id, draft.id);
      // Read again later: PUBLISHED, so published with no second media_publish.
      await p.publish([back.body]);
      assert.equal((await p.row(draft.id)).status, "published");
      assert.equal(p.calls("publish").length, 1);
    }
  }
});
