// A client's approval link: a reviewer makes it for a named person and some drafts; that
// person sees those drafts and approves, asks for changes or comments under their name "via
// link", with every rule of approval; the link opens nothing else, expires, and is revoked.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { API_TOKEN, REVIEWER, startPipeline } from "./harness.mjs";
import { reviewing } from "./reviewing.mjs";

let pipeline;
before(async () => {
  pipeline = await startPipeline({}, { record: true, idle: ["publish-consumer"] });
});
after(() => pipeline?.dispose());

const { readyDraft, signIn, withSession, publishSends } = reviewing(() => pipeline);

async function makeLink(draftIds, clientName = "Hana Sato", extra = {}) {
  const made = await pipeline.request("POST", "/api/v1/client-links", {
    body: { clientName, draftIds, ...extra },
    token: REVIEWER.token,
  });
  assert.equal(made.status, 201, made.text);
  const secret = made.json.url.split("/c/")[1];
  assert.match(secret, /^[0-9a-f]{64}$/);
  return { ...made.json, secret, path: `/c/${secret}` };
}

/** A request from the link's page: same origin, no credential but the link. */
function asClient(method, path, body, headers = {}) {
  return pipeline.request(method, path, { token: null, body, headers: { origin: pipeline.url, ...headers } });
}

test("a client approves a draft of their link under their name, with every rule of approval, and nothing else", async () => {
  const [shown, other] = [await readyDraft(), await readyDraft()];
  const link = await makeLink([shown.draftId]);
  assert.equal(link.clientName, "Hana Sato");
  assert.deepEqual(link.draftIds, [shown.draftId]);

  // D1 keeps the secret's hash, never the secret.
  const stored = await pipeline.db.prepare("SELECT * FROM client_links WHERE id = ?1").bind(link.id).first();
  assert.notEqual(stored.token_hash, link.secret);
  assert.ok(!JSON.stringify(stored).includes(link.secret));

  // The page shows the link's draft as Instagram will, and nothing of the team's.
  const page = await asClient("GET", link.path);
  assert.equal(page.status, 200, page.text);
  assert.ok(page.text.includes(shown.caption), "the link's draft is shown");
  assert.ok(!page.text.includes(other.draftId), "another draft is not");
  assert.doesNotMatch(page.text, /<a [^>]*href="\/review/, "no way into the team's pages");

  // Another draft through this link: not found, and untouched.
  const refused = await asClient("POST", `${link.path}/drafts/${other.draftId}/approve`, { revision: other.revision });
  assert.equal(refused.status, 404, refused.text);
  assert.equal((await pipeline.draftRow(other.draftId)).status, "draft");

  // The link is no credential for the API.
  const api = await pipeline.request("GET", "/api/v1/drafts", { token: link.secret });
  assert.equal(api.status, 401, api.text);

  // A page of another site cannot act through it.
  const crossSite = await asClient("POST", `${link.path}/drafts/${shown.draftId}/approve`, { revision: shown.revision }, { origin: "https://elsewhere.example" });
  assert.equal(crossSite.status, 403, crossSite.text);

  // The revision the client saw is the one approved; an older one is refused.
  const edited = await pipeline.request("PATCH", `/api/v1/drafts/${shown.draftId}`, {
    body: { revision: shown.revision, caption: "Pumpkin soup, now with ginger" },
  });
  assert.equal(edited.status, 200, edited.text);
  const stale = await asClient("POST", `${link.path}/drafts/${shown.draftId}/approve`, { revision: shown.revision });
  assert.equal(stale.status, 409, stale.text);
  assert.equal((await pipeline.draftRow(shown.draftId)).status, "draft");

  const approved = await asClient("POST", `${link.path}/drafts/${shown.draftId}/approve`, {
    revision: edited.json.revision,
    comment: "Lovely",
  });
  assert.equal(approved.status, 200, approved.text);
  const row = await pipeline.draftRow(shown.draftId);
  assert.equal(row.status, "approved");
  assert.equal(row.approved_by, "Hana Sato (via link)");
  assert.equal(row.approved_caption, "Pumpkin soup, now with ginger");
  assert.equal(publishSends(shown.draftId).length, 1, "the approval queued its post");
  // A client sets no time of their own.
  const timed = await asClient("POST", `${link.path}/drafts/${shown.draftId}/approve`, {
    revision: row.revision,
    scheduledAt: "2030-01-01T09:00:00Z",
  });
  assert.equal(timed.status, 400, timed.text);

  const history = await pipeline.request("GET", `/api/v1/drafts/${shown.draftId}/history`);
  const decision = history.json.comments.find((c) => c.decision === "approve");
  assert.equal(decision.reviewer, "Hana Sato (via link)");
  assert.equal(decision.comment, "Lovely");
});

test("a client asks for changes or comments; the team sees it under their name", async () => {
  const draft = await readyDraft();
  const link = await makeLink([draft.draftId], "Ken Ito");
  const asked = await asClient("POST", `${link.path}/drafts/${draft.draftId}/comment`, {
    comment: "Asked for changes: say it is vegan",
  });
  assert.equal(asked.status, 201, asked.text);
  const history = await pipeline.request("GET", `/api/v1/drafts/${draft.draftId}/history`);
  const comment = history.json.comments.find((c) => c.decision === "comment");
  assert.equal(comment.reviewer, "Ken Ito (via link)");
  assert.equal(comment.comment, "Asked for changes: say it is vegan");
  assert.equal((await pipeline.draftRow(draft.draftId)).status, "draft", "a comment changes nothing");
});

test("a revoked or expired link opens nothing, and says so", async () => {
  const [first, second] = [await readyDraft(), await readyDraft()];
  const revoked = await makeLink([first.draftId]);
  const cookie = await signIn(REVIEWER);
  const listed = await withSession(pipeline, cookie, "GET", "/api/v1/client-links");
  assert.equal(listed.status, 200, listed.text);
  const entry = listed.json.links.find((l) => l.id === revoked.id);
  assert.equal(entry.clientName, "Hana Sato");
  assert.ok(!listed.text.includes(revoked.secret), "the list never shows a secret");

  const revoke = await withSession(pipeline, cookie, "POST", `/api/v1/client-links/${revoked.id}/revoke`, {});
  assert.equal(revoke.status, 200, revoke.text);
  const again = await withSession(pipeline, cookie, "POST", `/api/v1/client-links/${revoked.id}/revoke`, {});
  assert.equal(again.status, 404, again.text);
  const page = await asClient("GET", revoked.path);
  assert.equal(page.status, 410, page.text);
  assert.ok(page.text.includes("withdrawn"));
  assert.ok(!page.text.includes(first.caption), "a closed link shows no draft");
  const approve = await asClient("POST", `${revoked.path}/drafts/${first.draftId}/approve`, { revision: first.revision });
  assert.equal(approve.status, 410, approve.text);
  assert.equal((await pipeline.draftRow(first.draftId)).status, "draft");

  const expired = await makeLink([second.draftId], "Mia", { expiresInDays: 1 });
  await pipeline.db
    .prepare("UPDATE client_links SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?1")
    .bind(expired.id)
    .run();
  const late = await asClient("POST", `${expired.path}/drafts/${second.draftId}/approve`, { revision: second.revision });
  assert.equal(late.status, 410, late.text);
  assert.equal(late.json.error.message, "this link has expired");
  assert.equal((await asClient("GET", expired.path)).status, 410);
  // A secret of no link, or of the wrong shape: the same 404.
  assert.equal((await asClient("GET", `/c/${"0".repeat(64)}`)).status, 404);
  assert.equal((await asClient("GET", "/c/short")).status, 404);
});

test("making a link is a reviewer's act, for drafts they may see, checked field by field", async () => {
  const draft = await readyDraft();
  const byAutomation = await pipeline.request("POST", "/api/v1/client-links", {
    body: { clientName: "Hana", draftIds: [draft.draftId] },
    token: API_TOKEN,
  });
  assert.equal(byAutomation.status, 403, byAutomation.text);
  const bad = await pipeline.request("POST", "/api/v1/client-links", {
    body: { clientName: " ", draftIds: [draft.draftId, "123e4567-e89b-42d3-a456-426614174000"], expiresInDays: 90 },
    token: REVIEWER.token,
  });
  assert.equal(bad.status, 400, bad.text);
  const paths = bad.json.error.problems.map((p) => p.path).sort();
  assert.deepEqual(paths, ["clientName", "expiresInDays"]);
  const unknown = await pipeline.request("POST", "/api/v1/client-links", {
    body: { clientName: "Hana", draftIds: [draft.draftId, "123e4567-e89b-42d3-a456-426614174000"] },
    token: REVIEWER.token,
  });
  assert.equal(unknown.status, 400, unknown.text);
  assert.deepEqual(unknown.json.error.problems.map((p) => p.path), ["draftIds[1]"]);
  assert.equal(await pipeline.count("client_links WHERE client_name = 'Hana'"), 0);
});
