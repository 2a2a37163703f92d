// A client's approval link in real Chromium: a reviewer makes it on the links page for one of
// two drafts; the client, on a phone and without any account, sees that draft as Instagram
// will show it and approves it; the post is published under their name "via link"; the other
// draft is refused through the link; once revoked, the link shows nothing.
// Screenshots land in target/screenshots/ (ignored by git) for a person to look at.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, launchChromium, overflow, randomText, screenshot, signedInPage, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
const pages = trackPages();

before(async () => {
  [review, browser] = await Promise.all([startReview({ record: true }), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function openAsReviewer(options = DESKTOP) {
  return signedInPage(pages, browser, review.url, AIKO, options);
}

test("a client approves their draft through a link on a phone; another draft and a revoked link are refused", async () => {
  const tag = randomText();
  const shown = await review.generate({ brief: `Pumpkin soup week ${tag}` });
  const other = await review.generate({ brief: `Staff party ${tag}` });

  // The reviewer makes the link on the links page, for the first draft only.
  const desk = await openAsReviewer();
  await desk.goto(`${review.url}/review/links`);
  await desk.getByLabel("Client's name").fill("Hana Sato");
  // Drafts are told apart by their brief, not only their first line.
  const pick = desk.locator("label.pick").filter({ has: desk.locator(`input[value="${shown.draftId}"]`) });
  assert.match(await pick.textContent(), new RegExp(`Pumpkin soup week ${tag}`));
  await pick.locator("input").check();
  await desk.getByRole("button", { name: "Make the link" }).click();
  const urlField = desk.locator("#new-link-url");
  await urlField.waitFor({ state: "visible" });
  const url = await urlField.inputValue();
  assert.match(url, /\/c\/[0-9a-f]{64}$/);
  await desk.locator("ul.links li").filter({ hasText: "Hana Sato · 1 drafts" }).waitFor();
  await screenshot(desk, "client-links-desktop");

  // The client, signed in nowhere, on a phone.
  const clientContext = await pages.newContext(browser, PHONE);
  const phone = pages.watch(await clientContext.newPage());
  await phone.goto(url);
  await phone.getByRole("heading", { name: "Posts for Hana Sato to review" }).waitFor();
  assert.equal(await phone.locator("article.client-draft").count(), 1);
  assert.ok((await phone.locator(".post-caption").textContent()).startsWith(shown.caption.split("\n")[0]));
  assert.equal(await phone.locator('a[href^="/review"]').count(), 0, "nothing leads into the team's pages");
  assert.ok((await overflow(phone)) <= 0, "no sideways scrolling on a phone");
  await screenshot(phone, "client-link-phone");

  // The other draft, asked for through this link from the client's page: refused, untouched.
  const secret = url.split("/c/")[1];
  const refused = await phone.evaluate(
    async ([path, revision]) => (await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ revision }) })).status,
    [`/c/${secret}/drafts/${other.draftId}/approve`, other.revision],
  );
  assert.equal(refused, 404);
  assert.equal((await review.row(other.draftId)).status, "draft");

  await phone.getByLabel("Your note (optional for approval)").fill("Looks great");
  await phone.getByRole("button", { name: "Approve" }).click();
  await phone.locator(".client-draft .meta").filter({ hasText: "Approved by Hana Sato (via link)" }).waitFor();
  await review.pipeline.eventually(async () => (await review.row(shown.draftId)).status === "published", { what: "the post published", timeoutMs: 30000 });
  const row = await review.row(shown.draftId);
  assert.equal(row.approved_by, "Hana Sato (via link)");
  const posted = review.sim.state.media().filter((m) => m.caption.includes(shown.caption.split("\n")[0]));
  assert.equal(posted.length, 1, "published once");
  await phone.reload();
  await screenshot(phone, "client-link-approved-phone");

  // The reviewer revokes it; the client's page now says so and shows nothing.
  await desk.reload();
  desk.once("dialog", (dialog) => dialog.accept());
  await desk.locator("ul.links li").filter({ hasText: "Hana Sato" }).getByRole("button", { name: "Revoke" }).click();
  await desk.locator("ul.links li").filter({ hasText: "revoked" }).waitFor();
  const closed = await phone.goto(url);
  assert.equal(closed.status(), 410);
  await phone.getByRole("heading", { name: "This link no longer works" }).waitFor();
  assert.equal(await phone.locator("article.client-draft").count(), 0);
  await screenshot(phone, "client-link-revoked-phone");
});
