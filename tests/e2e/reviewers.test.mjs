// Who may approve: approving, re-approving, rescheduling and withdrawing are a named
// reviewer's acts (a session, or the reviewer's own token as the bearer token); the
// automation's API_TOKEN generates, reads and edits but gets 403 there. Withdrawing an
// approval, sessions bound to the token that made them, "sign out everywhere", limits on
// failed credentials, secret strength, and the smaller guards around them.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { reply, startFakeOpenAI } from "../fakes/openai.mjs";
import { API_TOKEN, REVIEWER, startPipeline } from "./harness.mjs";
import { reviewing } from "./reviewing.mjs";

const AIKO = { name: "Aiko", token: "aiko-review-7c1f0e9b2d4a68f3c5e1" };
// Reviewers whose names the limit tests use up: nobody else signs in as them.
const MIKA = { name: "Mika", token: "mika-review-5e2d9c8b7a6f4130e2d1" };
const NANA = { name: "Nana", token: "nana-review-0c9b8a7d6e5f4321a0b9" };
const RIKO_NEW_TOKEN = "riko-rotated-b93e0c7a5d1f42e8a6c4";
const REVIEWERS = [REVIEWER, AIKO, MIKA, NANA].map((r) => `${r.name}:${r.token}`).join("\n");
/** A webhook's URL is its secret; this one cannot be fetched (no such port), so fetch throws. */
const WEBHOOK = "https://hooks.example.com:99999/services/T000/B000/secret-webhook-path";

let pipeline;
let openai;
before(async () => {
  openai = await startFakeOpenAI();
  pipeline = await startPipeline(
    { api: { REVIEWERS }, "publish-consumer": { ALERT_WEBHOOK_URL: WEBHOOK } },
    {
      record: true,
      logs: true,
      // Messages stay in the publish queue, so a withdrawn post's message can be handed over.
      idle: ["publish-consumer"],
      variants: {
        // The same storage after Riko got a new token, and after Riko was removed.
        rotated: { REVIEWERS: `${REVIEWER.name}:${RIKO_NEW_TOKEN}\n${AIKO.name}:${AIKO.token}` },
        removed: { REVIEWERS: `${AIKO.name}:${AIKO.token}` },
        weakApiToken: { API_TOKEN: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
        shortApiToken: { API_TOKEN: "0123456789abcdef" },
        noApiToken: { API_TOKEN: undefined },
        // A token written where the name goes, and a guessable token.
        wrongOrder: { REVIEWERS: `${REVIEWER.token}:${REVIEWER.name}` },
        weakReviewer: { REVIEWERS: `${REVIEWER.name}:aaaaaaaaaaaaaaaa` },
        // The caption writer is a model that takes its time.
        slowModel: { LLM_PROVIDER: "openai", OPENAI_BASE_URL: openai.baseUrl, OPENAI_API_KEY: "sk-fake-reviewers-test" },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await openai?.close();
});

let clients = 0;
/** A client address of its own, so one test's failures do not count against another's. */
function client() {
  clients += 1;
  return `198.51.100.${clients}`;
}

const { readyDraft, postSignIn, signIn, withSession, publishSends, approvedDraft } = reviewing(() => pipeline, { client });

test("the API_TOKEN gets 403 on approve, reapprove, schedule and withdraw, and nothing changes", async () => {
  const underReview = await readyDraft();
  const approved = await approvedDraft({ scheduledAt: new Date(Date.now() + 86400000).toISOString() });
  const failed = await approvedDraft();
  await pipeline.db.prepare("UPDATE drafts SET status = 'failed', last_error = 'test' WHERE id = ?1").bind(failed.draftId).run();
  const failedRevision = (await pipeline.draftRow(failed.draftId)).revision;
  for (const [id, action, body] of [
    [underReview.draftId, "approve", { revision: underReview.revision }],
    [failed.draftId, "reapprove", { revision: failedRevision }],
    [approved.draftId, "schedule", { revision: approved.revision, scheduledAt: null }],
    [approved.draftId, "withdraw", { revision: approved.revision }],
  ]) {
    const rowBefore = await pipeline.draftRow(id);
    const sendsBefore = publishSends(id).length;
    const refused = await pipeline.request("POST", `/api/v1/drafts/${id}/${action}`, { body });
    assert.equal(refused.status, 403, `${action}: ${refused.text}`);
    assert.equal(refused.json.error.code, "forbidden");
    assert.match(refused.json.error.message, /reviewer/);
    assert.deepEqual(await pipeline.draftRow(id), rowBefore, `${action} changed the draft`);
    assert.equal(publishSends(id).length, sendsBefore, `${action} queued a message`);
  }
  // The same requests with a reviewer's token go through.
  for (const [id, action, body] of [
    [underReview.draftId, "approve", { revision: underReview.revision }],
    [failed.draftId, "reapprove", { revision: failedRevision }],
  ]) {
    const done = await pipeline.request("POST", `/api/v1/drafts/${id}/${action}`, { body, token: REVIEWER.token });
    assert.equal(done.status, 200, `${action}: ${done.text}`);
  }
  const withdrawn = await pipeline.request("POST", `/api/v1/drafts/${approved.draftId}/withdraw`, {
    body: { revision: approved.revision },
    token: AIKO.token,
  });
  assert.equal(withdrawn.status, 200, withdrawn.text);
});

test("the API_TOKEN keeps generate, reading and editing; a reviewer's token is not the automation's", async () => {
  const draft = await readyDraft();
  const read = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}`);
  assert.equal(read.status, 200, read.text);
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${draft.draftId}`, {
    body: { revision: draft.revision, caption: "Pumpkin soup, now with ginger" },
  });
  assert.equal(edited.status, 200, edited.text);
  const history = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}/history`);
  assert.deepEqual(history.json.comments.map((c) => `${c.reviewer} ${c.decision}`), ["api edit"]);
  // A reviewer's token reads and acts for that person, but does not generate.
  const asAiko = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}`, { token: AIKO.token });
  assert.equal(asAiko.status, 200, asAiko.text);
  const generate = await pipeline.generate({ brief: "Not for reviewers", language: "en" }, { token: AIKO.token });
  assert.equal(generate.status, 403, generate.text);
});

test("after a reviewer's token changes, or the reviewer is removed, their old session gets 401 on its next request", async () => {
  const rotated = pipeline.variant("rotated");
  const removed = pipeline.variant("removed");
  const path = "/api/v1/drafts";
  // Unchanged token: the session works on every copy of the Worker that has it.
  const kept = await signIn(AIKO);
  for (const via of [pipeline, rotated, removed]) {
    assert.equal((await withSession(via, kept, "GET", path)).status, 200);
  }
  // Riko's token changes: the session made with the old one ends at once, for good.
  const old = await signIn(REVIEWER);
  assert.equal((await withSession(pipeline, old, "GET", path)).status, 200);
  const ended = await withSession(rotated, old, "GET", path);
  assert.equal(ended.status, 401, ended.text);
  assert.equal((await withSession(pipeline, old, "GET", path)).status, 401, "the ended session came back");
  // The page sends the visitor to sign in.
  const page = await fetch(`${rotated.url}/review`, { redirect: "manual", headers: { cookie: old } });
  assert.equal(page.status, 303);
  // The new token signs in.
  const fresh = await signIn({ name: REVIEWER.name, token: RIKO_NEW_TOKEN }, { via: rotated });
  assert.equal((await withSession(rotated, fresh, "GET", path)).status, 200);
  // Riko removed: a session of Riko's ends too.
  const another = await signIn(REVIEWER);
  assert.equal((await withSession(removed, another, "GET", path)).status, 401);
  // The database holds no token, only fingerprints.
  const { results } = await pipeline.db.prepare("SELECT * FROM review_sessions").all();
  const stored = JSON.stringify(results);
  for (const secret of [REVIEWER.token, RIKO_NEW_TOKEN, AIKO.token]) assert.ok(!stored.includes(secret), "a token is stored");
  assert.ok(results.every((r) => /^[0-9a-f]{64}$/.test(r.token_fingerprint)), stored);
});

test("a session from before sessions remembered their token ends at its next request", async () => {
  const cookie = await signIn(AIKO);
  await pipeline.db.prepare("UPDATE review_sessions SET token_fingerprint = ''").run();
  assert.equal((await withSession(pipeline, cookie, "GET", "/api/v1/drafts")).status, 401);
});

test("sign out everywhere ends every session of that reviewer, and only theirs", async () => {
  const [phone, laptop, other] = [await signIn(REVIEWER), await signIn(REVIEWER), await signIn(AIKO)];
  const fromElsewhere = await fetch(`${pipeline.url}/review/logout/everywhere`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: phone, origin: "https://evil.example" },
  });
  assert.equal(fromElsewhere.status, 403);
  assert.equal((await withSession(pipeline, laptop, "GET", "/api/v1/drafts")).status, 200);
  const out = await fetch(`${pipeline.url}/review/logout/everywhere`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: phone, origin: pipeline.url },
  });
  assert.equal(out.status, 303);
  assert.match(out.headers.get("set-cookie"), /^__Host-review_session=;.*Max-Age=0/);
  for (const cookie of [phone, laptop]) {
    assert.equal((await withSession(pipeline, cookie, "GET", "/api/v1/drafts")).status, 401);
  }
  assert.equal((await withSession(pipeline, other, "GET", "/api/v1/drafts")).status, 200, "another reviewer was signed out");
});

/**
 * The limits count in windows of a minute on the clock: a run of attempts is started early
 * in one, so that it cannot straddle two and be counted half in each.
 */
async function startOfAMinute() {
  const second = new Date().getUTCSeconds() + new Date().getUTCMilliseconds() / 1000;
  if (second > 30) await new Promise((resolve) => setTimeout(resolve, (60.2 - second) * 1000));
}

test("failed sign-ins and bearer tokens are limited per client and logged without the token", async () => {
  const ip = client();
  await startOfAMinute();
  const wrong = "wrong-token-0f9e8d7c6b5a49382716";
  // Each wrong attempt names someone else, so no name reaches its own limit here.
  const signInAs = (token, from = ip, name = REVIEWER.name) => postSignIn(name, token, { ip: from });
  for (let i = 0; i < 10; i++) assert.equal((await signInAs(wrong, ip, `Guess ${i}`)).status, 401, `attempt ${i + 1}`);
  const limited = await signInAs(REVIEWER.token);
  assert.equal(limited.status, 429, "an 11th sign-in within the minute was let through");
  assert.equal(limited.headers.get("retry-after"), "60");
  assert.ok(!limited.headers.get("set-cookie"), "a limited client got a session");
  // Another client is not held back by this one.
  assert.equal((await signInAs(REVIEWER.token, client())).status, 303);

  const bearerIp = client();
  const asBearer = (token) => pipeline.request("GET", "/api/v1/drafts", { token, headers: { "cf-connecting-ip": bearerIp } });
  await startOfAMinute();
  for (let i = 0; i < 20; i++) assert.equal((await asBearer(wrong)).status, 401, `bearer failure ${i + 1}`);
  const over = await asBearer(wrong);
  assert.equal(over.status, 429, over.text);
  assert.equal(over.json.error.code, "too_many_attempts");
  // A right token is not a failure.
  assert.equal((await asBearer(API_TOKEN)).status, 200);

  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes(`client ${bearerIp}`) && l.includes("over the failure limit")), {
    what: "the failures in the log",
  });
  const logged = pipeline.logs.filter((l) => l.includes("auth:"));
  assert.ok(logged.some((l) => l.includes(`client ${ip}`) && l.includes("sign-in")), JSON.stringify(logged.slice(0, 3)));
  const all = JSON.stringify(pipeline.logs);
  for (const secret of [wrong, REVIEWER.token, AIKO.token, API_TOKEN]) assert.ok(!all.includes(secret), "a token reached the log");
});

/** A page's text with `name` (as given, and as the form fills it in again) made neutral. */
const withoutName = (page, name) => page.replaceAll(name.trim(), "NAME");

test("failed sign-ins are limited per name from any client: a name over its limit is refused even with its token, others are not", async () => {
  const wrong = "wrong-token-1a2b3c4d5e6f70819a2b";
  const nobody = "Nobody Here";
  await startOfAMinute();
  // Ten failures for Mika, and ten for a name that is no reviewer's, each from a client of its
  // own: no client comes near its own limit. The answers are the same for both names.
  for (let i = 0; i < 10; i++) {
    const [asMika, asNobody] = [await postSignIn(MIKA.name, wrong), await postSignIn(nobody, wrong)];
    const [mikaPage, nobodyPage] = [await asMika.text(), await asNobody.text()];
    assert.equal(asMika.status, 401, `Mika's attempt ${i + 1}: ${mikaPage}`);
    assert.equal(asNobody.status, asMika.status, `attempt ${i + 1}`);
    assert.equal(withoutName(nobodyPage, nobody), withoutName(mikaPage, MIKA.name), `attempt ${i + 1}: the pages differ`);
    assert.match(mikaPage, /That name and token are not a reviewer(?:'|&#39;)s\./);
  }
  // Over the name's limit: Mika's own token, from a client never seen, spelled otherwise.
  const refused = await postSignIn("  MIKA ", MIKA.token);
  const refusedPage = await refused.text();
  assert.equal(refused.status, 429, `Mika signed in over the name's limit: ${refusedPage}`);
  assert.equal(refused.headers.get("retry-after"), "60");
  assert.ok(!refused.headers.get("set-cookie"), "a name over its limit got a session");
  assert.match(refusedPage, /Too many attempts to sign in/);
  const nobodyOver = await postSignIn(nobody, wrong);
  assert.equal(nobodyOver.status, 429);
  assert.equal(nobodyOver.headers.get("retry-after"), "60");
  assert.equal(withoutName(await nobodyOver.text(), nobody), withoutName(refusedPage, "MIKA"), "the name's limit tells reviewers apart");
  // Other names are not held back, from any of those clients.
  const aiko = await signIn(AIKO, { ip: `198.51.100.${clients}` });
  assert.equal((await withSession(pipeline, aiko, "GET", "/api/v1/drafts")).status, 200);

  // The log names the clients and the names, never a token.
  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes('sign-in refused for name "mika"')), { what: "the refusal in the log" });
  const failures = pipeline.logs.filter((l) => l.includes("a sign-in's name and token matched no reviewer"));
  assert.ok(failures.some((l) => l.includes('name "mika"') && /client 198\.51\.100\.\d+/.test(l)), JSON.stringify(failures.slice(0, 3)));
  assert.ok(failures.some((l) => l.includes('name "nobody here"')), JSON.stringify(failures.slice(0, 3)));
  const all = JSON.stringify(pipeline.logs);
  for (const secret of [wrong, MIKA.token, AIKO.token]) assert.ok(!all.includes(secret), "a token reached the log");
});

test("a token typed where the name goes is neither logged nor shown again", async () => {
  const response = await postSignIn(AIKO.token, AIKO.token);
  const page = await response.text();
  assert.equal(response.status, 401, page);
  assert.ok(!page.includes(AIKO.token), "the page shows the token");
  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes("a name shaped like a token, not shown")), { what: "the failure in the log" });
  assert.ok(!JSON.stringify(pipeline.logs).includes(AIKO.token), "the token reached the log");
});

test("X-Reviewer: the bearer token must be that reviewer's, and failures count against the name", async () => {
  const wrong = "wrong-token-9f8e7d6c5b4a39281706";
  const as = (name, token, ip = client()) =>
    pipeline.request("GET", "/api/v1/drafts", { token, headers: { "x-reviewer": name, "cf-connecting-ip": ip } });
  // The reviewer's own token with their name, in any case: theirs.
  const draft = await readyDraft();
  const approved = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
    body: { revision: draft.revision },
    token: AIKO.token,
    headers: { "x-reviewer": " aiko " },
  });
  assert.equal(approved.status, 200, approved.text);
  assert.equal((await pipeline.draftRow(draft.draftId)).approved_by, "Aiko");
  // Someone else's valid token, the API_TOKEN, or a name that is no reviewer's: 401, the same answer.
  const otherToken = await as(AIKO.name, REVIEWER.token);
  assert.equal(otherToken.status, 401, otherToken.text);
  const apiToken = await as(AIKO.name, API_TOKEN);
  assert.equal(apiToken.status, 401, apiToken.text);
  const noReviewer = await as("Nobody Else", REVIEWER.token);
  assert.equal(noReviewer.status, 401, noReviewer.text);
  assert.deepEqual(noReviewer.json, otherToken.json);

  // Ten wrong tokens for Nana from ten clients: the name is over its limit, no client is.
  await startOfAMinute();
  for (let i = 0; i < 10; i++) assert.equal((await as(NANA.name, wrong)).status, 401, `failure ${i + 1}`);
  const over = await as(NANA.name, wrong);
  assert.equal(over.status, 429, over.text);
  assert.equal(over.json.error.code, "too_many_attempts");
  assert.equal(over.headers.get("retry-after"), "60");
  // The same wrong token from a client of its own without the header: only that client counts.
  assert.equal((await pipeline.request("GET", "/api/v1/drafts", { token: wrong, headers: { "cf-connecting-ip": client() } })).status, 401);
  // The limit is the name's, for signing in too: Nana's own token is refused there.
  const signInOver = await postSignIn(NANA.name, NANA.token);
  assert.equal(signInOver.status, 429, await signInOver.text());
  // A right bearer token is not a failure, as without the header.
  assert.equal((await as(NANA.name, NANA.token)).status, 200);
  // Another reviewer's name is not held back.
  assert.equal((await as(AIKO.name, AIKO.token)).status, 200);
  assert.equal((await as(AIKO.name, wrong)).status, 401);

  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes("not the token of the reviewer named in X-Reviewer") && l.includes('name "nana"') && l.includes("over the failure limit")), {
    what: "the failures in the log",
  });
  const all = JSON.stringify(pipeline.logs);
  for (const secret of [wrong, NANA.token, REVIEWER.token, AIKO.token, API_TOKEN]) assert.ok(!all.includes(secret), "a token reached the log");
});

test("a weak API_TOKEN closes the API with an error naming the variable, not the value", async () => {
  for (const [variant, token] of [
    ["weakApiToken", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    ["shortApiToken", "0123456789abcdef"],
  ]) {
    const via = pipeline.variant(variant);
    const response = await via.request("GET", "/api/v1/drafts", { token });
    assert.equal(response.status, 503, response.text);
    assert.equal(response.json.error.code, "not_configured");
    assert.match(response.json.error.message, /^API_TOKEN /);
    assert.ok(!response.text.includes(token), "the answer quotes the token");
  }
});

test("without API_TOKEN the automation's routes are closed (503); a reviewer's own token still works", async () => {
  const via = pipeline.variant("noApiToken");
  const closed = await via.request("GET", "/api/v1/drafts", { token: API_TOKEN });
  assert.equal(closed.status, 503, closed.text);
  assert.equal(closed.json.error.message, "API_TOKEN is not set; the API is closed");
  assert.equal((await via.request("GET", "/api/v1/drafts", { token: AIKO.token })).status, 200);
});

test("the sign-in page never shows what is wrong with REVIEWERS; the log says, without a token", async () => {
  for (const variant of ["wrongOrder", "weakReviewer"]) {
    const via = pipeline.variant(variant);
    const response = await fetch(`${via.url}/review/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: via.url, "cf-connecting-ip": client() },
      body: new URLSearchParams({ name: REVIEWER.name, token: REVIEWER.token, next: "/review" }),
    });
    const page = await response.text();
    assert.equal(response.status, 503, page);
    assert.match(page, /Sign-in is not available right now/);
    for (const detail of ["REVIEWERS entry", "entry 1", "the token is", REVIEWER.token, REVIEWER.name, "aaaaaaaaaaaaaaaa"]) {
      assert.ok(!page.includes(detail), `${variant}: the page shows ${detail}`);
    }
  }
  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes("REVIEWERS entry 1: the token")), { what: "the log line" });
  assert.ok(!JSON.stringify(pipeline.logs).includes(REVIEWER.token), "the wrong-order token reached the log");
});

test("every answer carries Strict-Transport-Security; JSON answers carry nosniff", async () => {
  for (const [what, response] of [
    ["a draft list", await pipeline.request("GET", "/api/v1/drafts")],
    ["an error", await pipeline.request("GET", "/api/v1/drafts", { token: null })],
    ["health", await pipeline.request("GET", "/healthz", { token: null })],
    ["a page", await pipeline.request("GET", "/review/login", { token: null })],
  ]) {
    assert.match(response.headers.get("strict-transport-security") ?? "", /^max-age=\d{8,}/, what);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff", what);
  }
});

test("regenerate conflicts like an edit when the draft was edited while the model ran; the edit stays", async () => {
  const slow = pipeline.variant("slowModel");
  const draft = await readyDraft();
  openai.script(reply.delay(1500));
  const regenerating = slow.request("POST", `/api/v1/drafts/${draft.draftId}/regenerate`, {
    body: { revision: draft.revision, text: true },
  });
  await pipeline.eventually(() => openai.calls().length > 0, { what: "the model call" });
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${draft.draftId}`, {
    body: { revision: draft.revision, caption: "Typed while the model ran" },
  });
  assert.equal(edited.status, 200, edited.text);
  const regenerated = await regenerating;
  assert.equal(regenerated.status, 409, regenerated.text);
  assert.equal(regenerated.json.error.code, "revision_conflict");
  assert.equal(regenerated.json.error.current.caption, "Typed while the model ran");
  assert.equal((await pipeline.draftRow(draft.draftId)).caption, "Typed while the model ran");

  // Nobody edits meanwhile: the new text is written.
  const now = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}`);
  const quiet = await slow.request("POST", `/api/v1/drafts/${draft.draftId}/regenerate`, {
    body: { revision: now.json.revision, text: true },
  });
  assert.equal(quiet.status, 200, quiet.text);
  assert.notEqual(quiet.json.caption, "Typed while the model ran");
});

test("comments per draft are limited and a history is read in bounded pages", async () => {
  const draft = await readyDraft();
  const insert = pipeline.db.prepare(
    "INSERT INTO review_comments (draft_id, revision, reviewer, decision, comment, created_at) VALUES (?1, ?2, 'Aiko', 'comment', ?3, ?4)",
  );
  await pipeline.db.batch(
    Array.from({ length: 199 }, (_, i) => insert.bind(draft.draftId, draft.revision, `note ${i}`, new Date(Date.now() + i).toISOString())),
  );
  const last = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/comments`, { body: { comment: "the 200th" }, token: AIKO.token });
  assert.equal(last.status, 201, last.text);
  const refused = await pipeline.request("POST", `/api/v1/drafts/${draft.draftId}/comments`, { body: { comment: "one more" }, token: AIKO.token });
  assert.equal(refused.status, 409, refused.text);
  assert.match(refused.json.error.message, /200 comments/);
  // A decision is still recorded, and the history shows the newest 200, oldest first.
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${draft.draftId}`, { body: { revision: draft.revision, caption: "Edited at the end" } });
  assert.equal(edited.status, 200, edited.text);
  const history = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}/history`);
  assert.equal(history.json.comments.length, 200);
  assert.equal(history.json.comments[0].comment, "note 1");
  assert.deepEqual(history.json.comments.slice(-2).map((c) => c.decision), ["comment", "edit"]);
});

test("a webhook that cannot be fetched is logged without its URL", async () => {
  // A draft waiting for review for two days: the scheduler's run sends the reminder digest.
  const draft = await readyDraft();
  await pipeline.db.prepare("UPDATE drafts SET created_at = ?2 WHERE id = ?1").bind(draft.draftId, new Date(Date.now() - 48 * 3600e3).toISOString()).run();
  await pipeline.runCron({ at: Date.now() });
  await pipeline.eventually(() => pipeline.logs.some((l) => l.includes("the alert webhook could not be reached")), {
    what: "the failed webhook in the log",
  });
  const all = JSON.stringify(pipeline.logs);
  for (const part of ["secret-webhook-path", "hooks.example.com", "T000/B000"]) assert.ok(!all.includes(part), `the log holds the webhook's ${part}`);
});
