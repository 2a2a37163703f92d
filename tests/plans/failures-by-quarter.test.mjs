// The failed and retried publish attempts the failures view and the charts show come from
// `failures_by_quarter`, kept by a trigger on `publish_logs` (migration 0025): after a
// backfill and any mix of log rows they equal a count of the log, an attempt once per class,
// in the quarter hour of its first failed step.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { draftId, filledDatabase, fillHistory } from "./history.mjs";

let mf;
let db;

before(async () => {
  // Log rows from before the migration are counted by its backfill.
  ({ mf, db } = await filledDatabase("failures", (db) => fillHistory(db, { drafts: 500, logs: 4000 }), { backfilledBy: "CREATE TABLE failures_by_quarter" }));
});

after(async () => {
  await mf?.dispose();
});

const key = (r) => `${r.quarter} ${r.class}`;

async function kept() {
  const rows = (await db.prepare("SELECT quarter, error_class AS class, attempts AS n FROM failures_by_quarter WHERE attempts != 0").all()).results;
  return Object.fromEntries(rows.map((r) => [key(r), r.n]));
}

// The per-day table holds the per-quarter one summed by day.
async function keptDays() {
  const rows = (await db.prepare("SELECT day, error_class AS class, attempts AS n FROM failures_by_day WHERE attempts != 0").all()).results;
  return Object.fromEntries(rows.map((r) => [`${r.day} ${r.class}`, r.n]));
}

function byDay(quarters) {
  const days = {};
  for (const [k, n] of Object.entries(quarters)) {
    const [quarter, cls] = k.split(" ");
    const day = `${quarter.slice(0, 10)} ${cls}`;
    days[day] = (days[day] ?? 0) + n;
  }
  return days;
}

async function keptTimes() {
  const rows = (await db.prepare("SELECT day, total_ms, attempts FROM publish_time_by_day WHERE attempts != 0 OR total_ms != 0").all()).results;
  return Object.fromEntries(rows.map((r) => [r.day, [r.total_ms, r.attempts]]));
}

async function countedTimes() {
  const rows = (
    await db
      .prepare(
        `SELECT substr(created_at, 1, 10) AS day, SUM(duration_ms) AS total_ms, COUNT(DISTINCT draft_id || ':' || attempt) AS attempts
         FROM publish_logs WHERE duration_ms IS NOT NULL GROUP BY 1`,
      )
      .all()
  ).results;
  return Object.fromEntries(rows.map((r) => [r.day, [r.total_ms, r.attempts]]));
}

async function counted() {
  const rows = (
    await db
      .prepare(
        `SELECT substr(at, 1, 14) || printf('%02d', CAST(substr(at, 15, 2) AS INTEGER) / 15 * 15) || ':00Z' AS quarter,
                class, COUNT(*) AS n
         FROM (SELECT MIN(created_at) AS at, COALESCE(error_class, 'unknown') AS class
               FROM publish_logs WHERE outcome IN ('failed', 'retry') GROUP BY draft_id, attempt, class)
         GROUP BY 1, 2`,
      )
      .all()
  ).results;
  return Object.fromEntries(rows.map((r) => [key(r), r.n]));
}

test("failures_by_quarter equals a count of failed attempts by quarter hour and class, and the time spent publishing by day, through every kind of log row", async () => {
  const backfilled = await kept();
  assert.deepEqual(backfilled, await counted(), "the backfill");
  assert.deepEqual(await keptDays(), byDay(backfilled), "the backfill by day");
  assert.deepEqual(await keptTimes(), await countedTimes(), "the backfill of publish times");
  assert.ok(Object.keys(backfilled).length > 10, "the history has failures to count");
  const log = (draft, attempt, step, outcome, errorClass, at, durationMs = 100 + attempt) =>
    db
      .prepare(
        `INSERT INTO publish_logs (draft_id, attempt, step, outcome, error_class, created_at, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
      )
      .bind(draftId(draft), attempt, step, outcome, errorClass, at, durationMs)
      .run();
  const steps = [
    ["an ok step counts nothing", () => log(7, 9, "claim", "ok", null, "2026-03-01T10:00:00Z")],
    ["a retried step counts its attempt", () => log(7, 9, "container", "retry", "transient", "2026-03-01T10:00:01Z")],
    ["a second failed step of the same attempt does not", () => log(7, 9, "status", "retry", "transient", "2026-03-01T10:00:02Z")],
    ["the attempt's give-up in another class counts there", () => log(7, 9, "give_up", "failed", "permanent", "2026-03-01T10:00:03Z")],
    ["a step without a class counts as unknown", () => log(8, 8, "publish", "failed", null, "2026-03-01T11:00:00Z")],
    ["the next attempt counts again", () => log(7, 10, "container", "retry", "transient", "2026-03-01T12:00:00Z")],
    ["the same attempt a quarter later counts no more", () => log(7, 10, "status", "retry", "transient", "2026-03-01T12:20:00Z")],
    ["a quarter's last second is that quarter's", () => log(8, 9, "container", "retry", "transient", "2026-03-01T12:14:59Z")],
    ["a skipped step counts nothing", () => log(9, 9, "permalink", "skipped", "transient", "2026-03-02T00:00:02Z")],
    ["a step without a duration", () => log(9, 9, "reconcile", "ok", null, "2026-03-02T00:00:03Z", null)],
  ];
  for (const [what, write] of steps) {
    await write();
    assert.deepEqual(await kept(), await counted(), what);
    assert.deepEqual(await keptDays(), byDay(await kept()), `${what}: by day`);
    assert.deepEqual(await keptTimes(), await countedTimes(), `${what}: publish times`);
  }
  const now = await kept();
  const added = (k) => now[k] - (backfilled[k] ?? 0);
  assert.equal(added("2026-03-01T10:00:00Z transient"), 1, "one transient attempt in 10:00-10:15");
  assert.equal(added("2026-03-01T12:00:00Z transient"), 2, "two transient attempts in 12:00-12:15");
  assert.equal(now["2026-03-01T12:15:00Z transient"] ?? 0, backfilled["2026-03-01T12:15:00Z transient"] ?? 0);
});
