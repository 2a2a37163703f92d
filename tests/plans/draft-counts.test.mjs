// The per-status counts a list page shows come from `draft_counts`, kept by triggers
// (migration 0008): after any mix of inserts, text written, status changes and deletes they
// equal a count of the table.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { draftId, filledDatabase, fillHistory } from "./history.mjs";

let mf;
let db;

before(async () => {
  // Drafts from before the migration are counted by its backfill.
  ({ mf, db } = await filledDatabase("counts", (db) => fillHistory(db, { drafts: 3000, due: 3 }), { backfilledBy: "CREATE TABLE draft_counts" }));
});

after(async () => {
  await mf?.dispose();
});

async function kept() {
  const rows = (await db.prepare("SELECT status, count FROM draft_counts WHERE count != 0 ORDER BY status").all()).results;
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

async function counted() {
  const rows = (
    await db.prepare("SELECT status, COUNT(*) AS count FROM drafts WHERE caption IS NOT NULL GROUP BY status ORDER BY status").all()
  ).results;
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

test("draft_counts equals a count of visible drafts by status, through every kind of write", async () => {
  assert.deepEqual(await kept(), await counted(), "the backfill");
  assert.equal((await kept()).published, 2988);
  const fresh = "10000000-0000-4000-8000-000000000001";
  const insert = (id, caption) =>
    db
      .prepare(
        `INSERT INTO drafts (id, revision, language, provider, image_prompt, caption, created_at, updated_at)
         VALUES (?1, 0, 'en', 'fake', 'p', ?2, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
      )
      .bind(id, caption)
      .run();
  const steps = [
    ["a textless insert counts nothing", () => insert(fresh, null)],
    ["its text makes it a visible draft", () => db.prepare("UPDATE drafts SET caption = 'c', revision = 1 WHERE id = ?1").bind(fresh).run()],
    ["approved", () => db.prepare("UPDATE drafts SET status = 'approved' WHERE id = ?1").bind(fresh).run()],
    ["an update of other columns", () => db.prepare("UPDATE drafts SET revision = 2, updated_at = 'x' WHERE id = ?1").bind(fresh).run()],
    ["publishing then published", () => db.batch([
      db.prepare("UPDATE drafts SET status = 'publishing' WHERE id = ?1").bind(fresh),
      db.prepare("UPDATE drafts SET status = 'published' WHERE id = ?1").bind(fresh),
    ])],
    ["an insert with text", () => insert("10000000-0000-4000-8000-000000000002", "with text")],
    ["many at once", () => db.prepare("UPDATE drafts SET status = 'discarded' WHERE status = 'failed'").run()],
    ["a visible draft deleted", () => db.prepare("DELETE FROM drafts WHERE id = ?1").bind(draftId(1)).run()],
    ["another textless insert", () => insert("10000000-0000-4000-8000-000000000003", null)],
    ["a textless draft deleted", () => db.prepare("DELETE FROM drafts WHERE id = ?1").bind("10000000-0000-4000-8000-000000000003").run()],
    ["text removed (not a write the Workers make, still counted right)", () => db.prepare("UPDATE drafts SET caption = NULL WHERE id = ?1").bind(fresh).run()],
  ];
  for (const [what, write] of steps) {
    const before = await kept();
    await write();
    assert.deepEqual(await kept(), await counted(), what);
    if (what.startsWith("its text")) assert.equal((await kept()).draft, (before.draft ?? 0) + 1, what);
  }
  assert.equal((await kept()).failed, undefined, "every failed draft moved to discarded");
});

async function keptByAccount() {
  const rows = (
    await db.prepare("SELECT account_id, status, count FROM account_draft_counts WHERE count != 0 ORDER BY account_id, status").all()
  ).results;
  return rows.map((r) => `${r.account_id || "(default)"} ${r.status} ${r.count}`);
}

async function countedByAccount() {
  const rows = (
    await db
      .prepare(
        `SELECT COALESCE(account_id, '') AS account_id, status, COUNT(*) AS count FROM drafts
         WHERE caption IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .all()
  ).results;
  return rows.map((r) => `${r.account_id || "(default)"} ${r.status} ${r.count}`);
}

test("account_draft_counts equals a count of visible drafts by account and status, through every kind of write", async () => {
  assert.deepEqual(await keptByAccount(), await countedByAccount(), "the backfill");
  for (const account of ["17841400000000001", "17841400000000002"]) {
    await db
      .prepare(
        `INSERT INTO accounts (id, login, graph_base_url, token_refreshed_at, connected_by, connected_at, created_at, updated_at)
         VALUES (?1, 'instagram', 'http://graph.invalid', '2026-01-01T00:00:00Z', 'test', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
      )
      .bind(account)
      .run();
  }
  const id = "10000000-0000-4000-8000-0000000000a1";
  const steps = [
    [
      "an insert with text for an account",
      () =>
        db
          .prepare(
            `INSERT INTO drafts (id, revision, language, provider, image_prompt, caption, account_id, created_at, updated_at)
             VALUES (?1, 0, 'en', 'fake', 'p', 'c', '17841400000000001', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
          )
          .bind(id)
          .run(),
    ],
    ["approved", () => db.prepare("UPDATE drafts SET status = 'approved' WHERE id = ?1").bind(id).run()],
    ["moved to another account", () => db.prepare("UPDATE drafts SET account_id = '17841400000000002' WHERE id = ?1").bind(id).run()],
    ["moved to the default account", () => db.prepare("UPDATE drafts SET account_id = NULL WHERE id = ?1").bind(id).run()],
    ["back to an account and published", () => db.prepare("UPDATE drafts SET account_id = '17841400000000001', status = 'published' WHERE id = ?1").bind(id).run()],
    ["many of the default account at once", () => db.prepare("UPDATE drafts SET account_id = '17841400000000002' WHERE status = 'discarded'").run()],
    ["its text removed", () => db.prepare("UPDATE drafts SET caption = NULL WHERE id = ?1").bind(id).run()],
    ["deleted", () => db.prepare("DELETE FROM drafts WHERE id = ?1").bind(id).run()],
  ];
  for (const [what, write] of steps) {
    await write();
    assert.deepEqual(await keptByAccount(), await countedByAccount(), what);
  }
  assert.ok((await keptByAccount()).some((line) => line.startsWith("17841400000000002 discarded")), "the moved drafts are counted under their account");
});
