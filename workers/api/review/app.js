// The review page's behaviour: local times, live counts against Instagram's limits, the
// post preview, the word diff, and every action through the JSON API with the session
// cookie. All text goes into the page through textContent, never as markup. Instagram's text
// rules are the server's alone (domain::content): the counts and the caption Instagram
// receives, hashtags marked, come with the page for its text and from
// POST /api/v1/text/check as the text changes.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const { call, say } = window.reviewApi;

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

  // An image that cannot be loaded (removed, or never stored) shows a plain placeholder, not
  // the browser's broken-image sign with its alt text.
  function missing(image) {
    if (image.dataset.missing) return;
    image.dataset.missing = "1";
    image.hidden = true;
    const placeholder = document.createElement("span");
    placeholder.className = "no-image";
    placeholder.setAttribute("role", "img");
    placeholder.setAttribute("aria-label", "No image");
    placeholder.textContent = "No image";
    image.after(placeholder);
  }
  for (const image of document.querySelectorAll("main img")) {
    if (image.complete && image.naturalWidth === 0 && image.src) missing(image);
    else image.addEventListener("error", () => missing(image));
  }

  // Any RFC 3339 time in a message (an error, a hold) read in the viewer's zone.
  const local = (iso) => localTime.format(new Date(iso));
  const localized = (text) =>
    String(text).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)/gu, (iso) =>
      Number.isNaN(new Date(iso).getTime()) ? iso : local(iso),
    );

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

  // What the person changed since the writer's text, split into the language's words
  // (Intl.Segmenter: Japanese and other scripts without spaces too). Each changed stretch is
  // shown whole, the old run then the new one, never word by word interleaved.
  const segmenter = new Intl.Segmenter(draft.language || undefined, { granularity: "word" });
  const tokens = (text) => Array.from(segmenter.segment(text), (part) => part.segment);

  function diffRuns(before, after) {
    const a = tokens(before);
    const b = tokens(after);
    // The common start and end need no table.
    let start = 0;
    while (start < a.length && start < b.length && a[start] === b[start]) start++;
    let end = 0;
    while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
    const midA = a.slice(start, a.length - end);
    const midB = b.slice(start, b.length - end);
    const table = Array.from({ length: midA.length + 1 }, () => new Uint16Array(midB.length + 1));
    for (let i = midA.length - 1; i >= 0; i--) {
      for (let j = midB.length - 1; j >= 0; j--) {
        table[i][j] = midA[i] === midB[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    const parts = [];
    let change = null;
    const same = (text) => {
      // A space or mark alone between two changes belongs to the change: runs stay whole.
      if (change && !/[\p{L}\p{N}]/u.test(text)) {
        change.removed += text;
        change.added += text;
        change.glue += text;
        return;
      }
      flush();
      parts.push({ kind: "same", text });
    };
    const flush = () => {
      if (!change) return;
      // Glue that ended the run goes back to the text both share.
      const { removed, added, glue } = change;
      change = null;
      const tail = glue && removed.endsWith(glue) && added.endsWith(glue) ? glue : "";
      parts.push({ kind: "change", removed: removed.slice(0, removed.length - tail.length), added: added.slice(0, added.length - tail.length) });
      if (tail) parts.push({ kind: "same", text: tail });
    };
    const changed = (key, text) => {
      change ??= { removed: "", added: "", glue: "" };
      change[key] += text;
      change.glue = "";
    };
    a.slice(0, start).forEach(same);
    let i = 0;
    let j = 0;
    while (i < midA.length || j < midB.length) {
      if (i < midA.length && j < midB.length && midA[i] === midB[j]) {
        same(midA[i]);
        i++;
        j++;
      } else if (i < midA.length && (j === midB.length || table[i + 1][j] >= table[i][j + 1])) {
        changed("removed", midA[i++]);
      } else {
        changed("added", midB[j++]);
      }
    }
    a.slice(a.length - end).forEach(same);
    flush();
    return parts;
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
    const parts = diffRuns(before, after);
    if (parts.every(({ kind }) => kind === "same")) {
      target.textContent = "No changes: this is the text as it was written.";
      return;
    }
    for (const part of parts) {
      if (part.kind === "same") {
        target.append(part.text);
        continue;
      }
      // Marked in words too, not only by colour: the old run, then the new one.
      for (const [tag, text, word] of [["del", part.removed, "removed"], ["ins", part.added, "added"]]) {
        if (!text) continue;
        const element = document.createElement(tag);
        element.setAttribute("aria-label", `${word}: ${text}`);
        element.textContent = text;
        target.append(element);
      }
    }
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

  const failure = (status, json) => window.reviewApi.failure(status, json, "(your text stays here), then try again");

  // Actions that reload the page must not drop what the person typed and did not save.
  function unsavedEdits() {
    return fields.caption && !fields.caption.disabled && !sameText(current(), base);
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

  // Who made the draft's latest decision, from its history: the same reviewer in another tab
  // is named as such.
  async function changedBy() {
    const { status, json } = await call("GET", `/api/v1/drafts/${id}/history`);
    const last = status === 200 ? json.comments.filter((c) => c.decision !== "comment").at(-1) : null;
    if (!last) return "Someone else";
    return last.reviewer === data.reviewer ? `You (${last.reviewer}) in another tab or window,` : last.reviewer;
  }

  // Someone else saved first: show their text, keep this person's in the form.
  async function showConflict(newer) {
    const box = $("#conflict");
    box.replaceChildren();
    const title = document.createElement("strong");
    const who = await changedBy();
    title.textContent = `${who} changed this draft (now revision ${newer.revision}). Your text is kept in the form; saving again replaces theirs.`;
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
    // A post of photos shows its first photo once fitted; else the generated image.
    const photos = Array.isArray(d.mediaItems) && d.mediaItems.length > 0 ? d.mediaItems : null;
    const url = photos ? photos[0].url : d.image.previewUrl;
    if (url && !image.src.endsWith(url.replace(/^https?:\/\/[^/]+/, ""))) {
      image.src = url;
    }
    const state = photos
      ? `Photos: ${photos.filter((item) => item.url).length} of ${photos.length} ready`
      : `Image: ${d.image.status}${d.image.error ? ` (${d.image.error})` : ""}`;
    say("#image-status", state);
    // Approval waits for the image (the server rendered the button disabled until then).
    const approve = $("#approve");
    if (approve && d.image.status === "ready") {
      approve.disabled = false;
      const waits = $("#approve-waits");
      if (waits) waits.hidden = true;
    }
  }

  // Saves the text in the form; answers whether it was saved.
  async function saveText(statusSelector) {
    say(statusSelector, "Saving…");
    const { status, json } = await call("PATCH", `/api/v1/drafts/${id}`, { revision, ...current() });
    if (status === 200) {
      $("#conflict").hidden = true;
      showProblems([]);
      adopt(json, true);
      say(statusSelector, `Saved as revision ${json.revision}.`, "ok");
      return true;
    }
    if (status === 409 && json?.error?.code === "revision_conflict") {
      showConflict(json.error.current);
      say(statusSelector, "Not saved: the draft changed meanwhile.", "error");
    } else if (status === 400) {
      say(statusSelector, showProblems(json?.error?.problems) || "Not saved: see the problems beside the fields.", "error");
    } else {
      say(statusSelector, `Not saved: ${localized(failure(status, json))}`, "error");
    }
    return false;
  }

  const editForm = $("#edit-form");
  editForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    await saveText("#save-status");
    nameApproval();
  });

  // A time from the datetime-local field, with the reader's UTC offset spelled out.
  function withOffset(value) {
    const at = new Date(value);
    const minutes = -at.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "-";
    const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
    return `${value.length === 16 ? `${value}:00` : value}${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
  }

  // The value a datetime-local field shows for an RFC 3339 time, in the reader's zone.
  function fieldValue(iso) {
    const at = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  }

  // A typed time that has passed is refused here, in the reader's own zone.
  function passed(value) {
    const at = new Date(value);
    return at.getTime() <= Date.now() ? `${localTime.format(at)} has passed: choose a later time, or leave it empty to publish now.` : "";
  }

  if ($("#zone")) $("#zone").textContent = `In your time zone: ${zone}.`;
  // The time the post has (or had before it came back to review) is filled in.
  for (const field of [$("#schedule"), $("#new-schedule")]) {
    const at = field?.dataset.at;
    if (at && new Date(at).getTime() > Date.now()) field.value = fieldValue(at);
  }

  // The approve button says what it will do: save first, and publish now or at the time.
  const buttonTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" });
  const approveButton = $("#approve");
  function nameApproval() {
    if (!approveButton) return;
    const when = $("#schedule").value;
    const at = when && !Number.isNaN(new Date(when).getTime()) ? `Schedule for ${buttonTime.format(new Date(when))}` : "Approve";
    approveButton.textContent = unsavedEdits() ? `Save and ${at[0].toLowerCase()}${at.slice(1)}` : at;
  }
  $("#schedule")?.addEventListener("input", nameApproval);
  for (const field of Object.values(fields)) field?.addEventListener("input", nameApproval);
  nameApproval();

  $("#approve-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const when = $("#schedule").value;
    const late = when ? passed(when) : "";
    say("#schedule-problem", late);
    if (late) {
      say("#decide-status", `Not approved: ${late}`, "error");
      return;
    }
    // Save and approve: the text is saved first, and the saved revision is approved.
    if (unsavedEdits() && !(await saveText("#decide-status"))) return;
    const body = { revision };
    const comment = $("#approve-comment").value.trim();
    if (comment) body.comment = comment;
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
      say("#schedule-problem", schedule ? localized(schedule.reason) : "");
      say("#decide-status", `Not approved: ${localized(problems.map((p) => `${p.path}: ${p.reason}`).join(" ") || failure(status, json))}`, "error");
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
      say("#decide-status", localized(failure(status, json)), "error");
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
    say("#schedule-problem", schedule ? localized(schedule.reason) : "");
    say("#decide-status", `Not changed: ${localized(schedule?.reason ?? failure(status, json))}`, "error");
  }
  $("#schedule-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const when = $("#new-schedule").value;
    const late = when ? passed(when) : "Choose the new time, or publish now.";
    say("#schedule-problem", late);
    if (late) return;
    reschedule(withOffset(when));
  });
  $("#publish-now")?.addEventListener("click", () => reschedule(null));

  $("#reapprove")?.addEventListener("click", () => act(`/api/v1/drafts/${id}/reapprove`, {}, "Approving again…"));
  // Correcting an approved or failed post: its approval is taken back and the editor opens;
  // approving again starts from the edited revision.
  $("#edit-again")?.addEventListener("click", () =>
    act(`/api/v1/drafts/${id}/withdraw`, {}, "Taking the approval back to edit…"),
  );
  $("#regenerate")?.addEventListener("click", () => {
    const text = $("#regen-text").checked;
    const image = $("#regen-image").checked;
    if (!text && !image) {
      say("#decide-status", "Tick New text, New image, or both.", "error");
      return;
    }
    act(`/api/v1/drafts/${id}/regenerate`, { text, image }, "Regenerating…");
  });
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
    entry.append(`${localTime.format(new Date())} `, who, ` commented (revision ${json.revision})`, quote);
    $("#history").append(entry);
    $("#comment").value = "";
  });

  $("#withdraw")?.addEventListener("click", () => {
    const comment = $("#withdraw-comment").value.trim();
    act(`/api/v1/drafts/${id}/withdraw`, comment ? { comment } : {}, "Withdrawing the approval…");
  });

  // Publishing as it happens: the attempt that failed and when the next follows, in the
  // reader's zone ("attempt 3 of 5 failed: ...; next try at 14:25").
  const shortTime = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" });
  const onItsWay = (d) => ["approved", "publishing"].includes(d.status);
  function showAttempt(d) {
    const box = $("#attempt");
    if (!box) return;
    box.hidden = !(onItsWay(d) && (d.lastError || d.publishHold));
    if (box.hidden) return;
    // A post held back by the publishing quota says why and when it is expected to go.
    const hold = d.publishHold ? `${d.publishHold.reason}${d.publishHold.expectedAt ? `; expected to go at ${local(d.publishHold.expectedAt)}` : ""}.` : "";
    let text = [localized(d.lastError ?? ""), localized(hold)].filter(Boolean).join(" ");
    const next = d.nextTryAt ? `next try at ${shortTime.format(new Date(d.nextTryAt))}` : "";
    text = text.replace(/;? ?the next follows in \d+ s$/u, next ? `; ${next}` : "");
    if (d.status === "publishing") text += " Trying again now.";
    $("#attempt-text").textContent = text.charAt(0).toUpperCase() + text.slice(1);
    $("#status").textContent = d.status;
    $("#status").className = `badge ${d.status}`;
    const settled = $("#settled");
    if (settled && d.lastError) settled.textContent = "Approved; publishing is being retried (the attempts are shown above). This page updates by itself.";
  }
  showAttempt(draft);

  // Work that finishes elsewhere (the image, publishing) shows up without a reload. The page
  // looks 2 s after loading and half as often again after each look that finds nothing new:
  // at least once a minute while something is expected soon (an image being made, a post
  // due or being published), at least every 10 minutes while a post waits for a time more
  // than 10 minutes ahead. A tab left open for a day on a post approved for later looks at
  // most 160 times (the browser tests count it), not 1,440. Coming back to a hidden tab
  // looks at once.
  const POLL_FIRST_MS = 2000;
  const POLL_SOON_MS = 60000;
  const POLL_LATER_MS = 600000;
  let pollDelay = POLL_FIRST_MS;
  let pollTimer = null;
  const waiting = () => ["pending", "generating"].includes(draft.image.status) || onItsWay(draft);
  const pollCap = () => {
    const far = draft.status === "approved" && !draft.nextTryAt && !draft.publishHold && draft.scheduledAt;
    return far && new Date(draft.scheduledAt).getTime() - Date.now() > POLL_LATER_MS ? POLL_LATER_MS : POLL_SOON_MS;
  };
  async function poll() {
    pollTimer = null;
    if (!waiting()) return;
    const { status, json } = await call("GET", `/api/v1/drafts/${id}`);
    let moved = false;
    if (status === 200) {
      // Between attempts the post goes approved -> publishing -> approved: shown in place.
      // Anything else (published, failed, back under review) reloads the page.
      if (json.status !== draft.status && !(onItsWay(json) && onItsWay(draft))) {
        location.reload();
        return;
      }
      if (json.revision !== revision) {
        moved = true;
        // Only the image or publishing moved: take the new revision silently. The text
        // moved: say so.
        if (sameText(textOf(json), base)) adopt(json, false);
        else showConflict(json);
      }
      moved ||= json.status !== draft.status || json.lastError !== draft.lastError;
      draft = json;
      showImage(json);
      showAttempt(json);
    }
    pollDelay = moved ? POLL_FIRST_MS : Math.min(pollDelay * 1.5, pollCap());
    pollTimer = setTimeout(poll, pollDelay);
  }
  pollTimer = setTimeout(poll, POLL_FIRST_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || pollTimer === null) return;
    clearTimeout(pollTimer);
    pollDelay = POLL_FIRST_MS;
    pollTimer = setTimeout(poll, 0);
  });
})();
