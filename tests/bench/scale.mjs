// How the cost of each request grows with history (the lists, a draft, search, up next, the
// calendar, the scheduler): the compiled Workers in workerd
// (Miniflare) over a local D1 filled with SMALL drafts (10 log rows each), then LARGE drafts
// and LOG_ROWS publish log rows (tests/plans/history.mjs), 10 approved posts due in both.
// For each request: p50 latency of REQUESTS runs, and the D1 rows read and written per
// request (the sum of every statement's `meta`, through the harness's D1 stand-in). The
// scheduler run is one Cron Trigger event. Run by hand (scripts/bench-scale); not part of
// scripts/test. Settings (environment): BENCH_SMALL=100 BENCH_LARGE=100000
// BENCH_LOG_ROWS=1000000 BENCH_REQUESTS=15.
import { startPipeline } from "../e2e/harness.mjs";
import { startGraphSimulator } from "../fakes/graph-api.mjs";
import { addRecent, draftId, fillHistory } from "../plans/history.mjs";

const SMALL = Number(process.env.BENCH_SMALL ?? 100);
const LARGE = Number(process.env.BENCH_LARGE ?? 100_000);
const LOG_ROWS = Number(process.env.BENCH_LOG_ROWS ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 15);
const REVIEWER_TOKEN = "bench-reviewer-token-0123456789abcdef";
// A reviewer of one account only: their lists and counts leave the others' drafts out.
const LIMITED_TOKEN = "bench-limited-token-fedcba9876543210";
// Drafts taken in turn by the default account and these two (three, so that the statuses,
// spread by `i % 1000`, fall on every account).
const ACCOUNTS = ["17841400000000102", "17841400000000103"];
const STATUSES = ["draft", "approved", "publishing", "published", "failed", "discarded"];

function p50(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function measure(pipeline, run) {
  const times = [];
  const reads = [];
  const writes = [];
  for (let i = 0; i < REQUESTS; i++) {
    pipeline.costs.length = 0;
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
    reads.push(pipeline.costs.reduce((sum, c) => sum + c.rowsRead, 0));
    writes.push(pipeline.costs.reduce((sum, c) => sum + c.rowsWritten, 0));
  }
  const statements = [...pipeline.costs];
  return { ms: p50(times), rowsRead: p50(reads), rowsWritten: p50(writes), statements };
}

// Where a request's or a run's reads go, most first (on stderr).
function showReads(title, costs) {
  const bySql = new Map();
  for (const c of costs) {
    const key = c.sql.replace(/\s+/g, " ").slice(0, 160);
    const seen = bySql.get(key) ?? { n: 0, rowsRead: 0, rowsWritten: 0 };
    bySql.set(key, { n: seen.n + 1, rowsRead: seen.rowsRead + c.rowsRead, rowsWritten: seen.rowsWritten + c.rowsWritten });
  }
  console.error(`${title}, by statement:`);
  for (const [sql, c] of [...bySql].sort((a, b) => b[1].rowsRead - a[1].rowsRead).slice(0, 8)) {
    console.error(`  ${c.rowsRead} read, ${c.rowsWritten} written, ${c.n}x: ${sql}`);
  }
}

async function expectOk(response, what) {
  if (response.status !== 200) throw new Error(`${what}: ${response.status} ${response.text.slice(0, 300)}`);
}

async function bench(drafts, logs) {
  // The scheduler reads the quota and checks the token at the local Graph API simulator.
  const sim = await startGraphSimulator({ port: 0 });
  const pipeline = await startPipeline(
    {
      api: { REVIEWERS: `bench:${REVIEWER_TOKEN}\nlimited:${LIMITED_TOKEN} ${ACCOUNTS[0]}` },
      "publish-consumer": { GRAPH_API_BASE_URL: sim.url, GRAPH_API_VERSION: sim.apiVersion },
    },
    { costs: true, idle: ["publish-consumer", "image-consumer"] },
  );
  try {
    const now = new Date();
    const filled = performance.now();
    await fillHistory(pipeline.db, { drafts, logs, due: 10, deadLetters: 100, accounts: ACCOUNTS, now });
    // A page of each status that holds a draft in a thousand, at both sizes: the lists show
    // as many rows at 100 drafts as at 100,000, and what differs is only the history.
    for (const [n, status] of ["draft", "failed", "discarded"].entries()) {
      await addRecent(pipeline.db, { first: drafts + 1000 + n * 100, count: 20, status, now });
    }
    console.error(`${drafts} drafts, ${logs} log rows: filled in ${Math.round(performance.now() - filled)} ms`);
    const login = await fetch(`${pipeline.url}/review/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: pipeline.url },
      body: new URLSearchParams({ name: "bench", token: REVIEWER_TOKEN, next: "/review" }),
    });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    if (!cookie) throw new Error(`signing in to the review page failed: ${login.status}`);
    const page = { token: null, headers: { cookie } };
    const rows = {};
    const get = (path, options) => async () => expectOk(await pipeline.request("GET", path, options), path);
    rows["GET /api/v1/drafts"] = await measure(pipeline, get("/api/v1/drafts"));
    for (const status of STATUSES) {
      rows[`GET /api/v1/drafts?status=${status}`] = await measure(pipeline, get(`/api/v1/drafts?status=${status}`));
    }
    const published = draftId(drafts - 5); // a published one (see history.mjs)
    rows["GET /api/v1/drafts/{id}"] = await measure(pipeline, get(`/api/v1/drafts/${published}`));
    rows["GET /review (list page)"] = await measure(pipeline, get("/review", page));
    rows[`GET /api/v1/drafts?account=${ACCOUNTS[1]}`] = await measure(pipeline, get(`/api/v1/drafts?account=${ACCOUNTS[1]}`));
    rows["GET /api/v1/drafts (a reviewer of one account)"] = await measure(
      pipeline,
      get("/api/v1/drafts", { token: LIMITED_TOKEN, headers: { "x-reviewer": "limited" } }),
    );
    // The views over many drafts. The calendar's month holds the same posts at both sizes
    // (100 published posts spread over the year carry the time they were sent): what grows
    // is the history around it, not what it shows.
    const every = Math.max(1, Math.floor(drafts / 100));
    await pipeline.db
      .prepare("UPDATE drafts SET publish_sent_at = updated_at WHERE status = 'published' AND rowid % ?1 = 0")
      .bind(every)
      .run();
    await pipeline.db.prepare("ANALYZE").run();
    const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
    const month = `from=${iso(now.getTime() - 30 * 86400000)}&to=${iso(now.getTime())}`;
    rows["GET /api/v1/calendar (a month)"] = await measure(pipeline, get(`/api/v1/calendar?${month}`));
    rows["GET /review/calendar (month page)"] = await measure(pipeline, get("/review/calendar", page));
    rows["GET /api/v1/up-next"] = await measure(pipeline, get("/api/v1/up-next"));
    rows["GET /review/up-next (page)"] = await measure(pipeline, get("/review/up-next", page));
    rows["GET /review/charts (page)"] = await measure(pipeline, get("/review/charts", page));
    rows["GET /api/v1/search?q=caption (every draft)"] = await measure(pipeline, get("/api/v1/search?q=caption"));
    rows["GET /api/v1/search?q=zqxj (no draft)"] = await measure(pipeline, get("/api/v1/search?q=zqxj"));
    rows["GET /api/v1/search?q=東京 (two characters, in no draft)"] = await measure(pipeline, get(`/api/v1/search?q=${encodeURIComponent("東京")}`));
    rows["GET /api/v1/search?q=of (two characters, every draft)"] = await measure(pipeline, get("/api/v1/search?q=of"));
    rows["GET /review?q=caption (list page)"] = await measure(pipeline, get("/review?status=all&q=caption", page));
    // The scheduler: the 10 due posts are queued by the first run; the runs after find
    // nothing due, as most minutes do. Both are shown.
    pipeline.costs.length = 0;
    let start = performance.now();
    await pipeline.runCron({ at: now });
    const first = {
      ms: performance.now() - start,
      rowsRead: pipeline.costs.reduce((sum, c) => sum + c.rowsRead, 0),
      rowsWritten: pipeline.costs.reduce((sum, c) => sum + c.rowsWritten, 0),
    };
    rows["scheduler run, 10 due"] = first;
    showReads(`${drafts} drafts, the scheduler run with 10 due`, pipeline.costs);
    rows["scheduler run, none due"] = await measure(pipeline, () => pipeline.runCron({ at: now }));
    // The requests that read more than a few hundred rows, statement by statement.
    for (const [name, row] of Object.entries(rows)) {
      if (row.statements && row.rowsRead > 300) showReads(`${drafts} drafts, ${name} (the last run)`, row.statements);
    }
    return rows;
  } finally {
    await pipeline.dispose();
    await sim.close();
  }
}

const small = await bench(SMALL, SMALL * 10);
const large = await bench(LARGE, LOG_ROWS);
const fmt = (n) => (typeof n === "number" ? (Number.isInteger(n) ? String(n) : n.toFixed(1)) : "-");
console.log(`| request | ${SMALL} drafts: p50 ms | rows read | rows written | ${LARGE} drafts, ${LOG_ROWS} logs: p50 ms | rows read | rows written | time ratio |`);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const name of Object.keys(small)) {
  const a = small[name];
  const b = large[name];
  console.log(`| ${name} | ${fmt(a.ms)} | ${a.rowsRead} | ${a.rowsWritten} | ${fmt(b.ms)} | ${b.rowsRead} | ${b.rowsWritten} | ${(b.ms / a.ms).toFixed(2)}x |`);
}
