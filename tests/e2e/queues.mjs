// What tests of the queue consumers share, message by message: drafts inserted into D1
// directly (so no message is in flight for them unless a test sends one), the data points a
// handled message writes, and the dead_letters record of one that was not handled.
// `queueProbes(() => pipeline)` binds them to a test file's pipeline (started with `record`,
// so METRICS is a recording stand-in).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { insertStatement } from "./support.mjs";

export function queueProbes(current) {
  /**
   * Inserts a draft row (migrations/0002_versioned_drafts.sql) with the columns generate's
   * insert sets, at the schema's default revision 1 and without text (the consumers need none),
   * with `columns` on top.
   */
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
    await insertStatement(current().db, "drafts", row).run();
    return row.id;
  }

  /**
   * The data points written for draft `id`, once there are at least `count`; waits a moment
   * longer so that a surplus point would be seen too (writes are fire-and-forget).
   */
  async function pointsFor(id, count) {
    const points = () => current().metrics.filter((point) => point.indexes[0] === id);
    await current().eventually(() => points().length >= count, {
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

  /** The dead_letters row of queue message `messageId`, or null. */
  function deadLetter(messageId) {
    return current().db.prepare("SELECT * FROM dead_letters WHERE message_id = ?1").bind(messageId).first();
  }

  return { insertDraft, pointsFor, assertPoint, deadLetter };
}
