// The review page in real headless Chromium (Debian's, driven by playwright-core) against
// the three compiled Workers in workerd, with the publish consumer talking to the local
// Graph API simulator: signing in and out, the list, editing Japanese text with live counts,
// preview and diff, the image arriving, approval through to `published`, the two ways out of
// `failed`, escaping, conflicts, the keyboard, a phone-sized screen, and the headers.
// Screenshots land in target/screenshots/ (ignored by git) for a person to look at.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  AIKO,
  API_TOKEN,
  assertSecurityHeaders,
  BEN,
  instagramCaption,
  launchChromium,
  overflow,
  randomText,
  rfc3339,
  screenshot,
  sessionCookie,
  sessionCookieFor as sessionCookieOf,
  signIn,
  startEvilSite,
  startReview,
  trackPages,
} from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
let evil;
/** Contexts opened by the running test, closed after it; script errors and CSP violations fail it. */
const pages = trackPages();

before(async () => {
  [review, browser, evil] = await Promise.all([startReview({ record: true }), launchChromium(), startEvilSite()]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
  await evil?.close();
});

function sessionCookieFor(name, value) {
  return sessionCookieOf(review.url, name, value);
}

/**
 * A new browser context (its own cookies), signed in as `reviewer` unless null: with the
 * reviewer's kept session, or with a session of its own when `fresh`.
 */
async function open(reviewer = AIKO, options = DESKTOP, { fresh = false } = {}) {
  const context = await pages.newContext(browser, options);
  if (reviewer) {
    const [name, value] = (await sessionCookie(review.url, reviewer, { fresh })).split("=");
    await context.addCookies([sessionCookieFor(name, value)]);
  }
  const page = await context.newPage();
  watch(page);
  return page;
}

function watch(page) {
  return pages.watch(page);
}

/** Waits until `probe` (run in node) is truthy. */
function eventually(probe, what, timeoutMs = 20000) {
  return review.eventually(probe, { what, timeoutMs, intervalMs: 100 });
}

async function comments(id) {
  const { results } = await review.db.prepare("SELECT reviewer, decision, comment, revision FROM review_comments WHERE draft_id = ?1 ORDER BY id").bind(id).all();
  return results;
}

/** What the api Worker sent to PUBLISH_QUEUE for draft `id`. */
function publishMessages(id) {
  return review.pipeline.sent.filter((s) => s.worker === "api" && s.queue === "publish-queue" && s.body?.id === id);
}

/** Fills the editor's three fields as a person types them. */
async function fillText(page, { caption, hashtags, altText }) {
  if (caption !== undefined) await page.getByLabel("Caption", { exact: true }).fill(caption);
  if (hashtags !== undefined) await page.getByLabel(/^Hashtags/).fill(hashtags);
  if (altText !== undefined) await page.getByLabel("Alt text", { exact: true }).fill(altText);
}

/**
 * Waits until the counter of field `name` shows `expected` (text, or a pattern it matches),
 * then asserts it: the server counts the text shortly after each change.
 */
async function counted(page, name, expected) {
  const pattern = expected instanceof RegExp ? expected.source : null;
  await page
    .waitForFunction(
      ({ id, text, pattern }) => {
        const shown = document.getElementById(id).textContent;
        return pattern === null ? shown === text : new RegExp(pattern, "u").test(shown);
      },
      { id: `${name}-count`, text: expected, pattern },
      { timeout: 5000 },
    )
    .catch(() => {});
  const shown = await page.locator(`#${name}-count`).textContent();
  if (pattern === null) assert.equal(shown, expected);
  else assert.match(shown, expected);
}

async function save(page) {
  await page.getByRole("button", { name: "Save text" }).click();
  await page.locator("#save-status").filter({ hasText: /Saved|Not saved/ }).waitFor();
  return page.locator("#save-status").textContent();
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

test("sign in: a wrong token shows the error, a right one lands on /review; signing out ends the session", async () => {
  const page = await open(null);
  const login = await page.goto(`${review.url}/review/login`);
  assertSecurityHeaders(login.headers(), "the login page");
  await page.getByRole("heading", { name: "Sign in to review" }).waitFor();
  const name = page.getByLabel("Your name");
  const token = page.getByLabel("Reviewer token");
  assert.equal(await name.getAttribute("autocomplete"), "username");
  assert.equal(await token.getAttribute("type"), "password", "the token is typed unseen");
  assert.ok((await name.boundingBox()).y < (await token.boundingBox()).y, "the name is not above the token");
  assert.ok(await name.evaluate((el) => el === document.activeElement), "the name field does not have the focus");

  const signInWith = async (who, secret) => {
    await page.getByLabel("Your name").fill(who);
    await page.getByLabel("Reviewer token").fill(secret);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    return page.getByRole("alert").textContent();
  };
  // A wrong token for a reviewer, and a name that is no reviewer's: the same words.
  assert.equal(await signInWith("Aiko", "not-a-reviewer-token-at-all"), "That name and token are not a reviewer's.");
  assert.equal(new URL(page.url()).pathname, "/review/login");
  // The name is filled in again, the token is not, and the token field has the focus.
  assert.equal(await page.getByLabel("Your name").inputValue(), "Aiko");
  assert.equal(await page.getByLabel("Reviewer token").inputValue(), "");
  assert.ok(await page.getByLabel("Reviewer token").evaluate((el) => el === document.activeElement));
  assert.equal(await signInWith("Nobody", "not-a-reviewer-token-at-all"), "That name and token are not a reviewer's.");
  // Ben's token under Aiko's name opens nothing.
  assert.equal(await signInWith("Aiko", BEN.token), "That name and token are not a reviewer's.");
  assert.deepEqual(await page.context().cookies(), [], "a wrong token got a cookie");
  // The page does not echo the wrong token back.
  assert.ok(!(await page.content()).includes("not-a-reviewer-token-at-all"));
  assert.ok(!(await page.content()).includes(BEN.token));

  // The name as a person types it on a phone: capitals and a trailing space do not matter.
  await page.getByLabel("Your name").fill("aiko ");
  await page.getByLabel("Reviewer token").fill(AIKO.token);
  await Promise.all([page.waitForURL(`${review.url}/review`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.getByRole("heading", { name: "Drafts" }).waitFor();
  await page.getByRole("button", { name: "Sign out Aiko" }).waitFor();
  const [cookie] = await page.context().cookies();
  assert.equal(cookie.name, "__Host-review_session");
  assert.match(cookie.value, /^[0-9a-f]{64}$/);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, "Strict");
  const hours = (cookie.expires * 1000 - Date.now()) / 3600e3;
  assert.ok(hours > 11.9 && hours <= 12, `the session lasts ${hours} h, not REVIEW_SESSION_HOURS (12)`);
  assert.equal(await page.evaluate(() => document.cookie), "", "the page's script can read the session");
  // Only a hash of the session id is stored.
  const stored = await review.db.prepare("SELECT * FROM review_sessions WHERE reviewer = 'Aiko'").all();
  assert.ok(stored.results.length >= 1);
  assert.ok(stored.results.every((row) => row.id_hash !== cookie.value));
  // Signed in, the login page sends you on.
  await page.goto(`${review.url}/review/login`);
  assert.equal(new URL(page.url()).pathname, "/review");

  // Signing out: back to the login page, and the old cookie is worth nothing any more.
  await Promise.all([page.waitForURL(/\/review\/login$/), page.getByRole("button", { name: "Sign out Aiko" }).click()]);
  assert.deepEqual(await page.context().cookies(), []);
  const replay = await fetch(`${review.url}/review`, { redirect: "manual", headers: { cookie: `__Host-review_session=${cookie.value}` } });
  assert.equal(replay.status, 303, "a signed-out session still opens the list");
  const api = await review.request("GET", "/api/v1/drafts", { token: null, headers: { cookie: `__Host-review_session=${cookie.value}` } });
  assert.equal(api.status, 401);
});

test("signed out, a page sends you to sign in and back to it afterwards", async () => {
  const draft = await review.generate();
  const page = await open(null);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  const url = new URL(page.url());
  assert.equal(url.pathname, "/review/login");
  assert.equal(url.searchParams.get("next"), `/review/${draft.draftId}`);
  await page.getByLabel("Your name").fill(BEN.name);
  await page.getByLabel("Reviewer token").fill(BEN.token);
  await Promise.all([page.waitForURL(`${review.url}/review/${draft.draftId}`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.getByRole("button", { name: "Sign out Ben" }).waitFor();
  await page.getByLabel("Caption", { exact: true }).waitFor();
  // `next` never leads to another site.
  const offsite = await fetch(`${review.url}/review/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: review.url },
    body: new URLSearchParams({ name: BEN.name, token: BEN.token, next: "https://evil.example/review" }),
  });
  assert.equal(offsite.status, 303);
  assert.equal(offsite.headers.get("location"), "/review");
});

test("signed out, every page sends you to sign in and every action is refused, changing nothing", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const page = await open(null);
  for (const path of ["/review", "/review?status=failed", `/review/${id}`, "/review/failures"]) {
    const response = await page.goto(review.url + path);
    const url = new URL(page.url());
    assert.equal(url.pathname, "/review/login", `${path} did not send to sign in`);
    // The query comes along, so the visitor returns to the same view.
    assert.equal(url.searchParams.get("next"), path);
    assert.equal(response.status(), 200);
    await page.getByLabel("Reviewer token").waitFor();
    assert.ok(!(await page.content()).includes(draft.caption.split("\n")[0]), `${path} showed the draft signed out`);
  }

  const before = await review.row(id);
  const sentBefore = review.pipeline.sent.length;
  const actions = [
    ["PATCH", `/api/v1/drafts/${id}`, { revision: before.revision, caption: "Changed while signed out" }],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision: before.revision }],
    ["POST", `/api/v1/drafts/${id}/reapprove`, { revision: before.revision }],
    ["POST", `/api/v1/drafts/${id}/comments`, { comment: "signed out" }],
    ["POST", `/api/v1/drafts/${id}/discard`, { revision: before.revision }],
    ["POST", `/api/v1/drafts/${id}/regenerate`, { revision: before.revision, text: true }],
  ];
  const cookie = await sessionCookie(review.url, AIKO);
  for (const [method, path, body] of actions) {
    // No cookie, no token: 401.
    const anonymous = await review.request(method, path, { token: null, body, headers: { origin: review.url } });
    assert.equal(anonymous.status, 401, `${method} ${path}: ${anonymous.text}`);
    // A token nobody has: 401.
    const wrongBearer = await review.request(method, path, { token: `${AIKO.token}x`, body });
    assert.equal(wrongBearer.status, 401, `${method} ${path} with a wrong bearer token`);
    // A live cookie from another origin, or with no Origin at all: 403.
    for (const origin of ["http://evil.example", "null", `${review.url}.evil.example`, undefined]) {
      const headers = { cookie, ...(origin === undefined ? {} : { origin }) };
      const forged = await review.request(method, path, { token: null, body, headers });
      assert.equal(forged.status, 403, `${method} ${path} with Origin ${origin}: ${forged.text}`);
      assert.equal(forged.json.error.code, "forbidden");
    }
  }
  // The same actions from the browser page of a signed-out visitor.
  await page.goto(`${review.url}/review/login`);
  const fromPage = await page.evaluate(async (list) => {
    const statuses = [];
    for (const [method, path, body] of list) {
      const response = await fetch(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      statuses.push(response.status);
    }
    return statuses;
  }, actions);
  assert.deepEqual(fromPage, actions.map(() => 401));

  assert.deepEqual(await review.row(id), before, "a refused action changed the draft");
  assert.deepEqual(await comments(id), [], "a refused action left a comment");
  assert.equal(review.pipeline.sent.length, sentBefore, "a refused action sent a queue message");
});

test("a signed-in reviewer's browser refuses to act for another origin's page", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const before = await review.row(id);
  const page = await open(AIKO);
  const target = (path) => `${review.url}${path}`;
  const attempts = [
    // Same site, other port: the SameSite=Strict cookie goes along; the Origin check refuses.
    { site: evil.sameSiteUrl, action: target(`/api/v1/drafts/${id}/comments`), fields: { comment: "forged" }, status: 403 },
    { site: evil.sameSiteUrl, action: target(`/api/v1/drafts/${id}/approve`), fields: { revision: before.revision }, status: 403 },
    { site: evil.sameSiteUrl, action: target(`/api/v1/drafts/${id}/discard`), fields: { revision: before.revision }, status: 403, enctype: "text/plain" },
    { site: evil.sameSiteUrl, action: target("/review/logout"), fields: {}, status: 403 },
    { site: evil.sameSiteUrl, action: target("/review/logout/everywhere"), fields: {}, status: 403 },
    { site: evil.sameSiteUrl, action: target("/review/login"), fields: { name: BEN.name, token: BEN.token, next: "/review" }, status: 403 },
    // Another site: the cookie is not even sent.
    { site: evil.url, action: target(`/api/v1/drafts/${id}/comments`), fields: { comment: "forged" }, status: 401 },
    { site: evil.url, action: target(`/api/v1/drafts/${id}/approve`), fields: { revision: before.revision }, status: 401 },
  ];
  for (const { site, action, fields, status, enctype } of attempts) {
    evil.autoPost(action, fields, enctype);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === action && r.request().method() === "POST"),
      page.goto(site),
    ]);
    assert.equal(response.status(), status, `${site} posting to ${action}`);
  }
  // Nothing changed, and Aiko is still signed in as Aiko (no logout, no login as Ben).
  assert.deepEqual(await review.row(id), before);
  assert.deepEqual(await comments(id), []);
  assert.equal(publishMessages(id).length, 0);
  await page.goto(`${review.url}/review`);
  await page.getByRole("button", { name: "Sign out Aiko" }).waitFor();
});

// ---------------------------------------------------------------------------------------------
// The list

test("the list: drafts by status with counts, newest first, older ones a page further", async () => {
  // 26 drafts an hour old and older, a few in each status, so there is more than one page.
  const statuses = ["draft", "draft", "approved", "published", "failed", "draft"];
  const base = Date.now() - 3600e3;
  const inserted = [];
  for (let i = 0; i < 26; i += 1) {
    const status = statuses[i % statuses.length];
    const at = rfc3339(new Date(base - i * 60e3));
    inserted.push(
      await review.insertDraft({
        caption: `List draft ${String(i).padStart(2, "0")}: pumpkin soup, ${randomText()}\nSecond line`,
        columns: {
          status,
          created_at: at,
          updated_at: at,
          ...(status === "failed" ? { last_error: "Instagram refused the post: the image's aspect ratio is not supported" } : {}),
          ...(status === "published" ? { permalink: `https://www.instagram.com/p/C${randomText()}/`, image_status: "ready" } : {}),
        },
      }),
    );
  }
  const expected = async (status) => {
    const { results } = await review.db
      .prepare("SELECT id, status FROM drafts WHERE caption IS NOT NULL AND (?1 IS NULL OR status = ?1) ORDER BY created_at DESC, id DESC")
      .bind(status ?? null)
      .all();
    return results;
  };
  const counts = async () => {
    const { results } = await review.db.prepare("SELECT status, COUNT(*) AS n FROM drafts WHERE caption IS NOT NULL GROUP BY status").all();
    return Object.fromEntries(results.map((r) => [r.status, r.n]));
  };
  const listed = (page) =>
    page.locator("ul.drafts > li > a").evaluateAll((links) =>
      links.map((a) => ({ id: a.getAttribute("href").replace("/review/", ""), status: a.querySelector(".badge").textContent })),
    );

  const page = await open(AIKO);
  await page.goto(`${review.url}/review`);
  // The tabs: one per status, the drafts that need review first (where the list opens), then
  // All, each with its count.
  const n = await counts();
  const total = Object.values(n).reduce((a, b) => a + b, 0);
  const tabs = await page.getByRole("navigation", { name: "Status" }).getByRole("link").allTextContents();
  assert.deepEqual(
    tabs.map((t) => t.replace(/\s+/g, " ").trim()),
    [
      `Needs review ${n.draft ?? 0}`,
      ...["approved", "publishing", "published", "failed", "discarded"].map((s) => `${s[0].toUpperCase()}${s.slice(1)} ${n[s] ?? 0}`),
      `All ${total}`,
    ],
  );
  assert.equal(await page.getByRole("link", { name: /^Needs review/ }).getAttribute("aria-current"), "page");
  await page.getByRole("link", { name: /^All/ }).click();
  await page.waitForURL(/status=all/);
  assert.equal(await page.getByRole("link", { name: /^All/ }).getAttribute("aria-current"), "page");

  // Newest first, 20 to a page, then "Older drafts".
  const all = await expected();
  assert.ok(all.length > 20);
  assert.deepEqual(await listed(page), all.slice(0, 20));
  await screenshot(page, "list-desktop");
  await page.getByRole("link", { name: "Older drafts" }).click();
  await page.waitForURL(/cursor=/);
  assert.deepEqual(await listed(page), all.slice(20, 40));
  if (all.length <= 40) assert.equal(await page.getByRole("link", { name: "Older drafts" }).count(), 0);

  // One status: its own list and counts, and paging keeps the status.
  await page.getByRole("navigation", { name: "Status" }).getByRole("link", { name: /^Needs review \d+/ }).click();
  await page.waitForURL(/status=draft/);
  const drafts = await expected("draft");
  assert.deepEqual(await listed(page), drafts.slice(0, 20));
  assert.ok((await listed(page)).every((d) => d.status === "draft"));
  assert.equal(await page.getByRole("link", { name: /^Needs review \d+/ }).getAttribute("aria-current"), "page");
  if (drafts.length > 20) {
    await page.getByRole("link", { name: "Older drafts" }).click();
    await page.waitForURL((url) => url.searchParams.has("cursor") && url.searchParams.get("status") === "draft");
    assert.deepEqual(await listed(page), drafts.slice(20, 40));
  }
  await page.goto(`${review.url}/review?status=failed`);
  const failed = await expected("failed");
  assert.deepEqual(await listed(page), failed.slice(0, 20));
  // Each entry shows its caption's first line and links to the draft.
  const first = page.locator("ul.drafts > li > a").first();
  await first.click();
  await page.waitForURL(`${review.url}/review/${failed[0].id}`);

  // The same list on a phone.
  const phone = await open(AIKO, PHONE);
  await phone.goto(`${review.url}/review`);
  await screenshot(phone, "list-phone");
  assert.ok((await overflow(phone)) <= 0, `the list scrolls sideways on a phone by ${await overflow(phone)} px`);
  assert.ok(inserted.length === 26);
});

// ---------------------------------------------------------------------------------------------
// One draft: edit, counts, preview, diff

test("edit with Japanese text and emoji: counts as Instagram counts, preview with the fold and tags, word diff, saved", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const page = await open(AIKO);
  await page.goto(`${review.url}/review`);
  await page.locator(`a[href="/review/${id}"]`).click();
  await page.waitForURL(`${review.url}/review/${id}`);
  const response = await page.reload();
  assertSecurityHeaders(response.headers(), "the draft page");
  // The draft as generated: its text in the editor, the image in the frame, no changes yet.
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), draft.caption);
  assert.equal(await page.getByLabel(/^Hashtags/).inputValue(), draft.hashtags.map((t) => `#${t}`).join(" "));
  assert.equal(await page.getByLabel("Alt text", { exact: true }).inputValue(), draft.altText);
  assert.equal(await page.locator("#preview-image").getAttribute("src"), draft.image.url);
  assert.equal(await page.locator("#diff").textContent(), "No changes: this is the text as it was written.");
  // Times are shown in the reader's zone, spelled out.
  const created = await page.locator("time").first().textContent();
  assert.match(created, /Japan Standard Time/, created);
  assert.match(await page.locator("#zone").textContent(), /Asia\/Tokyo/);

  const caption = "秋の新メニュー🍂\n かぼちゃのスープ";
  const hashtags = ["秋", "カフェ"];
  await fillText(page, { caption, hashtags: "#秋 #カフェ" });
  const full = instagramCaption(caption, hashtags);
  assert.equal([...full].length, 27);
  assert.equal(full.length, 28, "🍂 is two UTF-16 units");
  await counted(page, "caption", "27 / 2,200 characters with hashtags · 0 / 20 mentions");
  await counted(page, "hashtags", "2 / 5 hashtags");
  await counted(page, "altText", `${[...draft.altText].length} / 1,000 characters`);

  // The preview: the first two lines, then "… more"; the hashtags are beyond the fold.
  const preview = page.locator("#preview-caption");
  assert.equal(await preview.locator(".tag").count(), 0);
  const more = preview.getByRole("button", { name: "… more" });
  assert.equal(await preview.evaluate((p) => p.firstElementChild.textContent), "your_account ");
  assert.equal(await preview.textContent(), `your_account 秋の新メニュー🍂\n かぼちゃのスープ… more`);
  await more.click();
  assert.equal(await preview.textContent(), `your_account ${full}`);
  assert.deepEqual(await preview.locator(".tag").allTextContents(), ["#秋", "#カフェ"]);
  assert.equal(await page.locator("#preview-alt").textContent(), draft.altText);

  // The word diff against the written text.
  // Runs of changed words are marked together; the words themselves are what is compared.
  const inserted = (await page.locator("#diff ins").allTextContents()).join(" ");
  const deleted = (await page.locator("#diff del").allTextContents()).join(" ");
  for (const word of ["秋の新メニュー🍂", "かぼちゃのスープ", "#秋", "#カフェ"]) assert.ok(inserted.includes(word), `${word} not marked inserted: ${inserted}`);
  for (const word of ["everyone!", "#autumn"]) assert.ok(deleted.includes(word), `${word} not marked deleted: ${deleted}`);
  assert.ok(!inserted.includes("Alt") && !deleted.includes("Alt"), "the unchanged alt text is marked changed");
  assert.ok(!/\S(?:Hi|everyone)/u.test(deleted), `deleted words are glued together: ${deleted}`);

  // Mentions count as the server counts them: one account, in any case, before a full stop.
  await fillText(page, { caption: "@shop_osaka @Shop_Osaka and @shop_osaka. @x" });
  await counted(page, "caption", / · 2 \/ 20 mentions$/);
  await fillText(page, { caption });

  // Over a limit, the count says so before the server does.
  await fillText(page, { hashtags: "#a #b #c #d #e #f" });
  await counted(page, "hashtags", "6 / 5 hashtags");
  assert.equal(await page.getByLabel(/^Hashtags/).getAttribute("aria-invalid"), "true");
  assert.match(await save(page), /^Not saved/);
  assert.match(await page.locator("#hashtags-problem").textContent(), /5/);
  assert.equal((await review.row(id)).caption, draft.caption, "an invalid edit was saved");

  await fillText(page, { hashtags: "#秋 #カフェ" });
  assert.equal(await save(page), `Saved as revision ${draft.revision + 1}.`);
  assert.equal(await page.locator("#revision").textContent(), String(draft.revision + 1));
  const row = await review.row(id);
  assert.equal(row.caption, caption);
  assert.deepEqual(JSON.parse(row.hashtags), hashtags);
  assert.equal(row.revision, draft.revision + 1);
  assert.equal(row.generated_caption, draft.caption, "the written text must be kept for the diff");
  // The decision is recorded with the revision it was made on.
  assert.deepEqual(await comments(id), [{ reviewer: "Aiko", decision: "edit", comment: "", revision: draft.revision }]);

  await page.reload();
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), caption);
  assert.equal(await page.getByLabel(/^Hashtags/).inputValue(), "#秋 #カフェ");
  assert.equal(await page.locator("#caption-count").textContent(), "27 / 2,200 characters with hashtags · 0 / 20 mentions");
  assert.ok((await page.locator("#diff ins").allTextContents()).join("").includes("かぼちゃのスープ"));
  assert.match(await page.locator("#history").textContent(), new RegExp(`Aiko\\s+edited the text \\(revision ${draft.revision}\\)`));
  await screenshot(page, "draft-desktop");

  const phone = await open(AIKO, PHONE);
  await phone.goto(`${review.url}/review/${id}`);
  await phone.locator("#preview-image").evaluate((img) => img.decode());
  await screenshot(phone, "draft-phone");
  assert.ok((await overflow(phone)) <= 0, `the draft scrolls sideways on a phone by ${await overflow(phone)} px`);
});

test("the image: a placeholder while it is made, then the real one without a reload", async () => {
  const id = await review.insertDraft({ caption: "Waiting for the picture 🍲" });
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  const image = page.locator("#preview-image");
  assert.match(await image.getAttribute("src"), /\/media\/pending\.svg$/);
  assert.equal(await page.locator("#image-status").textContent(), "Image: pending");
  assert.ok(await image.evaluate((img) => img.decode().then(() => img.naturalWidth > 0)), "the placeholder does not load");
  // Approving waits for the image: the write rules refuse it without one, so the page does.
  const approve = page.getByRole("button", { name: "Approve" });
  assert.equal(await approve.isDisabled(), true, "Approve offered before the image exists");
  assert.equal(await page.locator("#approve-waits").isVisible(), true);
  await page.evaluate(() => {
    window.sameDocument = true;
  });

  const row = await review.makeImage(id);
  await page.waitForFunction((key) => document.querySelector("#preview-image").src.endsWith(`/media/${key}`), row.image_key, { timeout: 15000 });
  await page.locator("#image-status").filter({ hasText: "Image: ready" }).waitFor();
  assert.ok(await image.evaluate((img) => img.decode().then(() => img.naturalWidth === 1080)), "the real image does not load");
  assert.equal(await page.evaluate(() => window.sameDocument), true, "the page reloaded");
  assert.equal(await approve.isEnabled(), true, "Approve still off with the image ready");
  assert.equal(await page.locator("#approve-waits").isHidden(), true);
  // The new revision is taken silently: a save now is not a conflict.
  assert.equal(await page.locator("#revision").textContent(), String(row.revision));
  await fillText(page, { caption: "Waiting for the picture 🍲 (it came)" });
  assert.equal(await save(page), `Saved as revision ${row.revision + 1}.`);
  assert.equal(await page.locator("#conflict").isHidden(), true);
});

// ---------------------------------------------------------------------------------------------
// Approval and publishing

test("approve: the page follows the draft to published, with the permalink; Instagram got exactly the approved text", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  const caption = `新メニューのお知らせ ${randomText()}\nかぼちゃのスープ、始めました🎃 @our_cafe`;
  await fillText(page, { caption, hashtags: "#秋 #カフェ #soup" });
  // With unsaved changes the one button saves first, and says so.
  await page.locator("#approve").filter({ hasText: /^Save and approve$/ }).waitFor();
  assert.equal(publishMessages(id).length, 0);
  await save(page);

  await page.getByLabel("Comment (optional)").fill("Lovely, ship it");
  await page.getByRole("button", { name: "Approve" }).click();
  // The page reloads itself on approval and then on each change of status.
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  const permalink = page.locator(".notice.published a");
  await permalink.waitFor();
  const row = await review.row(id);
  assert.equal(row.status, "published");
  assert.equal(await permalink.getAttribute("href"), row.permalink);
  assert.equal(await permalink.textContent(), row.permalink);
  assert.equal(await permalink.getAttribute("rel"), "noopener noreferrer");
  assert.equal(row.approved_by, "Aiko");
  assert.equal(row.approved_caption, caption);

  // What Instagram received: exactly the approved text, once.
  const media = review.sim.state.media().filter((m) => m.caption.includes(caption.split("\n")[0]));
  assert.equal(media.length, 1);
  assert.equal(media[0].caption, instagramCaption(caption, ["秋", "カフェ", "soup"]));
  assert.equal(media[0].altText, draft.altText);
  assert.equal(media[0].permalink, row.permalink);
  assert.equal(publishMessages(id).length, 1);

  // The editor is closed, and the history says what happened in words.
  assert.equal(await page.getByLabel("Caption", { exact: true }).isDisabled(), true);
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
  const history = await page.locator("#history").textContent();
  assert.match(history, /Aiko\s+approved the text after editing it \(revision \d+\)Lovely, ship it/);
  assert.match(history, /Instagram published it \(attempt 1\)/);
  await screenshot(page, "draft-published");
});

test("after a save the form holds the text as saved, so a caption typed with a final line break is approved at once", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  await fillText(page, { caption: "Pumpkin soup is back \n", hashtags: "#Cafe ＃秋" });
  assert.equal(await save(page), `Saved as revision ${draft.revision + 1}.`);
  const row = await review.row(id);
  assert.equal(row.caption, "Pumpkin soup is back");
  assert.deepEqual(JSON.parse(row.hashtags), ["Cafe", "秋"]);
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), row.caption);
  assert.equal(await page.getByLabel(/^Hashtags/).inputValue(), "#Cafe #秋");
  await page.getByRole("button", { name: "Approve" }).click();
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  const { permalink } = await review.row(id);
  const media = review.sim.state.media().filter((m) => m.permalink === permalink);
  assert.equal(media.length, 1);
  assert.equal(media[0].caption, "Pumpkin soup is back\n\n#Cafe #秋");
});

test("approve with a time: typed in the reviewer's zone, stored in UTC, shown with the zone spelled out, nothing published before then", async () => {
  for (const [timezoneId, zoneName] of [
    ["Asia/Tokyo", "Japan Standard Time"],
    ["America/St_Johns", "Newfoundland (Standard|Daylight) Time"],
  ]) {
    const draft = await review.generate();
    const id = draft.draftId;
    const page = await open(AIKO, { ...DESKTOP, timezoneId });
    await page.goto(`${review.url}/review/${id}`);
    assert.equal(await page.locator("#zone").textContent(), `In your time zone: ${timezoneId}.`);
    // Three hours from now, to the minute, as the wall clock in that zone reads it.
    const at = new Date(Math.ceil((Date.now() + 3 * 3600e3) / 60e3) * 60e3);
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-CA", { timeZone: timezoneId, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
        .formatToParts(at)
        .map((p) => [p.type, p.value]),
    );
    await page.getByLabel(/^Publish at/).fill(`${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`);
    await page.getByRole("button", { name: /^Schedule for / }).click();
    await page.locator("#status").filter({ hasText: "approved" }).waitFor();
    const row = await review.row(id);
    assert.equal(row.scheduled_at, rfc3339(at), timezoneId);
    // Not published now: a message, if the api sends one at all (the scheduler may queue it
    // when it is due instead), waits until then.
    for (const message of publishMessages(id)) {
      const delay = message.options?.delaySeconds ?? 0;
      assert.ok(Math.abs(delay - (at - Date.now()) / 1000) < 90, `the publish message waits ${delay} s`);
    }
    const shown = await page.locator("p.meta", { hasText: "Scheduled for" }).textContent();
    assert.match(shown, new RegExp(`${zoneName}$`), shown);
    assert.ok(shown.includes(`${Number(parts.hour) % 12 || 12}:${parts.minute}`), `${shown} is not ${parts.hour}:${parts.minute}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const published = await review.db.prepare("SELECT COUNT(*) AS n FROM drafts WHERE scheduled_at IS NOT NULL AND status != 'approved'").first();
  assert.equal(published.n, 0, "a scheduled post did not wait for its time");
});

test("a timed post not queued yet: its time is changed on the page, then it is published now", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const later = new Date(Math.ceil((Date.now() + 5 * 3600e3) / 60e3) * 60e3);
  const approved = await review.request("POST", `/api/v1/drafts/${id}/approve`, {
    body: { revision: draft.revision, scheduledAt: rfc3339(later) },
    token: BEN.token,
  });
  assert.equal(approved.status, 200, approved.text);
  const page = await open(AIKO, { ...DESKTOP, timezoneId: "UTC" });
  await page.goto(`${review.url}/review/${id}`);
  // A new time, typed in the reviewer's zone (UTC here): stored as typed.
  const moved = new Date(later.getTime() + 24 * 3600e3);
  await page.getByLabel("Change the time").fill(rfc3339(moved).slice(0, 16));
  await page.getByRole("button", { name: "Change the time" }).click();
  await review.pipeline.eventually(async () => (await review.row(id)).scheduled_at === rfc3339(moved), { what: "the new time" });
  assert.equal((await review.row(id)).status, "approved");
  assert.equal(publishMessages(id).length, 0, "a timed post was queued before its time");
  // Publish now: the time is cleared and the post goes out.
  await page.getByRole("button", { name: "Publish now" }).click();
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  assert.equal((await review.row(id)).scheduled_at, null);
  assert.match(await page.locator("#history").textContent(), /Aiko/);
});

test("a failed draft shows why in words and is published again by re-approving", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  review.sim.control.fault({ op: "container", kind: "error", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." });
  const page = await open(BEN);
  await page.goto(`${review.url}/review/${id}`);
  await page.getByRole("button", { name: "Approve" }).click();
  await page.locator("#status").filter({ hasText: "failed" }).waitFor({ timeout: 30000 });
  const row = await review.row(id);
  assert.equal(row.status, "failed");
  const why = page.locator(".notice.failed");
  await why.waitFor();
  assert.equal(await why.textContent(), `Why it failed: ${row.last_error}`);
  // In words a person understands, not only a Graph code.
  assert.match(row.last_error, /[a-z]{3,} [a-z]{3,} [a-z]{3,}/i, row.last_error);
  assert.match(await page.locator("#history").textContent(), /Instagram refused the post \(code 36003\/2207009\)/);
  await screenshot(page, "draft-failed");

  // The failures view shows it with its reason and counts the error by class.
  await page.goto(`${review.url}/review/failures`);
  const entry = page.locator("ul.failures li").filter({ has: page.locator(`a[href="/review/${id}"]`) });
  assert.equal(await entry.locator(".reason").textContent(), row.last_error);
  assert.ok((await page.locator("table th[scope=col]").allTextContents()).includes("permanent"));
  assert.match(await page.locator("dl.legend").textContent(), /permanentInstagram refused the post/);
  await screenshot(page, "failures-desktop");
  await entry.locator("a").click();

  await page.getByRole("button", { name: "Publish again with the approved text" }).click();
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  await page.locator(".notice.published a").waitFor();
  const published = await review.row(id);
  assert.equal(published.status, "published");
  const media = review.sim.state.media().filter((m) => m.permalink === published.permalink);
  assert.equal(media.length, 1);
  assert.equal(media[0].caption, instagramCaption(draft.caption, draft.hashtags));
  assert.deepEqual(
    (await comments(id)).map((c) => `${c.reviewer} ${c.decision}`),
    ["Ben approve", "Ben reapprove"],
  );
});

test("a failed draft regenerated returns to review with new text", async () => {
  const old = "The old text that failed, written long ago";
  // Approved, then failed for good: set straight in D1, with the reason the consumer gives.
  const id = await review.insertDraft({ caption: old });
  const { image_key: key, revision } = await review.makeImage(id);
  await review.db
    .prepare(
      `UPDATE drafts SET status = 'failed', revision = ?2, last_error = ?3, approved_revision = ?4, approved_caption = caption,
         approved_hashtags = hashtags, approved_alt_text = alt_text, approved_image_key = ?5, approved_by = 'Aiko', approved_at = ?6
       WHERE id = ?1`,
    )
    .bind(id, revision + 2, "Instagram no longer accepts the access token: an operator must renew it", revision, key, rfc3339(new Date()))
    .run();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  assert.equal(await page.locator(".notice.failed").textContent(), "Why it failed: Instagram no longer accepts the access token: an operator must renew it");
  assert.equal(await page.getByLabel("Caption", { exact: true }).isDisabled(), true);
  assert.equal(await page.getByLabel("New text").isChecked(), true);
  assert.equal(await page.getByLabel("New image").isChecked(), false);
  await page.getByRole("button", { name: "Regenerate" }).click();
  await page.locator("#status").filter({ hasText: "draft" }).waitFor({ timeout: 20000 });
  const row = await review.row(id);
  assert.equal(row.status, "draft");
  assert.notEqual(row.caption, old);
  assert.match(row.caption, /Autumn menu launch/, "the new text is the writer's, from the draft's request");
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), row.caption);
  assert.equal(await page.getByLabel("Caption", { exact: true }).isDisabled(), false);
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 1);
  assert.deepEqual((await comments(id)).map((c) => `${c.reviewer} ${c.decision}`), ["Aiko regenerate"]);
  assert.match(await page.locator("#history").textContent(), /Aiko\s+asked for new text or image/);
});

test("discard asks first, and a discarded draft is closed", async () => {
  const draft = await review.generate();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  page.once("dialog", (dialog) => dialog.dismiss());
  await page.getByRole("button", { name: "Discard" }).click();
  assert.equal((await review.row(draft.draftId)).status, "draft", "discarded without asking");
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Discard" }).click();
  await page.locator("#status").filter({ hasText: "discarded" }).waitFor();
  assert.equal((await review.row(draft.draftId)).status, "discarded");
});

test("comments are added to the history with the reviewer's name", async () => {
  const draft = await review.generate();
  const page = await open(BEN);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  await page.getByLabel("Add a comment").fill("Could we mention the opening hours?\nThanks");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await page.locator("#history blockquote").waitFor();
  assert.match(await page.locator("#history li").last().textContent(), /Ben\s+commented \(revision \d+\)Could we mention the opening hours\?\nThanks/);
  // Kept after a reload, from D1.
  await page.reload();
  assert.match(await page.locator("#history li").first().textContent(), /Ben\s+commented \(revision \d+\)Could we mention the opening hours\?\nThanks/);
});

test("invisible characters are shown before saving, as the server's rule names them; emoji sequences and flags are not", async () => {
  const draft = await review.generate();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  const caption = page.getByLabel("Caption", { exact: true });
  const warning = page.locator("#caption-hidden");
  assert.equal(await warning.isHidden(), true, "a warning before anything was typed");
  // A right-to-left override turns "Sale 50% off" around; a zero-width space hides a break.
  await caption.fill("Sale \u202E%05 ffo\u200B today");
  await warning.waitFor({ state: "visible" });
  const text = await warning.textContent();
  assert.match(text, /U\+202E RIGHT-TO-LEFT OVERRIDE at character 6/);
  assert.match(text, /U\+200B ZERO WIDTH SPACE at character 14/);
  assert.equal(await caption.getAttribute("aria-invalid"), "true");
  await page.getByLabel(/^Hashtags/).fill("#cafe #lat\u2066te");
  await page.locator("#hashtags-hidden").waitFor({ state: "visible" });
  assert.match(await page.locator("#hashtags-hidden").textContent(), /U\+2066 LEFT-TO-RIGHT ISOLATE in hashtag 2/);
  await page.getByLabel("Add a comment").fill("ok\u200B");
  await page.locator("#comment-hidden").waitFor({ state: "visible" });
  await screenshot(page, "draft-invisible-characters");
  // The server refuses the save with the same characters.
  await page.getByRole("button", { name: "Save text" }).click();
  await page.locator("#save-status.error").waitFor();
  assert.match(await page.locator("#caption-problem").textContent(), /U\+202E RIGHT-TO-LEFT OVERRIDE/);
  // What real text needs raises nothing: a ZWJ emoji sequence and a flag's tag sequence.
  await caption.fill("Chef \u{1F469}\u200D\u{1F373} from Scotland \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}");
  await page.getByLabel(/^Hashtags/).fill("#cafe");
  await warning.waitFor({ state: "hidden" });
  await page.locator("#hashtags-hidden").waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Save text" }).click();
  await page.locator("#save-status.ok").waitFor();
});

test("when the session has ended, a save is refused and the text stays in the form", async () => {
  const draft = await review.generate();
  const page = await open(BEN);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  await review.db.prepare("UPDATE review_sessions SET expires_at = '2000-01-01T00:00:00Z' WHERE reviewer = 'Ben'").run();
  await fillText(page, { caption: "Written while the session ran out" });
  assert.match(await save(page), /^Not saved/);
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), "Written while the session ran out");
  assert.equal((await review.row(draft.draftId)).caption, draft.caption);
  await page.reload();
  assert.equal(new URL(page.url()).pathname, "/review/login");
});

test(
  "when the session has ended, the page says to sign in again",
  async () => {
    const draft = await review.generate();
    const page = await open(BEN);
    await page.goto(`${review.url}/review/${draft.draftId}`);
    await review.db.prepare("UPDATE review_sessions SET expires_at = '2000-01-01T00:00:00Z' WHERE reviewer = 'Ben'").run();
    await fillText(page, { caption: "Written while the session ran out" });
    const status = await save(page);
    assert.match(status, /sign in/i, status);
    assert.doesNotMatch(status, /bearer/i, status);
  },
);

test(
  "an unsaved edit survives adding a comment",
  async () => {
    const draft = await review.generate();
    const page = await open(AIKO);
    await page.goto(`${review.url}/review/${draft.draftId}`);
    await fillText(page, { caption: "A careful edit, not saved yet" });
    await page.getByLabel("Add a comment").fill("Checking the opening hours first");
    await page.getByRole("button", { name: "Comment", exact: true }).click();
    await page.locator("#history blockquote").waitFor();
    assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), "A careful edit, not saved yet");
  },
);

// ---------------------------------------------------------------------------------------------
// Safety

test("a caption with markup stays text: nothing runs, it shows literally", async () => {
  const xss = "<img src=x onerror=alert(1)>";
  const alt = `"><script>alert(2)</script>`;
  const id = await review.insertDraft({ caption: xss, altText: alt, hashtags: ["safe"] });
  await review.makeImage(id);
  const page = await open(AIKO);
  const dialogs = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss();
  });
  await page.goto(`${review.url}/review`);
  assert.ok((await page.locator(`a[href="/review/${id}"] .caption`).textContent()).includes(xss));
  await page.goto(`${review.url}/review/${id}`);
  assert.equal(await page.getByLabel("Caption", { exact: true }).inputValue(), xss);
  assert.equal(await page.getByLabel("Alt text", { exact: true }).inputValue(), alt);
  assert.match(await page.locator("#preview-caption").textContent(), /^your_account <img src=x onerror=alert\(1\)>\n?… more$/);
  assert.equal(await page.locator("#preview-alt").textContent(), alt);
  await page.getByText(xss).first().waitFor();
  // Typed into the editor, it is still text in the preview and the diff.
  await fillText(page, { caption: `${xss} <b>bold</b> <svg onload=alert(3)>` });
  await page.locator("#preview-caption").getByRole("button", { name: "… more" }).click();
  await page.locator("#diff").filter({ hasText: "<svg onload=alert(3)>" }).waitFor({ timeout: 5000 });
  await save(page);
  await page.reload();
  await page.waitForTimeout(500);
  const injected = await page.evaluate(() => ({
    handlers: document.querySelectorAll("[onerror], [onload]").length,
    images: [...document.images].map((img) => img.getAttribute("src")).filter((src) => src === "x"),
    bold: document.querySelectorAll("main b").length,
    scripts: [...document.scripts].map((s) => s.src || s.type),
  }));
  assert.deepEqual(injected, { handlers: 0, images: [], bold: 0, scripts: [`${review.url}/review/assets/api.js`, `${review.url}/review/assets/app.js`, `${review.url}/review/assets/media.js`, "application/json"] });
  assert.deepEqual(dialogs, [], "a dialog opened: the caption ran as script");
});

test("security headers and the CSP on every page; no token or secret in any page", async () => {
  const draft = await review.generate();
  const cookie = await sessionCookie(review.url, AIKO);
  const sessionId = cookie.split("=")[1];
  const secrets = [API_TOKEN, AIKO.token, BEN.token, sessionId];
  const pages = [
    ["/review/login", 200, null],
    ["/review/login?next=/review", 200, null],
    ["/review", 303, null],
    ["/review", 200, cookie],
    ["/review?status=draft", 200, cookie],
    [`/review/${draft.draftId}`, 200, cookie],
    ["/review/failures", 200, cookie],
    ["/review/up-next", 200, cookie],
    ["/review/calendar", 200, cookie],
    ["/review?status=all&q=soup", 200, cookie],
    ["/review/not-a-draft-id", 400, cookie],
    [`/review/${"0".repeat(8)}-0000-4000-8000-000000000000`, 404, cookie],
    ["/review/assets/api.js", 200, null],
    ["/review/assets/app.js", 200, null],
    ["/review/assets/app.css", 200, null],
    ["/review/assets/views.js", 200, null],
    ["/review/assets/nope.js", 404, null],
  ];
  for (const [path, status, withCookie] of pages) {
    const response = await fetch(review.url + path, { redirect: "manual", headers: withCookie ? { cookie: withCookie } : {} });
    const body = await response.text();
    assert.equal(response.status, status, `${path}: ${body.slice(0, 200)}`);
    assertSecurityHeaders(response.headers, path);
    for (const secret of secrets) assert.ok(!body.includes(secret), `${path} holds a secret`);
    if (status === 200 && !path.includes("/assets/")) {
      assert.equal(response.headers.get("cache-control"), "no-store", path);
      assert.doesNotMatch(body, /<script(?![^>]*(src="\/review\/assets\/[a-z]+\.js"|type="application\/json"))[^>]*>/, `${path} has an inline script`);
      assert.doesNotMatch(body, /\sstyle=|<style/, `${path} has inline style`);
    }
  }
  // In the browser too: after signing in, neither the page nor its script sees a token.
  const page = await open(null);
  await signIn(page, review.url, AIKO, `/review/${draft.draftId}`);
  await page.getByLabel("Caption", { exact: true }).waitFor();
  const [session] = await page.context().cookies();
  const seen = await page.evaluate(() => document.documentElement.outerHTML + document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  for (const secret of [API_TOKEN, AIKO.token, BEN.token, session.value]) assert.ok(!seen.includes(secret), "the page holds a secret");
});

// ---------------------------------------------------------------------------------------------
// Conflicts

test("a stale edit shows the conflict with the newer text, keeps its own, and loses nothing", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const aiko = await open(AIKO);
  const ben = await open(BEN);
  await Promise.all([aiko.goto(`${review.url}/review/${id}`), ben.goto(`${review.url}/review/${id}`)]);

  const aikoText = `Aiko's text: 栗のタルト🌰 ${randomText()}`;
  const benText = `Ben's text: pumpkin pie 🥧 ${randomText()}`;
  await fillText(aiko, { caption: aikoText });
  assert.equal(await save(aiko), `Saved as revision ${draft.revision + 1}.`);

  await fillText(ben, { caption: benText, hashtags: "#pie" });
  assert.equal(await save(ben), "Not saved: the draft changed meanwhile.");
  const banner = ben.getByRole("alert");
  await banner.waitFor();
  assert.match(await banner.locator("strong").textContent(), new RegExp(`now revision ${draft.revision + 1}\\b`));
  assert.ok((await banner.locator("pre").textContent()).startsWith(aikoText), "the banner does not show the newer text");
  // Ben's own text stays in his form; D1 holds Aiko's.
  assert.equal(await ben.getByLabel("Caption", { exact: true }).inputValue(), benText);
  assert.equal(await ben.getByLabel(/^Hashtags/).inputValue(), "#pie");
  assert.equal((await review.row(id)).caption, aikoText);
  await screenshot(ben, "draft-conflict");

  // Saving again is deliberate now: it names the newer revision and goes through.
  assert.equal(await save(ben), `Saved as revision ${draft.revision + 2}.`);
  assert.equal(await ben.locator("#conflict").isHidden(), true);
  assert.equal((await review.row(id)).caption, benText);

  // Aiko, now behind, takes Ben's text instead of hers.
  await fillText(aiko, { caption: `${aikoText} (more)` });
  assert.equal(await save(aiko), "Not saved: the draft changed meanwhile.");
  await aiko.getByRole("button", { name: "Use their text instead" }).click();
  assert.equal(await aiko.getByLabel("Caption", { exact: true }).inputValue(), benText);
  assert.equal(await aiko.getByLabel(/^Hashtags/).inputValue(), "#pie");
  assert.equal(await aiko.locator("#conflict").isHidden(), true);

  // Both edits are in the history, each under its author.
  assert.deepEqual(
    (await comments(id)).map((c) => `${c.reviewer} ${c.decision} ${c.revision}`),
    [`Aiko edit ${draft.revision}`, `Ben edit ${draft.revision + 1}`],
  );
  // An approval on the stale page is a conflict too, not a publish of text not seen.
  const stale = await open(AIKO);
  await stale.goto(`${review.url}/review/${id}`);
  await fillText(ben, { caption: `${benText}!` });
  await save(ben);
  await stale.getByRole("button", { name: "Approve" }).click();
  await stale.locator("#decide-status").filter({ hasText: "Not approved" }).waitFor();
  await stale.getByRole("alert").waitFor();
  assert.equal((await review.row(id)).status, "draft");
  assert.equal(publishMessages(id).length, 0);
});

// ---------------------------------------------------------------------------------------------
// Keyboard and small screens

test("keyboard: every control is reachable with Tab, labelled, and works from the keyboard", async () => {
  const draft = await review.generate();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${draft.draftId}`);
  // Labels: each control found by its accessible name.
  for (const control of [
    page.getByRole("link", { name: "Skip to content" }),
    page.getByRole("textbox", { name: "Caption", exact: true }),
    page.getByRole("textbox", { name: /^Hashtags/ }),
    page.getByRole("textbox", { name: "Alt text", exact: true }),
    page.getByRole("button", { name: "Save text" }),
    page.getByRole("textbox", { name: "Comment (optional)" }),
    page.getByLabel(/^Publish at/),
    page.getByRole("button", { name: "Approve" }),
    page.getByRole("button", { name: "Discard" }),
    page.getByRole("button", { name: "New image" }),
    page.getByRole("textbox", { name: "Add a comment" }),
    page.getByRole("button", { name: "Comment", exact: true }),
    page.getByRole("button", { name: "Sign out Aiko" }),
  ]) {
    assert.equal(await control.count(), 1, `${control} is not found by its name`);
  }
  // Every focusable control has an accessible name.
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("a[href], button, input:not([type=hidden]), textarea, select")]
      .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unnamed, []);

  // Tab from the top of a fresh page reaches the editor and the buttons, in reading order.
  const order = [];
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => {
      const el = document.activeElement;
      return el.id || el.textContent.trim().slice(0, 20) || el.tagName;
    }));
  }
  const reached = (name) => order.indexOf(name);
  for (const name of ["caption", "hashtags", "altText", "save", "approve-comment", "schedule", "approve", "discard", "new-image", "comment"]) {
    assert.ok(reached(name) >= 0, `${name} is not reached with Tab: ${order.join(", ")}`);
  }
  assert.ok(reached("caption") < reached("hashtags") && reached("hashtags") < reached("altText") && reached("altText") < reached("save"));
  assert.ok(reached("save") < reached("approve"));
  assert.equal(order[0], "Skip to content", "the skip link is not first");

  // Type and save with the keyboard alone.
  await page.getByLabel("Caption", { exact: true }).focus();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("キーボードだけで編集 ⌨️");
  assert.match(await page.locator("#caption-count").textContent(), /^\d+ \/ 2,200/);
  await page.getByLabel("Alt text", { exact: true }).focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "save");
  await page.keyboard.press("Enter");
  await page.locator("#save-status").filter({ hasText: "Saved" }).waitFor();
  assert.equal((await review.row(draft.draftId)).caption, "キーボードだけで編集 ⌨️");
  // The skip link leads to the content.
  await page.reload();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  assert.equal(new URL(page.url()).hash, "#main");
});

test("a phone-sized screen: no page scrolls sideways, even with long unbroken text", async () => {
  const long = `https://example.com/menu/${"autumn-pumpkin-soup-".repeat(8)}`;
  const draft = await review.generate();
  const id = draft.draftId;
  await review.request("POST", `/api/v1/drafts/${id}/comments`, { body: { comment: `See ${long}` } });
  const failed = await review.insertDraft({
    caption: `Failed draft ${long}`,
    columns: { status: "failed", last_error: `Instagram could not download the image from ${long}` },
  });
  const page = await open(AIKO, PHONE);
  const signedOut = await open(null, PHONE);
  await page.goto(`${review.url}/review/${id}`);
  await fillText(page, { caption: `${draft.caption}\n${long}` });
  await page.locator("#preview-caption").getByRole("button", { name: "… more" }).click();
  await page.locator("#preview-caption").filter({ hasText: long }).waitFor({ timeout: 5000 });
  const other = await open(BEN);
  await other.goto(`${review.url}/review/${id}`);
  await fillText(other, { caption: `Ben was here first ${long}` });
  await save(other);
  await save(page); // a conflict: the banner shows Ben's long text
  await page.getByRole("alert").waitFor();
  const wide = [];
  for (const [name, tab, go] of [
    ["draft with a conflict", page, async () => {}],
    ["login", signedOut, () => signedOut.goto(`${review.url}/review/login?next=/review`)],
    ["list", page, () => page.goto(`${review.url}/review`)],
    ["failed draft", page, () => page.goto(`${review.url}/review/${failed}`)],
    ["failures", page, () => page.goto(`${review.url}/review/failures`)],
  ]) {
    await go();
    const by = await overflow(tab);
    if (by > 0) {
      const culprits = await tab.evaluate(() =>
        [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className ? `.${el.className}` : ""}`)
          .slice(0, 5),
      );
      wide.push(`${name}: ${by} px too wide (${culprits.join(", ")})`);
      await screenshot(tab, `phone-overflow-${name.replace(/\s+/g, "-")}`);
    }
  }
  assert.deepEqual(wide, []);
  // The sign-in form after a failed attempt, on the phone: the name kept, the error above.
  await signedOut.goto(`${review.url}/review/login?next=/review`);
  await signedOut.getByLabel("Your name").fill("Someone");
  await signedOut.getByLabel("Reviewer token").fill("not-a-reviewer-token-at-all");
  await signedOut.getByRole("button", { name: "Sign in" }).click();
  await signedOut.getByRole("alert").waitFor();
  assert.equal(await overflow(signedOut), 0, "the sign-in form with its error is too wide");
  await screenshot(signedOut, "phone-login");
});

test("a post live with its media id unknown says so; a post on its way says why it waits, not that it failed", async () => {
  const published = await review.insertDraft({ caption: "Live, but Instagram never said which post it is" });
  const waiting = await review.insertDraft({ caption: "Approved, its container still being processed" });
  for (const [id, status, lastError] of [
    [published, "published", null],
    [waiting, "approved", "the container 1789 is being processed (IN_PROGRESS); its status is read again in 10 s"],
  ]) {
    const { image_key: key, revision } = await review.makeImage(id);
    await review.db
      .prepare(
        `UPDATE drafts SET status = ?2, revision = ?3, last_error = ?4, approved_revision = ?5, approved_caption = caption,
           approved_hashtags = hashtags, approved_alt_text = alt_text, approved_image_key = ?6, approved_by = 'Aiko', approved_at = ?7,
           media_id = NULL, permalink = NULL
         WHERE id = ?1`,
      )
      .bind(id, status, revision + 1, lastError, revision, key, rfc3339(new Date()))
      .run();
  }
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${published}`);
  const live = page.locator(".notice.published");
  assert.match(await live.textContent(), /media id is unknown/);
  assert.equal(await page.locator(".notice.published a").count(), 0, "a link without a media id");
  await screenshot(page, "published-media-unknown");
  await page.goto(`${review.url}/review/${waiting}`);
  assert.equal(await page.locator(".notice.failed").count(), 0, "a waiting post shown as failed");
  assert.match(await page.locator(".notice.waiting").textContent(), /^Publishing: The container 1789 is being processed/);
});

// ---------------------------------------------------------------------------------------------
// Taking an approval back, signing out everywhere, and polling that backs off

/** A draft approved by Ben's script (his own token) for a time hours ahead: nothing queued yet. */
async function approvedForLater(hours = 5) {
  const draft = await review.generate();
  const later = new Date(Math.ceil((Date.now() + hours * 3600e3) / 60e3) * 60e3);
  const approved = await review.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: draft.revision, scheduledAt: rfc3339(later) },
    token: BEN.token,
  });
  assert.equal(approved.status, 200, approved.text);
  assert.equal((await review.row(draft.draftId)).approved_by, "Ben", "the approval does not name the reviewer whose token it was");
  return approved.json;
}

test("an approved post is withdrawn on the page: back under review, nothing published", async () => {
  const approved = await approvedForLater();
  const id = approved.draftId;
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${id}`);
  const withdraw = page.getByRole("button", { name: "Withdraw approval" });
  await withdraw.waitFor();
  await screenshot(page, "draft-approved-desktop");
  const phone = await open(AIKO, PHONE);
  await phone.goto(`${review.url}/review/${id}`);
  await phone.getByRole("button", { name: "Withdraw approval" }).waitFor();
  await screenshot(phone, "draft-approved-phone");
  assert.ok((await overflow(phone)) <= 0, `the approved draft scrolls sideways on a phone by ${await overflow(phone)} px`);

  await page.getByLabel("Why withdraw (optional)").fill("The offer changed");
  await Promise.all([page.waitForEvent("load"), withdraw.click()]);
  // Back under review, the time it had filled in: approving again schedules it.
  await page.getByRole("button", { name: /^Schedule for / }).waitFor();
  assert.equal(await page.locator("#status").textContent(), "draft");
  const row = await review.row(id);
  assert.equal(row.status, "draft");
  assert.equal(row.approved_caption, null);
  assert.deepEqual(
    (await comments(id)).map((c) => `${c.reviewer} ${c.decision} ${c.comment}`),
    ["Ben approve ", "Aiko withdraw The offer changed"],
  );
  assert.match(await page.locator("#history").textContent(), /Aiko\s+took the approval back to correct it/);
  assert.equal(publishMessages(id).length, 0);
});

test("once publishing has started the page offers no withdrawal", async () => {
  const approved = await approvedForLater();
  await review.db
    .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'claim-x', claim_expires_at = '2999-01-01T00:00:00Z' WHERE id = ?1")
    .bind(approved.draftId)
    .run();
  const page = await open(AIKO);
  await page.goto(`${review.url}/review/${approved.draftId}`);
  await page.getByText("publishing is on its way").waitFor();
  assert.equal(await page.getByRole("button", { name: "Withdraw approval" }).count(), 0);
});

test("sign out everywhere ends the reviewer's sessions in every browser", async () => {
  const laptop = await open(AIKO, DESKTOP, { fresh: true });
  const phone = await open(AIKO, PHONE, { fresh: true });
  const ben = await open(BEN);
  for (const page of [laptop, phone, ben]) await page.goto(`${review.url}/review`);
  await Promise.all([phone.waitForURL(/\/review\/login$/), phone.getByRole("button", { name: "Sign out everywhere" }).click()]);
  assert.deepEqual(await phone.context().cookies(), []);
  await laptop.reload();
  assert.equal(new URL(laptop.url()).pathname, "/review/login", "the laptop's session survived");
  await ben.reload();
  assert.equal(new URL(ben.url()).pathname, "/review", "another reviewer was signed out");
});

test("a draft page waiting for a post due within ten minutes polls less and less often, at least once a minute", async (t) => {
  const approved = await approvedForLater(8 / 60);
  const context = await pages.newContext(browser, DESKTOP);
  const [name, value] = (await sessionCookie(review.url, AIKO)).split("=");
  await context.addCookies([sessionCookieFor(name, value)]);
  const page = await context.newPage();
  watch(page);
  await page.clock.install();
  const path = `/api/v1/drafts/${approved.draftId}`;
  const polls = [];
  let pending = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname !== path) return;
    pending += 1;
    polls.push(page.evaluate(() => Date.now()));
  });
  const done = () => (pending -= 1);
  page.on("requestfinished", (request) => new URL(request.url()).pathname === path && done());
  page.on("requestfailed", (request) => new URL(request.url()).pathname === path && done());
  await page.goto(`${review.url}/review/${approved.draftId}`);
  const start = await page.evaluate(() => Date.now());
  // Ten minutes of the page's time, a second at a time, each poll answered before going on.
  for (let second = 0; second < 600; second += 1) {
    await page.clock.runFor(1000);
    await eventually(() => pending === 0, "the poll's answer", 5000);
  }
  const times = (await Promise.all(polls)).map((t) => (t - start) / 1000);
  const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]));
  t.diagnostic(`polls at ${times.map((s) => s.toFixed(0)).join(", ")} s`);
  assert.ok(gaps[0] <= 3, `the first look came after ${gaps[0]} s`);
  assert.ok(times.length <= 20, `${times.length} polls in ten minutes: ${times.join(", ")}`);
  assert.ok(Math.max(...gaps) <= 62, `a gap of ${Math.max(...gaps)} s, more than a minute: ${times.join(", ")}`);
  assert.ok(gaps.at(-1) >= 55, `still polling every ${gaps.at(-1)} s after ten minutes`);
});
