// The JSON endpoints the review page calls, from node against the compiled Workers: racing
// decisions (exactly one wins, one publish message), validation by field, 401 without a
// token or session, and cross-origin posts refused whatever they carry.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AIKO, API_TOKEN, BEN, rfc3339, sessionCookie, startReview } from "./support.mjs";

let review;
let aiko;
let ben;
before(async () => {
  // "aikoOnly": the same Workers and storage after Ben was taken off REVIEWERS.
  review = await startReview({ record: true, variants: { aikoOnly: { REVIEWERS: `${AIKO.name}:${AIKO.token}` } } });
  [aiko, ben] = await Promise.all([sessionCookie(review.url, AIKO), sessionCookie(review.url, BEN)]);
});
after(() => review?.dispose());

/** A request as the review page sends it: the session cookie and this origin. */
function asReviewer(cookie, method, path, body) {
  return review.request(method, path, { token: null, body, headers: { cookie, origin: review.url } });
}

/** What the api Worker sent to PUBLISH_QUEUE for draft `id`. */
function publishMessages(id) {
  return review.pipeline.sent.filter((s) => s.worker === "api" && s.queue === "publish-queue" && s.body?.id === id);
}

async function decisions(id) {
  const { results } = await review.db.prepare("SELECT reviewer, decision, revision FROM review_comments WHERE draft_id = ?1 ORDER BY id").bind(id).all();
  return results.map((r) => `${r.reviewer} ${r.decision} ${r.revision}`);
}

/** A draft approved, then failed for good (set in D1 as the consumer leaves one), with its image. */
async function failedDraft() {
  const id = await review.insertDraft({ caption: "Failed once, to be approved again" });
  const { image_key: key, revision } = await review.makeImage(id);
  await review.db
    .prepare(
      `UPDATE drafts SET status = 'failed', revision = ?2, last_error = 'publishing gave up after attempt 1', approved_revision = ?3,
         approved_caption = caption, approved_hashtags = hashtags, approved_alt_text = alt_text, approved_image_key = ?4,
         approved_by = 'Aiko', approved_at = ?5 WHERE id = ?1`,
    )
    .bind(id, revision + 2, revision, key, rfc3339(new Date()))
    .run();
  return review.row(id);
}

// ---------------------------------------------------------------------------------------------
// Races

test("two approvals at the same moment: exactly one 200 and one publish message, the other 409", async () => {
  for (let round = 0; round < 4; round += 1) {
    const draft = await review.generate();
    const id = draft.draftId;
    const body = { revision: draft.revision, comment: `round ${round}` };
    // Two reviewers on the page, or one on the page and a script with a reviewer's token,
    // press Approve at once.
    const [first, second] =
      round % 2 === 0
        ? await Promise.all([asReviewer(aiko, "POST", `/api/v1/drafts/${id}/approve`, body), asReviewer(ben, "POST", `/api/v1/drafts/${id}/approve`, body)])
        : await Promise.all([asReviewer(aiko, "POST", `/api/v1/drafts/${id}/approve`, body), review.request("POST", `/api/v1/drafts/${id}/approve`, { body, token: BEN.token })]);
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 409], `round ${round}: ${first.text} / ${second.text}`);
    const [winner, loser] = first.status === 200 ? [first, second] : [second, first];
    assert.match(loser.json.error.code, /^(revision_conflict|conflict)$/);
    assert.equal(winner.json.status, "approved");
    assert.equal(publishMessages(id).length, 1, `round ${round}: ${JSON.stringify(publishMessages(id))}`);
    const approvals = (await decisions(id)).filter((d) => d.includes(" approve "));
    assert.equal(approvals.length, 1, `round ${round}: ${approvals}`);
    const row = await review.row(id);
    assert.equal(row.approved_by, approvals[0].split(" ")[0]);
    assert.equal(row.approved_revision, draft.revision);
  }
});

test("an edit and an approval at the same moment: one wins, and what is approved is the text that was seen", async () => {
  for (let round = 0; round < 4; round += 1) {
    const draft = await review.generate();
    const id = draft.draftId;
    const edited = `Edited in round ${round} while someone approved`;
    const [edit, approve] = await Promise.all([
      asReviewer(ben, "PATCH", `/api/v1/drafts/${id}`, { revision: draft.revision, caption: edited }),
      asReviewer(aiko, "POST", `/api/v1/drafts/${id}/approve`, { revision: draft.revision }),
    ]);
    assert.deepEqual([edit.status, approve.status].sort(), [200, 409], `round ${round}: ${edit.text} / ${approve.text}`);
    const row = await review.row(id);
    if (approve.status === 200) {
      assert.equal(row.approved_caption, draft.caption, "the approval took text nobody saw");
      assert.equal(publishMessages(id).length, 1);
    } else {
      assert.equal(row.status, "draft");
      assert.equal(row.caption, edited);
      assert.equal(approve.json.error.code, "revision_conflict");
      assert.equal(approve.json.error.current.caption, edited, "the conflict does not carry the newer text");
      assert.equal(publishMessages(id).length, 0);
    }
  }
});

test("two re-approvals of a failed draft at the same moment: one 200, one publish message", async () => {
  const row = await failedDraft();
  const body = { revision: row.revision };
  const answers = await Promise.all([
    asReviewer(aiko, "POST", `/api/v1/drafts/${row.id}/reapprove`, body),
    asReviewer(ben, "POST", `/api/v1/drafts/${row.id}/reapprove`, body),
  ]);
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], answers.map((a) => a.text).join(" / "));
  assert.equal(publishMessages(row.id).length, 1);
  assert.equal((await decisions(row.id)).filter((d) => d.includes(" reapprove ")).length, 1);
});

// ---------------------------------------------------------------------------------------------
// Validation

test("validation: every problem by field, 400, and nothing changes", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const revision = draft.revision;
  const before = await review.row(id);
  const cases = [
    ["PATCH", `/api/v1/drafts/${id}`, {}, ["revision"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision }, [""]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision: 0, caption: "x" }, ["revision"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision: "2", caption: "x" }, ["revision"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: 5, altText: ["a"] }, ["caption", "altText"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, hashtags: "#autumn" }, ["hashtags"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, hashtags: ["ok", 3] }, ["hashtags[1]"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: "x", colour: "red" }, ["colour"]],
    // Instagram's rules, counted in characters: 2,201 of them is one too many.
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: "あ".repeat(2201), hashtags: [] }, ["caption"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: "🍂".repeat(2197), hashtags: ["秋"] }, ["caption"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, altText: "代".repeat(1001) }, ["altText"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, hashtags: ["a", "b", "c", "d", "e", "f"] }, ["hashtags"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: Array.from({ length: 21 }, (_, i) => `@user${i}`).join(" ") }, ["caption"]],
    ["PATCH", `/api/v1/drafts/${id}`, { revision, caption: "bell\u0007" }, ["caption"]],
    ["POST", `/api/v1/drafts/${id}/approve`, {}, ["revision"]],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision, scheduledAt: "2030-12-01T10:00" }, ["scheduledAt"]],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision, scheduledAt: "2001-12-01T10:00:00+09:00" }, ["scheduledAt"]],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision, comment: "ね".repeat(2001) }, ["comment"]],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision, caption: "sneaked in" }, ["caption"]],
    ["POST", `/api/v1/drafts/${id}/comments`, {}, ["comment"]],
    ["POST", `/api/v1/drafts/${id}/comments`, { comment: 7 }, ["comment"]],
    ["POST", `/api/v1/drafts/${id}/regenerate`, { revision }, [""]],
    ["POST", `/api/v1/drafts/${id}/regenerate`, { revision, text: "yes" }, ["text"]],
    ["POST", `/api/v1/drafts/${id}/discard`, { revision: -1 }, ["revision"]],
  ];
  const wrong = [];
  for (const [method, path, body, paths] of cases) {
    const answer = await asReviewer(aiko, method, path, body);
    const what = `${method} ${path.replace(id, ":id")} ${[...JSON.stringify(body)].slice(0, 80).join("")}`;
    const problems = answer.json?.error?.problems ?? [];
    if (
      answer.status !== 400 ||
      answer.json.error.code !== "validation_failed" ||
      JSON.stringify(problems.map((p) => p.path).sort()) !== JSON.stringify([...paths].sort()) ||
      !problems.every((p) => typeof p.reason === "string" && p.reason.length > 5)
    ) {
      wrong.push(`${what}: expected 400 at ${JSON.stringify(paths)}, got ${answer.status} ${answer.text.slice(0, 300)}`);
    }
  }
  assert.deepEqual(wrong, []);
  // A body that is not JSON at all, or not an object, and a form's content type.
  for (const raw of ["{", "[1,2]", '"text"']) {
    const answer = await review.request("PATCH", `/api/v1/drafts/${id}`, {
      token: null,
      raw,
      headers: { cookie: aiko, origin: review.url, "content-type": "application/json" },
    });
    assert.equal(answer.status, 400, raw);
    assert.deepEqual(answer.json.error.problems.map((p) => p.path), [""], raw);
  }
  const form = await review.request("PATCH", `/api/v1/drafts/${id}`, {
    token: null,
    raw: `revision=${revision}&caption=x`,
    headers: { cookie: aiko, origin: review.url, "content-type": "application/x-www-form-urlencoded" },
  });
  assert.equal(form.status, 415);
  assert.deepEqual(await review.row(id), before, "an invalid request changed the draft");
  assert.deepEqual(await decisions(id), []);
  assert.equal(publishMessages(id).length, 0);

  // At the limits exactly, in characters: accepted.
  const atLimit = await asReviewer(aiko, "PATCH", `/api/v1/drafts/${id}`, { revision, caption: "🍂".repeat(2196), hashtags: ["秋"] });
  assert.equal(atLimit.status, 200, atLimit.text);
  assert.equal([...atLimit.json.caption].length, 2196);
});

// ---------------------------------------------------------------------------------------------
// Who may call

test("401 without a token or a live session, on every JSON route", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const before = await review.row(id);
  const routes = [
    ["GET", "/api/v1/drafts"],
    ["GET", `/api/v1/drafts/${id}`],
    ["GET", `/api/v1/drafts/${id}/history`],
    ["PATCH", `/api/v1/drafts/${id}`, { revision: draft.revision, caption: "x" }],
    ["POST", `/api/v1/drafts/${id}/approve`, { revision: draft.revision }],
    ["POST", `/api/v1/drafts/${id}/reapprove`, { revision: draft.revision }],
    ["POST", `/api/v1/drafts/${id}/comments`, { comment: "x" }],
    ["POST", `/api/v1/drafts/${id}/discard`, { revision: draft.revision }],
    ["POST", `/api/v1/drafts/${id}/regenerate`, { revision: draft.revision, text: true }],
    ["POST", "/api/v1/generate", { brief: "x", language: "en" }],
    ["GET", "/api/v1/openapi.json"],
  ];
  const expired = await sessionCookie(review.url, BEN, { fresh: true });
  const expiredHash = await review.db.prepare("SELECT id_hash FROM review_sessions ORDER BY created_at DESC, rowid DESC LIMIT 1").first();
  await review.db.prepare("UPDATE review_sessions SET expires_at = '2000-01-01T00:00:00Z' WHERE id_hash = ?1").bind(expiredHash.id_hash).run();
  const ways = [
    ["nothing", { token: null }],
    ["a wrong bearer token", { token: `${API_TOKEN}x` }],
    ["a reviewer's token with a character more", { token: `${AIKO.token}x` }],
    ["a made-up session", { token: null, headers: { cookie: `__Host-review_session=${"ab".repeat(32)}`, origin: review.url } }],
    ["a malformed session cookie", { token: null, headers: { cookie: "__Host-review_session=../../etc", origin: review.url } }],
    ["the session id under the cookie's old name", { token: null, headers: { cookie: aiko.replace("__Host-", ""), origin: review.url } }],
    ["an expired session", { token: null, headers: { cookie: expired, origin: review.url } }],
  ];
  for (const [method, path, body] of routes) {
    for (const [how, options] of ways) {
      const answer = await review.request(method, path, { body, ...options });
      assert.equal(answer.status, 401, `${method} ${path} with ${how}: ${answer.text}`);
      assert.equal(answer.json.error.code, "unauthorized");
    }
  }
  // The session does open the routes the page reads.
  for (const path of ["/api/v1/drafts", `/api/v1/drafts/${id}`, `/api/v1/drafts/${id}/history`]) {
    const answer = await review.request("GET", path, { token: null, headers: { cookie: aiko } });
    assert.equal(answer.status, 200, `${path}: ${answer.text}`);
  }
  assert.deepEqual(await review.row(id), before);
  assert.equal(publishMessages(id).length, 0);
});

test("cross-origin posts are refused whatever they carry, and change nothing", async () => {
  const draft = await review.generate();
  const id = draft.draftId;
  const before = await review.row(id);
  const sent = review.pipeline.sent.length;
  // What a form on another site can send: the three content types a form may use, with the
  // browser's cookie and the other site's Origin (or "null" from a sandboxed frame, or none).
  const bodies = {
    "application/x-www-form-urlencoded": `revision=${draft.revision}&comment=forged&caption=forged`,
    "multipart/form-data; boundary=x": `--x\r\nContent-Disposition: form-data; name="revision"\r\n\r\n${draft.revision}\r\n--x--\r\n`,
    "text/plain": `{"revision":${draft.revision},"comment":"forged","caption":"forged"}`,
    "application/json": JSON.stringify({ revision: draft.revision, comment: "forged", caption: "forged" }),
  };
  const paths = [
    ["PATCH", `/api/v1/drafts/${id}`],
    ["POST", `/api/v1/drafts/${id}/approve`],
    ["POST", `/api/v1/drafts/${id}/comments`],
    ["POST", `/api/v1/drafts/${id}/discard`],
    ["POST", `/api/v1/drafts/${id}/regenerate`],
    ["POST", "/review/logout"],
    ["POST", "/review/logout/everywhere"],
  ];
  for (const [method, path] of paths) {
    for (const [type, raw] of Object.entries(bodies)) {
      for (const origin of ["https://evil.example", "null", review.url.replace("127.0.0.1", "localhost"), undefined]) {
        const headers = { cookie: aiko, "content-type": type, ...(origin === undefined ? {} : { origin }) };
        const answer = await review.request(method, path, { token: null, raw, headers });
        assert.equal(answer.status, 403, `${method} ${path} as ${type} from ${origin}: ${answer.text}`);
      }
    }
  }
  // Signing in from another site (login CSRF) is refused too.
  const login = await fetch(`${review.url}/review/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
    body: new URLSearchParams({ name: BEN.name, token: BEN.token, next: "/review" }),
  });
  assert.equal(login.status, 403);
  assert.equal(login.headers.get("set-cookie"), null);

  assert.deepEqual(await review.row(id), before);
  assert.deepEqual(await decisions(id), []);
  assert.equal(review.pipeline.sent.length, sent);
  // The forged logouts did not end Aiko's session.
  const still = await review.request("GET", "/api/v1/drafts", { token: null, headers: { cookie: aiko } });
  assert.equal(still.status, 200);
});

test(
  "a reviewer taken off REVIEWERS is signed out too",
  async () => {
    const draft = await review.generate();
    const removed = review.pipeline.variant("aikoOnly");
    // Ben's token no longer signs in...
    const login = await fetch(`${removed.url}/review/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: removed.url },
      body: new URLSearchParams({ name: BEN.name, token: BEN.token, next: "/review" }),
    });
    assert.equal(login.status, 401);
    // ...and the session he had must not act for him either.
    const comment = await removed.request("POST", `/api/v1/drafts/${draft.draftId}/comments`, {
      token: null,
      body: { comment: "still here" },
      headers: { cookie: ben, origin: removed.url },
    });
    assert.equal(comment.status, 401, comment.text);
  },
);
