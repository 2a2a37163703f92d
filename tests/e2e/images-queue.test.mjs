// The image consumer, message by message: each batch is handed to its queue handler directly
// (pipeline.deliver), as the queue broker would, so the outcome of every message (acked or
// retried) is known exactly: an image made and stored once, a repeated or stray delivery, a
// malformed message recorded, a failed attempt queued again with a growing delay, a claim
// stepped aside from or taken over, one data point per message. (The image providers are
// images.test.mjs; a dead-lettered generate_image message is failed.test.mjs.) METRICS and
// the queue producers are recording stand-ins (`record`); sent messages still reach their queue.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { startPipeline } from "./harness.mjs";
import { message as queueMessage } from "./publish-support.mjs";
import { queueProbes } from "./queues.mjs";
import { assertInstagramSize, assertJpegAt } from "./support.mjs";

const IMAGE = "image-consumer";
/** A copy of image-consumer whose image maker always fails; it consumes no queue itself. */
const FAILING = "image-consumer-failing";
/** domain::backoff::Backoff::IMAGE */
const IMAGE_BACKOFF = { baseSeconds: 10, capSeconds: 300, maxAttempts: 4 };

let pipeline;
/** The draft whose first attempt failed with the failing image maker; attempt 2 is in image-queue. */
let retriedDraft;
before(async () => {
  pipeline = await startPipeline({}, { record: true, copies: { [FAILING]: { of: IMAGE, vars: { IMAGE_PROVIDER: "nope" } } } });
});
after(() => pipeline?.dispose());

const { insertDraft, pointsFor, assertPoint, deadLetter } = queueProbes(() => pipeline);

/** A generate_image message in the wire form of domain::message::QueueMessage. */
function message(id, options = {}) {
  return queueMessage(id, { action: "generate_image", ...options });
}

function sentFor(id) {
  return pipeline.sent.filter((sent) => sent.body?.id === id);
}

/** The [low, high] window of the delay after `attempt` failed: equal jitter over the step. */
function delayWindow(attempt) {
  const step = Math.min(IMAGE_BACKOFF.baseSeconds * 2 ** (attempt - 1), IMAGE_BACKOFF.capSeconds);
  return [Math.floor(step / 2), step];
}

test("image-consumer: a generate_image message stores a JPEG Instagram accepts and records it in D1", async () => {
  const id = await insertDraft();
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", [message(id)]);
  assert.deepEqual(outcomes, ["acked"]);

  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "ready");
  assert.equal(row.image_error, null);
  assert.match(row.image_key, new RegExp(`^images/${id}/[0-9a-f]{16}\\.jpg$`));
  assert.equal(row.status, "draft", "making the image must not touch the review status");
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [row.image_key]);

  const object = await (await pipeline.mf.getR2Bucket("MEDIA", "api")).get(row.image_key);
  assert.ok(object, "the R2 object is missing");
  assert.equal(object.httpMetadata.contentType, "image/jpeg");
  const stored = new Uint8Array(await object.arrayBuffer());
  // The same bytes are served publicly, where Instagram fetches them.
  const served = await assertJpegAt(`${pipeline.url}/media/${row.image_key}`);
  assert.deepEqual(served, stored);
  // wrangler/image-consumer.toml: IMAGE_WIDTH = IMAGE_HEIGHT = 1080.
  assert.deepEqual(assertInstagramSize(stored), { width: 1080, height: 1080 });

  const [point] = await pointsFor(id, 1);
  assertPoint(point, { id, worker: IMAGE, queue: "image-queue", outcome: "stored" });
  assert.deepEqual(sentFor(id), [], "a successful attempt must not queue another");
});

test("image-consumer: a repeated delivery after the image is ready is acked and stores nothing more", async () => {
  const id = await insertDraft();
  const first = message(id);
  assert.deepEqual((await pipeline.deliver(IMAGE, "image-queue", [first])).outcomes, ["acked"]);
  const ready = await pipeline.draftRow(id);
  assert.equal(ready.image_status, "ready");

  // Once on its own, then twice in one batch (at-least-once delivery).
  assert.deepEqual((await pipeline.deliver(IMAGE, "image-queue", [first])).outcomes, ["acked"]);
  assert.deepEqual((await pipeline.deliver(IMAGE, "image-queue", [first, first], { attempts: 2 })).outcomes, [
    "acked",
    "acked",
  ]);

  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "ready");
  assert.equal(row.image_key, ready.image_key, "the recorded image changed");
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [ready.image_key], "a second image was stored");
  const points = await pointsFor(id, 4);
  assert.deepEqual(
    points.map((point) => point.blobs[3]),
    ["stored", "skipped", "skipped", "skipped"],
  );
});

test("image-consumer: a message for a draft that does not exist is acked and writes nothing", async () => {
  const id = randomUUID();
  const mediaBefore = await pipeline.mediaKeys();
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", [message(id)]);
  assert.deepEqual(outcomes, ["acked"]);
  assert.equal(await pipeline.draftRow(id), null, "a draft row appeared");
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), []);
  assert.deepEqual(await pipeline.mediaKeys(), mediaBefore, "something was written to R2");
  const [point] = await pointsFor(id, 1);
  assertPoint(point, { id, worker: IMAGE, queue: "image-queue", outcome: "skipped" });
});

test("image-consumer: malformed messages are retried (never acked), recorded with their raw body, and write nothing else", async () => {
  const id = await insertDraft();
  const rowBefore = await pipeline.draftRow(id);
  const good = message(id);
  const { requestedAt, ...withoutRequestedAt } = good;
  const { action, ...withoutAction } = good;
  // Each with the reason the parser gives (domain::message::MessageError).
  const malformed = {
    "unknown action": [{ ...good, action: "delete" }, /field "action" is invalid/],
    "action in the wrong case": [{ ...good, action: "Generate_Image" }, /field "action" is invalid/],
    "missing requestedAt": [withoutRequestedAt, /missing the field "requestedAt"/],
    "missing action": [withoutAction, /missing the field "action"/],
    "extra field": [{ ...good, version: 2 }, /unknown field "version"/],
    "attempt 0": [{ ...good, attempt: 0 }, /field "attempt" is invalid/],
    "attempt as text": [{ ...good, attempt: "1" }, /field "attempt" is invalid/],
    "id not a uuid": [{ ...good, id: "42" }, /field "id" is invalid/],
    "requestedAt not RFC 3339": [{ ...good, requestedAt: "yesterday" }, /field "requestedAt" is invalid/],
    "a string": ["generate_image", /not a JSON object/],
    "a JSON string": [JSON.stringify(good), /not a JSON object/],
    "a number": [42, /not a JSON object/],
    null: [null, /not a JSON object/],
    "an array": [[good], /not a JSON object/],
  };
  const names = Object.keys(malformed);
  const bodies = names.map((name) => malformed[name][0]);
  const mediaBefore = await pipeline.mediaKeys();
  const lettersBefore = await pipeline.count("dead_letters");
  const { outcomes, messages } = await pipeline.deliver(IMAGE, "image-queue", bodies);
  // Retried, so the queue hands each on to its dead-letter queue after max_retries: never dropped.
  assert.deepEqual(
    Object.fromEntries(names.map((name, i) => [name, outcomes[i]])),
    Object.fromEntries(names.map((name) => [name, "retried"])),
  );
  // Each recorded once in D1 for an operator, with the body exactly as received.
  assert.equal(await pipeline.count("dead_letters"), lettersBefore + names.length);
  for (const [i, name] of names.entries()) {
    const letter = await deadLetter(messages[i].id);
    assert.ok(letter, `${name}: no dead letter recorded`);
    assert.equal(letter.queue, "image-queue", name);
    assert.equal(letter.body, JSON.stringify(bodies[i]), name);
    assert.match(letter.reason, malformed[name][1], name);
    assert.equal(letter.deliveries, 1, name);
    assert.ok(!Number.isNaN(Date.parse(letter.first_seen_at)), name);
  }
  // A well-formed message that is not for this consumer is acked and skipped, and is no dead letter.
  const publish = await pipeline.deliver(IMAGE, "image-queue", [message(id, { action: "publish" })]);
  assert.deepEqual(publish.outcomes, ["acked"]);
  assert.equal(await deadLetter(publish.messages[0].id), null);

  assert.deepEqual(await pipeline.draftRow(id), rowBefore, "a malformed message changed the draft");
  assert.deepEqual(await pipeline.mediaKeys(), mediaBefore, "something was written to R2");
  assert.deepEqual(sentFor(id), [], "a malformed message was queued again");
  const points = await pointsFor(id, 1);
  assert.equal(points.length, 1, JSON.stringify(points));
  assertPoint(points[0], { id, worker: IMAGE, queue: "image-queue", action: "publish", outcome: "skipped" });
});

test("image-consumer: a failed attempt is acked, releases its claim with the reason, and the next attempt is queued with a growing delay", async () => {
  const drafts = [];
  for (const attempt of [1, 2, 3]) {
    const id = await insertDraft();
    const { outcomes } = await pipeline.deliver(FAILING, "image-queue", [message(id, { attempt })]);
    assert.deepEqual(outcomes, ["acked"], `attempt ${attempt}`);
    drafts.push({ id, attempt });
  }
  for (const { id, attempt } of drafts) {
    const row = await pipeline.draftRow(id);
    assert.equal(row.image_status, "pending", `attempt ${attempt}: not the last attempt`);
    // The claim is released, so the next attempt can take the image at once.
    assert.equal(row.image_claim, null);
    assert.equal(row.image_lease_expires_at, null);
    assert.match(row.image_error, new RegExp(`^attempt ${attempt} failed: IMAGE_PROVIDER is "nope"`));
    // The reason is shown to the reviewer: a new revision (inserted at 1; the claim adds none).
    assert.equal(row.revision, 2);

    const sent = sentFor(id);
    assert.equal(sent.length, 1, `attempt ${attempt}: ${JSON.stringify(sent)}`);
    const [{ worker, binding, queue, body, options }] = sent;
    assert.deepEqual([worker, binding, queue], [FAILING, "IMAGE_QUEUE", "image-queue"]);
    assert.deepEqual(Object.keys(body).sort(), ["action", "attempt", "id", "requestedAt"]);
    assert.equal(body.action, "generate_image");
    assert.equal(body.attempt, attempt + 1);
    assert.equal(options.contentType, "json");
    const [low, high] = delayWindow(attempt);
    // Stamped with the time it is due, so the queue latency metric does not count the backoff.
    const dueIn = Date.parse(body.requestedAt) - Date.now();
    assert.ok(Math.abs(dueIn - options.delaySeconds * 1000) < 5_000, `due in ${dueIn} ms, delay ${options.delaySeconds} s`);
    assert.ok(
      Number.isInteger(options.delaySeconds) && options.delaySeconds >= low && options.delaySeconds <= high,
      `attempt ${attempt}: delay ${options.delaySeconds} s is outside [${low}, ${high}]`,
    );

    const [point] = await pointsFor(id, 1);
    assertPoint(point, { id, worker: FAILING, queue: "image-queue", outcome: "retrying", attempt });
  }
  assert.deepEqual(await pipeline.mediaKeys(`images/${drafts[0].id}/`), []);
  retriedDraft = drafts[0];
});

test("image-consumer: the last attempt is acked and marks the image failed with the attempts and the cause", async () => {
  for (const attempt of [IMAGE_BACKOFF.maxAttempts, IMAGE_BACKOFF.maxAttempts + 1]) {
    const id = await insertDraft();
    const { outcomes } = await pipeline.deliver(FAILING, "image-queue", [message(id, { attempt })]);
    assert.deepEqual(outcomes, ["acked"], `attempt ${attempt}`);

    const row = await pipeline.draftRow(id);
    assert.equal(row.image_status, "failed", `attempt ${attempt}`);
    assert.equal(row.image_key, null);
    assert.equal(row.image_claim, null);
    assert.equal(row.image_lease_expires_at, null);
    assert.match(row.image_error, new RegExp(`^image generation failed ${attempt} times; last error: IMAGE_PROVIDER is "nope"`));
    assert.equal(row.revision, 2, "one new revision for the failure");
    assert.deepEqual(sentFor(id), [], `attempt ${attempt}: queued again after the last attempt`);
    // Given up, not "retrying": nothing comes after it. ("failed" is for a handler that could
    // not even record the outcome.)
    const [point] = await pointsFor(id, 1);
    assertPoint(point, { id, worker: FAILING, queue: "image-queue", outcome: "gave_up", attempt });
  }
});

test("image-consumer: a delivery that finds a live claim steps aside (busy) and makes no image; a lapsed claim is taken over", async () => {
  const future = new Date(Date.now() + 600_000).toISOString().replace(/\.\d+Z$/, "Z");
  const past = new Date(Date.now() - 1_000).toISOString().replace(/\.\d+Z$/, "Z");
  const live = await insertDraft({ image_status: "generating", image_claim: "another-job", image_lease_expires_at: future });
  const lapsed = await insertDraft({ image_status: "generating", image_claim: "a-dead-job", image_lease_expires_at: past });
  const liveBefore = await pipeline.draftRow(live);
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", [message(live), message(lapsed)]);
  assert.deepEqual(outcomes, ["acked", "acked"]);

  assert.deepEqual(await pipeline.draftRow(live), liveBefore, "a busy delivery changed the draft");
  assert.deepEqual(await pipeline.mediaKeys(`images/${live}/`), [], "a busy delivery stored an image");
  const [busy] = await pointsFor(live, 1);
  assertPoint(busy, { id: live, worker: IMAGE, queue: "image-queue", outcome: "busy" });

  const taken = await pipeline.draftRow(lapsed);
  assert.equal(taken.image_status, "ready");
  assert.equal(taken.image_claim, null);
  assert.equal(taken.image_lease_expires_at, null);
  assert.deepEqual(await pipeline.mediaKeys(`images/${lapsed}/`), [taken.image_key]);
  const [stored] = await pointsFor(lapsed, 1);
  assertPoint(stored, { id: lapsed, worker: IMAGE, queue: "image-queue", outcome: "stored" });
});

test("image-consumer: one data point per handled message, with the queue latency and the attempt", async () => {
  const stored = await insertDraft();
  const missing = randomUUID();
  const late = await insertDraft();
  const sentAgo = 5000;
  const batch = [
    message(stored, { attempt: 2, requestedAt: new Date(Date.now() - sentAgo) }),
    "not a message",
    // A clock ahead of the consumer's must not give a negative latency.
    message(missing, { attempt: 3, requestedAt: new Date(Date.now() + 3_600_000) }),
    message(late, { requestedAt: new Date(Date.now() - 2 * sentAgo) }),
  ];
  const handledAt = Date.now();
  const { outcomes, messages } = await pipeline.deliver(IMAGE, "image-queue", batch);
  // The malformed one is retried on its own; the rest of the batch is handled and acked.
  assert.deepEqual(outcomes, ["acked", "retried", "acked", "acked"]);
  const elapsed = Date.now() - handledAt;
  assert.equal((await deadLetter(messages[1].id))?.body, JSON.stringify("not a message"));

  const [storedPoint] = await pointsFor(stored, 1);
  assertPoint(storedPoint, { id: stored, worker: IMAGE, queue: "image-queue", outcome: "stored", attempt: 2 });
  const latency = storedPoint.doubles[0];
  assert.ok(latency >= sentAgo && latency <= sentAgo + elapsed + 1000, `latency ${latency} ms, sent ${sentAgo} ms ago`);

  const [missingPoint] = await pointsFor(missing, 1);
  assertPoint(missingPoint, { id: missing, worker: IMAGE, queue: "image-queue", outcome: "skipped", attempt: 3 });
  assert.equal(missingPoint.doubles[0], 0);

  const [latePoint] = await pointsFor(late, 1);
  assert.ok(latePoint.doubles[0] >= 2 * sentAgo, `latency ${latePoint.doubles[0]} ms`);
  assert.equal(pipeline.metrics.filter((point) => point.indexes[0] === undefined).length, 0, "a point without an index");
});

// ---------------------------------------------------------------------------------------------
// Last, so that the delay of the retry queued above has mostly passed.

test("image-consumer: the queue broker delivers the queued next attempt after its delay", async () => {
  // Its draft comes from the failed-attempt test above: without it there is nothing to check,
  // and that is a failure, never a pass.
  assert.ok(retriedDraft, "the failed-attempt test did not run or did not pass, so no retry was queued");
  const { id } = retriedDraft;
  const [{ options }] = sentFor(id);
  // The real image-consumer (IMAGE_PROVIDER "placeholder") gets attempt 2 and makes the image.
  const row = await pipeline.eventually(
    async () => {
      const row = await pipeline.draftRow(id);
      return row.image_status === "ready" ? row : null;
    },
    { timeoutMs: (options.delaySeconds + 5) * 1000, what: "the second attempt to make the image" },
  );
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [row.image_key]);
  const points = await pointsFor(id, 2);
  assert.equal(points.length, 2, JSON.stringify(points));
  assertPoint(points[1], { id, worker: IMAGE, queue: "image-queue", outcome: "stored", attempt: 2 });
  // The latency runs from when the retry was due, so the delay asked for is not counted.
  const latency = points[1].doubles[0];
  assert.ok(latency >= 0 && latency < (options.delaySeconds - 1) * 1000, `latency ${latency} ms, delay ${options.delaySeconds} s`);
});
