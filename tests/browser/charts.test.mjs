// The charts page in real Chromium: two posts approved and published through the Graph API
// simulator show up as today's bars (kept in D1 `daily_posts` by triggers as the statuses
// change), with the review queue by age; publishing's failures by class and attempt durations
// read from Analytics Engine's SQL API (a local fake) when it is configured, and from D1,
// saying why, when it refuses or is not configured, its token never on the page or in the
// log; desktop and phone screenshots.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startFakeAnalyticsEngine } from "../fakes/analytics-engine.mjs";
import { AIKO, launchChromium, overflow, screenshot, sessionCookie, signedInPage, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
let analytics;
const pages = trackPages();

before(async () => {
  analytics = await startFakeAnalyticsEngine();
  const settings = { ANALYTICS_SQL_BASE_URL: analytics.baseUrl, ANALYTICS_ACCOUNT_ID: analytics.accountId, ANALYTICS_API_TOKEN: analytics.token };
  [review, browser] = await Promise.all([
    // `plain` is the same api without the SQL API's settings.
    startReview({ api: settings, variants: { plain: { ANALYTICS_ACCOUNT_ID: "", ANALYTICS_API_TOKEN: "" } }, logs: true }),
    launchChromium(),
  ]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
  await analytics?.close();
});

async function open(options) {
  return signedInPage(pages, browser, review.url, AIKO, options);
}

test("published posts, the time they took and the review queue are charts drawn from kept counts", async () => {
  const published = [await review.generate({ brief: "Soup of the day" }), await review.generate({ brief: "Apple pie is back" })];
  const waiting = await review.generate({ brief: "Still to review" });
  for (const draft of published) {
    const approved = await review.pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
      body: { revision: draft.revision },
      token: AIKO.token,
    });
    assert.equal(approved.status, 200, approved.text);
  }
  await review.pipeline.eventually(
    async () => {
      const rows = await Promise.all(published.map((d) => review.row(d.draftId)));
      return rows.every((row) => row.status === "published");
    },
    { what: "both posts published", timeoutMs: 30000 },
  );

  // Kept by the triggers in the same writes that changed the statuses.
  const today = new Date().toISOString().slice(0, 10);
  const kept = await review.pipeline.db.prepare("SELECT * FROM daily_posts WHERE day = ?1 AND account_id = ''").bind(today).first();
  assert.equal(kept.published, 2);
  assert.equal(kept.approved, 2);
  assert.ok(kept.live_seconds >= 0 && kept.review_seconds >= 0);

  const page = await open(DESKTOP);
  await page.goto(`${review.url}/review/charts`);
  const perDay = page.locator("figure.chart").filter({ hasText: "Published per day" });
  // Today is the last row of the daily chart: 2 posts.
  const todayRow = perDay.locator("table tr").last();
  assert.equal(await todayRow.locator("td").textContent(), "2");
  assert.equal(await perDay.locator("rect.chart-bar").count(), 28);
  const columns = await perDay.locator("rect.chart-bar").evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("height"))));
  assert.ok(columns.at(-1) > 0 && columns.slice(0, -1).every((h) => h === 0), `only today has a column: ${columns}`);
  const queue = page.locator("figure.chart").filter({ hasText: "Drafts waiting for review" });
  assert.equal(await queue.locator("tr").filter({ hasText: "under an hour" }).locator("td").textContent(), "1");
  await screenshot(page, "charts-desktop");
  assert.equal((await review.row(waiting.draftId)).status, "draft");

  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review/charts`);
  await screenshot(phone, "charts-phone");
  assert.ok((await overflow(phone)) <= 0, "no sideways scrolling on a phone");
});

test("publishing's failures and durations come from Analytics Engine's SQL API when configured, and from D1, saying why, when it refuses or is not", async () => {
  // D1's publish log: one failed attempt (class permanent) today.
  const draft = await review.insertDraft({ caption: "Charts: a post that failed", columns: { status: "failed", last_error: "Instagram refused the post" } });
  const now = new Date().toISOString();
  await review.db
    .prepare("INSERT INTO publish_logs (draft_id, attempt, step, outcome, error_class, duration_ms, created_at) VALUES (?1, 1, 'container', 'failed', 'permanent', 1500, ?2)")
    .bind(draft, now)
    .run();
  const today = now.slice(0, 10);
  analytics.answer({
    failures: [
      { class: "rate_limited", attempts: 41 },
      { class: "transient", attempts: 17 },
    ],
    durations: [{ day: today, averageMs: 4200, attempts: 12 }],
  });
  const page = await open(DESKTOP);
  const earlier = analytics.requests.length;
  await page.goto(`${review.url}/review/charts`);
  const publishing = page.locator("#publishing");
  assert.equal(await publishing.getAttribute("data-source"), "analytics-engine");
  assert.match(await page.locator("#publishing-source").textContent(), /From Analytics Engine/);
  const failures = publishing.locator("figure.chart").filter({ hasText: "Publish failures by class" });
  const row = (name) => failures.locator("tr").filter({ hasText: name }).locator("td").textContent();
  assert.equal(await row("rate_limited"), "41");
  assert.equal(await row("transient"), "17");
  assert.equal(await failures.locator("tr").filter({ hasText: "permanent" }).count(), 0, "not D1's figures");
  assert.match(await publishing.locator("dl.legend").textContent(), /rate_limitedInstagram asked us to slow down/);
  const durations = publishing.locator("figure.chart").filter({ hasText: "Average time of a publish attempt" });
  assert.equal(await durations.locator("table tr").last().locator("td").textContent(), "4 s");
  // The queries went with the token, and read the publish attempts' points.
  const queries = analytics.queries().slice(earlier);
  assert.equal(queries.length, 2, "two queries a page");
  assert.ok(analytics.requests.every((r) => r.headers.authorization === `Bearer ${analytics.token}`));
  assert.ok(queries.some((q) => q.includes("blob2 IN ('retrying', 'failed')")) && queries.some((q) => q.includes("double2")));
  await screenshot(page, "charts-analytics-engine-desktop");

  // Refused: D1's figures, and the page says so.
  analytics.refuse(403);
  await page.reload();
  assert.equal(await publishing.getAttribute("data-source"), "d1");
  assert.match(await page.locator("#publishing-source").textContent(), /From D1's publish log, because Analytics Engine's SQL API refused the query \(HTTP 403\)/);
  assert.equal(await failures.locator("tr").filter({ hasText: "permanent" }).locator("td").textContent(), "1");
  // Today's attempts in D1's log, the earlier test's published posts' among them.
  const d1Today = await durations.locator("table tr").last().locator("td").textContent();
  assert.match(d1Today, /^\d+ (ms|s)$/);
  assert.notEqual(d1Today, "4 s");
  await screenshot(page, "charts-analytics-refused-desktop");
  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review/charts`);
  assert.ok((await overflow(phone)) <= 0);
  await screenshot(phone, "charts-analytics-refused-phone");
  analytics.refuse(null);

  // Not configured: D1's figures, saying which settings would change that; no query sent.
  const sent = analytics.requests.length;
  const cookie = await sessionCookie(review.url, AIKO);
  const plain = await review.pipeline.variant("plain").request("GET", "/review/charts", { token: null, headers: { cookie } });
  assert.equal(plain.status, 200);
  assert.match(plain.text, /Analytics Engine&#39;s SQL API is not configured|Analytics Engine's SQL API is not configured/);
  assert.equal(analytics.requests.length, sent);

  // The credentials are nowhere on the pages or in the log.
  for (const text of [await page.content(), await phone.content(), plain.text, review.pipeline.logs.join("\n")]) {
    assert.ok(!text.includes(analytics.token), "the token is shown or logged");
    assert.ok(!text.includes(analytics.accountId), "the account id is shown or logged");
  }
  assert.ok(review.pipeline.logs.some((l) => l.includes("refused the query (HTTP 403)")), "the fallback is logged");
});
