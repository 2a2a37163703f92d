// What the page scripts share: a call to the JSON API with the session cookie (its answer
// read whatever it is, a lost connection as status 0), a status line put in the page as
// text, and the words for a refused call. Loaded before every other script of a page.
"use strict";

window.reviewApi = Object.freeze({
  /** Calls the JSON API: `body` sent as JSON, or as it is when `contentType` names another type. */
  async call(method, path, body, contentType = "application/json") {
    const asJson = contentType === "application/json";
    try {
      const response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? {} : { "content-type": contentType },
        body: body === undefined ? undefined : asJson ? JSON.stringify(body) : body,
      });
      return { status: response.status, json: await response.json().catch(() => null) };
    } catch {
      return { status: 0, json: { error: { message: "No connection: check it and try again." } } };
    }
  },

  /** Puts `text` in the element `selector` finds, with `kind` ("ok", "error") as its class. */
  say(selector, text, kind = "") {
    const element = document.querySelector(selector);
    if (!element) return;
    element.textContent = text;
    element.className = kind;
  },

  /** Why a call was refused, in words: an ended session says how to go on. */
  failure(status, json, afterSignIn = "then try again") {
    if (status === 401) return `Your session has ended: sign in again in another tab, ${afterSignIn}.`;
    return json?.error?.message ?? `HTTP ${status}`;
  },
});
