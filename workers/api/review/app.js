// The review page's behaviour: local times, live counts against Instagram's limits, the
// post preview, the word diff, and every action through the JSON API with the session
// cookie. All text goes into the page through textContent, never as markup. Instagram's text
// rules are the server's alone (domain::content): the counts and the caption Instagram
// receives, hashtags marked, come with the page for its text and from
// POST /api/v1/text/check as the text changes.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);

  // Times in the reader's own zone, with the zone spelled out.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const localTime = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "long" });
  for (const element of document.querySelectorAll("time[data-local]")) {
    const at = new Date(element.dateTime);
    if (!Number.isNaN(at.getTime())) {
      element.textContent = localTime.format(at);
      element.title = `${element.dateTime} (UTC)`;
    }
  }

  const dataElement = document.getElementById("draft-data");
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent);
  let draft = data.draft;
  const id = draft.draftId;
  // Where the text stands against the limits, as the server last counted it.
  let standing = data.standing;
  // The text this page's edits are based on; a save names its revision.
  let base = textOf(draft);
  let revision = draft.revision;

  const fields = { caption: $("#caption"), hashtags: $("#hashtags"), altText: $("#altText") };

  function textOf(d) {
    return { caption: d.caption, hashtags: [...d.hashtags], altText: d.altText };
  }

  // The hashtags field: tags separated by spaces or commas, a sign in front or not.
  function tagsOf(input) {
    return input
      .split(/[\s,、]+/u)
      .map((tag) => tag.replace(/^[#＃]/u, ""))
      .filter(Boolean);
  }

  function current() {
    return { caption: fields.caption.value, hashtags: tagsOf(fields.hashtags.value), altText: fields.altText.value };
  }

  function setCount(name, text, over) {
    const element = $(`#${name}-count`);
    element.textContent = text;
    element.classList.toggle("over", over);
    fields[name].setAttribute("aria-invalid", over ? "true" : "false");
  }

  // The counters, the preview and the diff, from the server's answer for the text.
  function showStanding() {
    const { counts, limits } = standing;
    setCount(
      "caption",
      `${counts.captionChars.toLocaleString()} / ${limits.caption.toLocaleString()} characters with hashtags · ${counts.mentions} / ${limits.mentions} mentions`,
      counts.captionChars > limits.caption || counts.mentions > limits.mentions,
    );
    setCount(
      "hashtags",
      `${counts.hashtags} / ${limits.hashtags} hashtags` + (counts.hashtagsInCaption ? ` (${counts.hashtagsInCaption} in the caption)` : ""),
      counts.hashtags > limits.hashtags,
    );
    setCount(
      "altText",
      `${counts.altTextChars.toLocaleString()} / ${limits.altText.toLocaleString()} characters`,
      counts.altTextChars > limits.altText,
    );
    updatePreview();
    updateDiff();
  }

  // The caption Instagram receives, as the server composed it.
  const instagramCaption = () => standing.instagramCaption.map((run) => run.text).join("");

  // The post as the feed shows it: the first lines, then "more"; hashtags in colour.
  const FOLD_CHARS = 125;
  const FOLD_LINES = 2;
  let unfolded = false;

  // The first `length` UTF-16 units of the server's runs, its hashtags marked.
  function appendRuns(parent, length) {
    let left = length;
    for (const run of standing.instagramCaption) {
      if (left <= 0) break;
      const text = run.text.slice(0, left);
      left -= text.length;
      if (run.hashtag) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = text;
        parent.append(tag);
      } else {
        parent.append(text);
      }
    }
  }

  function updatePreview() {
    const full = instagramCaption();
    const target = $("#preview-caption");
    target.replaceChildren();
    const account = document.createElement("strong");
    account.textContent = "your_account ";
    target.append(account);
    const lines = full.split("\n");
    let shown = full;
    let folded = false;
    if (!unfolded) {
      const firstLines = lines.slice(0, FOLD_LINES).join("\n");
      const cut = [...firstLines].slice(0, FOLD_CHARS).join("");
      if (cut.length < full.length) {
        shown = cut.trimEnd();
        folded = true;
      }
    }
    appendRuns(target, shown.length);
    if (folded) {
      const more = document.createElement("button");
      more.type = "button";
      more.className = "more";
      more.textContent = "… more";
      more.addEventListener("click", () => {
        unfolded = true;
        updatePreview();
      });
      target.append(more);
    }
    const alt = current().altText.trim();
    $("#preview-alt").textContent = alt;
    $("#preview-image").alt = alt;
  }

  // What the person changed: words removed and added since the writer's text. Words are
  // compared, not spaces; a line break is a word of its own; runs are shown together.
  function words(text) {
    return text.match(/\n|[^\s]+/gu) ?? [];
  }

  function diffWords(before, after) {
    const a = words(before);
    const b = words(after);
    const table = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    const parts = [];
    const push = (kind, word) => {
      const last = parts[parts.length - 1];
      if (last && last.kind === kind) last.words.push(word);
      else parts.push({ kind, words: [word] });
    };
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) {
        push("same", a[i]);
        i++;
        j++;
      } else if (i < a.length && (j === b.length || table[i + 1][j] >= table[i][j + 1])) {
        push("removed", a[i++]);
      } else {
        push("added", b[j++]);
      }
    }
    return parts;
  }

  function joinWords(list) {
    return list.join(" ").replace(/ ?\n ?/gu, "\n");
  }

  function updateDiff() {
    const target = $("#diff");
    target.replaceChildren();
    if (!data.generated) {
      target.textContent = "The written text was not kept for this draft.";
      return;
    }
    const before = data.generated.instagramCaption + "\n\nAlt text: " + data.generated.altText;
    const after = instagramCaption() + "\n\nAlt text: " + current().altText.trim();
    const parts = diffWords(before, after);
    if (parts.every(({ kind }) => kind === "same")) {
      target.textContent = "No changes: this is the text as it was written.";
      return;
    }
    parts.forEach(({ kind, words: run }, index) => {
      if (index > 0) target.append(" ");
      if (kind === "same") {
        target.append(joinWords(run));
        return;
      }
      // Marked in words too, not only by colour.
      const element = document.createElement(kind === "added" ? "ins" : "del");
      element.setAttribute("aria-label", `${kind === "added" ? "added" : "removed"}: ${joinWords(run)}`);
      element.textContent = joinWords(run);
      target.append(element);
    });
  }

  if (fields.caption) showStanding();

  // As the person types, the server checks the text (POST /api/v1/text/check, 200 ms after
  // the last keystroke): the counts and the caption Instagram receives, and the invisible
  // characters that change what a text shows (a direction override, a zero-width space, ...),
  // refused on saving. So the page shows exactly what a save would count and refuse.
  const checked = { caption: fields.caption, hashtags: fields.hashtags, altText: fields.altText, comment: $("#comment") };
  let checkTimer = null;
  let checkRound = 0;

  function checkLater() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 200);
  }

  async function check() {
    const round = ++checkRound;
    const body = {};
    if (fields.caption) Object.assign(body, current());
    if (checked.comment) body.comment = checked.comment.value;
    const { status, json } = await call("POST", "/api/v1/text/check", body);
    if (round !== checkRound || status !== 200) return;
    if (fields.caption) {
      standing = json;
      showStanding();
    }
    const found = {};
    for (const refused of json.refused ?? []) (found[refused.path.split("[")[0]] ??= []).push(refused);
    for (const [name, field] of Object.entries(checked)) {
      const element = $(`#${name}-hidden`);
      if (!field || !element) continue;
      const list = found[name] ?? [];
      const where = (r) => (name === "hashtags" ? `${r.name} in hashtag ${Number(r.path.slice(9, -1)) + 1}` : `${r.name} at character ${r.at + 1}`);
      element.textContent = list.length
        ? `Invisible ${list.length === 1 ? "character" : "characters"} that would change what readers see, refused on saving: ${list.map(where).join(", ")}. Remove ${list.length === 1 ? "it" : "them"}.`
        : "";
      element.hidden = list.length === 0;
      if (list.length) field.setAttribute("aria-invalid", "true");
    }
  }

  for (const field of Object.values(checked)) field?.addEventListener("input", checkLater);
  if (Object.values(checked).some((field) => field && field.value)) check();

  async function call(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    return { status: response.status, json };
  }

  const SIGNED_OUT = "Your session has ended: sign in again in another tab (your text stays here), then try again.";

  function failure(status, json) {
    return status === 401 ? SIGNED_OUT : json?.error?.message ?? `HTTP ${status}`;
  }

  // Actions that reload the page must not drop what the person typed and did not save.
  function unsavedEdits() {
    return fields.caption && !fields.caption.disabled && !sameText(current(), base);
  }

  function say(selector, text, kind = "") {
    const element = $(selector);
    if (!element) return;
    element.textContent = text;
    element.className = kind;
  }

  function showProblems(problems) {
    for (const name of Object.keys(fields)) say(`#${name}-problem`, "");
    const general = [];
    for (const problem of problems ?? []) {
      const name = problem.path.split("[")[0];
      if (fields[name]) {
        const element = $(`#${name}-problem`);
        element.textContent = (element.textContent ? element.textContent + " " : "") + problem.reason;
        fields[name].setAttribute("aria-invalid", "true");
      } else {
        general.push(problem.reason);
      }
    }
    return general.join(" ");
  }

  function sameText(a, b) {
    return a.caption === b.caption && a.altText === b.altText && a.hashtags.join(" ") === b.hashtags.join(" ");
  }

  // Someone else saved first: show their text, keep this person's in the form.
  function showConflict(newer) {
    const box = $("#conflict");
    box.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = `Someone else changed this draft (now revision ${newer.revision}). Your text is kept in the form; saving again replaces theirs.`;
    const theirs = document.createElement("pre");
    theirs.textContent = (newer.instagramCaption ?? newer.caption) + "\n\nAlt text: " + newer.altText;
    const take = document.createElement("button");
    take.type = "button";
    take.textContent = "Use their text instead";
    take.addEventListener("click", () => {
      fields.caption.value = newer.caption;
      fields.hashtags.value = newer.hashtags.map((t) => `#${t}`).join(" ");
      fields.altText.value = newer.altText;
      box.hidden = true;
      check();
    });
    box.append(title, theirs, take);
    box.hidden = false;
    adopt(newer, false);
  }

  function adopt(newer, replaceText) {
    draft = newer;
    revision = newer.revision;
    base = textOf(newer);
    $("#revision").textContent = String(revision);
    if (replaceText) {
      fields.caption.value = newer.caption;
      fields.hashtags.value = newer.hashtags.map((t) => `#${t}`).join(" ");
      fields.altText.value = newer.altText;
      check();
    }
    showImage(newer);
  }

  // The photos section (media.js) changes the draft too; its answer is the draft now.
  document.addEventListener("draft-changed", (event) => adopt(event.detail, !unsavedEdits()));

  function showImage(d) {
    const image = $("#preview-image");
    if (d.image.previewUrl && !image.src.endsWith(d.image.previewUrl.replace(/^https?:\/\/[^/]+/, ""))) {
      image.src = d.image.previewUrl;
    }
    say("#image-status", `Image: ${d.image.status}${d.image.error ? ` (${d.image.error})` : ""}`);
    // Approval waits for the image (the server rendered the button disabled until then).
    const approve = $("#approve");
    if (approve && d.image.status === "ready") {
      approve.disabled = false;
      const waits = $("#approve-waits");
      if (waits) waits.hidden = true;
    }
  }

  const editForm = $("#edit-form");
  editForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("#save-status", "Saving…");
    const { status, json } = await call("PATCH", `/api/v1/drafts/${id}`, { revision, ...current() });
    if (status === 200) {
      $("#conflict").hidden = true;
      showProblems([]);
      adopt(json, true);
      say("#save-status", `Saved as revision ${json.revision}.`, "ok");
    } else if (status === 409 && json?.error?.code === "revision_conflict") {
      showConflict(json.error.current);
      say("#save-status", "Not saved: the draft changed meanwhile.", "error");
    } else if (status === 400) {
      say("#save-status", showProblems(json?.error?.problems) || "Not saved: see the problems beside the fields.", "error");
    } else {
      say("#save-status", `Not saved: ${failure(status, json)}`, "error");
    }
  });

  // A time from the datetime-local field, with the reader's UTC offset spelled out.
  function withOffset(value) {
    const at = new Date(value);
    const minutes = -at.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "-";
    const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
    return `${value.length === 16 ? `${value}:00` : value}${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
  }

  if ($("#zone")) $("#zone").textContent = `In your time zone: ${zone}.`;

  $("#approve-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!sameText(current(), base)) {
      say("#decide-status", "Save your changes first: approval publishes the saved text.", "error");
      return;
    }
    const body = { revision };
    const comment = $("#approve-comment").value.trim();
    if (comment) body.comment = comment;
    const when = $("#schedule").value;
    if (when) body.scheduledAt = withOffset(when);
    say("#decide-status", "Approving…");
    const { status, json } = await call("POST", `/api/v1/drafts/${id}/approve`, body);
    if (status === 200) {
      location.reload();
    } else if (status === 409 && json?.error?.code === "revision_conflict") {
      showConflict(json.error.current);
      say("#decide-status", "Not approved: the draft changed since you looked. Check it and approve again.", "error");
    } else {
      const problems = json?.error?.problems ?? [];
      const schedule = problems.find((p) => p.path === "scheduledAt");
      say("#schedule-problem", schedule ? schedule.reason : "");
      say("#decide-status", `Not approved: ${problems.map((p) => `${p.path}: ${p.reason}`).join(" ") || failure(status, json)}`, "error");
    }
  });

  async function act(path, body, doing) {
    if (unsavedEdits()) {
      say("#decide-status", "Save your changes to the text first (or undo them): this would reload the page.", "error");
      return;
    }
    say("#decide-status", doing);
    const { status, json } = await call("POST", path, { revision, ...body });
    if (status === 200) {
      location.reload();
    } else {
      say("#decide-status", failure(status, json), "error");
    }
  }

  // A timed post not queued yet: a new time, or none (published now).
  async function reschedule(scheduledAt) {
    say("#decide-status", scheduledAt ? "Changing the time…" : "Publishing now…");
    const { status, json } = await call("POST", `/api/v1/drafts/${id}/schedule`, { revision, scheduledAt });
    if (status === 200) {
      location.reload();
      return;
    }
    const schedule = json?.error?.problems?.find((p) => p.path === "scheduledAt");
    say("#schedule-problem", schedule ? schedule.reason : "");
    say("#decide-status", `Not changed: ${schedule?.reason ?? failure(status, json)}`, "error");
  }
  $("#schedule-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const when = $("#new-schedule").value;
    if (!when) {
      say("#schedule-problem", "Choose the new time, or publish now.");
      return;
    }
    reschedule(withOffset(when));
  });
  $("#publish-now")?.addEventListener("click", () => reschedule(null));

  $("#reapprove")?.addEventListener("click", () => act(`/api/v1/drafts/${id}/reapprove`, {}, "Approving again…"));
  $("#regenerate")?.addEventListener("click", () =>
    act(`/api/v1/drafts/${id}/regenerate`, { text: $("#regen-text").checked, image: $("#regen-image").checked }, "Regenerating…"),
  );
  $("#new-image")?.addEventListener("click", () => act(`/api/v1/drafts/${id}/regenerate`, { image: true }, "Asking for a new image…"));
  $("#discard")?.addEventListener("click", () => {
    if (confirm("Discard this draft for good?")) act(`/api/v1/drafts/${id}/discard`, {}, "Discarding…");
  });

  $("#comment-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const comment = $("#comment").value.trim();
    if (!comment) return;
    const { status, json } = await call("POST", `/api/v1/drafts/${id}/comments`, { comment });
    if (status !== 201) {
      say("#decide-status", failure(status, json), "error");
      return;
    }
    // Shown in place: a reload would drop unsaved text in the editor.
    const entry = document.createElement("li");
    const who = document.createElement("strong");
    who.textContent = json.reviewer;
    const quote = document.createElement("blockquote");
    quote.textContent = json.comment;
    entry.append(`${localTime.format(new Date())} `, who, ` commented on revision ${json.revision}`, quote);
    $("#history").append(entry);
    $("#comment").value = "";
  });

  $("#withdraw")?.addEventListener("click", () => {
    const comment = $("#withdraw-comment").value.trim();
    act(`/api/v1/drafts/${id}/withdraw`, comment ? { comment } : {}, "Withdrawing the approval…");
  });

  // Work that finishes elsewhere (the image, publishing) shows up without a reload. The page
  // looks every 2 s at first and half as often again after each look that finds nothing
  // new, but at least once a minute: a post approved for next week is not asked about every
  // 2 s for days.
  const POLL_FIRST_MS = 2000;
  const POLL_MAX_MS = 60000;
  let pollDelay = POLL_FIRST_MS;
  const waiting = () =>
    ["pending", "generating"].includes(draft.image.status) || ["approved", "publishing"].includes(draft.status);
  async function poll() {
    if (!waiting()) return;
    const { status, json } = await call("GET", `/api/v1/drafts/${id}`);
    let moved = false;
    if (status === 200) {
      if (json.status !== draft.status) {
        location.reload();
        return;
      }
      if (json.revision !== revision) {
        moved = true;
        // Only the image moved: take the new revision silently. The text moved: say so.
        if (sameText(textOf(json), base)) adopt(json, false);
        else showConflict(json);
      }
      draft = json;
      showImage(json);
    }
    pollDelay = moved ? POLL_FIRST_MS : Math.min(pollDelay * 1.5, POLL_MAX_MS);
    setTimeout(poll, pollDelay);
  }
  setTimeout(poll, POLL_FIRST_MS);
})();
