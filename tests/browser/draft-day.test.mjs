// One draft's page through a reviewer's day, in real headless Chromium against the three
// compiled Workers and the Graph API simulator: correcting a scheduled post and a failed one,
// publishing attempts shown as they happen, a diff in whole runs of the language's words,
// the brief beside the draft, the decide actions on a phone, and how often a tab left open
// asks the server. Screenshots land in target/screenshots/.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, BEN, launchChromium, overflow, randomText, rfc3339, screenshot, signedInPage, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
const pages = trackPages();

before(async () => {
  // Retries a few seconds apart, not Instagram's 30 s: the attempts test waits for two.
  [review, browser] = await Promise.all([startReview({ publish: { PUBLISH_RETRY_BASE_SECONDS: "4" } }), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function open(reviewer = AIKO, options = DESKTOP) {
  return signedInPage(pages, browser, review.url, reviewer, options);
}

async function comments(id) {
  const { results } = await review.db.prepare("SELECT reviewer, decision FROM review_comments WHERE draft_id = ?1 ORDER BY id").bind(id).all();
  return results.map((c) => `${c.reviewer} ${c.decision}`);
}

/** A generated draft approved by Ben for `hours` ahead, to the minute. */
async function approvedFor(hours) {
  const draft = await review.generate();
  const at = new Date(Math.ceil((Date.now() + hours * 3600e3) / 60e3) * 60e3);
  const approved = await review.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: draft.revision, scheduledAt: rfc3339(at) },
    token: BEN.token,
  });
  assert.equal(approved.status, 200, approved.text);
  return { ...approved.json, at };
}

/** How the page writes a time in Tokyo (the contexts' zone). */
const tokyo = (at, options = {}) =>
  new Intl.DateTimeFormat("en-US", { timeZone: "Asia/Tokyo", year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "long", ...options }).format(at);

test("a scheduled post is edited and approved again: the time stays, the edited revision is what goes out", async () => {
  const approved = await approvedFor(6);
  const id = approved.draftId;
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  // The time it goes out, big, in the reader's zone; the brief it was written from beside it.
  assert.equal(await page.locator("#scheduled").textContent(), `Scheduled for ${tokyo(approved.at)}`);
  assert.equal(await page.getByLabel("Change the time").inputValue(), tokyoField(approved.at));
  assert.match(await page.locator("#brief").textContent(), /BriefAutumn menu launch at our cafe: squash soup and apple pie/);
  await screenshot(page, "day-scheduled-desktop");

  // Edit: the approval is taken back and the editor opens, the time filled in.
  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Edit", exact: true }).click()]);
  assert.equal(await page.locator("#status").textContent(), "draft");
  const caption = `Squash soup, now with a typo fixed ${randomText()}`;
  await page.getByLabel("Caption", { exact: true }).fill(caption);
  const button = page.locator("#approve");
  await page.waitForFunction(() => document.getElementById("approve").textContent.startsWith("Save and schedule for"));
  assert.equal(await button.textContent(), `Save and schedule for ${tokyo(approved.at, { year: undefined, timeZoneName: "short" })}`);
  const phone = await open(AIKO, PHONE);
  await phone.goto(`${review.url}/review/${id}`);
  await screenshot(phone, "day-edit-again-phone");
  await Promise.all([page.waitForEvent("load"), button.click()]);
  await page.locator("#status").filter({ hasText: "approved" }).waitFor();

  const row = await review.row(id);
  assert.equal(row.status, "approved");
  assert.equal(row.approved_caption, caption);
  const edit = await review.db.prepare("SELECT revision FROM review_comments WHERE draft_id = ?1 AND decision = 'edit'").bind(id).first();
  assert.equal(row.approved_revision, edit.revision + 1, "the approval is not of the edited revision");
  assert.equal(row.scheduled_at, rfc3339(approved.at));
  assert.equal(row.approved_by, "Aiko");
  assert.deepEqual(await comments(id), ["Ben approve", "Aiko withdraw", "Aiko edit", "Aiko approve"]);
  const history = await page.locator("#history").textContent();
  assert.match(history, /Ben\s+approved the text as it was written/);
  assert.match(history, /Aiko\s+took the approval back to correct it/);
  assert.match(history, /Aiko\s+approved the text after editing it/);
  await screenshot(page, "day-reapproved-desktop");
});

/** What a datetime-local field holds for `at` in Tokyo. */
function tokyoField(at) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

test("a past time is refused in the reader's zone, not in UTC", async () => {
  const draft = await review.generate();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  const past = new Date(Math.floor((Date.now() - 2 * 3600e3) / 60e3) * 60e3);
  await page.getByLabel(/^Publish at/).fill(tokyoField(past));
  assert.match(await page.locator("#approve").textContent(), /^Schedule for /);
  await page.locator("#approve").click();
  const said = await page.locator("#schedule-problem").textContent();
  assert.equal(said, `${tokyo(past)} has passed: choose a later time, or leave it empty to publish now.`);
  assert.doesNotMatch(await page.locator("#decide-status").textContent(), /\d{4}-\d\d-\d\dT/);
  assert.equal((await review.row(draft.draftId)).status, "draft");
});

test("a failed draft's text is edited and published once", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  review.sim.control.fault({ op: "container", kind: "error", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." });
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await page.locator("#approve").click();
  await page.locator("#status").filter({ hasText: "failed" }).waitFor({ timeout: 30000 });
  assert.equal(await page.getByText("on its way").count(), 0, "a failed post said it was on its way");
  // Its text was not edited by a person: "New text" may be ticked; Edit is offered.
  assert.equal(await page.getByLabel("New text").isChecked(), true);
  await screenshot(page, "day-failed-desktop");

  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Edit", exact: true }).click()]);
  assert.equal(await page.locator("#status").textContent(), "draft");
  const caption = `Squash soup, said better ${randomText()}`;
  await page.getByLabel("Caption", { exact: true }).fill(caption);
  await page.waitForFunction(() => document.getElementById("approve").textContent === "Save and approve");
  await Promise.all([page.waitForEvent("load"), page.locator("#approve").click()]);
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });

  const row = await review.row(id);
  const posts = review.sim.state.media().filter((m) => m.caption.startsWith(caption) || m.caption.startsWith(draft.caption));
  assert.equal(posts.length, 1, "the simulator holds one post for the draft");
  assert.ok(posts[0].caption.startsWith(caption), posts[0].caption);
  assert.equal(posts[0].permalink, row.permalink);
  assert.deepEqual(await comments(id), ["Aiko approve", "Aiko withdraw", "Aiko edit", "Aiko approve"]);
  assert.match(await page.locator("#history").textContent(), /Instagram published it/);
  // The simulator's post is not passed off as a real Instagram link.
  assert.equal(await page.locator(".notice.published strong").textContent(), "Published on the local Graph API simulator, not on Instagram:");
  assert.doesNotMatch(await page.locator("#history").textContent(), /claim ok|container ok/);
  await screenshot(page, "day-failed-corrected-desktop");
});

test("a failed post that may be live is not edited: publishing again reads it first", async () => {
  const id = await review.insertDraft({ caption: `Maybe live ${randomText()}` });
  const { image_key: key, revision } = await review.makeImage(id);
  await review.db
    .prepare(
      `UPDATE drafts SET status = 'failed', last_error = 'publishing gave up', approved_revision = ?2, approved_caption = caption,
         approved_hashtags = hashtags, approved_alt_text = alt_text, approved_image_key = ?3, approved_by = 'Aiko', approved_at = ?4,
         publish_sent_container = 'c-1', publish_sent_at = ?4 WHERE id = ?1`,
    )
    .bind(id, revision, key, rfc3339(new Date()))
    .run();
  const refused = await review.request("POST", `/api/v1/drafts/${id}/withdraw`, { body: { revision }, token: AIKO.token });
  assert.equal(refused.status, 409, refused.text);
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await page.getByRole("button", { name: "Publish again with the approved text" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Edit", exact: true }).count(), 0);
  assert.match(await page.locator("#decide").textContent(), /never posted twice/);
  assert.equal((await review.row(id)).status, "failed");
});

test("regenerating keeps a person's edits unless they ask for new text", async () => {
  const id = await review.insertDraft({ caption: "Written by the model", columns: { caption: "Edited by Aiko" } });
  const { image_key: key, revision } = await review.makeImage(id);
  await review.db
    .prepare(
      `UPDATE drafts SET status = 'failed', last_error = 'gave up', approved_revision = ?2, approved_caption = caption, approved_hashtags = hashtags,
         approved_alt_text = alt_text, approved_image_key = ?3, approved_by = 'Aiko', approved_at = ?4 WHERE id = ?1`,
    )
    .bind(id, revision, key, rfc3339(new Date()))
    .run();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  assert.equal(await page.getByLabel("New text").isChecked(), false);
  assert.match(await page.locator("#decide").textContent(), /edited by a person/);
});

test("publishing attempts are shown as they happen while the simulator refuses the image", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  // The first two containers: Instagram cannot fetch the image (transient, retried).
  review.sim.control.fault({ op: "container", kind: "error", code: 9004, subcode: 2207052, message: "The media could not be fetched from this uri", times: 2 });
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await Promise.all([page.waitForEvent("load"), page.locator("#approve").click()]);
  const attempt = page.locator("#attempt-text");
  await attempt.filter({ hasText: /^Attempt 1 of 5 failed/ }).waitFor({ timeout: 30000 });
  const { publish_due_at: due } = await review.row(id);
  const next = new Intl.DateTimeFormat("en-US", { timeZone: "Asia/Tokyo", hour: "numeric", minute: "2-digit", second: "2-digit" }).format(new Date(due));
  assert.match(await attempt.textContent(), new RegExp(`; next try at ${next}$`));
  assert.equal(await page.locator(".notice.failed").count(), 0, "why it failed beside a post still being tried");
  assert.doesNotMatch(await page.locator("#decide").textContent(), /on its way/);
  await screenshot(page, "day-attempt-desktop");
  // The second attempt, shown without a reload.
  await page.evaluate(() => (window.notReloaded = true));
  await attempt.filter({ hasText: /^Attempt 2 of 5 failed/ }).waitFor({ timeout: 60000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  // The third goes through: the page follows it to published.
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 90000 });
  const history = await page.locator("#history").textContent();
  assert.match(history, /Attempt 1 failed/);
  assert.match(history, /Attempt 2 failed/);
  assert.match(history, /Instagram published it \(attempt 3\)/);
  assert.equal(review.sim.state.media().filter((m) => m.caption.startsWith(draft.caption.split("\n")[0])).length, 1);
});

test("a Japanese edit is diffed by words, and an English one in whole runs", async () => {
  const id = await review.insertDraft({ caption: "今日は公園で散歩しました。", hashtags: ["散歩"], altText: "公園の道", columns: { language: "ja" } });
  await review.makeImage(id);
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await page.getByLabel("Caption", { exact: true }).fill("今日は海辺で散歩しました。");
  await page.locator("#diff del").first().waitFor();
  assert.deepEqual(await page.locator("#diff del").allTextContents(), ["公園"]);
  assert.deepEqual(await page.locator("#diff ins").allTextContents(), ["海辺"]);
  await screenshot(page, "day-diff-ja-desktop");

  const en = await review.insertDraft({ caption: "Join us for a walk in the park.", hashtags: ["walk"], altText: "A path" });
  await review.makeImage(en);
  await page.goto(`${review.url}/review/${en}`);
  await page.getByLabel("Caption", { exact: true }).fill("Join us for a walk in the comments!");
  await page.locator("#diff del").first().waitFor();
  // Old run, then new run: not "in the comments! park."
  assert.equal(await page.locator("#diff").evaluate((d) => d.innerHTML.split("\n")[0]), 'Join us for a walk in the <del aria-label="removed: park.">park.</del><ins aria-label="added: comments!">comments!</ins>');
});

test("on a phone, Approve is on the screen without scrolling; the list's status chips are one row", async () => {
  const draft = await review.generate();
  const page = await open(AIKO, PHONE);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  const approve = page.getByRole("button", { name: "Approve", exact: true });
  await approve.waitFor();
  assert.equal(await page.evaluate(() => window.scrollY), 0);
  const box = await approve.boundingBox();
  assert.ok(box && box.y >= 0 && box.y + box.height <= 844, `Approve is at ${JSON.stringify(box)}, off the 844 px screen`);
  // Nothing covers it: the button itself is what a tap at its centre reaches.
  assert.equal(await approve.evaluate((b) => { const r = b.getBoundingClientRect(); return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === b; }), true);
  // The screen as the person sees it, and the whole page.
  await page.screenshot({ path: (await screenshot(page, "day-approve-phone")).replace(/\.png$/, "-screen.png") });
  assert.ok((await overflow(page)) <= 0, `the draft scrolls sideways by ${await overflow(page)} px`);
  await page.goto(`${review.url}/review`);
  const tops = await page.locator(".tabs a").evaluateAll((links) => links.map((a) => a.getBoundingClientRect().top));
  assert.ok(tops.length > 2 && tops.every((top) => top === tops[0]), `status chips on ${new Set(tops).size} rows`);
  assert.ok((await overflow(page)) <= 0, "the chips' row widens the page");
});

test("the conflict names who changed the draft: the same reviewer in another tab is named", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const first = await open(AIKO);
  const second = await open(AIKO);
  await first.goto(`${review.url}/review/${id}`);
  await second.goto(`${review.url}/review/${id}`);
  await second.getByLabel("Caption", { exact: true }).fill("From the other tab");
  await second.getByRole("button", { name: "Save text" }).click();
  await second.locator("#save-status").filter({ hasText: "Saved" }).waitFor();
  await first.getByLabel("Caption", { exact: true }).fill("From this tab");
  await first.getByRole("button", { name: "Save text" }).click();
  await first.locator("#conflict strong").waitFor();
  assert.match(await first.locator("#conflict strong").textContent(), /^You \(Aiko\) in another tab or window, changed this draft/);
});

test("an image that is missing shows a placeholder, not the broken-image sign", async () => {
  const id = await review.insertDraft({ caption: `No picture ${randomText()}`, columns: { image_status: "ready", image_key: "drafts/none/missing.png" } });
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await page.locator(".frame .no-image").waitFor();
  assert.equal(await page.locator("#preview-image").isVisible(), false);
  assert.equal(await page.locator(".frame .no-image").textContent(), "No image");
});

test("a tab left open on a post approved for later asks at most 160 times in 24 hours", async (t) => {
  const approved = await approvedFor(48);
  const page = await open(AIKO);
  await page.clock.install();
  const path = `/api/v1/drafts/${approved.draftId}`;
  const polls = [];
  let pending = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname !== path) return;
    pending += 1;
    polls.push(page.evaluate(() => Date.now()));
  });
  const done = (request) => new URL(request.url()).pathname === path && (pending -= 1);
  page.on("requestfinished", done);
  page.on("requestfailed", done);
  await page.goto(`${review.url}/review/${approved.draftId}`);
  const start = await page.evaluate(() => Date.now());
  // The first look comes at once.
  await page.clock.runFor(3000);
  await review.eventually(() => pending === 0, { what: "the first look's answer", timeoutMs: 5000, intervalMs: 5 });
  assert.equal(polls.length, 1, "no look in the first 3 s");
  // Then a day of the page's time, a minute at a time, each look answered before going on.
  for (let minute = 0; minute < 24 * 60; minute += 1) {
    await page.clock.runFor(60_000);
    await review.eventually(() => pending === 0, { what: "the poll's answer", timeoutMs: 5000, intervalMs: 5 });
  }
  const times = (await Promise.all(polls)).map((at) => (at - start) / 1000);
  const gaps = times.map((at, i) => at - (i === 0 ? 0 : times[i - 1]));
  t.diagnostic(`${times.length} looks in 24 hours; the first at ${times[0]} s, the longest gap ${Math.max(...gaps)} s`);
  assert.ok(times.length >= 100, `only ${times.length} looks: the page stopped looking`);
  assert.ok(times.length <= 160, `${times.length} looks in 24 hours`);
  assert.ok(Math.max(...gaps) <= 660, `a gap of ${Math.max(...gaps)} s`);
});

test("a post held back by the quota says why and when, in the reader's zone", async () => {
  const id = await review.insertDraft({ caption: `Held ${randomText()}` });
  const { image_key: key, revision } = await review.makeImage(id);
  const until = new Date(Math.ceil((Date.now() + 3 * 3600e3) / 60e3) * 60e3);
  await review.db
    .prepare(
      `UPDATE drafts SET status = 'approved', approved_revision = ?2, approved_caption = caption, approved_hashtags = hashtags,
         approved_alt_text = alt_text, approved_image_key = ?3, approved_by = 'Aiko', approved_at = ?4,
         publish_hold = 'the publishing quota is used up', publish_hold_until = ?5 WHERE id = ?1`,
    )
    .bind(id, revision, key, rfc3339(new Date()), rfc3339(until))
    .run();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await page.locator("#attempt").waitFor();
  assert.equal(await page.locator("#attempt-text").textContent(), `The publishing quota is used up; expected to go at ${tokyo(until)}.`);
  assert.doesNotMatch(await page.locator("#decide").textContent(), /being retried/);
});
