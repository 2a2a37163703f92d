// The views over many drafts: the calendar (drawn in the viewer's time zone from
// GET /api/v1/calendar, a dragged post moved through the schedule route at the revision
// shown), and the list's bulk actions (each draft at the revision shown, one confirmation, a
// result per draft). Times that do not exist or exist twice in the zone are asked about.
(() => {
  "use strict";

  const { call } = window.reviewApi;
  const reason = (json) => json?.error?.problems?.map((p) => p.reason).join("; ") || json?.error?.message || "refused";
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };

  // --- time zones ------------------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  const formats = new Map();
  function wallOf(ms, zone) {
    let f = formats.get(zone);
    if (!f) {
      f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" });
      formats.set(zone, f);
    }
    const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
    return { y: p.year, m: p.month, d: p.day, h: p.hour % 24, mi: p.minute };
  }
  const wallMs = (w) => Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi);
  const offset = (ms, zone) => wallMs(wallOf(ms, zone)) - Math.floor(ms / 60000) * 60000;
  const same = (a, b) => a.y === b.y && a.m === b.m && a.d === b.d && a.h === b.h && a.mi === b.mi;
  /** Every instant whose wall time in `zone` is `w`: none in a gap, two in an overlap. */
  function instants(w, zone) {
    const guess = wallMs(w);
    const offsets = new Set([-86400000, 0, 86400000].map((d) => offset(guess + d, zone)));
    return [...new Set([...offsets].map((o) => guess - o))].filter((t) => same(wallOf(t, zone), w)).sort((a, b) => a - b);
  }
  /** For a wall time in a gap: the instants it would be with the offsets either side. */
  function aroundGap(w, zone) {
    const guess = wallMs(w);
    return [...new Set([-86400000, 86400000].map((d) => guess - offset(guess + d, zone)))].sort((a, b) => a - b);
  }
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
  const dayKey = (w) => `${w.y}-${pad(w.m)}-${pad(w.d)}`;
  const addDays = (w, n) => {
    const t = new Date(Date.UTC(w.y, w.m - 1, w.d + n));
    return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), h: 0, mi: 0 };
  };
  const startOf = (w, zone) => instants({ ...w, h: 0, mi: 0 }, zone)[0] ?? aroundGap({ ...w, h: 0, mi: 0 }, zone)[1];
  function shown(ms, zone, options) {
    return new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options }).format(new Date(ms));
  }
  const long = { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" };
  const typedAs = (w) => `${dayKey(w)}T${pad(w.h)}:${pad(w.mi)}`;
  /** A `datetime-local` value as a wall time. */
  function wallTyped(value) {
    const [date, clock] = value.split("T");
    const [y, m, d] = date.split("-").map(Number);
    const [h, mi] = (clock ?? "").split(":").map(Number);
    return { y, m, d, h, mi };
  }

  // --- one instant for a wall time: the calendar's moves and bulk rescheduling alike -----
  // A time the clocks skip (a gap) or repeat (an overlap) is asked about in the time dialog,
  // never shifted silently; the dialog's time may be typed anew, and is then judged again.
  const timeDialog = document.getElementById("move-dialog");
  let pending = null;
  /** Opens the time dialog at `wall` in `zone`; `act(ms)` runs with the instant chosen. */
  function askTime(wall, zone, act, options = null, message = "") {
    pending = { zone, act, asked: options ? typedAs(wall) : null };
    document.getElementById("move-at").value = typedAs(wall);
    document.getElementById("move-zone").textContent = `In ${zone}. ${message}`;
    document.getElementById("move-choices").replaceChildren(
      ...(options ?? []).map((ms, i) =>
        el("label", {}, el("input", { type: "radio", name: "instant", value: String(ms), checked: i === 0, required: true }), ` ${shown(ms, zone, long)}`),
      ),
    );
    timeDialog.returnValue = "";
    timeDialog.showModal();
  }
  /** Runs `act` with the one instant that `wall` is in `zone`, or asks which one first. */
  function atWall(wall, zone, act) {
    const found = instants(wall, zone);
    if (found.length === 1) return act(found[0]);
    const clock = `${pad(wall.h)}:${pad(wall.mi)}`;
    if (found.length === 0) {
      const [before, after] = aroundGap(wall, zone);
      return askTime(wall, zone, act, [Math.max(before, after), Math.min(before, after)], `${clock} does not exist on that day: the clocks skip it. Pick the time you mean:`);
    }
    return askTime(wall, zone, act, found, `${clock} happens twice on that day: the clocks go back. Pick which one:`);
  }
  timeDialog?.addEventListener("close", () => {
    if (timeDialog.returnValue !== "move" || !pending) return;
    const { zone, act, asked } = pending;
    pending = null;
    const picked = document.querySelector("#move-choices input:checked");
    const wall = wallTyped(document.getElementById("move-at").value);
    // A choice answers the time it was offered for; a time typed anew is judged again.
    if (picked && asked === typedAs(wall)) act(Number(picked.value));
    else atWall(wall, zone, act);
  });

  // --- the calendar ----------------------------------------------------------------------
  const root = document.getElementById("calendar");
  if (root) calendar(root);

  function calendar(root) {
    const params = new URLSearchParams(location.search);
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    let zone = params.get("tz") || browserZone;
    try {
      wallOf(0, zone);
    } catch {
      zone = browserZone;
    }
    let view = params.get("view") === "month" ? "month" : "week";
    let anchor = /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") ?? "")
      ? (([y, m, d]) => ({ y, m, d, h: 0, mi: 0 }))(params.get("date").split("-").map(Number))
      : wallOf(Date.now(), zone);
    let posts = [];
    const status = document.getElementById("calendar-status");
    const title = document.getElementById("calendar-title");
    const select = document.getElementById("calendar-zone");
    const zones = [...new Set([browserZone, "UTC", ...(Intl.supportedValuesOf?.("timeZone") ?? [])])];
    if (!zones.includes(zone)) zones.unshift(zone);
    for (const z of zones) select.append(el("option", { value: z, textContent: z === browserZone ? `${z} (this device)` : z, selected: z === zone }));
    select.addEventListener("change", () => {
      zone = select.value;
      load();
    });
    for (const button of document.querySelectorAll("[data-view]")) {
      button.addEventListener("click", () => {
        view = button.dataset.view;
        load();
      });
    }
    const step = (n) => () => {
      if (view === "week") anchor = addDays(anchor, 7 * n);
      else anchor = { ...anchor, ...addDays({ y: anchor.y, m: anchor.m + n, d: 1 }, 0), d: 1 };
      load();
    };
    document.getElementById("calendar-prev").addEventListener("click", step(-1));
    document.getElementById("calendar-next").addEventListener("click", step(1));
    document.getElementById("calendar-today").addEventListener("click", () => {
      anchor = wallOf(Date.now(), zone);
      load();
    });

    /** The days shown: a week from Monday, or the weeks that hold the month. */
    function days() {
      const weekday = (w) => (new Date(Date.UTC(w.y, w.m - 1, w.d)).getUTCDay() + 6) % 7;
      if (view === "week") {
        const first = addDays(anchor, -weekday(anchor));
        return Array.from({ length: 7 }, (_, i) => addDays(first, i));
      }
      const first = { y: anchor.y, m: anchor.m, d: 1, h: 0, mi: 0 };
      const start = addDays(first, -weekday(first));
      const last = addDays({ y: anchor.y, m: anchor.m + 1, d: 1 }, -1);
      const count = Math.ceil((weekday(first) + last.d) / 7) * 7;
      return Array.from({ length: count }, (_, i) => addDays(start, i));
    }

    async function load() {
      const list = days();
      const from = startOf(list[0], zone);
      const to = startOf(addDays(list[list.length - 1], 1), zone);
      const url = new URL(location.href);
      url.search = new URLSearchParams({ view, date: dayKey(anchor), tz: zone }).toString();
      history.replaceState(null, "", url);
      for (const b of document.querySelectorAll("[data-view]")) b.setAttribute("aria-pressed", String(b.dataset.view === view));
      title.textContent = view === "week" ? `${shown(from, zone, { month: "short", day: "numeric" })} – ${shown(to - 1, zone, { month: "short", day: "numeric", year: "numeric" })}` : shown(startOf({ ...anchor, d: 15 }, zone), zone, { month: "long", year: "numeric" });
      const { status: code, json } = await call("GET", `/api/v1/calendar?from=${iso(from)}&to=${iso(to)}`);
      if (code !== 200) {
        status.textContent = `The calendar could not be read: ${reason(json)}`;
        return;
      }
      posts = json.posts;
      draw(list);
    }

    function card(post) {
      const at = Date.parse(post.at);
      const movable = post.status === "approved" && post.scheduledAt;
      const node = el(
        "div",
        { className: `post ${post.status}`, draggable: Boolean(movable) },
        el("img", { src: post.thumbnail, alt: "", width: 36, height: 36, loading: "lazy" }),
        el(
          "span",
          {},
          el(
            "a",
            { href: `/review/${post.draftId}` },
            el("time", { dateTime: post.at, textContent: shown(at, zone, { hour: "numeric", minute: "2-digit" }) }),
            " ",
            el("span", { className: "caption", textContent: post.caption || "(no caption)" }),
          ),
          el("small", { textContent: ` ${post.account} · ${post.status}` }),
        ),
      );
      node.dataset.id = post.draftId;
      if (movable) {
        node.addEventListener("dragstart", (event) => {
          event.dataTransfer.setData("text/plain", post.draftId);
          event.dataTransfer.effectAllowed = "move";
        });
        const pick = el("button", { type: "button", className: "link move", textContent: "Move", onclick: () => pickUp(picked?.draftId === post.draftId ? null : post) });
        pick.setAttribute("aria-pressed", String(picked?.draftId === post.draftId));
        node.append(pick);
        if (picked?.draftId === post.draftId) node.classList.add("picked");
      }
      return node;
    }

    // Moving without dragging (a phone, a keyboard): "Move" picks a post up, then a tap on a
    // day or an hour puts it there, as a drop would; or its time is typed.
    let picked = null;
    const bar = el("div", { className: "move-bar", id: "move-bar", hidden: true, role: "status" });
    root.before(bar);
    function pickUp(post) {
      picked = post;
      root.classList.toggle("picking", Boolean(post));
      for (const node of root.querySelectorAll(".post")) {
        const on = node.dataset.id === post?.draftId;
        node.classList.toggle("picked", on);
        node.querySelector(".move")?.setAttribute("aria-pressed", String(on));
      }
      bar.hidden = !post;
      if (!post) return bar.replaceChildren();
      bar.replaceChildren(
        el("span", { textContent: `Moving “${post.caption || "(no caption)"}”: tap the ${view === "week" ? "day and hour" : "day"} to move it to, or ` }),
        el("button", { type: "button", id: "move-type", textContent: "Type a time", onclick: () => {
          pickUp(null);
          ask(post, wallOf(Date.parse(post.at), zone));
        } }),
        el("button", { type: "button", id: "move-cancel", textContent: "Cancel", onclick: () => pickUp(null) }),
      );
    }
    /** `wall` as a drop on it leaves `post`: a day keeps the post's time, an hour its minutes. */
    function dropped(post, wall) {
      const was = wallOf(Date.parse(post.at), zone);
      move(post, { ...wall, h: wall.h ?? was.h, mi: was.mi });
    }

    function target(node, wall) {
      node.addEventListener("click", (event) => {
        if (!picked || event.target.closest("a, button")) return;
        const post = picked;
        pickUp(null);
        dropped(post, wall);
      });
      node.addEventListener("dragover", (event) => {
        event.preventDefault();
        node.classList.add("over");
      });
      node.addEventListener("dragleave", () => node.classList.remove("over"));
      node.addEventListener("drop", (event) => {
        event.preventDefault();
        node.classList.remove("over");
        const post = posts.find((p) => p.draftId === event.dataTransfer.getData("text/plain"));
        if (post) dropped(post, wall);
      });
    }

    function draw(list) {
      const byDay = new Map();
      for (const post of posts.sort((a, b) => Date.parse(a.at) - Date.parse(b.at))) {
        const key = dayKey(wallOf(Date.parse(post.at), zone));
        byDay.set(key, [...(byDay.get(key) ?? []), post]);
      }
      const today = dayKey(wallOf(Date.now(), zone));
      const grid = el("div", { className: `grid ${view}` });
      for (const [index, day] of list.entries()) {
        const key = dayKey(day);
        const cell = el("section", { className: "day", ariaLabel: shown(startOf(day, zone), zone, { weekday: "long", month: "long", day: "numeric" }) });
        cell.dataset.day = key;
        if (key === today) cell.classList.add("today");
        if (view === "month" && day.m !== anchor.m) cell.classList.add("other-month");
        cell.append(el("h3", { textContent: shown(startOf(day, zone), zone, view === "week" || index < 7 ? { weekday: "short", day: "numeric" } : { day: "numeric" }) }));
        const dayPosts = byDay.get(key) ?? [];
        if (view === "week") {
          // An hour a row, so a post can be dropped at another time.
          for (let h = 0; h < 24; h++) {
            const slot = el("div", { className: "hour" }, el("small", { textContent: `${pad(h)}:00` }));
            slot.dataset.hour = String(h);
            for (const post of dayPosts.filter((p) => wallOf(Date.parse(p.at), zone).h === h)) slot.append(card(post));
            target(slot, { ...day, h });
            cell.append(slot);
          }
        } else {
          for (const post of dayPosts) cell.append(card(post));
          target(cell, { ...day, h: undefined });
        }
        grid.append(cell);
      }
      root.replaceChildren(grid);
      status.textContent = posts.length === 0 ? "No posts in this span." : "";
    }

    /** Moves `post` to the wall time `wall` in the zone, asking when it is not one instant. */
    const move = (post, wall) => atWall(wall, zone, (ms) => send(post, ms));
    /** The "Type a time" dialog: a new time typed in the zone shown. */
    const ask = (post, wall) => askTime(wall, zone, (ms) => send(post, ms));

    async function send(post, ms) {
      status.textContent = "Moving…";
      const { status: code, json } = await call("POST", `/api/v1/drafts/${post.draftId}/schedule`, { revision: post.revision, scheduledAt: iso(ms) });
      if (code === 200) status.textContent = `Moved to ${shown(ms, zone, long)}.`;
      else if (code === 409) status.textContent = `Not moved: the post changed since this calendar was drawn (${reason(json)}). The calendar now shows it as it is.`;
      else status.textContent = `Not moved: ${reason(json)}`;
      const keep = status.textContent;
      await load();
      status.textContent = keep;
    }

    load();
  }

  // --- the list: a shared link carries only the filters set ------------------------------
  // Its dates are the viewer's days: "from" is the start of the first day in this zone and
  // "to" the start of the day after the last, sent as instants; a link with bare dates is
  // read in this zone too (the page is asked for again with the instants).
  const search = document.getElementById("search");
  if (search) dateRange(search);

  function dateRange(form) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const dateOf = (text) => (([y, m, d]) => ({ y, m, d, h: 0, mi: 0 }))(text.split("-").map(Number));
    const instantOf = (name, text) => iso(startOf(name === "to" ? addDays(dateOf(text), 1) : dateOf(text), zone));
    const params = new URLSearchParams(location.search);
    const bare = ["from", "to"].filter((name) => /^\d{4}-\d{2}-\d{2}$/.test(params.get(name) ?? ""));
    if (bare.length > 0) {
      for (const name of bare) params.set(name, instantOf(name, params.get(name)));
      location.replace(`${location.pathname}?${params}`);
      return;
    }
    for (const input of form.querySelectorAll("input[data-at]")) {
      const at = Date.parse(input.dataset.at);
      // "to" is the start of the day after the last day taken in.
      if (!Number.isNaN(at)) input.value = dayKey(wallOf(input.name === "to" ? at - 1 : at, zone));
    }
    form.addEventListener("submit", () => {
      for (const input of form.querySelectorAll('input[type="date"]')) {
        if (!input.value) continue;
        form.append(el("input", { type: "hidden", name: input.name, value: instantOf(input.name, input.value) }));
        input.disabled = true;
      }
      for (const field of form.querySelectorAll("input, select")) if (!field.value) field.disabled = true;
    });
  }

  // --- the failures view: the errors by day, the days the viewer's ---------------------------
  // The counts come by quarter hour (UTC); added up into this zone's days, each count a link
  // to the drafts of its class between the start of its day and the next.
  const failureCounts = document.getElementById("failure-counts");
  if (failureCounts) failuresByDay(JSON.parse(failureCounts.textContent));

  function failuresByDay({ classes, quarters }) {
    const table = document.getElementById("failures-by-day");
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const byDay = new Map();
    for (const { quarter, class: name, count } of quarters) {
      const key = dayKey(wallOf(Date.parse(quarter), zone));
      const day = byDay.get(key) ?? new Map();
      day.set(name, (day.get(name) ?? 0) + count);
      byDay.set(key, day);
    }
    const rows = [...byDay.keys()].sort().reverse().map((key) => {
      const [y, m, d] = key.split("-").map(Number);
      const from = iso(startOf({ y, m, d }, zone));
      const to = iso(startOf(addDays({ y, m, d }, 1), zone));
      const cells = classes.map((name) => {
        const n = byDay.get(key).get(name) ?? 0;
        const cell = el("td", { className: n > 0 ? "hot" : "" });
        cell.append(n > 0 ? el("a", { href: `/review/failures?${new URLSearchParams({ class: name, from, to })}`, textContent: String(n) }) : "0");
        return cell;
      });
      return el("tr", {}, el("th", { scope: "row", textContent: key }), ...cells);
    });
    table.tBodies[0].replaceChildren(...rows);
    document.getElementById("failures-day-heading").textContent = `Day (${zone})`;
  }

  // --- bulk actions on the list ----------------------------------------------------------
  const bulk = document.getElementById("bulk");
  if (bulk) bulkActions(bulk);

  function bulkActions(form) {
    const boxes = [...form.querySelectorAll('input[name="draft"]')];
    const count = el("span", { id: "bulk-count" });
    const when = el("input", { type: "datetime-local", id: "bulk-time", ariaLabel: "New time" });
    const results = el("ul", { id: "bulk-results", className: "bulk-results", ariaLive: "polite" });
    const action = (name, label) => el("button", { type: "button", textContent: label, onclick: () => run(name) });
    const bar = el("div", { className: "bulk-bar", id: "bulk-bar", hidden: true }, count, action("approve", "Approve"), action("discard", "Discard"), when, action("reschedule", "Reschedule"));
    form.prepend(bar);
    form.append(results);
    const selected = () => boxes.filter((b) => b.checked);
    form.addEventListener("change", () => {
      const n = selected().length;
      bar.hidden = n === 0;
      count.textContent = `${n} selected`;
    });
    function run(name) {
      const chosen = selected();
      if (name !== "reschedule") return perform(name, chosen, null);
      if (!when.value) return when.focus();
      // The time typed is the viewer's; one the clocks skip or repeat is asked about.
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      atWall(wallTyped(when.value), zone, (ms) => perform(name, chosen, iso(ms)));
    }
    async function perform(name, chosen, at) {
      const verb = { approve: "Approve", discard: "Discard", reschedule: "Reschedule" }[name];
      if (!confirm(`${verb} ${chosen.length} draft${chosen.length === 1 ? "" : "s"}, each as shown here?`)) return;
      results.replaceChildren();
      for (const box of chosen) {
        const revision = Number(box.dataset.revision);
        const body = name === "reschedule" ? { revision, scheduledAt: at } : { revision };
        const path = `/api/v1/drafts/${box.value}/${name === "reschedule" ? "schedule" : name}`;
        const { status: code, json } = await call("POST", path, body);
        const caption = box.closest("li")?.querySelector(".caption")?.textContent ?? box.value;
        const ok = code >= 200 && code < 300;
        const words = ok ? "done" : code === 409 ? "not done: it changed since this list was shown; open it to see it as it is now" : `not done: ${reason(json)}`;
        const item = el("li", { className: ok ? "ok" : "error" }, el("a", { href: `/review/${box.value}`, textContent: caption }), `: ${words}`);
        item.dataset.id = box.value;
        results.append(item);
        if (ok) box.checked = false;
      }
      // The rows above are as the list was shown; a link shows it as it is now.
      results.append(el("li", {}, el("a", { href: location.href, textContent: "Show the list as it is now" })));
      form.dispatchEvent(new Event("change"));
    }
  }
})();
