// The failures view in real Chromium, on a desktop and a 390x844 phone, read in Tokyo: the
// drafts being retried (the attempt that failed, of how many, and when the next follows) as
// well as those that gave up; the errors by day in the viewer's zone, not UTC; each count a
// link to the drafts it counts. Screenshots in target/screenshots/failures-view-*.png.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, launchChromium, overflow, rfc3339, screenshot, signedInPage, startReview, trackPages } from "./support.mjs";

const TOKYO = "Asia/Tokyo";
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: TOKYO };
const DESKTOP = { viewport: { width: 1280, height: 900 }, timezoneId: TOKYO };

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
  return signedInPage(pages, browser, review.url, AIKO, options);
}

function log(draftId, attempt, outcome, errorClass, at) {
  return review.db
    .prepare("INSERT INTO publish_logs (draft_id, attempt, step, outcome, error_class, message, created_at) VALUES (?1, ?2, 'container', ?3, ?4, 'refused', ?5)")
    .bind(draftId, attempt, outcome, errorClass, at)
    .run();
}

test("the failures view lists drafts being retried and those that gave up, counts errors by the viewer's days, and links each count to its drafts", async () => {
  const nextTry = new Date(Date.now() + 10 * 60 * 1000);
  const retrying = await review.insertDraft({
    caption: "Failures: being retried",
    columns: {
      status: "approved",
      approved_revision: 1,
      approved_by: "Aiko",
      approved_at: rfc3339(Date.now() - 3600 * 1000),
      publish_attempts: 2,
      last_error: "attempt 2 of 5 failed: Instagram could not fetch the image; the next follows in 600 s",
      publish_due_at: rfc3339(nextTry),
    },
  });
  const gaveUp = await review.insertDraft({
    caption: "Failures: gave up",
    columns: { status: "failed", approved_revision: 1, approved_by: "Aiko", publish_attempts: 5, last_error: "attempt 5 of 5 failed: Instagram refused the post" },
  });
  const waiting = await review.insertDraft({
    caption: "Failures: approved, nothing wrong",
    columns: { status: "approved", approved_revision: 1, approved_by: "Aiko", approved_at: rfc3339(Date.now()), scheduled_at: rfc3339(Date.now() + 86400 * 1000) },
  });
  // Yesterday (UTC) at 10:00 and 20:00 and 20:30: in Tokyo (UTC+9) 19:00 that day, then
  // 05:00 and 05:30 the next.
  const day = new Date(Date.now() - 86400 * 1000).toISOString().slice(0, 10);
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86400 * 1000).toISOString().slice(0, 10);
  await log(retrying, 1, "retry", "transient", `${day}T10:00:00Z`);
  await log(retrying, 2, "retry", "transient", `${day}T20:00:00Z`);
  await log(retrying, 2, "retry", "transient", `${day}T20:00:05Z`); // a second step of the same attempt
  await log(gaveUp, 1, "failed", "permanent", `${day}T20:30:00Z`);

  const page = await open(DESKTOP);
  await page.goto(`${review.url}/review/failures`);
  const retried = page.locator(`#retrying li[data-id="${retrying}"]`);
  assert.equal(await retried.locator(".reason").textContent(), "attempt 2 of 5 failed: Instagram could not fetch the image");
  const hhmm = new Intl.DateTimeFormat("en-US", { timeZone: TOKYO, hour: "numeric", minute: "2-digit" }).format(nextTry);
  assert.match(await retried.locator(".next-try").textContent(), new RegExp(`Next try at .*${hhmm.replace(/\s/g, "\\s")}`));
  assert.equal(await page.locator(`#retrying li[data-id="${waiting}"]`).count(), 0, "a post with nothing wrong is not being retried");
  assert.equal(await page.locator(`#retrying li[data-id="${gaveUp}"]`).count(), 0);
  assert.equal(await page.locator(`ul.failures li[data-id="${gaveUp}"] .reason`).textContent(), "attempt 5 of 5 failed: Instagram refused the post");

  // By Tokyo's days: the attempt at 10:00 UTC on its own day, the two at 20:00 on the next.
  const table = page.locator("#failures-by-day");
  assert.equal(await page.locator("#failures-day-heading").textContent(), `Day (${TOKYO})`);
  const columns = await table.locator("thead th").allTextContents();
  const cell = (rowDay, name) => table.locator("tbody tr").filter({ has: page.locator("th", { hasText: rowDay }) }).locator("td").nth(columns.indexOf(name) - 1);
  assert.deepEqual(await table.locator("tbody th").allTextContents(), [next, day]);
  assert.equal(await cell(next, "transient").textContent(), "1");
  assert.equal(await cell(next, "permanent").textContent(), "1");
  assert.equal(await cell(day, "transient").textContent(), "1");
  assert.equal(await cell(day, "permanent").textContent(), "0");
  await screenshot(page, "failures-view-desktop");

  // A count is a link to its drafts: the start of its Tokyo day to the next.
  await cell(next, "transient").locator("a").click();
  await page.waitForURL(/class=transient/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("from"), `${day}T15:00:00Z`);
  assert.equal(url.searchParams.get("to"), `${next}T15:00:00Z`);
  assert.deepEqual(await page.locator("#focus li").evaluateAll((lis) => lis.map((li) => li.dataset.id)), [retrying]);
  await screenshot(page, "failures-view-count-desktop");
  await page.goBack();
  await cell(next, "permanent").locator("a").click();
  await page.waitForURL(/class=permanent/);
  assert.deepEqual(await page.locator("#focus li").evaluateAll((lis) => lis.map((li) => li.dataset.id)), [gaveUp]);

  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review/failures`);
  await phone.locator("#failures-day-heading", { hasText: TOKYO }).waitFor();
  assert.ok((await overflow(phone)) <= 0, "no sideways scrolling on a phone");
  await screenshot(phone, "failures-view-phone");
});
