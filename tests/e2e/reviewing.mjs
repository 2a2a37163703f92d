// What tests of a reviewer's acts share: a ready draft as a reviewer finds it, signing in
// through the login form, requests with a session, an approved draft, and the publish messages
// an approval queued. `reviewing(() => pipeline)` binds them to a test file's pipeline (started
// in its `before`, with `record` for `publishSends`).
import assert from "node:assert/strict";
import { REVIEWER } from "./harness.mjs";

/** Client addresses, each of its own, so one test's failures do not count against another's. */
function counter() {
  let clients = 0;
  return () => {
    clients += 1;
    return `198.51.100.${clients}`;
  };
}

/** `client()` hands out the client address of each sign-in unless a test names one. */
export function reviewing(current, { client = counter() } = {}) {

  /** A generated draft with its image stored, as a reviewer finds it. */
  async function readyDraft(via = current()) {
    const pipeline = current();
    const made = await via.generate({ brief: "Pumpkin soup is back on the menu", language: "en" });
    assert.equal(made.status, 201, made.text);
    return pipeline.eventually(
      async () => {
        const draft = await pipeline.request("GET", `/api/v1/drafts/${made.json.draftId}`);
        return draft.json?.image?.status === "ready" ? draft.json : null;
      },
      { what: "the image" },
    );
  }

  /** Posts the login form with a name and a token, from client address `ip`. */
  function postSignIn(name, token, { via = current(), ip = client() } = {}) {
    return fetch(`${via.url}/review/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: via.url, "cf-connecting-ip": ip },
      body: new URLSearchParams({ name, token, next: "/review" }),
    });
  }

  /** Signs `{ name, token }` in through the login form; the session's cookie (`name=value`). */
  async function signIn({ name, token }, options = {}) {
    const response = await postSignIn(name, token, options);
    assert.equal(response.status, 303, await response.text());
    return response.headers.get("set-cookie").split(";")[0];
  }

  /** A request with a session cookie from this site's own page. */
  function withSession(via, cookie, method, path, body) {
    return via.request(method, path, { token: null, body, headers: { cookie, origin: via.url } });
  }

  /** The publish messages sent for draft `id` (with `record`). */
  const publishSends = (id) => current().sent.filter((s) => s.queue === "publish-queue" && s.body?.id === id);

  /** A ready draft approved by REVIEWER, with `options` in the approval's body. */
  async function approvedDraft(options = {}) {
    const draft = await readyDraft();
    const approved = await current().request("POST", `/api/v1/drafts/${draft.draftId}/approve`, {
      body: { revision: draft.revision, ...options },
      token: REVIEWER.token,
    });
    assert.equal(approved.status, 200, approved.text);
    return approved.json;
  }

  return { readyDraft, postSignIn, signIn, withSession, publishSends, approvedDraft };
}
