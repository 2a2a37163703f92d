// Two Instagram accounts connected on the review page through the Graph API simulator's
// Instagram Login (a person clicking "Allow" on its page, served from another site, as
// Instagram's is), a post generated and approved for each, each published to its own
// account; and a reviewer limited to one account, who can neither open nor approve the
// other's drafts, on the page or through the API. Screenshots in target/screenshots/.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, BEN, instagramCaption, launchChromium, overflow, screenshot, sessionCookie, signIn, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };
/** Ben reviews @shop_osaka only. */
const REVIEWERS = `${AIKO.name}:${AIKO.token}\n${BEN.name}:${BEN.token} @shop_osaka`;

let review;
let browser;
const pages = trackPages();
before(async () => {
  [review, browser] = await Promise.all([
    startReview({
      sim: { accounts: [{ username: "shop_tokyo" }, { username: "shop_osaka" }] },
      // Instagram Login on another site than the review page (localhost, not 127.0.0.1), so
      // the browser treats the way back as the cross-site navigation it is.
      api: (sim) => {
        const elsewhere = sim.url.replace("127.0.0.1", "localhost");
        return {
          REVIEWERS,
          INSTAGRAM_AUTHORIZE_BASE_URL: elsewhere,
          INSTAGRAM_TOKEN_BASE_URL: sim.url,
          INSTAGRAM_GRAPH_BASE_URL: sim.url,
          FACEBOOK_GRAPH_BASE_URL: sim.url,
          GRAPH_API_VERSION: sim.apiVersion,
        };
      },
    }),
    launchChromium(),
  ]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function open(options = DESKTOP) {
  const context = await pages.newContext(browser, options);
  return pages.watch(await context.newPage());
}

const simAccount = (username) => review.sim.state.accounts().find((a) => a.username === username);

async function connect(page, username) {
  await page.goto(`${review.url}/review/accounts`);
  await Promise.all([page.waitForURL((url) => url.pathname === "/oauth/authorize"), page.getByRole("button", { name: "Connect an Instagram account" }).click()]);
  assert.equal(new URL(page.url()).hostname, "localhost", "Instagram Login's page is on its own site");
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/review/accounts" && url.hostname === "127.0.0.1"),
    page.locator(`li[data-username="${username}"] a.allow`).click(),
  ]);
  await page.getByText(`Connected @${username}.`).waitFor();
}

let drafts = {};
test("two accounts connected with Instagram Login; a post approved for each lands on its own account", async () => {
  const page = await open();
  await signIn(page, review.url, AIKO, "/review/accounts");
  await page.getByText("No accounts connected yet.").waitFor();
  await connect(page, "shop_tokyo");
  await connect(page, "shop_osaka");
  const rows = page.locator("#accounts tbody tr");
  assert.equal(await rows.count(), 2);
  for (const username of ["shop_tokyo", "shop_osaka"]) {
    const row = page.locator(`#accounts tr[data-account="${simAccount(username).userId}"]`);
    const text = await row.textContent();
    for (const words of [`@${username}`, "Instagram Login", "connected", "Aiko"]) assert.ok(text.includes(words), `${words} in ${text}`);
  }
  await screenshot(page, "accounts-desktop");
  const phone = await open(PHONE);
  await signIn(phone, review.url, AIKO, "/review/accounts");
  assert.ok((await overflow(phone)) <= 0, "the accounts page is wider than a phone");
  await screenshot(phone, "accounts-phone");

  // A post for each account, approved on the page.
  for (const username of ["shop_tokyo", "shop_osaka"]) {
    const draft = await review.generate({ brief: `Autumn menu at ${username}`, account: `@${username}` });
    assert.equal(draft.accountId, simAccount(username).userId);
    drafts[username] = draft;
    await page.goto(`${review.url}/review/${draft.draftId}`);
    assert.equal(await page.locator("#draft-account").textContent(), `@${username}`);
    await page.getByRole("button", { name: "Approve" }).click();
    await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  }
  // Each on its own account in the simulator, with its own caption.
  for (const username of ["shop_tokyo", "shop_osaka"]) {
    const media = review.sim.state.media(simAccount(username).userId);
    assert.equal(media.length, 1, `${username}: ${JSON.stringify(media)}`);
    const row = await review.row(drafts[username].draftId);
    assert.equal(media[0].caption, instagramCaption(row.caption, JSON.parse(row.hashtags)));
    assert.equal(row.status, "published");
    assert.equal(row.account_id, simAccount(username).userId);
  }

  // The list shows each draft's account and filters by it.
  await page.goto(`${review.url}/review?status=all`);
  await page.getByLabel("Account").selectOption("@shop_osaka");
  await Promise.all([page.waitForURL((url) => url.searchParams.get("account") === "@shop_osaka"), page.getByRole("button", { name: "Search" }).click()]);
  const listed = await page.locator("ul.drafts li").allTextContents();
  assert.equal(listed.length, 1, listed.join(" | "));
  assert.ok(listed[0].includes("@shop_osaka"));
  await screenshot(page, "list-by-account-desktop");
});

test("a reviewer limited to one account can neither open nor approve the other's drafts, on the page or through the API", async () => {
  const other = await review.generate({ brief: "Tokyo only: not for Ben", account: "@shop_tokyo" });
  const own = await review.generate({ brief: "Osaka: Ben's to review", account: "@shop_osaka" });
  const page = await open(PHONE);
  await signIn(page, review.url, BEN);
  await page.goto(`${review.url}/review?status=all`);
  // The list holds Ben's account only, and counts only it.
  const list = await page.locator("ul.drafts").textContent();
  assert.ok(!list.includes("@shop_tokyo") && list.includes("@shop_osaka"), list);
  const all = await page.locator('nav.tabs a[aria-current="page"] .count').textContent();
  const osakaDrafts = (await review.db.prepare("SELECT COUNT(*) AS n FROM drafts WHERE account_id = ?1 AND caption IS NOT NULL").bind(simAccount("shop_osaka").userId).first()).n;
  assert.equal(Number(all), osakaDrafts);
  await screenshot(page, "list-limited-phone");
  const refused = await page.goto(`${review.url}/review/${other.draftId}`);
  assert.equal(refused.status(), 404);
  const allowed = await page.goto(`${review.url}/review/${own.draftId}`);
  assert.equal(allowed.status(), 200);
  // The other account's page offers nothing either.
  await page.goto(`${review.url}/review/accounts`);
  assert.ok(!(await page.content()).includes("@shop_tokyo"));
  assert.equal(await page.getByRole("button", { name: "Connect an Instagram account" }).count(), 0);

  // Through the API, as Ben's session and as Ben's own token.
  const cookie = await sessionCookie(review.url, BEN);
  const fromPage = { token: null, headers: { cookie, origin: review.url } };
  assert.equal((await review.request("GET", `/api/v1/drafts/${other.draftId}`, fromPage)).status, 404);
  assert.equal((await review.request("POST", `/api/v1/drafts/${other.draftId}/approve`, { ...fromPage, body: { revision: other.revision } })).status, 403);
  assert.equal((await review.request("POST", `/api/v1/drafts/${other.draftId}/approve`, { token: BEN.token, body: { revision: other.revision } })).status, 403);
  assert.equal((await review.request("GET", `/api/v1/drafts/${other.draftId}`, { token: BEN.token })).status, 404);
  assert.equal((await review.row(other.draftId)).status, "draft", "nothing was approved");
  const approved = await review.request("POST", `/api/v1/drafts/${own.draftId}/approve`, { token: BEN.token, body: { revision: own.revision } });
  assert.equal(approved.status, 200, approved.text);
});
