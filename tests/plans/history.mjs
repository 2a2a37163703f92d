// Fills a D1 database (with the migrations applied) with a long history, in a few statements:
// `drafts` drafts, one in a thousand in each of draft / approved (scheduled ahead) / failed /
// discarded, the rest published; `due` more approved drafts whose time has come; `logs`
// publish log rows spread over the published drafts (each published draft's `publish ok`
// row carries its media id); a review comment per draft in a hundred; `deadLetters` dead
// letters. Times spread evenly over the year before `now`; the drafts waiting for review for
// more than a day were in the last daily reminder, an hour ago, as the scheduler would have sent. With `accounts` (ids), that many
// accounts are added, connected after the default one (so it stays the oldest), and the
// drafts taken in turn by the default account (`account_id` NULL) and each of them; the due
// drafts stay the default account's. Used by the query-plan test (for realistic statistics)
// and by scripts/bench-scale.

import { Miniflare } from "miniflare";
import { migrationStatements } from "../e2e/harness.mjs";

/**
 * A D1 database of its own (`{ mf, db }`), the migrations applied and `fill(db)` run among
 * them: after those before the first statement that contains `backfilledBy` (so its backfill
 * reads what `fill` wrote), or after all of them when none is named.
 */
export async function filledDatabase(name, fill, { backfilledBy } = {}) {
  const mf = new Miniflare({ modules: true, script: "export default { fetch() { return new Response(null) } }", d1Databases: { DB: name } });
  const db = await mf.getD1Database("DB");
  const statements = migrationStatements();
  const at = backfilledBy === undefined ? statements.length : statements.findIndex((s) => s.includes(backfilledBy));
  if (at <= 0) throw new Error(`no migration contains ${backfilledBy}`);
  for (const statement of statements.slice(0, at)) await db.prepare(statement).run();
  await fill(db);
  for (const statement of statements.slice(at)) await db.prepare(statement).run();
  return { mf, db };
}

/**
 * `count` more visible drafts of `status` made in the minutes before `now`, ids from `first`
 * on (see draftId): the newest page of a status, the same at any size of history.
 */
export async function addRecent(db, { first, count, status, now = new Date() }) {
  const at = now.toISOString().replace(/\.\d+Z$/, "Z");
  const time = `strftime('%Y-%m-%dT%H:%M:%SZ', ?1, printf('-%d minutes', i - ?2 + 1))`;
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT CAST(?2 AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < ?2 + ?3 - 1)
       INSERT INTO drafts (id, status, revision, language, provider, caption, hashtags, alt_text,
                           image_status, image_key, image_prompt, created_at, updated_at)
       SELECT ${ID_SQL}, ?4, 1, 'en', 'fake', 'A recent caption ' || i, '["#recent"]', 'alt text', 'ready',
              'images/' || i || '.png', 'a prompt', ${time}, ${time}
       FROM n`,
    )
    .bind(at, first, count, status)
    .run();
}

/** The id of the i-th generated draft (1-based), a valid hyphenated UUID. */
export function draftId(i) {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

const ID_SQL = "printf('00000000-0000-4000-8000-%012x', i)";
const YEAR = 365 * 24 * 3600;

export async function fillHistory(db, { drafts, logs = 0, due = 0, deadLetters = 0, accounts = [], now = new Date() }) {
  const at = now.toISOString().replace(/\.\d+Z$/, "Z");
  const later = new Date(now.getTime() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
  for (const id of accounts) {
    await db
      .prepare(
        `INSERT INTO accounts (id, username, login, graph_base_url, token_refreshed_at, state, connected_by, connected_at, created_at, updated_at)
         VALUES (?1, 'shop_' || ?1, 'facebook', 'http://127.0.0.1:9/graph', ?2, 'disconnected', 'history', ?2, ?2, ?2)`,
      )
      .bind(id, later)
      .run();
  }
  // The i-th draft's account: NULL (the default) and then each of `accounts`, in turn.
  const accountColumn = accounts.length > 0 ? ", account_id" : "";
  const accountValue =
    accounts.length > 0
      ? `, CASE i % ${accounts.length + 1} ${accounts.map((id, n) => `WHEN ${n + 1} THEN '${id.replace(/'/g, "''")}'`).join(" ")} END`
      : "";
  const spacing = Math.max(1, Math.floor(YEAR / Math.max(drafts, 1)));
  const time = (offset) => `strftime('%Y-%m-%dT%H:%M:%SZ', ?1, printf('-%d seconds', ${offset}))`;
  const status = `CASE i % 1000 WHEN 1 THEN 'draft' WHEN 2 THEN 'approved' WHEN 3 THEN 'failed' WHEN 4 THEN 'discarded' ELSE 'published' END`;
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO drafts (id, status, revision, language, provider, caption, hashtags, alt_text,
                           generated_caption, generated_hashtags, generated_alt_text, request, writer,
                           image_status, image_key, image_prompt, image_requests, scheduled_at,
                           approved_revision, approved_caption, approved_hashtags, approved_alt_text,
                           approved_image_key, approved_at, approved_by, publish_attempts,
                           media_id, permalink, reminded_at, created_at, updated_at${accountColumn})
       SELECT ${ID_SQL}, ${status}, 1, 'en', 'fake', 'A caption of draft ' || i, '["#history"]', 'alt text',
              'A caption of draft ' || i, '["#history"]', 'alt text', '{}', '{}',
              'ready', 'images/' || i || '.png', 'a prompt', 1,
              CASE WHEN i % 1000 = 2 THEN strftime('%Y-%m-%dT%H:%M:%SZ', ?1, '+30 days') END,
              CASE WHEN i % 1000 IN (2, 3, 0) OR i % 1000 > 4 THEN 1 END,
              'A caption of draft ' || i, '["#history"]', 'alt text', 'images/' || i || '.png',
              ${time(`(?2 - i) * ${spacing}`)}, 'reviewer',
              CASE WHEN i % 1000 = 3 OR i % 1000 = 0 OR i % 1000 > 4 THEN 1 ELSE 0 END,
              CASE WHEN i % 1000 = 0 OR i % 1000 > 4 THEN 'media-' || i END,
              CASE WHEN i % 1000 = 0 OR i % 1000 > 4 THEN 'https://instagram.test/p/' || i END,
              CASE WHEN i % 1000 = 1 AND (?2 - i) * ${spacing} > 86400 THEN ${time(3600)} END,
              ${time(`(?2 - i) * ${spacing} + 3600`)}, ${time(`(?2 - i) * ${spacing}`)}${accountValue}
       FROM n`,
    )
    .bind(at, drafts)
    .run();
  if (due > 0) {
    await db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT CAST(?2 AS INTEGER) + 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 + ?3)
         INSERT INTO drafts (id, status, revision, language, provider, caption, hashtags, alt_text,
                             image_status, image_key, image_prompt, scheduled_at, approved_revision,
                             approved_caption, approved_hashtags, approved_alt_text, approved_image_key,
                             approved_at, approved_by, created_at, updated_at)
         SELECT ${ID_SQL}, 'approved', 1, 'en', 'fake', 'A caption', '["#due"]', 'alt text', 'ready',
                'images/' || i || '.png', 'a prompt', ${time(60)}, 1, 'A caption', '["#due"]', 'alt text',
                'images/' || i || '.png', ${time(120)}, 'reviewer', ${time(3600)}, ${time(120)}
         FROM n`,
      )
      .bind(at, drafts, due)
      .run();
  }
  if (logs > 0) {
    // Five steps a published draft: claim, container, status, publish (with its media id),
    // permalink; then round again with retries for the rest.
    const steps = "CASE i % 5 WHEN 0 THEN 'claim' WHEN 1 THEN 'container' WHEN 2 THEN 'status' WHEN 3 THEN 'publish' ELSE 'permalink' END";
    // Bound numbers reach SQLite as reals: cast, for integer division.
    const draft = `((i / 5) % CAST(?3 AS INTEGER)) + 1`;
    // In chunks: one statement per 200,000 rows keeps each within D1's time for a query.
    for (let from = 0; from < logs; from += 200_000) {
      const to = Math.min(logs, from + 200_000);
      await db
        .prepare(
          `WITH RECURSIVE n(i) AS (SELECT CAST(?4 AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
           INSERT INTO publish_logs (draft_id, attempt, step, outcome, error_class, message, container_id,
                                     media_id, duration_ms, created_at)
           SELECT printf('00000000-0000-4000-8000-%012x', ${draft}), 1 + i / (5 * CAST(?3 AS INTEGER)), ${steps},
                  CASE WHEN i >= 5 * ?3 THEN 'retry' ELSE 'ok' END,
                  CASE WHEN i >= 5 * ?3 THEN 'transient' END, 'step ' || i, 'container-' || ${draft},
                  CASE WHEN i % 5 = 3 AND i < 5 * ?3 THEN 'media-' || ${draft} END, 120,
                  ${time(`(?3 - ${draft}) * ${spacing} + 1800 - i % 5`)}
           FROM n`,
        )
        .bind(at, to, drafts, from)
        .run();
    }
  }
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 100 FROM n WHERE i + 100 <= ?2)
       INSERT INTO review_comments (draft_id, revision, reviewer, decision, comment, created_at)
       SELECT ${ID_SQL}, 1, 'reviewer', 'approve', 'fine', ${time(`(?2 - i) * ${spacing}`)} FROM n`,
    )
    .bind(at, drafts)
    .run();
  if (deadLetters > 0) {
    await db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO dead_letters (message_id, queue, body, reason, first_seen_at, last_seen_at)
         SELECT 'message-' || i, 'publish', '{}', 'unreadable', ${time("i * 60")}, ${time("i * 60")} FROM n`,
      )
      .bind(at, deadLetters)
      .run();
  }
}
