// Accounts connected from the review page, against the compiled Workers and the Graph API
// simulator's Instagram Login: the authorization code flow with its `state` (bound to the
// session, single-use), a pasted token checked before it is stored, disconnecting, the
// record of who did it, tokens sealed in D1, and a reviewer limited to some accounts.
import assert from "node:assert/strict";
import { createDecipheriv, createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { GraphPipeline, REVIEWER, startWithGraph, TOKEN_ENCRYPTION_KEY } from "./harness.mjs";

/** Limited to @shop_tokyo. */
const AIKO = { name: "Aiko", token: "aiko-review-7c1f0e9b2d4a68f3c5e1" };
const REVIEWERS = `${REVIEWER.name}:${REVIEWER.token}\n${AIKO.name}:${AIKO.token} @shop_tokyo`;

let started;
let sim;
let pipeline;
before(async () => {
  started = new GraphPipeline(
    await startWithGraph({
      sim: { accounts: [{ username: "shop_tokyo" }, { username: "shop_osaka" }, { username: "founder" }] },
      vars: (sim) => ({
        api: {
          REVIEWERS,
          INSTAGRAM_AUTHORIZE_BASE_URL: sim.url,
          INSTAGRAM_TOKEN_BASE_URL: sim.url,
          INSTAGRAM_GRAPH_BASE_URL: sim.url,
          FACEBOOK_GRAPH_BASE_URL: sim.url,
          GRAPH_API_VERSION: sim.apiVersion,
        },
      }),
      options: { idle: ["publish-consumer"], logs: true },
    }),
  );
  ({ sim, pipeline } = started);
});
after(() => started?.dispose());

const userId = (username) => sim.state.accounts().find((a) => a.username === username).userId;

/** A request as the browser sends it from the page: redirects not followed. */
async function send(method, path, { form, headers = {} } = {}) {
  const response = await fetch(pipeline.url + path, {
    method,
    redirect: "manual",
    body: form && new URLSearchParams(form).toString(),
    headers: { ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...headers },
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function signIn({ name, token }) {
  const response = await send("POST", "/review/login", { form: { name, token, next: "/review" }, headers: { origin: pipeline.url } });
  assert.equal(response.status, 303, response.text);
  return response.headers.get("set-cookie").split(";")[0];
}

function page(cookie, method, path, form) {
  return send(method, path, { form, headers: { cookie, origin: pipeline.url } });
}

/** "Connect an Instagram account", then the simulator's authorize page: the callback URL the Allow link of `username` leads to. */
async function authorize(cookie, username) {
  const started = await page(cookie, "POST", "/review/accounts/connect", {});
  assert.equal(started.status, 303, started.text);
  const location = started.headers.get("location");
  assert.ok(location.startsWith(`${sim.url}/oauth/authorize?`), location);
  const state = new URL(location).searchParams.get("state");
  assert.match(state, /^[0-9a-f]{64}$/);
  const html = await (await fetch(location)).text();
  const item = new RegExp(`data-username="${username}"[^]*?href="([^"]+)"`).exec(html);
  assert.ok(item, `no Allow link for ${username}: ${html}`);
  const allowed = await fetch(sim.url + item[1].replaceAll("&amp;", "&"), { redirect: "manual" });
  assert.equal(allowed.status, 302);
  const back = new URL(allowed.headers.get("location"));
  assert.equal(back.pathname, "/review/accounts/callback");
  assert.equal(back.searchParams.get("state"), state);
  return back.pathname + back.search;
}

const accountRow = (id) => pipeline.db.prepare("SELECT * FROM accounts WHERE id = ?1").bind(id).first();
const actions = () => pipeline.db.prepare("SELECT * FROM account_actions ORDER BY id").all().then((r) => r.results);

function openToken(accountId, blob) {
  const raw = Buffer.from(blob, "base64");
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(TOKEN_ENCRYPTION_KEY, "base64"), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(`instagram-pipeline/token/v1:${accountId}`));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
}
const ref = (token) => createHash("sha256").update(token).digest("hex").slice(0, 12);

let riko;
test("Instagram Login connects an account: a long-lived token sealed in D1, the account's id and username, who connected it", async () => {
  riko = await signIn(REVIEWER);
  for (const username of ["shop_tokyo", "shop_osaka"]) {
    const callback = await authorize(riko, username);
    const done = await page(riko, "GET", callback);
    assert.equal(done.status, 303, done.text);
    assert.equal(done.headers.get("location"), `/review/accounts?connected=%40${username}`);
    const row = await accountRow(userId(username));
    assert.equal(row.username, username);
    assert.equal(row.login, "instagram");
    assert.equal(row.state, "connected");
    assert.equal(row.connected_by, REVIEWER.name);
    assert.equal(row.graph_base_url, sim.url);
    assert.ok(Date.parse(row.token_expires_at) > Date.now() + 50 * 24 * 3600 * 1000, row.token_expires_at);
    // Not plain text: sealed, and what it opens to is the simulator's newest long-lived
    // token for that account (the exchange's, not the short-lived code token).
    const plain = openToken(row.id, row.token_ciphertext);
    assert.ok(!row.token_ciphertext.includes(plain));
    const issued = sim.state.tokens(row.id).filter((t) => t.origin === "exchange");
    assert.equal(issued.length, 1);
    assert.equal(ref(plain), issued[0].ref);
    assert.ok(!JSON.stringify(row).includes(plain), "the token is nowhere in the row");
  }
  const acts = await actions();
  assert.deepEqual(
    acts.map((a) => [a.action, a.reviewer, a.login]),
    [
      ["connect", REVIEWER.name, "instagram"],
      ["connect", REVIEWER.name, "instagram"],
    ],
  );
  const listed = await page(riko, "GET", "/review/accounts");
  assert.equal(listed.status, 200);
  for (const text of ["@shop_tokyo", "@shop_osaka", "Instagram Login", "connected", REVIEWER.name]) {
    assert.ok(listed.text.includes(text), text);
  }
  assert.match(listed.headers.get("content-security-policy"), new RegExp(`form-action 'self' ${sim.url}`));
  // Neither the page nor the api's log holds a token, sealed or plain.
  const logs = pipeline.logs.join("\n");
  for (const username of ["shop_tokyo", "shop_osaka"]) {
    const row = await accountRow(userId(username));
    const plain = openToken(row.id, row.token_ciphertext);
    assert.ok(!logs.includes(plain), "a token in the log");
    assert.ok(!listed.text.includes(plain) && !listed.text.includes(row.token_ciphertext), "a token on the page");
  }
  assert.ok(!logs.includes("local-simulator-app-secret"), "the app secret in the log");
});

test("a callback whose state is wrong, used already, or another session's is refused and stores nothing", async () => {
  const before = await actions();
  const callback = await authorize(riko, "founder");
  // Another session of the same reviewer did not start it.
  const other = await signIn(REVIEWER);
  const elsewhere = await page(other, "GET", callback);
  assert.equal(elsewhere.status, 400, elsewhere.text);
  assert.match(elsewhere.text, /was not started here, was used already, or took too long/);
  // ...and the state is spent: the right session cannot use it afterwards either.
  const reused = await page(riko, "GET", callback);
  assert.equal(reused.status, 400);
  // Back from Instagram's site the browser leaves the SameSite=Strict cookie out: the page
  // asks for the same URL again from this site (once), which carries it.
  const fresh = await authorize(riko, "founder");
  const bare = await send("GET", fresh);
  assert.equal(bare.status, 200);
  const again = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(bare.text);
  assert.ok(again, bare.text);
  const resumed = again[1].replaceAll("&amp;", "&");
  assert.equal(resumed, `${fresh}&resumed=1`);
  assert.equal((await send("GET", resumed)).status, 303, "without a session the second time: sign in");
  assert.match((await send("GET", resumed)).headers.get("location"), /^\/review\/login\?next=/);
  const completed = await page(riko, "GET", resumed);
  assert.equal(completed.status, 303, completed.text);
  assert.equal((await accountRow(userId("founder"))).connected_by, REVIEWER.name);
  await pipeline.db.prepare("DELETE FROM accounts WHERE id = ?1").bind(userId("founder")).run();
  await pipeline.db.prepare("DELETE FROM account_actions WHERE account_id = ?1").bind(userId("founder")).run();
  // A state nobody made.
  const made = new URL(callback, "http://x");
  made.searchParams.set("state", randomBytes(32).toString("hex"));
  assert.equal((await page(riko, "GET", made.pathname + made.search)).status, 400);
  made.searchParams.set("state", "short");
  assert.equal((await page(riko, "GET", made.pathname + made.search)).status, 400);
  // A state used once works once: the second time is refused and records nothing more.
  const once = await authorize(riko, "shop_tokyo");
  assert.equal((await page(riko, "GET", once)).status, 303);
  const twice = await page(riko, "GET", once);
  assert.equal(twice.status, 400);
  assert.equal(await accountRow(userId("founder")), null);
  const after = await actions();
  assert.deepEqual(after.slice(before.length).map((a) => a.action), ["reconnect"]);
  // Without the page's own origin, connecting does not start.
  const foreign = await send("POST", "/review/accounts/connect", { form: {}, headers: { cookie: riko, origin: "https://evil.example" } });
  assert.equal(foreign.status, 403);
});

test("a pasted token is checked against the Graph API first: a bad one is refused with a clear error and never stored", async () => {
  const before = await actions();
  const bad = "EAAGbadtoken0123456789abcdef";
  const refused = await page(riko, "POST", "/review/accounts/token", { account: userId("founder"), token: bad });
  assert.equal(refused.status, 400);
  assert.match(refused.text, /the Graph API refused the token for account \d+/);
  assert.match(refused.text, /190/);
  assert.ok(!refused.text.includes(bad), "the token is shown back");
  assert.ok(!pipeline.logs.join("\n").includes(bad), "the token is in the log");
  assert.equal(await accountRow(userId("founder")), null);
  // A token of another account than the one named.
  const tokyoToken = sim.control.issueToken(userId("shop_tokyo"));
  const mismatch = await page(riko, "POST", "/review/accounts/token", { account: userId("founder"), token: tokyoToken });
  assert.equal(mismatch.status, 400);
  assert.equal(await accountRow(userId("founder")), null);
  assert.deepEqual(await actions(), before);
  // A good one connects the account as Facebook Login, sealed.
  const good = sim.control.issueToken(userId("founder"));
  const connected = await page(riko, "POST", "/review/accounts/token", { account: userId("founder"), token: good });
  assert.equal(connected.status, 303, connected.text);
  const row = await accountRow(userId("founder"));
  assert.equal(row.login, "facebook");
  assert.equal(row.username, "founder");
  assert.equal(row.token_expires_at, null);
  assert.equal(openToken(row.id, row.token_ciphertext), good);
  assert.ok(!row.token_ciphertext.includes(good));
});

test("disconnecting removes the token and is recorded; the account stays", async () => {
  const id = userId("founder");
  const gone = await page(riko, "POST", `/review/accounts/${id}/disconnect`, {});
  assert.equal(gone.status, 303, gone.text);
  const row = await accountRow(id);
  assert.equal(row.token_ciphertext, null);
  assert.equal(row.token_key_id, null);
  assert.equal(row.state, "disconnected");
  assert.match(row.state_reason, /disconnected by Riko/);
  const last = (await actions()).at(-1);
  assert.deepEqual([last.account_id, last.action, last.reviewer], [id, "disconnect", REVIEWER.name]);
  assert.equal((await page(riko, "POST", "/review/accounts/999/disconnect", {})).status, 404);
});

test("a draft is for the account named on generate (else the default); a reviewer limited to one account gets 404 reading and 403 acting on another's", async () => {
  const tokyo = await pipeline.generate({ brief: "Tokyo shop autumn menu", language: "en", account: "@Shop_Tokyo" });
  assert.equal(tokyo.status, 201, tokyo.text);
  assert.equal(tokyo.json.accountId, userId("shop_tokyo"));
  const osaka = await pipeline.generate({ brief: "Osaka shop autumn menu", language: "en", account: userId("shop_osaka") });
  assert.equal(osaka.status, 201, osaka.text);
  assert.equal(osaka.json.accountId, userId("shop_osaka"));
  const unknown = await pipeline.generate({ brief: "x", account: "@nobody_here" });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error.problems[0].path, "account");
  const byDefault = await pipeline.generate({ brief: "Default account post", language: "en" });
  assert.equal(byDefault.json.accountId, userId("shop_tokyo"), "the oldest account is the default");

  const asAiko = (method, path, body) => pipeline.request(method, path, { token: AIKO.token, body, headers: { "x-reviewer": AIKO.name } });
  const other = osaka.json.draftId;
  assert.equal((await asAiko("GET", `/api/v1/drafts/${other}`)).status, 404);
  assert.equal((await asAiko("GET", `/api/v1/drafts/${other}/history`)).status, 404);
  assert.equal((await asAiko("POST", `/api/v1/drafts/${other}/approve`, { revision: osaka.json.revision })).status, 403);
  assert.equal((await asAiko("PATCH", `/api/v1/drafts/${other}`, { revision: osaka.json.revision, caption: "x" })).status, 403);
  assert.equal((await asAiko("POST", `/api/v1/drafts/${other}/comments`, { comment: "x" })).status, 403);
  assert.equal((await asAiko("GET", `/api/v1/drafts/${tokyo.json.draftId}`)).status, 200);
  // Riko reviews every account.
  assert.equal((await pipeline.request("GET", `/api/v1/drafts/${other}`, { token: REVIEWER.token })).status, 200);

  // Lists and counts hold only Aiko's account.
  const list = await asAiko("GET", "/api/v1/drafts?limit=100");
  assert.equal(list.status, 200, list.text);
  const ids = list.json.drafts.map((d) => d.draftId);
  assert.ok(ids.includes(tokyo.json.draftId) && !ids.includes(other), JSON.stringify(ids));
  assert.ok(list.json.drafts.every((d) => d.accountId === userId("shop_tokyo")));
  assert.equal(Object.values(list.json.counts).reduce((a, b) => a + b, 0), ids.length);
  assert.equal((await asAiko("GET", "/api/v1/drafts?account=@shop_osaka")).json.drafts.length, 0);
  // The filter, for a reviewer of every account.
  const osakaOnly = await pipeline.request("GET", "/api/v1/drafts?account=@shop_osaka", { token: REVIEWER.token });
  assert.deepEqual(osakaOnly.json.drafts.map((d) => d.draftId), [other]);
  assert.equal(osakaOnly.json.counts.draft, 1);
  assert.equal((await pipeline.request("GET", "/api/v1/drafts?account=@nobody_here")).status, 400);

  // The page: the other account's draft is not found, and the list does not show it.
  const aiko = await signIn(AIKO);
  assert.equal((await page(aiko, "GET", `/review/${other}`)).status, 404);
  const own = await page(aiko, "GET", `/review/${tokyo.json.draftId}`);
  assert.equal(own.status, 200);
  assert.match(own.text, /For <strong id="draft-account">@shop_tokyo<\/strong>/);
  const listPage = await page(aiko, "GET", "/review");
  assert.ok(listPage.text.includes(tokyo.json.draftId) && !listPage.text.includes(other));
  const failures = await page(aiko, "GET", "/review/failures");
  assert.equal(failures.status, 200);
  assert.match(failures.text, /shown only to reviewers of every account/);
  assert.doesNotMatch((await page(riko, "GET", "/review/failures")).text, /shown only to reviewers of every account/);
  const accountsPage = await page(aiko, "GET", "/review/accounts");
  assert.ok(accountsPage.text.includes("@shop_tokyo") && !accountsPage.text.includes("@shop_osaka"));
  assert.ok(!accountsPage.text.includes("Connect an Instagram account"));
  assert.equal((await page(aiko, "POST", "/review/accounts/connect", {})).status, 403);
  assert.equal((await page(aiko, "POST", `/review/accounts/${userId("shop_osaka")}/disconnect`, {})).status, 404);
  assert.equal((await accountRow(userId("shop_osaka"))).state, "connected");
});

test("an account whose token Meta refused shows 'needs reconnect' with the reason on the page", async () => {
  const id = userId("shop_osaka");
  const reason = "Meta refused the token (code 190): connect the account again";
  // As the scheduler's refresh leaves it (tests/e2e/accounts.test.mjs drives that part).
  await pipeline.db.prepare("UPDATE accounts SET state = 'needs_reconnect', state_reason = ?2 WHERE id = ?1").bind(id, reason).run();
  const listed = await page(riko, "GET", "/review/accounts");
  assert.equal(listed.status, 200);
  const row = new RegExp(`@shop_osaka[^]*?</tr>`).exec(listed.text)?.[0] ?? "";
  assert.match(row, /needs reconnect/);
  assert.ok(row.includes(reason.replace("'", "&#39;")), row);
  await pipeline.db.prepare("UPDATE accounts SET state = 'connected', state_reason = NULL WHERE id = ?1").bind(id).run();
});
