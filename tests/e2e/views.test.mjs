// The views over many drafts through the JSON API: full-text search (caption, hashtags, alt
// text, brief; Japanese words of any length; kept in step by the write that changes the
// text), the list's filters and paging both ways, up next in the order posts go out with
// their quota hold, and the calendar of scheduled and published posts; a reviewer limited to
// one account gets full pages of their own drafts however others' drafts interleave.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { insertStatement, rfc3339 } from "./support.mjs";
import { API_TOKEN, REVIEWER, startPipeline } from "./harness.mjs";

const HOUR = 3600 * 1000;
/** A reviewer limited to the account @shop_b. */
const MIKA = { name: "Mika", token: "mika-review-7c1e4a9b2f3d8e6051a4c7b9" };
let pipeline;
before(async () => {
  const REVIEWERS = `${REVIEWER.name}:${REVIEWER.token}\n${MIKA.name}:${MIKA.token} @shop_b`;
  pipeline = await startPipeline({ api: { REVIEWERS } }, { idle: ["publish-consumer", "image-consumer"] });
});
after(async () => {
  await pipeline?.dispose();
});

/** A visible draft row written straight into D1; `columns` override any column. */
async function insert({ caption, hashtags = [], altText = "", brief = "", language = "en", columns = {} }) {
  const id = randomUUID();
  const now = rfc3339(Date.now());
  await insertStatement(pipeline.db, "drafts", {
    id,
    status: "draft",
    revision: 1,
    language,
    provider: "template",
    caption,
    hashtags: JSON.stringify(hashtags),
    alt_text: altText,
    request: JSON.stringify({ brief, language }),
    image_status: "ready",
    image_key: `images/${id}.png`,
    image_prompt: "p",
    created_at: now,
    updated_at: now,
    ...columns,
  }).run();
  return id;
}

async function search(query, token = API_TOKEN) {
  const response = await pipeline.request("GET", `/api/v1/search?${new URLSearchParams(query)}`, { token });
  assert.equal(response.status, 200, response.text);
  return response.json;
}
const ids = (page) => page.drafts.map((d) => d.draftId);

test("search finds a draft by any word of its caption, hashtags, alt text or brief, Japanese words of one or two characters too", async () => {
  const sakura = await insert({ caption: "今日は桜が満開です", hashtags: ["花見日和"], altText: "川沿いの桜並木", brief: "春の東京の散歩" });
  const soup = await insert({ caption: "Squash soup is back", hashtags: ["autumnmenu"], altText: "A bowl of soup", brief: "Cafe launch" });
  for (const [q, expected] of [
    ["満開", [sakura]],
    ["桜が満開", [sakura]],
    ["#花見日和", [sakura]],
    ["桜並木", [sakura]],
    ["東京", [sakura]],
    ["桜", [sakura]],
    ["SOUP", [soup]],
    ["autumnmenu", [soup]],
    ["cafe launch", [soup]],
    ["soup 満開", []],
  ]) {
    const page = await search({ q, status: "draft" });
    assert.deepEqual(ids(page).filter((id) => id === sakura || id === soup), expected, q);
  }
  // A word of three characters or more is read through the index, and so is a shorter one,
  // by the indexed trigrams it begins; one that begins more than a hundred (a common letter)
  // through a window of the newest drafts, which the answer says.
  assert.equal((await search({ q: "満開です" })).partial, false);
  assert.equal((await search({ q: "桜" })).partial, false);
  assert.equal((await search({ q: "東京" })).partial, false);
  const letters = Array.from({ length: 105 }, (_, i) => `q${String.fromCharCode(0x4e00 + i)}`).join(" ");
  const many = await insert({ caption: `Q words ${letters}` });
  const common = await search({ q: "q" });
  assert.equal(common.partial, true, "a word that begins 105 trigrams is read from a window");
  assert.ok(ids(common).includes(many));
  const rare = await search({ q: `q${String.fromCharCode(0x4e00 + 7)}` });
  assert.equal(rare.partial, false);
  assert.deepEqual(ids(rare), [many]);
  // A short word at the very end of the text (here the brief's) is found too.
  const last = await insert({ caption: "Spring menu", brief: "Opening in 大阪" });
  assert.deepEqual(ids(await search({ q: "大阪" })), [last]);
  assert.deepEqual(ids(await search({ q: "zq" })), [], "a word in no draft");

  // Edited through the API: the new text is found and the old is not, at once.
  const draft = (await pipeline.request("GET", `/api/v1/drafts/${soup}`)).json;
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${soup}`, { body: { revision: draft.revision, caption: "Pumpkin pie is here" } });
  assert.equal(edited.status, 200, edited.text);
  assert.deepEqual(ids(await search({ q: "pumpkin" })), [soup]);
  assert.deepEqual(ids(await search({ q: "squash" })), []);
});

test("filters by status, language, approver and dates, and pages both ways by cursor", async () => {
  const base = Date.parse("2026-06-01T00:00:00Z");
  const made = [];
  for (let i = 0; i < 5; i++) {
    made.push(
      await insert({
        caption: `Filtered page ${i}`,
        language: "pt-BR",
        columns: { status: "approved", approved_by: "Riko", approved_at: rfc3339(base), created_at: rfc3339(base + i * HOUR) },
      }),
    );
  }
  await insert({ caption: "Filtered other", language: "pt-BR", columns: { created_at: rfc3339(base + 2 * HOUR) } });
  const query = { language: "pt-BR", status: "approved", reviewer: "riko", from: "2026-06-01", to: "2026-06-01", limit: "2" };
  const first = await search(query);
  const newestFirst = [...made].reverse();
  assert.deepEqual(ids(first), newestFirst.slice(0, 2));
  assert.equal(first.newerCursor, null);
  const second = await search({ ...query, cursor: first.olderCursor });
  assert.deepEqual(ids(second), newestFirst.slice(2, 4));
  const third = await search({ ...query, cursor: second.olderCursor });
  assert.deepEqual(ids(third), newestFirst.slice(4));
  assert.equal(third.olderCursor, null);
  // And back.
  const back = await search({ ...query, before: third.newerCursor });
  assert.deepEqual(ids(back), newestFirst.slice(2, 4));
  const start = await search({ ...query, before: back.newerCursor });
  assert.deepEqual(ids(start), newestFirst.slice(0, 2));
  assert.equal(start.newerCursor, null);
  // The date range is of the creation time.
  assert.deepEqual(ids(await search({ ...query, limit: "10", from: "2026-06-02" })), []);
  assert.deepEqual(ids(await search({ ...query, limit: "10", status: "all", q: "other" })), []);
  const bad = await pipeline.request("GET", "/api/v1/search?from=soon&color=red");
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.error.problems.map((p) => p.path), ["from", "color"]);
});

test("up next lists approved posts in the order they go out, with the quota hold and when it is expected to lift", async () => {
  const now = Date.now();
  const later = await insert({ caption: "Up next: in two hours", columns: { status: "approved", approved_revision: 1, approved_by: "Riko", approved_at: rfc3339(now - 3 * HOUR), scheduled_at: rfc3339(now + 2 * HOUR) } });
  const soon = await insert({ caption: "Up next: in one hour", columns: { status: "approved", approved_revision: 1, approved_by: "Aiko", approved_at: rfc3339(now - 3 * HOUR), scheduled_at: rfc3339(now + HOUR) } });
  const held = await insert({
    caption: "Up next: as soon as possible, held",
    columns: {
      status: "approved",
      approved_revision: 1,
      approved_by: "Riko",
      approved_at: rfc3339(now - HOUR),
      publish_hold: "the publishing quota is used up",
      publish_hold_until: rfc3339(now + 5 * HOUR),
    },
  });
  const response = await pipeline.request("GET", "/api/v1/up-next?limit=100");
  assert.equal(response.status, 200, response.text);
  const posts = response.json.posts.filter((p) => [later, soon, held].includes(p.draftId));
  assert.deepEqual(posts.map((p) => p.draftId), [held, soon, later]);
  assert.deepEqual(posts[0].publishHold, { reason: "the publishing quota is used up", expectedAt: rfc3339(now + 5 * HOUR) });
  assert.equal(posts[0].asSoonAsPossible, true);
  assert.equal(posts[1].approvedBy, "Aiko");
  assert.equal(posts[1].at, rfc3339(now + HOUR));
  assert.equal((await pipeline.request("GET", "/api/v1/up-next?status=draft")).status, 400);
  // Paged by cursor.
  const one = await pipeline.request("GET", "/api/v1/up-next?limit=1");
  assert.ok(one.json.nextCursor);
  const rest = await pipeline.request("GET", `/api/v1/up-next?limit=100&cursor=${one.json.nextCursor}`);
  assert.deepEqual([...one.json.posts, ...rest.json.posts].map((p) => p.draftId), response.json.posts.map((p) => p.draftId));
});

test("the calendar shows posts scheduled or published in its span, and refuses a span it will not read", async () => {
  const day = Date.parse("2030-01-07T00:00:00Z");
  const scheduled = await insert({ caption: "Calendar scheduled", columns: { status: "approved", approved_revision: 1, approved_at: rfc3339(day - 24 * HOUR), scheduled_at: rfc3339(day + 10 * HOUR) } });
  const published = await insert({ caption: "Calendar published", columns: { status: "published", approved_revision: 1, publish_sent_at: "2030-01-08T09:00:00.123Z", permalink: "https://instagram.test/p/1" } });
  const outside = await insert({ caption: "Calendar outside", columns: { status: "approved", approved_revision: 1, scheduled_at: rfc3339(day + 9 * 24 * HOUR) } });
  const waiting = await insert({ caption: "Calendar not approved", columns: { scheduled_at: rfc3339(day + 10 * HOUR) } });
  const response = await pipeline.request("GET", `/api/v1/calendar?from=${rfc3339(day)}&to=${rfc3339(day + 7 * 24 * HOUR)}`, { token: REVIEWER.token });
  assert.equal(response.status, 200, response.text);
  const shown = response.json.posts.map((p) => p.draftId);
  assert.ok(shown.includes(scheduled) && shown.includes(published), JSON.stringify(response.json));
  assert.ok(!shown.includes(outside) && !shown.includes(waiting));
  const post = response.json.posts.find((p) => p.draftId === published);
  assert.equal(post.at, "2030-01-08T09:00:00.123Z");
  assert.equal(post.status, "published");
  for (const query of ["from=soon", "from=2030-01-01T00:00:00Z&to=2030-04-01T00:00:00Z", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z"]) {
    const refused = await pipeline.request("GET", `/api/v1/calendar?${query}`);
    assert.equal(refused.status, 400, query);
  }
  assert.equal((await pipeline.request("GET", `/api/v1/calendar?from=${rfc3339(day)}&to=${rfc3339(day + HOUR)}`, { token: null })).status, 401);
});

/** A session cookie for the review pages. */
async function sessionCookie() {
  const login = await fetch(`${pipeline.url}/review/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: pipeline.url },
    body: new URLSearchParams({ name: REVIEWER.name, token: REVIEWER.token, next: "/review" }),
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
  assert.ok(cookie, `signing in failed: ${login.status}`);
  return cookie;
}

test("the review pages: the list opens on drafts to review, each row telling drafts apart; search, filters and up next in the URL", async () => {
  const cookie = await sessionCookie();
  const page = async (path) => {
    const response = await pipeline.request("GET", path, { token: null, headers: { cookie } });
    assert.equal(response.status, 200, response.text.slice(0, 300));
    return response.text;
  };
  const waiting = await insert({ caption: "Rows apart: a draft to review\nsecond line", brief: "Spring sale for the bakery", language: "ja" });
  const approved = await insert({
    caption: "Rows apart: approved",
    columns: { status: "approved", approved_revision: 1, approved_by: "Aiko", approved_at: rfc3339(Date.now()), scheduled_at: "2031-05-01T09:30:00Z" },
  });
  const list = await page("/review");
  assert.match(list, /aria-current="page">Needs review/);
  assert.ok(list.includes(waiting) && !list.includes(approved), "the list opens on drafts that need review");
  const row = list.slice(list.indexOf(waiting) - 400, list.indexOf(waiting) + 1200);
  assert.match(row, /Rows apart: a draft to review</);
  assert.match(row, /Brief: Spring sale for the bakery/);
  assert.match(row, /class="language" title="Language"><span class="visually-hidden">Language: <\/span>ja</);
  const all = await page("/review?status=all&q=rows+apart");
  assert.ok(all.includes(waiting) && all.includes(approved));
  assert.match(all, /approved by Aiko/);
  assert.match(all, /datetime="2031-05-01T09:30:00Z"/);
  // The search box and the filters keep what the URL says.
  const filtered = await page("/review?status=approved&reviewer=Aiko&language=en&q=%E6%BA%80%E9%96%8B&from=2026-01-01");
  assert.match(filtered, /name="q" type="search" value="満開"/);
  assert.match(filtered, /name="reviewer" type="text" size="10" value="Aiko"/);
  assert.match(filtered, /href="\/review\?status=draft&amp;q=%E6%BA%80%E9%96%8B&amp;language=en&amp;reviewer=Aiko&amp;from=2026-01-01T00%3A00%3A00Z"/);
  const held = await insert({ caption: "Rows apart: held", columns: { status: "approved", approved_revision: 1, approved_by: "Riko", approved_at: rfc3339(Date.now()), publish_hold: "the publishing quota is used up" } });
  const next = await page("/review/up-next");
  assert.ok(next.indexOf(held) > 0 && next.indexOf(held) < next.indexOf(approved), "the held post goes out first");
  assert.match(next, /Held back: <\/strong>the publishing quota is used up\. When it can go out is not known yet\./);
  const calendar = await page("/review/calendar");
  assert.match(calendar, /<script src="\/review\/assets\/views.js" defer>/);
  const script = await pipeline.request("GET", "/review/assets/views.js", { token: null });
  assert.equal(script.status, 200);
});

/** A connected account row, as connecting one leaves it (its token is not needed here). */
function insertAccount(id, username, createdAt) {
  return insertStatement(pipeline.db, "accounts", {
    id,
    username,
    login: "instagram",
    graph_base_url: "https://graph.instagram.invalid",
    token_refreshed_at: createdAt,
    connected_by: "Riko",
    connected_at: createdAt,
    created_at: createdAt,
    updated_at: createdAt,
  }).run();
}

// Last in the file: the accounts it connects make the oldest, @shop_a, the default account,
// whose drafts the others' (naming no account) then are.
test("a reviewer limited to one account gets full pages of their own drafts, both ways, however others' drafts interleave: the list, search and up next", async () => {
  const [A, B] = ["17841400000000701", "17841400000000702"];
  await insertAccount(A, "shop_a", "2026-01-01T00:00:00Z");
  await insertAccount(B, "shop_b", "2026-01-02T00:00:00Z");
  const base = Date.parse("2026-07-01T00:00:00Z");
  const own = [];
  for (let i = 0; i < 15; i++) {
    const mine = i % 3 === 2;
    const id = await insert({ caption: `Interleaved ${i}`, language: "fi", columns: { account_id: mine ? B : A, created_at: rfc3339(base + i * HOUR) } });
    if (mine) own.push(id);
  }
  own.reverse();
  for (const query of [{ language: "fi", status: "all", limit: "2" }, { q: "Interleaved", status: "all", limit: "2" }]) {
    const what = JSON.stringify(query);
    let page = await search(query, MIKA.token);
    const pages = [ids(page)];
    while (page.olderCursor) {
      page = await search({ ...query, cursor: page.olderCursor }, MIKA.token);
      pages.push(ids(page));
    }
    assert.deepEqual(pages, [own.slice(0, 2), own.slice(2, 4), own.slice(4)], what);
    const back = await search({ ...query, before: page.newerCursor }, MIKA.token);
    assert.deepEqual(ids(back), own.slice(2, 4), what);
    const first = await search({ ...query, before: back.newerCursor }, MIKA.token);
    assert.deepEqual(ids(first), own.slice(0, 2), what);
    assert.equal(first.newerCursor, null, what);
    // Riko reviews every account: all fifteen.
    assert.equal(ids(await search({ ...query, limit: "100" })).length, 15, what);
  }

  // Up next: the posts of other accounts (the earlier tests' too) go out first, and come
  // before each of Mika's; her pages are full all the same.
  const now = Date.now();
  const posts = [];
  for (let i = 0; i < 9; i++) {
    const mine = i % 3 === 2;
    const id = await insert({
      caption: `Interleaved up next ${i}`,
      columns: { status: "approved", approved_revision: 1, approved_by: "Riko", approved_at: rfc3339(now - HOUR), scheduled_at: rfc3339(now + (100 + i) * HOUR), account_id: mine ? B : A },
    });
    if (mine) posts.push(id);
  }
  const upNext = async (cursor) => {
    const response = await pipeline.request("GET", `/api/v1/up-next?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: MIKA.token });
    assert.equal(response.status, 200, response.text);
    return response.json;
  };
  const one = await upNext();
  assert.deepEqual(one.posts.map((p) => p.draftId), posts.slice(0, 2));
  assert.ok(one.nextCursor, "a next page");
  const two = await upNext(one.nextCursor);
  assert.deepEqual(two.posts.map((p) => p.draftId), posts.slice(2));
  assert.equal(two.nextCursor, null);
  assert.ok(two.posts.every((p) => p.account === "@shop_b"));
});
