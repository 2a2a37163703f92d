// The queue consumers, message by message: each batch is handed to a consumer's queue handler
// directly (pipeline.deliver), as the queue broker would, so the outcome of every message
// (acked or retried) is known exactly. Drafts are inserted into D1 directly, so no message is
// in flight for them unless a test sends one. METRICS and the queue producers are recording
// stand-ins (`record`), so data points and sent messages can be asserted; sent messages still
// reach their queue.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { startPipeline } from "./harness.mjs";
import { assertInstagramSize, assertJpegAt } from "./support.mjs";

const IMAGE = "image-consumer";
/** A copy of image-consumer whose image maker always fails; it consumes no queue itself. */
const FAILING = "image-consumer-failing";
const PUBLISH = "publish-consumer";
/** domain::backoff::Backoff::IMAGE */
const IMAGE_BACKOFF = { baseSeconds: 10, capSeconds: 300, maxAttempts: 4 };

let pipeline;
/** The draft whose first attempt failed with the failing image maker; attempt 2 is in image-queue. */
let retriedDraft;
before(async () => {
  pipeline = await startPipeline({}, { record: true, copies: { [FAILING]: { of: IMAGE, vars: { IMAGE_PROVIDER: "nope" } } } });
});
after(() => pipeline?.dispose());

/** Inserts a draft row as the api does (migrations/0001_drafts.sql), with `columns` on top. */
async function insertDraft(columns = {}) {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const row = {
    id: randomUUID(),
    language: "en",
    provider: "template",
    image_prompt: "A bowl of squash soup on a wooden table",
    created_at: now,
    updated_at: now,
    ...columns,
  };
  const names = Object.keys(row);
  await pipeline.db
    .prepare(`INSERT INTO drafts (${names.join(", ")}) VALUES (${names.map((_, i) => `?${i + 1}`).join(", ")})`)
    .bind(...Object.values(row))
    .run();
  return row.id;
}

/** A message in the wire form of domain::message::QueueMessage. */
function message(id, { action = "generate_image", attempt = 1, requestedAt = new Date() } = {}) {
  return { id, action, attempt, requestedAt: requestedAt.toISOString() };
}

/**
 * The data points written for draft `id`, once there are at least `count`; waits a moment
 * longer so that a surplus point would be seen too (writes are fire-and-forget).
 */
async function pointsFor(id, count) {
  const points = () => pipeline.metrics.filter((point) => point.indexes[0] === id);
  await pipeline.eventually(() => points().length >= count, {
    timeoutMs: 5000,
    intervalMs: 20,
    what: `${count} data point(s) for draft ${id}`,
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  return points();
}

/** Asserts the shape of one queue_message data point. */
function assertPoint(point, { id, worker, queue, action = "generate_image", outcome, attempt = 1 }) {
  assert.equal(point.worker, worker);
  assert.equal(point.dataset, "instagram_pipeline");
  assert.deepEqual(point.indexes, [id]);
  assert.deepEqual(point.blobs, ["queue_message", queue, action, outcome]);
  assert.equal(point.doubles.length, 2, JSON.stringify(point));
  const [latencyMs, attemptDouble] = point.doubles;
  assert.ok(Number.isFinite(latencyMs) && latencyMs >= 0, `latency ${latencyMs}`);
  assert.equal(attemptDouble, attempt);
}

function sentFor(id) {
  return pipeline.sent.filter((sent) => sent.body?.id === id);
}

/** The [low, high] window of the delay after `attempt` failed: equal jitter over the step. */
function delayWindow(attempt) {
  const step = Math.min(IMAGE_BACKOFF.baseSeconds * 2 ** (attempt - 1), IMAGE_BACKOFF.capSeconds);
  return [Math.floor(step / 2), step];
}

// ---------------------------------------------------------------------------------------------
// image-consumer

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

test("image-consumer: malformed messages are acked (dropped, not retried forever) and write nothing", async () => {
  const id = await insertDraft();
  const good = message(id);
  const { requestedAt, ...withoutRequestedAt } = good;
  const { action, ...withoutAction } = good;
  const malformed = {
    "unknown action": { ...good, action: "delete" },
    "action in the wrong case": { ...good, action: "Generate_Image" },
    "missing requestedAt": withoutRequestedAt,
    "missing action": withoutAction,
    "extra field": { ...good, version: 2 },
    "attempt 0": { ...good, attempt: 0 },
    "attempt as text": { ...good, attempt: "1" },
    "id not a uuid": { ...good, id: "42" },
    "requestedAt not RFC 3339": { ...good, requestedAt: "yesterday" },
    "a string": "generate_image",
    "a JSON string": JSON.stringify(good),
    "a number": 42,
    null: null,
    "an array": [good],
  };
  const mediaBefore = await pipeline.mediaKeys();
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", Object.values(malformed));
  assert.deepEqual(
    Object.fromEntries(Object.keys(malformed).map((name, i) => [name, outcomes[i]])),
    Object.fromEntries(Object.keys(malformed).map((name) => [name, "acked"])),
  );
  // A well-formed message that is not for this consumer is acked and skipped as well.
  const publish = await pipeline.deliver(IMAGE, "image-queue", [message(id, { action: "publish" })]);
  assert.deepEqual(publish.outcomes, ["acked"]);

  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "pending");
  assert.equal(row.image_key, null);
  assert.equal(row.image_error, null);
  assert.deepEqual(await pipeline.mediaKeys(), mediaBefore, "something was written to R2");
  assert.deepEqual(sentFor(id), [], "a malformed message was queued again");
  const points = await pointsFor(id, 1);
  assert.equal(points.length, 1, JSON.stringify(points));
  assertPoint(points[0], { id, worker: IMAGE, queue: "image-queue", action: "publish", outcome: "skipped" });
});

test("image-consumer: a failed attempt is acked and the next attempt is queued with a growing delay", async () => {
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
    assert.equal(row.image_error, null);

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
    assertPoint(point, { id, worker: FAILING, queue: "image-queue", outcome: "failed", attempt });
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
    assert.match(row.image_error, new RegExp(`\\b${attempt} times\\b`));
    assert.match(row.image_error, /IMAGE_PROVIDER is "nope"/);
    assert.deepEqual(sentFor(id), [], `attempt ${attempt}: queued again after the last attempt`);
    const [point] = await pointsFor(id, 1);
    assertPoint(point, { id, worker: FAILING, queue: "image-queue", outcome: "failed", attempt });
  }
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
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", batch);
  assert.deepEqual(outcomes, ["acked", "acked", "acked", "acked"]);
  const elapsed = Date.now() - handledAt;

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
// publish-consumer

test("publish-consumer: a dead-lettered generate_image message marks the image failed, and is acked again", async () => {
  const id = await insertDraft();
  const deadLetter = message(id, { attempt: IMAGE_BACKOFF.maxAttempts });
  assert.deepEqual((await pipeline.deliver(PUBLISH, "failed-queue", [deadLetter])).outcomes, ["acked"]);
  const failed = await pipeline.draftRow(id);
  assert.equal(failed.image_status, "failed");
  assert.match(failed.image_error, /image generation kept failing/);
  assert.match(failed.image_error, /attempt 4/);
  assert.equal(failed.status, "draft");

  // The same dead letter again (at-least-once), for an image that has already failed.
  assert.deepEqual((await pipeline.deliver(PUBLISH, "failed-queue", [deadLetter])).outcomes, ["acked"]);
  const again = await pipeline.draftRow(id);
  assert.equal(again.image_status, "failed");
  assert.equal(again.image_error, failed.image_error);

  const points = await pointsFor(id, 2);
  assert.equal(points.length, 2, JSON.stringify(points));
  for (const point of points) {
    assertPoint(point, { id, worker: PUBLISH, queue: "failed-queue", outcome: "handled", attempt: 4 });
  }
});

test("publish-consumer: a late dead letter leaves a ready image alone, and one for a missing draft is acked", async () => {
  const ready = await insertDraft({ image_status: "ready", image_key: "images/x/0000000000000000.jpg" });
  const missing = randomUUID();
  const { outcomes } = await pipeline.deliver(PUBLISH, "failed-queue", [message(ready), message(missing)]);
  assert.deepEqual(outcomes, ["acked", "acked"]);
  const row = await pipeline.draftRow(ready);
  assert.equal(row.image_status, "ready");
  assert.equal(row.image_error, null);
  assert.equal(await pipeline.draftRow(missing), null);
});

test("publish-consumer: publish messages on publish-queue are retried, never acked (publishing is not built yet)", async () => {
  const id = await insertDraft({ status: "approved" });
  for (const [action, attempt] of [["publish", 1], ["retry", 2]]) {
    const { outcomes } = await pipeline.deliver(PUBLISH, "publish-queue", [message(id, { action, attempt })]);
    assert.deepEqual(outcomes, ["retried"], action);
  }
  const row = await pipeline.draftRow(id);
  assert.equal(row.status, "approved");
  assert.equal(row.last_error, null);
  const points = await pointsFor(id, 2);
  assert.equal(points.length, 2, JSON.stringify(points));
  points.forEach((point, i) =>
    assertPoint(point, { id, worker: PUBLISH, queue: "publish-queue", action: ["publish", "retry"][i], outcome: "retry", attempt: i + 1 }),
  );
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
    message(image),
  ]);
  assert.deepEqual(outcomes, ["acked", "acked", "acked", "acked", "acked", "acked"]);

  for (const [id, attempt] of [[approved, 1], [publishing, 3]]) {
    const row = await pipeline.draftRow(id);
    assert.equal(row.status, "failed", id);
    assert.equal(row.version, 2, "one conditional status change");
    assert.match(row.last_error, new RegExp(`publishing gave up after attempt ${attempt}`));
    assert.equal(row.image_status, "pending", "a publish dead letter touched the image");
  }
  // Nothing to give up on: a published post stays published, a draft under review stays a draft.
  assert.equal((await pipeline.draftRow(published)).status, "published");
  assert.equal((await pipeline.draftRow(published)).last_error, null);
  assert.equal((await pipeline.draftRow(draft)).status, "draft");
  assert.equal((await pipeline.draftRow(image)).image_status, "failed");

  // The same dead letter again (at-least-once) changes nothing more.
  await pipeline.deliver(PUBLISH, "failed-queue", [message(approved, { action: "publish", attempt: 1 })]);
  assert.equal((await pipeline.draftRow(approved)).version, 2);
});

// ---------------------------------------------------------------------------------------------
// Last, so that the delay of the retry queued above has mostly passed.

test("image-consumer: the queue broker delivers the queued next attempt after its delay", async (t) => {
  if (retriedDraft === undefined) return t.skip("the failed-attempt test did not pass");
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
