// The review page's views over many drafts in real headless Chromium, on a desktop and a
// 390x844 phone: the calendar with posts on three days, a drag that reschedules, times that
// daylight saving skips or repeats asked about (America/New_York, 2027-03-14 02:30 and
// 2027-11-07 01:30), a conflict when the post moved on, another zone chosen; up next with a
// quota hold; a Japanese word searched from the list; the list's dates as the viewer's days;
// bulk approval with one conflict, and bulk rescheduling (a skipped or repeated time asked
// about); a post moved on a touch phone by tapping. Screenshots in
// target/screenshots/views-*.png.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { AIKO, SCREENSHOTS, launchChromium, overflow, screenshot, signedInPage, startReview, trackPages } from "./support.mjs";

const NEW_YORK = "America/New_York";
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: NEW_YORK };
const DESKTOP = { viewport: { width: 1280, height: 900 }, timezoneId: NEW_YORK };

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

async function open(options = DESKTOP) {
  return signedInPage(pages, browser, review.url, AIKO, options);
}

/** An approved post scheduled at `at` (UTC), as the approve route leaves one. */
function scheduled(caption, at, columns = {}) {
  return review.insertDraft({
    caption,
    columns: {
      status: "approved",
      approved_revision: 1,
      approved_caption: caption,
      approved_by: "Aiko",
      approved_at: "2026-12-01T10:00:00Z",
      scheduled_at: at,
      ...columns,
    },
  });
}

async function row(id) {
  return review.db.prepare("SELECT status, revision, scheduled_at FROM drafts WHERE id = ?1").bind(id).first();
}

test("the calendar shows a week's posts on their days in the viewer's zone; dragging one moves it; a skipped time is asked about; a post that moved on is a conflict", async () => {
  // Mon 8 March 2027 to Sun 14 March in New York (EST, UTC-5, until 2am on the 14th).
  const monday = await scheduled("Calendar: Monday squash soup", "2027-03-08T15:15:00Z"); // 10:15 EST
  const wednesday = await scheduled("Calendar: Wednesday apple pie", "2027-03-10T16:30:00Z"); // 11:30 EST
  const friday = await scheduled("Calendar: Friday coffee", "2027-03-13T03:00:00Z"); // Fri 22:00 EST
  const published = await review.insertDraft({
    caption: "Calendar: published on Tuesday",
    columns: { status: "published", approved_revision: 1, approved_by: "Ben", publish_sent_at: "2027-03-09T14:00:00.000Z", permalink: "https://instagram.test/p/9" },
  });
  const page = await open();
  await page.goto(`${review.url}/review/calendar?view=week&date=2027-03-10`);
  const day = (key) => page.locator(`section.day[data-day="${key}"]`);
  await day("2027-03-08").locator(`[data-id="${monday}"]`).waitFor();
  assert.equal(await page.locator("#calendar-zone").inputValue(), NEW_YORK, "the zone is the browser's");
  assert.equal(await day("2027-03-08").locator(`[data-id="${monday}"] time`).textContent(), "10:15 AM");
  assert.equal(await day("2027-03-09").locator(`[data-id="${published}"] small`).textContent(), " the default account · published");
  assert.equal(await day("2027-03-10").locator(`[data-id="${wednesday}"]`).count(), 1);
  // 03:00 UTC on Saturday is still Friday evening in New York.
  assert.equal(await day("2027-03-12").locator(`[data-id="${friday}"]`).count(), 1);
  assert.equal(await day("2027-03-12").locator(`.hour[data-hour="22"] [data-id="${friday}"]`).count(), 1);
  assert.equal(await day("2027-03-09").locator(`[data-id="${published}"][draggable="true"]`).count(), 0, "a published post does not move");
  await screenshot(page, "views-calendar-week-desktop");

  // Dragged from Monday 10:15 to Thursday's 15:00 row: Thursday 15:15 EST.
  await day("2027-03-08").locator(`[data-id="${monday}"]`).dragTo(day("2027-03-11").locator('.hour[data-hour="15"]'));
  await page.locator("#calendar-status", { hasText: "Moved to" }).waitFor();
  assert.equal((await row(monday)).scheduled_at, "2027-03-11T20:15:00Z");
  await day("2027-03-11").locator(`.hour[data-hour="15"] [data-id="${monday}"]`).waitFor();

  // Wednesday 11:30 dragged to Sunday 14 March, 02:00 row: 02:30 does not exist that night.
  await day("2027-03-10").locator(`[data-id="${wednesday}"]`).dragTo(day("2027-03-14").locator('.hour[data-hour="2"]'));
  const dialog = page.locator("#move-dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /02:30 does not exist on that day/);
  const choices = await dialog.locator("#move-choices label").allTextContents();
  assert.equal(choices.length, 2);
  assert.match(choices[0], /3:30\s*AM EDT/);
  assert.match(choices[1], /1:30\s*AM EST/);
  assert.equal((await row(wednesday)).scheduled_at, "2027-03-10T16:30:00Z", "nothing moved before the answer");
  await screenshot(page, "views-calendar-dst-gap-desktop");
  await dialog.locator("#move-confirm").click();
  await page.locator("#calendar-status", { hasText: "Moved to" }).waitFor();
  assert.equal((await row(wednesday)).scheduled_at, "2027-03-14T07:30:00Z", "03:30 EDT, as chosen");

  // Friday's post was changed elsewhere since the calendar was drawn: its move is refused.
  await review.db.prepare("UPDATE drafts SET revision = revision + 1 WHERE id = ?1").bind(friday).run();
  await day("2027-03-12").locator(`[data-id="${friday}"]`).dragTo(day("2027-03-13").locator('.hour[data-hour="9"]'));
  await page.locator("#calendar-status", { hasText: "Not moved: the post changed" }).waitFor();
  assert.equal((await row(friday)).scheduled_at, "2027-03-13T03:00:00Z");

  // A time that happens twice (the clocks go back at 2am on 7 November 2027), typed with
  // "Move": asked which of the two.
  await day("2027-03-11").locator(`[data-id="${monday}"] .move`).click();
  await page.locator("#move-type").click();
  await dialog.locator("#move-at").fill("2027-11-07T01:30");
  await dialog.locator("#move-confirm").click();
  await dialog.locator("#move-choices label").first().waitFor();
  assert.match(await dialog.textContent(), /01:30 happens twice on that day/);
  const twice = await dialog.locator("#move-choices label").allTextContents();
  assert.match(twice[0], /1:30\s*AM EDT/);
  assert.match(twice[1], /1:30\s*AM EST/);
  assert.equal((await row(monday)).scheduled_at, "2027-03-11T20:15:00Z", "nothing moved before the answer");
  await dialog.locator("#move-choices input").nth(1).check();
  await dialog.locator("#move-confirm").click();
  await page.locator("#calendar-status", { hasText: "Moved to" }).waitFor();
  assert.equal((await row(monday)).scheduled_at, "2027-11-07T06:30:00Z", "01:30 EST, as chosen");

  // Another zone chosen: the same posts in UTC, and the zone kept in the URL.
  await page.locator("#calendar-zone").selectOption("UTC");
  await day("2027-03-13").locator(`.hour[data-hour="3"] [data-id="${friday}"]`).waitFor();
  assert.equal(new URL(page.url()).searchParams.get("tz"), "UTC");

  // A phone: the week is a list of days, the month a grid that fits.
  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review/calendar?view=week&date=2027-03-10`);
  await phone.locator(`[data-id="${friday}"]`).waitFor();
  assert.ok((await overflow(phone)) <= 0, "the page is no wider than the phone");
  await screenshot(phone, "views-calendar-week-phone");
  await phone.getByRole("button", { name: "Month" }).click();
  await phone.locator('.grid.month section.day[data-day="2027-03-31"]').waitFor();
  assert.match(phone.url(), /view=month/);
  await screenshot(phone, "views-calendar-month-phone");
});

test("up next shows what goes out first, with a post held back by the quota and when it should go", async () => {
  const held = await review.insertDraft({
    caption: "Up next: held by the quota",
    columns: {
      status: "approved",
      approved_revision: 1,
      approved_by: "Ben",
      approved_at: "2026-12-01T09:00:00Z",
      publish_hold: "Instagram's publishing quota for this account is used up",
      publish_hold_until: "2026-12-08T14:00:00Z",
    },
  });
  const later = await scheduled("Up next: scheduled next week", "2030-01-05T12:00:00Z");
  for (const [options, name] of [
    [DESKTOP, "desktop"],
    [PHONE, "phone"],
  ]) {
    const page = await open(options);
    await page.goto(`${review.url}/review/up-next`);
    const items = await page.locator("#up-next > li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
    assert.ok(items.indexOf(held) >= 0 && items.indexOf(held) < items.indexOf(later), "the held post goes out first");
    const heldItem = page.locator(`#up-next > li[data-id="${held}"]`);
    assert.match(await heldItem.locator(".hold").textContent(), /Held back: Instagram's publishing quota for this account is used up\. Expected to go out Dec 8, 2026, 9:00\s*AM Eastern Standard Time\./);
    assert.match(await heldItem.textContent(), /approved by Ben/);
    assert.ok((await overflow(page)) <= 0);
    await screenshot(page, `views-up-next-${name}`);
  }
});

test("a Japanese word typed in the list's search finds its draft, and the view is in the URL", async () => {
  const sakura = await review.insertDraft({ caption: "川沿いの桜が満開になりました", hashtags: ["花見"], altText: "満開の桜並木" });
  const other = await review.insertDraft({ caption: "新しいコーヒー豆が入荷しました", hashtags: ["コーヒー"], altText: "コーヒー豆" });
  for (const [options, name] of [
    [DESKTOP, "desktop"],
    [PHONE, "phone"],
  ]) {
    const page = await open(options);
    await page.goto(`${review.url}/review`);
    assert.equal(await page.locator('.tabs a[aria-current="page"]').textContent(), "Needs review 2");
    await page.getByRole("searchbox").fill("満開");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/q=/);
    assert.equal(new URL(page.url()).searchParams.get("q"), "満開");
    assert.equal(await page.locator(`.drafts a[href="/review/${sakura}"]`).count(), 1);
    assert.equal(await page.locator(`.drafts a[href="/review/${other}"]`).count(), 0);
    assert.ok((await overflow(page)) <= 0);
    await screenshot(page, `views-search-japanese-${name}`);
  }
});

test("bulk approve: three drafts at the revisions shown, one confirmation, and the one that changed meanwhile reported", async () => {
  const drafts = [];
  for (const caption of ["Bulk: lemon tart", "Bulk: pear cake", "Bulk: plum jam"]) {
    const { draftId } = await review.generate({ brief: caption });
    drafts.push(draftId);
  }
  const page = await open();
  await page.goto(`${review.url}/review?q=Bulk`);
  for (const id of drafts) await page.locator(`input[name="draft"][value="${id}"]`).check();
  assert.equal(await page.locator("#bulk-count").textContent(), "3 selected");
  // Someone edits the second draft after this list was shown.
  await review.db.prepare("UPDATE drafts SET revision = revision + 1 WHERE id = ?1").bind(drafts[1]).run();
  const asked = [];
  page.on("dialog", (dialog) => {
    asked.push(dialog.message());
    dialog.accept();
  });
  await page.locator("#bulk-bar").getByRole("button", { name: "Approve" }).click();
  await page.locator("#bulk-results li").nth(3).waitFor();
  assert.deepEqual(asked, ["Approve 3 drafts, each as shown here?"]);
  const results = await page.locator("#bulk-results li[data-id]").evaluateAll((lis) => lis.map((li) => [li.dataset.id, li.className, li.textContent]));
  // In the list's order (newest first), a result each.
  const kinds = Object.fromEntries(results.map(([id, kind]) => [id, kind]));
  assert.deepEqual(kinds, { [drafts[0]]: "ok", [drafts[1]]: "error", [drafts[2]]: "ok" });
  assert.match(results.find(([id]) => id === drafts[1])[2], /not done: it changed since this list was shown/);
  await screenshot(page, "views-bulk-approve-desktop");
  assert.notEqual((await row(drafts[0])).status, "draft");
  assert.equal((await row(drafts[1])).status, "draft");
  const { results: decisions } = await review.db
    .prepare("SELECT draft_id, reviewer FROM review_comments WHERE decision = 'approve' AND draft_id IN (?1, ?2, ?3)")
    .bind(...drafts)
    .all();
  assert.deepEqual(decisions.map((d) => d.reviewer).sort(), ["Aiko", "Aiko"], "approved by the signed-in reviewer");
});

test("bulk reschedule: two scheduled posts moved to one time typed in the viewer's zone, each at the revision shown", async () => {
  const posts = [await scheduled("Bulk move: first", "2027-05-01T10:00:00Z"), await scheduled("Bulk move: second", "2027-05-02T10:00:00Z")];
  const page = await open(PHONE);
  await page.goto(`${review.url}/review?status=approved&q=${encodeURIComponent("Bulk move")}`);
  for (const id of posts) await page.locator(`input[name="draft"][value="${id}"]`).check();
  await page.locator("#bulk-time").fill("2027-04-01T09:00");
  page.once("dialog", (dialog) => dialog.accept());
  await page.locator("#bulk-bar").getByRole("button", { name: "Reschedule" }).click();
  await page.locator("#bulk-results li").nth(2).waitFor();
  assert.deepEqual(await page.locator("#bulk-results li[data-id]").evaluateAll((lis) => lis.map((li) => li.className)), ["ok", "ok"]);
  await page.getByRole("link", { name: "Show the list as it is now" }).click();
  await page.locator("time[datetime='2027-04-01T13:00:00Z']").first().waitFor();
  // 09:00 in New York on 1 April 2027 is daylight time, UTC-4.
  for (const id of posts) assert.equal((await row(id)).scheduled_at, "2027-04-01T13:00:00Z");
  assert.ok((await overflow(page)) <= 0);
  await screenshot(page, "views-bulk-reschedule-phone");
});

test("on a touch phone a scheduled post moves by tapping Move and then a day's hour; a time the clocks skip is asked about", async () => {
  const post = await scheduled("Tap move: Tuesday bread", "2027-03-09T15:45:00Z"); // Tue 10:45 EST
  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review/calendar?view=week&date=2027-03-10`);
  const card = phone.locator(`[data-id="${post}"]`);
  await card.waitFor();
  await card.locator(".move").tap();
  await phone.locator("#move-bar", { hasText: "Tap move: Tuesday bread" }).waitFor();
  assert.equal(await card.locator(".move").getAttribute("aria-pressed"), "true");
  assert.ok((await overflow(phone)) <= 0, "the page is no wider than the phone");
  await screenshot(phone, "views-calendar-picked-phone");
  // What the phone shows: the post picked up, and every hour of the week to tap.
  await phone.screenshot({ path: join(SCREENSHOTS, "views-calendar-picked-phone-screen.png") });
  // Thursday's 16:00 row, empty until a post is picked up: Thursday 16:45 EST.
  await phone.locator('section.day[data-day="2027-03-11"] .hour[data-hour="16"]').tap();
  await phone.locator("#calendar-status", { hasText: "Moved to" }).waitFor();
  assert.equal((await row(post)).scheduled_at, "2027-03-11T21:45:00Z");
  await phone.locator(`section.day[data-day="2027-03-11"] [data-id="${post}"]`).waitFor();
  assert.equal(await phone.locator("#move-bar").isHidden(), true, "put down once moved");

  // Sunday 14 March, 02:00 row: 02:45 does not exist that night in New York.
  await phone.locator(`[data-id="${post}"] .move`).tap();
  await phone.locator('section.day[data-day="2027-03-14"] .hour[data-hour="2"]').tap();
  const dialog = phone.locator("#move-dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /02:45 does not exist on that day/);
  assert.equal((await row(post)).scheduled_at, "2027-03-11T21:45:00Z", "nothing moved before the answer");
  await screenshot(phone, "views-calendar-tap-dst-phone");
  await phone.screenshot({ path: join(SCREENSHOTS, "views-calendar-tap-dst-phone-screen.png") });
  await dialog.locator("#move-confirm").tap();
  await phone.locator("#calendar-status", { hasText: "Moved to" }).waitFor();
  assert.equal((await row(post)).scheduled_at, "2027-03-14T07:45:00Z", "03:45 EDT, the first choice");
});

test("bulk reschedule: a time the clocks skip or repeat is asked about as the calendar asks, and nothing moves before the answer", async () => {
  const posts = [await scheduled("Bulk clocks: first", "2027-05-01T10:00:00Z"), await scheduled("Bulk clocks: second", "2027-05-02T10:00:00Z")];
  const page = await open();
  const asked = [];
  page.on("dialog", (d) => {
    asked.push(d.message());
    d.accept();
  });
  const reschedule = async (typed) => {
    await page.goto(`${review.url}/review?status=approved&q=${encodeURIComponent("Bulk clocks")}`);
    for (const id of posts) await page.locator(`input[name="draft"][value="${id}"]`).check();
    await page.locator("#bulk-time").fill(typed);
    await page.locator("#bulk-bar").getByRole("button", { name: "Reschedule" }).click();
  };
  const dialog = page.locator("#move-dialog");

  await reschedule("2027-03-14T02:30");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /02:30 does not exist on that day/);
  const gap = await dialog.locator("#move-choices label").allTextContents();
  assert.equal(gap.length, 2);
  assert.match(gap[0], /3:30\s*AM EDT/);
  assert.match(gap[1], /1:30\s*AM EST/);
  assert.deepEqual(asked, [], "no confirmation before the time is one instant");
  for (const id of posts) assert.equal((await row(id)).scheduled_at.slice(0, 7), "2027-05", "nothing moved before the answer");
  await screenshot(page, "views-bulk-dst-gap-desktop");
  await dialog.locator("#move-confirm").click();
  await page.locator("#bulk-results li").nth(2).waitFor();
  assert.deepEqual(asked, ["Reschedule 2 drafts, each as shown here?"]);
  for (const id of posts) assert.equal((await row(id)).scheduled_at, "2027-03-14T07:30:00Z", "03:30 EDT, as chosen");

  await reschedule("2027-11-07T01:30");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /01:30 happens twice on that day/);
  const twice = await dialog.locator("#move-choices label").allTextContents();
  assert.match(twice[0], /1:30\s*AM EDT/);
  assert.match(twice[1], /1:30\s*AM EST/);
  await dialog.locator("#move-choices input").nth(1).check();
  await dialog.locator("#move-confirm").click();
  await page.locator("#bulk-results li").nth(2).waitFor();
  for (const id of posts) assert.equal((await row(id)).scheduled_at, "2027-11-07T06:30:00Z", "01:30 EST, as chosen");

  // An ordinary time is not asked about.
  const phone = await open(PHONE);
  await phone.goto(`${review.url}/review?status=approved&q=${encodeURIComponent("Bulk clocks")}`);
  for (const id of posts) await phone.locator(`input[name="draft"][value="${id}"]`).check();
  await phone.locator("#bulk-time").fill("2027-03-14T01:30");
  phone.once("dialog", (d) => d.accept());
  await phone.locator("#bulk-bar").getByRole("button", { name: "Reschedule" }).click();
  await phone.locator("#bulk-results li").nth(2).waitFor();
  assert.equal(await phone.locator("#move-dialog").isVisible(), false);
  for (const id of posts) assert.equal((await row(id)).scheduled_at, "2027-03-14T06:30:00Z");
});

test("the list's dates are the viewer's days: in Tokyo, 2 December holds what UTC calls the evening of the 1st", async () => {
  const TOKYO = "Asia/Tokyo";
  const early = await review.insertDraft({ caption: "Zanzibar range: 01:00 on 2 December in Tokyo", columns: { created_at: "2026-12-01T16:00:00Z" } });
  const before = await review.insertDraft({ caption: "Zanzibar range: 23:00 on 1 December in Tokyo", columns: { created_at: "2026-12-01T14:00:00Z" } });
  const late = await review.insertDraft({ caption: "Zanzibar range: 23:30 on 2 December in Tokyo", columns: { created_at: "2026-12-02T14:30:00Z" } });
  const after = await review.insertDraft({ caption: "Zanzibar range: 00:30 on 3 December in Tokyo", columns: { created_at: "2026-12-02T15:30:00Z" } });
  const shown = (page) => page.locator(".drafts input[name=draft]").evaluateAll((boxes) => boxes.map((b) => b.value));
  for (const [options, name] of [
    [{ ...DESKTOP, timezoneId: TOKYO }, "desktop"],
    [{ ...PHONE, timezoneId: TOKYO }, "phone"],
  ]) {
    const page = await open(options);
    await page.goto(`${review.url}/review?status=all&q=Zanzibar`);
    assert.deepEqual(new Set(await shown(page)), new Set([early, before, late, after]));
    await page.locator("summary", { hasText: "Filters" }).click();
    await page.locator('input[name="from"]').fill("2026-12-02");
    await page.locator('input[name="to"]').fill("2026-12-02");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/from=/);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("from"), "2026-12-01T15:00:00Z", "the start of 2 December in Tokyo");
    assert.equal(url.searchParams.get("to"), "2026-12-02T15:00:00Z", "the start of 3 December in Tokyo");
    assert.deepEqual(await shown(page), [late, early]);
    assert.equal(await page.locator('input[name="from"]').inputValue(), "2026-12-02");
    assert.equal(await page.locator('input[name="to"]').inputValue(), "2026-12-02");
    assert.ok((await overflow(page)) <= 0);
    await screenshot(page, `views-date-range-tokyo-${name}`);
  }
  // A link with bare dates is read in the viewer's zone as well.
  const page = await open({ ...DESKTOP, timezoneId: TOKYO });
  await page.goto(`${review.url}/review?status=all&q=Zanzibar&from=2026-12-02&to=2026-12-02`);
  await page.waitForURL(/from=2026-12-01T15/);
  await page.locator(".drafts").waitFor();
  assert.deepEqual(await shown(page), [late, early]);
});
