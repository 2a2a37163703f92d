// The charts page in real Chromium: two posts approved and published through the Graph API
// simulator show up as today's bars (kept in D1 `daily_posts` by triggers as the statuses
// change), with the review queue by age; desktop and phone screenshots.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, launchChromium, overflow, screenshot, sessionCookie, sessionCookieFor, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
const pages = trackPages();

before(async () => {
  [review, browser] = await Promise.all([startReview(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function open(options) {
  const context = await pages.newContext(browser, options);
  const [name, value] = (await sessionCookie(review.url, AIKO)).split("=");
  await context.addCookies([sessionCookieFor(review.url, name, value)]);
  return pages.watch(await context.newPage());
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
