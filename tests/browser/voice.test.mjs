// The voice page in headless Chromium: a reviewer fills an account's voice on a phone-sized
// screen and saves it (stored with their name and a new revision), a bad word is shown at its
// field, and a save from a page that is out of date is a conflict, not an overwrite.
// Screenshots land in target/screenshots/.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, BEN, launchChromium, overflow, screenshot, sessionCookie, sessionCookieFor, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const ACCOUNT = "17841400000000201";

let review;
let browser;
const pages = trackPages();

before(async () => {
  [review, browser] = await Promise.all([startReview(), launchChromium()]);
  const at = "2020-01-01T00:00:00Z";
  await review.db
    .prepare(
      `INSERT INTO accounts (id, username, login, graph_base_url, token_refreshed_at, state, connected_by, connected_at, created_at, updated_at)
       VALUES (?1, 'kissa_tokyo', 'facebook', 'http://127.0.0.1:9/graph', ?2, 'disconnected', 'browser test', ?2, ?2, ?2)`,
    )
    .bind(ACCOUNT, at)
    .run();
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function open(reviewer, options = PHONE) {
  const context = await pages.newContext(browser, options);
  const [name, value] = (await sessionCookie(review.url, reviewer)).split("=");
  await context.addCookies([sessionCookieFor(review.url, name, value)]);
  const page = pages.watch(await context.newPage());
  await page.goto(`${review.url}/review/voice`);
  return page.locator(`form[data-account="${ACCOUNT}"]`);
}

async function stored() {
  return review.db.prepare("SELECT * FROM account_voices WHERE account_id = ?1").bind(ACCOUNT).first();
}

test("the voice form on a phone: a bad word is shown at its field, then the voice is saved with the reviewer's name", async () => {
  const form = await open(AIKO);
  const page = form.page();
  await form.getByLabel("Language").fill("ja-JP");
  await form.getByLabel("Tone").fill("穏やかで丁寧");
  await form.getByLabel("Hashtags always used").fill("#喫茶店 #KissaTokyo");
  await form.getByLabel("Hashtags never used").fill("#fyp");
  await form.getByLabel("Words to avoid").fill("激安\n!!!");
  await form.getByLabel("Past caption 1").fill("本日の珈琲はエチオピア。ゆっくりどうぞ。");
  await form.getByRole("button", { name: "Save voice" }).click();
  const problem = form.locator('[data-problem="avoidWords"]');
  await problem.filter({ hasText: /needs a letter/ }).waitFor();
  assert.equal(await stored(), null, "nothing saved");

  await form.getByLabel("Words to avoid").fill("激安\nお得");
  await form.getByRole("button", { name: "Save voice" }).click();
  await form.locator("[data-saved]").filter({ hasText: "Saved (revision 1)." }).waitFor();
  assert.equal(await problem.textContent(), "");
  const row = await stored();
  assert.equal(row.updated_by, AIKO.name);
  assert.equal(row.revision, 1);
  assert.deepEqual(JSON.parse(row.voice), {
    language: "ja-JP",
    tone: "穏やかで丁寧",
    alwaysHashtags: ["喫茶店", "KissaTokyo"],
    neverHashtags: ["fyp"],
    avoidWords: ["激安", "お得"],
    sampleCaptions: ["本日の珈琲はエチオピア。ゆっくりどうぞ。"],
  });

  // Reloaded, the form shows what was saved.
  await page.reload();
  assert.equal(await form.getByLabel("Hashtags always used").inputValue(), "#喫茶店 #KissaTokyo");
  assert.match(await form.locator("[data-saved]").textContent(), /Saved by Aiko/);
  await screenshot(page, "voice-phone");
  assert.ok((await overflow(page)) <= 0, `the voice page scrolls sideways on a phone by ${await overflow(page)} px`);
});

test("a save from a page that is out of date is refused and says so; the voice saved meanwhile stays", async () => {
  const aiko = await open(AIKO);
  const ben = await open(BEN);
  const before = (await stored())?.revision ?? 0;
  await aiko.getByLabel("Tone").fill("warm");
  await aiko.getByRole("button", { name: "Save voice" }).click();
  await aiko.locator("[data-saved]").filter({ hasText: `Saved (revision ${before + 1}).` }).waitFor();

  await ben.getByLabel("Tone").fill("loud");
  await ben.getByRole("button", { name: "Save voice" }).click();
  await ben.locator('[data-problem=""]').filter({ hasText: "Someone saved this voice meanwhile by Aiko" }).waitFor();
  const row = await stored();
  assert.equal(JSON.parse(row.voice).tone, "warm");
  assert.equal(row.updated_by, AIKO.name);
});
