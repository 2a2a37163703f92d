// Accounts and their tokens, against the compiled Workers: tokens sealed in D1 (read back
// here with node's own AES-256-GCM, so the stored form is checked from outside), a key
// rotation, the scheduler's token refresh (exactly once when two runs overlap), a revoked
// token, a deploy from before accounts that upgrades itself, and a missing key.
//
// The Graph API simulator serves one account and no `refresh_access_token` yet, so the
// publish consumer talks to it through `startTokenServer` below: it answers
// `refresh_access_token` itself (counting the calls, or refusing with 190 when told), and
// passes every other call on to the simulator, swapping a token it issued for the one the
// simulator accepts.
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import { TOKEN_ENCRYPTION_KEY } from "./harness.mjs";
import { message, PUBLISH, rfc3339, startPublishing } from "./publish-support.mjs";
import { assertNoSecret } from "./support.mjs";

const DAY = 24 * 3600 * 1000;
/** The key after a rotation (tests only). */
const NEW_KEY = randomBytes(32).toString("base64");
/** A copy of the publish consumer restarted with the new key, the old one as previous. */
const ROTATED = "publish-consumer-rotated";
/** A copy configured as a deploy from before accounts: INSTAGRAM_ACCOUNT_ID and the secret. */
const UPGRADED = "publish-consumer-upgraded";
/** A copy without TOKEN_ENCRYPTION_KEY. */
const KEYLESS = "publish-consumer-keyless";
/** A copy whose key is neither of the keys the tokens were sealed with: a lost key. */
const LOST_KEY = "publish-consumer-lost-key";
const THIRD_KEY = randomBytes(32).toString("base64");

// crates/vault's stored form, rebuilt here: base64(nonce || ciphertext || tag), the account
// id as associated data, the key id the first 8 bytes of SHA-256 over a label and the key.
const AAD_PREFIX = "instagram-pipeline/token/v1:";
function keyId(key) {
  return createHash("sha256")
    .update(Buffer.concat([Buffer.from("instagram-pipeline/token-key-id/v1:"), Buffer.from(key, "base64")]))
    .digest("hex")
    .slice(0, 16);
}
function openToken(key, accountId, blob) {
  const raw = Buffer.from(blob, "base64");
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(key, "base64"), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(AAD_PREFIX + accountId));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
}
function sealToken(key, accountId, token) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(key, "base64"), nonce);
  cipher.setAAD(Buffer.from(AAD_PREFIX + accountId));
  const sealed = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return Buffer.concat([nonce, sealed, cipher.getAuthTag()]).toString("base64");
}

/**
 * Instagram's token endpoint for the tests: `GET /refresh_access_token` issues a new token
 * (counted in `refreshes`, answered after `delayMs`), or answers 190 while `revoked`; every
 * other request goes on to `target` (the simulator), a token issued here swapped for
 * `simToken`.
 */
async function startTokenServer() {
  const server = { target: null, simToken: null, issued: new Set(), refreshes: [], revoked: false, delayMs: 0 };
  const http = createServer(async (req, res) => {
    const url = new URL(req.url, "http://local");
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    if (url.pathname === "/refresh_access_token") {
      const presented = url.searchParams.get("access_token");
      server.refreshes.push({ grantType: url.searchParams.get("grant_type"), presented, authorization: req.headers.authorization ?? null });
      await new Promise((resolve) => setTimeout(resolve, server.delayMs));
      if (server.revoked) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "Error validating access token: The session has been invalidated because the user changed their password.", type: "OAuthException", code: 190, error_subcode: 460 } }));
        return;
      }
      const token = `IGQVrefreshed${randomBytes(12).toString("hex")}`;
      server.issued.add(token);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ access_token: token, token_type: "bearer", expires_in: 5_184_000 }));
      return;
    }
    const headers = {};
    for (const name of ["content-type", "authorization"]) if (req.headers[name]) headers[name] = req.headers[name];
    const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? "")?.[1];
    if (bearer && server.issued.has(bearer)) headers.authorization = `Bearer ${server.simToken}`;
    const upstream = await fetch(server.target + req.url, {
      method: req.method,
      headers,
      body: req.method === "GET" ? undefined : Buffer.concat(chunks),
    });
    const out = {};
    for (const name of ["content-type", "retry-after", "www-authenticate", "x-business-use-case-usage"]) {
      const value = upstream.headers.get(name);
      if (value !== null) out[name] = value;
    }
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  server.url = `http://127.0.0.1:${http.address().port}`;
  server.close = () => new Promise((resolve) => http.close(resolve));
  return server;
}

let p;
let tokens;
let accountId;
before(async () => {
  tokens = await startTokenServer();
  p = await startPublishing({
    vars: { GRAPH_API_BASE_URL: tokens.url },
    logs: true,
    copies: {
      [ROTATED]: { of: PUBLISH, vars: { TOKEN_ENCRYPTION_KEY: NEW_KEY, TOKEN_ENCRYPTION_KEY_PREVIOUS: TOKEN_ENCRYPTION_KEY } },
      [KEYLESS]: { of: PUBLISH, vars: { TOKEN_ENCRYPTION_KEY: undefined } },
      [LOST_KEY]: { of: PUBLISH, vars: { TOKEN_ENCRYPTION_KEY: THIRD_KEY } },
    },
  });
  tokens.target = p.sim.url;
  tokens.simToken = p.sim.token;
  accountId = p.sim.userId;
});
after(async () => {
  await p?.dispose();
  await tokens?.close();
});
beforeEach(() => {
  p.resetSim();
  p.webhook.reset();
  tokens.revoked = false;
  tokens.delayMs = 0;
});

async function account(id = accountId) {
  return p.db.prepare("SELECT * FROM accounts WHERE id = ?1").bind(id).first();
}

/** Publishes a fresh approved draft through `worker`; asserts it went out. */
async function publishOne(worker = PUBLISH) {
  const draft = await p.approvedDraft();
  const { outcomes } = await p.pipeline.deliver(worker, "publish-queue", [message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published", row.last_error);
  return draft;
}

/** Every row of every table, as JSON: where a plain token must not be. */
async function everyRow() {
  const { results: tables } = await p.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all();
  const dump = [];
  for (const { name } of tables) dump.push(JSON.stringify((await p.db.prepare(`SELECT * FROM "${name}"`).all()).results));
  return dump.join("\n");
}

test("a deploy's first batch brings the simulator's account in, its token sealed: D1 never holds it in plain text", async () => {
  assert.equal(await p.pipeline.count("accounts"), 0);
  await publishOne();
  const row = await account();
  assert.equal(row.state, "connected");
  assert.equal(row.login, "instagram");
  assert.equal(row.graph_base_url, tokens.url);
  assert.match(row.connected_by, /simulator/);
  assert.equal(row.token_key_id, keyId(TOKEN_ENCRYPTION_KEY));
  assert.equal(openToken(TOKEN_ENCRYPTION_KEY, accountId, row.token_ciphertext), p.sim.token, "the sealed token is the simulator's");
  assert.throws(() => openToken(TOKEN_ENCRYPTION_KEY, "17841400000000009", row.token_ciphertext), "it opens for another account");
  assertNoSecret(await everyRow(), [p.sim.token], "D1");
  assertNoSecret(Buffer.from(row.token_ciphertext, "base64").toString("latin1"), [p.sim.token], "the ciphertext");
  // A second batch takes nothing again: the same sealed token.
  await publishOne();
  assert.equal((await account()).token_ciphertext, row.token_ciphertext);
  assert.equal(await p.pipeline.count("accounts"), 1);
});

test("a token 9 days from expiry is renewed by one scheduler run, exactly once when two runs overlap, and publishing goes on with it", async () => {
  await publishOne();
  const now = Date.now();
  const before = await account();
  await p.db
    .prepare("UPDATE accounts SET token_expires_at = ?2, token_refreshed_at = ?3 WHERE id = ?1")
    .bind(accountId, rfc3339(new Date(now + 9 * DAY)), rfc3339(new Date(now - 2 * DAY)))
    .run();
  tokens.refreshes.length = 0;
  tokens.delayMs = 300;
  await Promise.all([p.pipeline.runCron({ at: now }), p.pipeline.runCron({ at: now })]);
  assert.equal(tokens.refreshes.length, 1, "the token was refreshed more than once");
  const [call] = tokens.refreshes;
  assert.equal(call.grantType, "ig_refresh_token");
  assert.equal(call.presented, p.sim.token, "the refresh presented another token");
  const row = await account();
  const fresh = openToken(TOKEN_ENCRYPTION_KEY, accountId, row.token_ciphertext);
  assert.ok(tokens.issued.has(fresh), "the stored token is not the refreshed one");
  assert.notEqual(row.token_ciphertext, before.token_ciphertext);
  assert.equal(row.token_refreshed_at, rfc3339(new Date(now)));
  assert.equal(row.token_expires_at, rfc3339(new Date(Math.floor(now / 1000) * 1000 + 5_184_000_000)));
  assert.equal(row.refresh_claim, null);
  assertNoSecret(await everyRow(), [fresh, p.sim.token], "D1");
  // Renewed: the next runs leave it alone.
  await p.pipeline.runCron({ at: now + 60_000 });
  await p.pipeline.runCron({ at: now + 2 * DAY });
  assert.equal(tokens.refreshes.length, 1, "a renewed token was refreshed again");
  // The new token publishes; the old secret was not taken back.
  await publishOne();
  assert.equal(openToken(TOKEN_ENCRYPTION_KEY, accountId, (await account()).token_ciphertext), fresh);
  assert.equal(p.webhook.calls().length, 0);
});

test("a key rotation: restarted with a new key and the old one as previous, the scheduler seals every token again and publishing goes on", async () => {
  await publishOne();
  const second = "17841400000000002";
  const secondToken = `IGQVsecond${randomBytes(8).toString("hex")}`;
  const at = rfc3339(new Date());
  await p.db
    .prepare(
      `INSERT INTO accounts (id, username, login, graph_base_url, token_ciphertext, token_key_id, token_refreshed_at,
         state, connected_by, connected_at, created_at, updated_at)
       VALUES (?1, 'second_shop', 'facebook', ?2, ?3, ?4, ?5, 'connected', 'e2e', ?5, ?5, ?5)`,
    )
    .bind(second, tokens.url, sealToken(TOKEN_ENCRYPTION_KEY, second, secondToken), keyId(TOKEN_ENCRYPTION_KEY), at)
    .run();
  const before = await account();
  const plain = openToken(TOKEN_ENCRYPTION_KEY, accountId, before.token_ciphertext);

  await p.pipeline.runCron({ at: Date.now(), worker: ROTATED });
  const { results } = await p.db.prepare("SELECT * FROM accounts ORDER BY id").all();
  assert.equal(results.length, 2);
  for (const row of results) {
    assert.equal(row.token_key_id, keyId(NEW_KEY), `${row.id} is still sealed with the old key`);
    assert.throws(() => openToken(TOKEN_ENCRYPTION_KEY, row.id, row.token_ciphertext), "the old key still opens it");
  }
  assert.equal(openToken(NEW_KEY, accountId, (await account()).token_ciphertext), plain);
  assert.equal(openToken(NEW_KEY, second, (await account(second)).token_ciphertext), secondToken);
  // The restarted consumer publishes with the resealed token.
  await publishOne(ROTATED);
  // A later run has nothing left to reseal.
  const sealed = (await account()).token_ciphertext;
  await p.pipeline.runCron({ at: Date.now(), worker: ROTATED });
  assert.equal((await account()).token_ciphertext, sealed);
  await p.db.prepare("DELETE FROM accounts WHERE id = ?1").bind(second).run();
});

test("a revoked token: the refresh gets 190, the account needs reconnecting, the operator hears once, and its draft waits with the reason", async () => {
  const worker = ROTATED; // the tokens are sealed with the new key now
  const now = Date.now();
  await p.db
    .prepare("UPDATE accounts SET token_expires_at = ?2, token_refreshed_at = ?3 WHERE id = ?1")
    .bind(accountId, rfc3339(new Date(now + 5 * DAY)), rfc3339(new Date(now - 3 * DAY)))
    .run();
  const sealed = (await account()).token_ciphertext;
  tokens.revoked = true;
  tokens.refreshes.length = 0;
  await Promise.all([p.pipeline.runCron({ at: now, worker }), p.pipeline.runCron({ at: now, worker })]);
  assert.equal(tokens.refreshes.length, 1);
  let row = await account();
  assert.equal(row.state, "needs_reconnect");
  assert.match(row.state_reason, /code 190, subcode 460/);
  assert.equal(row.token_ciphertext, sealed, "the old token was not kept");
  const alerts = p.webhook.calls();
  assert.equal(alerts.length, 1, JSON.stringify(alerts.map((a) => a.json)));
  assert.match(alerts[0].json.text, new RegExp(`account ${accountId} needs reconnecting`));
  assertNoSecret(alerts[0].text, [p.sim.token, ...tokens.issued], "the alert");
  // Later runs neither refresh nor alert again.
  await p.pipeline.runCron({ at: now + 60_000, worker });
  assert.equal(tokens.refreshes.length, 1);
  assert.equal(p.webhook.calls().length, 1);

  // Its draft waits with the reason, and nothing is sent to Instagram.
  const draft = await p.approvedDraft();
  const { outcomes } = await p.pipeline.deliver(worker, "publish-queue", [message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  row = await p.row(draft.id);
  assert.equal(row.status, "approved");
  assert.match(row.last_error, new RegExp(`the account account ${accountId} needs reconnecting`));
  assert.equal(row.publish_attempts, 0, "waiting for the account spent an attempt");
  const [again] = p.sent("publish-queue", draft.id);
  assert.equal(again.options.delaySeconds, 900);
  assert.deepEqual(p.ops(), [], "a call went to Instagram for an account that needs reconnecting");
  assert.equal(p.webhook.calls().length, 1);
  // The scheduler holds a due post of that account with the same reason.
  await p.db.prepare("UPDATE drafts SET publish_due_at = NULL WHERE id = ?1").bind(draft.id).run();
  await p.pipeline.runCron({ at: Date.now(), worker });
  row = await p.row(draft.id);
  assert.match(row.publish_hold, /needs reconnecting/);
  assert.equal(p.sent("publish-queue", draft.id).length, 1, "the scheduler queued a post of an account that needs reconnecting");
});

test("a deploy from before accounts (INSTAGRAM_ACCOUNT_ID and the secret, no accounts) upgrades itself and keeps publishing; a token changed since is not overwritten by the same secret", async () => {
  // A pipeline of its own: a fresh D1 whose accounts table is empty, as after the migration.
  const upgraded = await startPublishing({
    vars: { GRAPH_API_BASE_URL: tokens.url, INSTAGRAM_ACCOUNT_ID: p.sim.userId, INSTAGRAM_ACCESS_TOKEN: p.sim.token },
  });
  try {
    tokens.target = upgraded.sim.url;
    tokens.simToken = upgraded.sim.token;
    assert.equal(await upgraded.pipeline.count("accounts"), 0);
    const draft = await upgraded.approvedDraft();
    assert.deepEqual((await upgraded.publish([message(draft.id)])).outcomes, ["acked"]);
    const published = await upgraded.row(draft.id);
    assert.equal(published.status, "published", published.last_error);
    assert.equal(published.account_id, null, "the draft names no account: it is the default's");
    const row = await upgraded.db.prepare("SELECT * FROM accounts").first();
    assert.equal(row.id, upgraded.sim.userId);
    assert.match(row.connected_by, /INSTAGRAM_ACCOUNT_ID/);
    assert.equal(row.state, "connected");
    assert.equal(openToken(TOKEN_ENCRYPTION_KEY, row.id, row.token_ciphertext), upgraded.sim.token);
    // As after a refresh: another token stored. The unchanged secret does not take it back.
    const other = sealToken(TOKEN_ENCRYPTION_KEY, row.id, "IGQVrenewedmeanwhile0123456789");
    await upgraded.db.prepare("UPDATE accounts SET token_ciphertext = ?1").bind(other).run();
    await upgraded.pipeline.runCron({ at: Date.now() });
    assert.equal((await upgraded.db.prepare("SELECT * FROM accounts").first()).token_ciphertext, other);
  } finally {
    tokens.target = p.sim.url;
    tokens.simToken = p.sim.token;
    await upgraded.dispose();
  }
});

test("without TOKEN_ENCRYPTION_KEY the consumer says so by name and leaves every message to the queue", async () => {
  const draft = await p.approvedDraft();
  const mark = p.pipeline.logs.length;
  const { outcomes } = await p.pipeline.deliver(KEYLESS, "publish-queue", [message(draft.id)]);
  assert.deepEqual(outcomes, ["retried"]);
  assert.equal((await p.row(draft.id)).status, "approved");
  const said = p.pipeline.logs.slice(mark).join("\n");
  assert.match(said, /the secret TOKEN_ENCRYPTION_KEY is not set/);
});

test("a lost key: the settings' account is taken again from its secret, sealed with the key there is, and publishes", async () => {
  const before = await account();
  assert.notEqual(before.token_key_id, keyId(THIRD_KEY));
  await publishOne(LOST_KEY);
  const row = await account();
  assert.equal(row.token_key_id, keyId(THIRD_KEY));
  assert.equal(row.state, "connected", "taking the secret again connects the account again");
  assert.equal(openToken(THIRD_KEY, accountId, row.token_ciphertext), p.sim.token);
  // Taken once: the next batch keeps it.
  await publishOne(LOST_KEY);
  assert.equal((await account()).token_ciphertext, row.token_ciphertext);
});

test("a disconnected account (no token): its draft waits with the reason, and the unchanged secret does not connect it again", async () => {
  await p.db
    .prepare("UPDATE accounts SET state = 'disconnected', state_reason = 'disconnected by a reviewer', token_ciphertext = NULL, token_key_id = NULL WHERE id = ?1")
    .bind(accountId)
    .run();
  const draft = await p.approvedDraft();
  const { outcomes } = await p.pipeline.deliver(LOST_KEY, "publish-queue", [message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  const row = await p.row(draft.id);
  assert.equal(row.status, "approved");
  assert.match(row.last_error, /is disconnected \(disconnected by a reviewer\)/);
  assert.deepEqual(p.ops(), []);
  const stored = await account();
  assert.equal(stored.state, "disconnected");
  assert.equal(stored.token_ciphertext, null);
});

test("one account out of quota, then throttled: the other account's due posts are queued and published on time, and the held ones say why", async () => {
  // Two accounts of their own, connected as the page would leave them; earlier tests left the
  // settings' account disconnected.
  const insert = async (account) => {
    const now = rfc3339(new Date());
    await p.db
      .prepare(
        `INSERT INTO accounts (id, username, login, graph_base_url, token_ciphertext, token_key_id, token_expires_at,
                               token_refreshed_at, state, connected_by, connected_at, created_at, updated_at)
         VALUES (?1, ?2, 'instagram', ?3, ?4, ?5, ?6, ?7, 'connected', 'e2e', ?7, ?7, ?7)`,
      )
      .bind(account.userId, account.username, p.sim.url, sealToken(TOKEN_ENCRYPTION_KEY, account.userId, account.token), keyId(TOKEN_ENCRYPTION_KEY), rfc3339(new Date(Date.now() + 50 * DAY)), now)
      .run();
    return account;
  };
  const first = await insert(p.sim.addAccount({ username: "first_shop" }));
  const second = await insert(p.sim.addAccount({ username: "second_shop" }));
  const mediaOf = (userId) => p.sim.state.media(userId).map((m) => m.caption);
  const sentFor = (ids) => p.pipeline.sent.filter((s) => s.queue === "publish-queue" && ids.includes(s.body?.id));

  for (const [round, fault] of [
    ["out of quota", { kind: "quota_exhausted", account: first.userId }],
    ["throttled", { kind: "rate_limit", code: 4, retryAfter: 600, account: first.userId, times: 1_000 }],
  ]) {
    p.resetSim();
    p.sim.control.fault(fault);
    const past = new Date(Date.now() - 60_000).toISOString();
    const held = await p.approvedDrafts(2, () => ({ columns: { scheduled_at: past, account_id: first.userId } }));
    const going = await p.approvedDrafts(2, () => ({ columns: { scheduled_at: past, account_id: second.userId } }));
    p.pipeline.sent.length = 0;
    await p.pipeline.runCron({ at: new Date() });
    // The fault happened, to the first account only.
    // The fault happened, to the first account only: its quota read said the quota is used
    // up, or its calls were throttled.
    const calls = p.calls();
    const limits = (userId) => calls.filter((c) => c.op === "limit" && c.account === userId);
    if (fault.kind === "quota_exhausted") {
      const usage = p.sim.state.quota(first.userId);
      assert.ok(usage.usage >= usage.total, `${round}: ${JSON.stringify(usage)}`);
      assert.ok(limits(first.userId).length > 0, `${round}: the first account's quota was not read`);
    } else {
      assert.ok(limits(first.userId).some((c) => c.fault), `${round}: the first account's calls met no fault`);
    }
    assert.ok(!calls.some((c) => c.account === second.userId && c.fault), `${round}: the second account met a fault`);
    // The second account's posts are queued this run. Out of quota, the first's are held
    // with the reason; throttled, the quota could not be read, so they go to the consumer,
    // which waits them out.
    assert.deepEqual(sentFor(going.map((d) => d.id)).map((s) => s.body.id).sort(), going.map((d) => d.id).sort(), round);
    if (fault.kind === "quota_exhausted") {
      assert.equal(sentFor(held.map((d) => d.id)).length, 0, `${round}: a held post was queued`);
      for (const d of held) {
        const row = await p.row(d.id);
        assert.equal(row.status, "approved", round);
        assert.match(row.publish_hold ?? "", /quota/, `${round}: no hold reason on ${d.id}`);
      }
    }
    // Delivered together in one batch with messages for the held posts, the second
    // account's posts publish; the first account's wait, spending no attempt, failing nothing.
    const batch = [...going.map((d) => message(d.id)), ...held.map((d) => message(d.id))];
    const { outcomes } = await p.publish(batch);
    assert.deepEqual(outcomes, batch.map(() => "acked"), round);
    for (const d of going) {
      const row = await p.row(d.id);
      assert.equal(row.status, "published", `${round}: ${row.last_error}`);
      assert.ok(mediaOf(second.userId).includes(d.instagramCaption), `${round}: not on the second account`);
      assert.ok(!mediaOf(first.userId).includes(d.instagramCaption), `${round}: on the first account`);
    }
    for (const d of held) {
      const row = await p.row(d.id);
      assert.equal(row.status, "approved", `${round}: ${row.last_error}`);
      assert.equal(row.publish_attempts, 0, round);
      assert.match(`${row.last_error} ${row.publish_hold}`, fault.kind === "quota_exhausted" ? /quota/ : /throttl|limit/i, round);
      assert.ok(!mediaOf(first.userId).includes(d.instagramCaption), round);
    }
    // Out of the way of the next round: the held drafts are discarded.
    for (const d of held) await p.db.prepare("UPDATE drafts SET status = 'discarded', publish_due_at = NULL WHERE id = ?1").bind(d.id).run();
  }
});
