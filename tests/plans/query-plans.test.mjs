// Every SQL statement the end-to-end suite sent to D1 (the file named by D1_STATEMENT_LOG,
// written by tests/e2e/harness.mjs; scripts/test runs the suite with it) is planned with
// EXPLAIN QUERY PLAN against a database with every migration applied, a year of generated
// history (tests/plans/history.mjs) and the statistics ANALYZE gathers from it. A full scan
// of drafts, publish_logs, review_comments or dead_letters fails the test, unless the
// statement is in ALLOWED below with the bound that keeps its reads small.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { filledDatabase, fillHistory } from "./history.mjs";

const WATCHED = ["drafts", "publish_logs", "review_comments", "dead_letters"];

/**
 * Statements allowed to scan, each with why its reads stay bounded. `match` is tested on the
 * statement with its whitespace collapsed.
 */
export const ALLOWED = [];

/** Statements of the log, once each, whitespace collapsed. */
function loggedStatements() {
  const file = process.env.D1_STATEMENT_LOG;
  assert.ok(file, "D1_STATEMENT_LOG names no file: run the end-to-end suite with it first (scripts/test does)");
  assert.ok(existsSync(file), `${file} does not exist: run the end-to-end suite with D1_STATEMENT_LOG=${file} first`);
  const statements = new Set(
    readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => collapse(JSON.parse(line).sql)),
  );
  return [...statements];
}

export function collapse(sql) {
  return sql.replace(/\s+/g, " ").trim();
}

/** How many parameters `sql` takes: the highest ?N, or the count of bare ?. */
function parameters(sql) {
  const numbered = [...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1]));
  const bare = [...sql.matchAll(/\?(?!\d)/g)].length;
  return Math.max(0, ...numbered) + bare;
}

/** The watched tables `sql` scans in full, by its plan: `[{ table, detail }]`. */
export async function fullScans(db, sql) {
  const plan = await db
    .prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...Array(parameters(sql)).fill(null))
    .all();
  // An alias names its table in the plan: map each alias back.
  const aliases = new Map(WATCHED.map((table) => [table, table]));
  for (const m of sql.matchAll(new RegExp(`\\b(${WATCHED.join("|")})\\s+(?:AS\\s+)?(\\w+)`, "gi"))) {
    aliases.set(m[2], m[1]);
  }
  return plan.results
    .map((row) => row.detail)
    .map((detail) => ({ detail, m: /^SCAN (\w+)/.exec(detail) }))
    .filter(({ m }) => m && aliases.has(m[1]))
    .map(({ detail, m }) => ({ table: aliases.get(m[1]), detail }));
}

let mf;
let db;

before(async () => {
  ({ mf, db } = await filledDatabase("plans", (db) => fillHistory(db, { drafts: 20_000, logs: 200_000, due: 10, deadLetters: 200 })));
  await db.prepare("ANALYZE").run();
});

after(async () => {
  await mf?.dispose();
});

test("the checker sees a full scan: the per-status counts as a GROUP BY over drafts", async () => {
  const scans = await fullScans(db, "SELECT status, COUNT(*) AS count FROM drafts WHERE caption IS NOT NULL GROUP BY status");
  assert.deepEqual(scans.map((s) => s.table), ["drafts"]);
  assert.deepEqual(await fullScans(db, "SELECT * FROM drafts WHERE id = ?1"), []);
});

test("no statement the Workers ran scans drafts, publish_logs, review_comments or dead_letters outside its allowed bound", async () => {
  const statements = loggedStatements();
  assert.ok(statements.length >= 20, `only ${statements.length} statements logged: did the suite run?`);
  const offending = [];
  const used = new Set();
  for (const sql of statements) {
    const scans = await fullScans(db, sql);
    if (scans.length === 0) continue;
    const allowed = ALLOWED.find((entry) => entry.match.test(sql));
    if (allowed) {
      used.add(allowed);
      continue;
    }
    offending.push(`${scans.map((s) => s.detail).join("; ")}\n    ${sql}`);
  }
  assert.deepEqual(offending, [], `${offending.length} statements scan a growing table:\n  ${offending.join("\n  ")}`);
  console.log(`${statements.length} statements planned; ${used.size} allowed scans`);
});
