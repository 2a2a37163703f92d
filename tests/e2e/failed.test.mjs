// The way out when publishing gives up: the failed queue fails the draft with the reason
// from its publish logs and alerts the operator through the webhook, once per failure; an
// alert that cannot be sent keeps the message in the queue (retried, then dead-lettered and
// recorded), never lost. Message by message: a dead-lettered generate_image message fails the
// image, a late one leaves a ready image alone; a malformed message on either of the publish
// consumer's queues, and a dead letter whose failure cannot be recorded on its draft, are
// retried and recorded in dead_letters; a publish message is never dropped silently.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { message, PUBLISH, rfc3339, startPublishing } from "./publish-support.mjs";
import { queueProbes } from "./queues.mjs";

/** A copy of the publish consumer that gives up after 2 attempts (PUBLISH_MAX_ATTEMPTS). */
const SHORT = "publish-consumer-short";
/** domain::backoff::Backoff::IMAGE */
const IMAGE_BACKOFF = { baseSeconds: 10, capSeconds: 300, maxAttempts: 4 };
let p;
/** `p.pipeline`, by the name the message-by-message tests below use. */
let pipeline;
before(async () => {
  p = await startPublishing({ copies: { [SHORT]: { of: PUBLISH, vars: { PUBLISH_MAX_ATTEMPTS: "2" } } } });
  pipeline = p.pipeline;
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

const { insertDraft, pointsFor, assertPoint, deadLetter } = queueProbes(() => pipeline);

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

// ---------------------------------------------------------------------------------------------
// Message by message: each batch handed to the failed (or publish) queue handler directly, on
// drafts inserted into D1 without text.

test("publish-consumer: malformed messages on both its queues are retried and recorded with their queue", async () => {
  const id = await insertDraft({ status: "approved" });
  const rowBefore = await pipeline.draftRow(id);
  for (const queue of ["publish-queue", "failed-queue"]) {
    const body = { ...message(id, { action: "publish" }), note: "from a newer producer" };
    const { outcomes, messages } = await pipeline.deliver(PUBLISH, queue, [body]);
    assert.deepEqual(outcomes, ["retried"], queue);
    const letter = await deadLetter(messages[0].id);
    assert.ok(letter, `${queue}: no dead letter`);
    assert.equal(letter.queue, queue);
    assert.equal(letter.body, JSON.stringify(body));
    assert.match(letter.reason, /unknown field "note"/);
  }
  assert.deepEqual(await pipeline.draftRow(id), rowBefore, "a malformed message changed the draft");
});

test("publish-consumer: a dead-lettered generate_image message marks the image failed, and is acked again", async () => {
  const id = await insertDraft();
  const letter = message(id, { action: "generate_image", attempt: IMAGE_BACKOFF.maxAttempts });
  assert.deepEqual((await pipeline.deliver(PUBLISH, "failed-queue", [letter])).outcomes, ["acked"]);
  const failed = await pipeline.draftRow(id);
  assert.equal(failed.image_status, "failed");
  assert.equal(failed.image_error, "image generation kept failing: its message reached the failed queue");
  assert.equal(failed.status, "draft");
  assert.equal(failed.revision, 2, "one new revision");

  // The same dead letter again (at-least-once), for an image that has already failed.
  assert.deepEqual((await pipeline.deliver(PUBLISH, "failed-queue", [letter])).outcomes, ["acked"]);
  assert.deepEqual(await pipeline.draftRow(id), failed, "the repeated dead letter changed the draft");

  const points = await pointsFor(id, 2);
  assert.equal(points.length, 2, JSON.stringify(points));
  for (const point of points) {
    assertPoint(point, { id, worker: PUBLISH, queue: "failed-queue", outcome: "handled", attempt: 4 });
  }
});

test("publish-consumer: a late dead letter leaves a ready image alone, and one for a missing draft is acked", async () => {
  const ready = await insertDraft({ image_status: "ready", image_key: "images/x/0000000000000000.jpg" });
  const missing = randomUUID();
  const { outcomes } = await pipeline.deliver(PUBLISH, "failed-queue", [message(ready, { action: "generate_image" }), message(missing, { action: "generate_image" })]);
  assert.deepEqual(outcomes, ["acked", "acked"]);
  const row = await pipeline.draftRow(ready);
  assert.equal(row.image_status, "ready");
  assert.equal(row.image_error, null);
  assert.equal(await pipeline.draftRow(missing), null);
});

test("publish-consumer: a publish message is never dropped silently: retried, or acked with its outcome on the draft", async () => {
  // Approved without an approved snapshot: nothing can be published for it.
  const id = await insertDraft({ status: "approved" });
  const rowBefore = await pipeline.draftRow(id);
  const { outcomes } = await pipeline.deliver(PUBLISH, "publish-queue", [message(id, { action: "publish", attempt: 1 })]);
  const row = await pipeline.draftRow(id);
  if (outcomes[0] === "retried") {
    // Left to the queue, which retries it and then dead-letters it to the failed queue.
    assert.deepEqual(row, rowBefore);
  } else {
    assert.equal(outcomes[0], "acked");
    // Acked only with the outcome recorded where a person sees it.
    assert.equal(row.status, "failed", JSON.stringify(row));
    assert.ok(row.last_error, "acked without a reason on the draft");
    assert.ok(row.revision > rowBefore.revision, "acked without a new revision");
  }
  const queuePoints = () => pipeline.metrics.filter((point) => point.indexes[0] === id && point.blobs[0] === "queue_message");
  await pipeline.eventually(() => queuePoints().length >= 1, { timeoutMs: 5000, what: "the queue_message point" });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const points = queuePoints();
  assert.equal(points.length, 1, JSON.stringify(points));
  assert.deepEqual(points[0].blobs.slice(0, 3), ["queue_message", "publish-queue", "publish"]);
});

test("publish-consumer: a dead-lettered publish message fails an approved or publishing draft, with the reason", async () => {
  const approved = await insertDraft({ status: "approved" });
  const publishing = await insertDraft({ status: "publishing" });
  const published = await insertDraft({ status: "published" });
  const draft = await insertDraft();
  const image = await insertDraft();
  const { outcomes } = await pipeline.deliver(PUBLISH, "failed-queue", [
    message(approved, { action: "publish", attempt: 1 }),
    message(publishing, { action: "retry", attempt: 3 }),
    message(published, { action: "publish" }),
    message(draft, { action: "publish" }),
    message(randomUUID(), { action: "publish" }),
    message(image, { action: "generate_image" }),
  ]);
  assert.deepEqual(outcomes, ["acked", "acked", "acked", "acked", "acked", "acked"]);

  for (const id of [approved, publishing]) {
    const row = await pipeline.draftRow(id);
    assert.equal(row.status, "failed", id);
    // Inserted at revision 1: claimed by the failed queue (it reads any sent container
    // first), then failed: two conditional status changes.
    assert.equal(row.revision, 3, "claimed, then failed");
    assert.equal(row.last_error, "publishing gave up: its message reached the failed queue");
    assert.equal(row.publish_claim, null);
    assert.equal(row.image_status, "pending", "a publish dead letter touched the image");
  }
  // Nothing to give up on: a published post stays published, a draft under review stays a draft.
  assert.equal((await pipeline.draftRow(published)).status, "published");
  assert.equal((await pipeline.draftRow(published)).last_error, null);
  assert.equal((await pipeline.draftRow(draft)).status, "draft");
  assert.equal((await pipeline.draftRow(image)).image_status, "failed");

  // The same dead letter again (at-least-once) changes nothing more.
  const failedRow = await pipeline.draftRow(approved);
  const again = await pipeline.deliver(PUBLISH, "failed-queue", [message(approved, { action: "publish", attempt: 1 })]);
  assert.deepEqual(again.outcomes, ["acked"]);
  assert.deepEqual(await pipeline.draftRow(approved), failedRow);
});


/**
 * Makes every UPDATE of draft `id` fail (`RAISE(ABORT)`, as a D1 error would) or silently
 * write nothing (`RAISE(IGNORE)`, as losing a race to another writer does), until the
 * returned function removes the fault.
 */
async function faultUpdates(id, raise) {
  const name = `e2e_fault_${id.replace(/-/g, "_")}`;
  await pipeline.db
    .prepare(`CREATE TRIGGER ${name} BEFORE UPDATE ON drafts WHEN OLD.id = '${id}' BEGIN SELECT ${raise}; END`)
    .run();
  return () => pipeline.db.prepare(`DROP TRIGGER ${name}`).run();
}


test("publish-consumer: a dead letter whose failure cannot be recorded on its draft is recorded in dead_letters and retried", async () => {
  for (const [fault, reason] of [
    ["RAISE(ABORT, 'injected D1 failure')", /injected D1 failure/],
    ["RAISE(IGNORE)", /the draft changed while its failure was recorded/],
  ]) {
    const id = await insertDraft({ status: "approved" });
    const rowBefore = await pipeline.draftRow(id);
    // Whole seconds, as the Workers stamp their messages: this record is the parsed message
    // written back (publish-consumer's record_unhandled), not the bytes received.
    const body = message(id, { action: "publish", attempt: 3, requestedAt: new Date(Math.floor(Date.now() / 1000) * 1000) });
    body.requestedAt = body.requestedAt.replace(".000Z", "Z");
    const removeFault = await faultUpdates(id, fault);
    let delivered;
    try {
      delivered = await pipeline.deliver(PUBLISH, "failed-queue", [body]);
    } finally {
      await removeFault();
    }
    // The fault happened: the draft could not be changed.
    assert.deepEqual(await pipeline.draftRow(id), rowBefore, fault);
    assert.deepEqual(delivered.outcomes, ["retried"], fault);
    const messageId = delivered.messages[0].id;
    const letter = await deadLetter(messageId);
    assert.ok(letter, `${fault}: not recorded`);
    assert.equal(letter.queue, "failed-queue");
    assert.deepEqual(JSON.parse(letter.body), body);
    assert.match(letter.reason, reason);
    assert.equal(letter.deliveries, 1);
    const points = await pointsFor(id, 1);
    assertPoint(points[0], { id, worker: PUBLISH, queue: "failed-queue", action: "publish", outcome: "retry", attempt: 3 });

    // The queue delivers the same message again; now the draft records it, and the record stays.
    const redelivered = await pipeline.deliver(PUBLISH, "failed-queue", [body], { ids: [messageId], attempts: 2 });
    assert.deepEqual(redelivered.outcomes, ["acked"], fault);
    const row = await pipeline.draftRow(id);
    assert.equal(row.status, "failed");
    assert.equal(row.last_error, "publishing gave up: its message reached the failed queue");
    assert.equal((await deadLetter(messageId)).deliveries, 1, "a handled delivery counted as a dead letter");
  }
});
