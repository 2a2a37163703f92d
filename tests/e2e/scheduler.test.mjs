// The scheduler (publish-consumer's Cron Trigger) against the compiled Workers and the Graph
// API simulator, fired at chosen times: the scheduler's clock is the event's scheduled time.
//
// The publish and image consumers start idle: a message the scheduler sends waits in its
// queue and is recorded (`pipeline.sent`), and a test hands it over with `deliver` when it
// wants it handled. Every test starts from empty tables (drafts, logs, keys, sessions,
// alerts, the scheduler's tasks), since every run looks at every draft. A time a test fires
// at is real time when a consumer later handles what the run queued (the consumer's clock is
// the wall clock), and any time otherwise.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { IMAGE, message, PUBLISH, rfc3339, startPublishing } from "./publish-support.mjs";
import { REVIEWER } from "./harness.mjs";
import { assertNoSecret, insertStatement } from "./support.mjs";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const REVIEW_BASE_URL = "https://pipeline.example";
const LANGSMITH_KEY = "lsv2_pt_schedule_e2e_9f8e7d6c5b4a";
/** A copy with the default grace for unreferenced images (60 minutes). */
const GRACE = "publish-consumer-grace";
const STARTED = Date.now();
const TOKEN_EXPIRES_AT = rfc3339(new Date(STARTED + 3 * DAY));

let p;
let langsmith;
before(async () => {
  langsmith = await startFakeLangSmith();
  p = await startPublishing({
    vars: {
      ORPHAN_IMAGE_GRACE_MINUTES: "0",
      REVIEW_BASE_URL,
      LANGSMITH_API_KEY: LANGSMITH_KEY,
      LANGSMITH_ENDPOINT: langsmith.url,
      LANGSMITH_PROJECT: "schedule-e2e",
    },
    idle: [IMAGE],
    copies: {
      [GRACE]: { of: PUBLISH, vars: { ORPHAN_IMAGE_GRACE_MINUTES: "60" } },
    },
  });
});
after(async () => {
  await p?.dispose();
  await langsmith?.close();
});
beforeEach(async () => {
  p.resetSim();
  p.sim.control.configure({ quotaTotal: 100 });
  p.webhook.reset();
  langsmith.reset();
  p.pipeline.refuseSends(null);
  p.pipeline.sent.length = 0;
  for (const table of ["publish_logs", "review_comments", "drafts", "scheduler_tasks", "operator_alerts", "idempotency_keys", "review_sessions"]) {
    await p.db.prepare(`DELETE FROM ${table}`).run();
  }
});

/** Fires the scheduler as if the Cron Trigger ran at `at` (ms or a Date). */
function fire(at, worker = PUBLISH) {
  return p.pipeline.runCron({ at, worker });
}

/** Records the daily token check as done at `at`, so that runs until a day later make no such call. */
function tokenCheckedAt(at) {
  return p.db.prepare("INSERT INTO scheduler_tasks (task, done_at) VALUES ('token_check', ?1)").bind(iso(at)).run();
}

/** Hands the publish messages the scheduler sent for `drafts` to the publish consumer; each is published. */
async function publishSent(drafts) {
  for (const d of drafts) {
    const [sent] = scheduled(d.id);
    assert.deepEqual((await p.publish([sent.body])).outcomes, ["acked"]);
    assert.equal((await p.row(d.id)).status, "published");
  }
}

/** What the scheduler (any copy of publish-consumer) sent to `queue` for draft `id`. */
function scheduled(id, queue = "publish-queue") {
  return p.pipeline.sent.filter((s) => s.worker.startsWith(PUBLISH) && s.queue === queue && s.body?.id === id);
}

/** Asserts the scheduler sent exactly one publish message for each of `ids`, and none for others. */
function assertQueuedOnce(ids, what) {
  const sent = p.pipeline.sent.filter((s) => s.worker.startsWith(PUBLISH) && s.queue === "publish-queue");
  assert.deepEqual(
    sent.map((s) => s.body.id).sort(),
    [...ids].sort(),
    `${what}: ${JSON.stringify(sent.map((s) => s.body))}`,
  );
}

function read(id) {
  return p.pipeline.request("GET", `/api/v1/drafts/${id}`);
}

const iso = (ms) => rfc3339(new Date(ms));

/** Inserts a draft row with text, under review unless `columns` say otherwise. */
async function insertDraft(columns = {}) {
  const at = iso(Date.now());
  const row = {
    id: randomUUID(),
    status: "draft",
    revision: 1,
    language: "en",
    provider: "template",
    caption: `Autumn soup is back ${randomBytes(3).toString("hex")}`,
    hashtags: JSON.stringify(["autumn"]),
    alt_text: "A bowl of soup",
    generated_caption: "Autumn soup is back",
    generated_hashtags: JSON.stringify(["autumn"]),
    generated_alt_text: "A bowl of soup",
    image_status: "ready",
    image_key: `images/${randomUUID()}/0123456789abcdef.jpg`,
    image_prompt: "A bowl of soup",
    created_at: at,
    updated_at: at,
    ...columns,
  };
  await insertStatement(p.db, "drafts", row).run();
  return row;
}

async function putImage(key) {
  const bucket = await p.bucket();
  await bucket.put(key, new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), { httpMetadata: { contentType: "image/jpeg" } });
}

// ---------------------------------------------------------------------------------------------
// Timed posts

/** A draft made through the api, its image made: ready to approve. Its D1 row. */
async function reviewed() {
  const created = await p.pipeline.generate({ brief: `Autumn menu ${randomUUID().slice(0, 8)}`, language: "en" });
  assert.equal(created.status, 201, created.text);
  const id = created.json.draftId;
  const [image] = p.pipeline.sent.filter((s) => s.queue === "image-queue" && s.body?.id === id);
  assert.deepEqual((await p.pipeline.deliver(IMAGE, "image-queue", [image.body])).outcomes, ["acked"]);
  return p.row(id);
}

/** RFC 3339 with an offset of +09:00, as a client in Tokyo sends it. */
function tokyo(ms) {
  return new Date(ms + 9 * HOUR).toISOString().replace(/\.\d+Z$/, "+09:00");
}

/** A reviewer's request (approving and rescheduling are a person's decisions). */
function post(path, body) {
  return p.pipeline.request("POST", path, { body, token: REVIEWER.token });
}

test("a timed post: nothing is queued until the scheduler's run at its time, then once; arriving early, it is queued again for its time", async () => {
  // What the approval itself answers and queues is approve.test.mjs's.
  const now = await reviewed();
  const later = await reviewed();
  const approved = await post(`/api/v1/drafts/${now.id}/approve`, { revision: now.revision });
  assert.equal(approved.status, 200, approved.text);
  const sentByApi = p.pipeline.sent.filter((s) => s.worker === "api" && s.queue === "publish-queue" && s.body.id === now.id);
  assert.equal(sentByApi.length, 1);

  const scheduledAt = Math.ceil((Date.now() + 2 * MINUTE) / 1000) * 1000;
  const timed = await post(`/api/v1/drafts/${later.id}/approve`, {
    revision: later.revision,
    scheduledAt: new Date(scheduledAt).toISOString().replace("Z", "+00:00"),
  });
  assert.equal(timed.status, 200, timed.text);
  assert.equal(p.pipeline.sent.filter((s) => s.queue === "publish-queue" && s.body.id === later.id).length, 0, "a scheduled post was queued at approval");

  // Before its time: nothing, and the post approved for now is not queued again either.
  await fire(Date.now());
  await fire(scheduledAt - 1000);
  assertQueuedOnce([], "before the time");
  // Its time has come: queued once, by the run at that time, and only once.
  await fire(scheduledAt + 1000);
  const [message1] = scheduled(later.id);
  assert.deepEqual(message1.body, { id: later.id, action: "publish", attempt: 1, requestedAt: iso(scheduledAt + 1000) });
  assert.equal((await p.row(later.id)).publish_due_at, iso(scheduledAt + 1000));
  await fire(scheduledAt + MINUTE + 1000);
  assertQueuedOnce([later.id], "after the time");

  // The message arrives before the post's time by the consumer's clock: it is not published,
  // but queued again for its time, and that message is the one due.
  p.resetSim();
  assert.deepEqual((await p.publish([message1.body])).outcomes, ["acked"]);
  assert.deepEqual(p.ops(), [], "a post was published before its time");
  const [again] = scheduled(later.id).slice(1);
  const wait = (scheduledAt - Date.now()) / 1000;
  assert.ok(Math.abs(again.options.delaySeconds - wait) <= 3, `${again.options.delaySeconds} s, expected about ${wait}`);
  assert.equal((await p.row(later.id)).publish_due_at, again.body.requestedAt);
  assert.equal(Math.abs(Date.parse(again.body.requestedAt) - scheduledAt) <= 3000, true);
  assert.match((await p.logs(later.id)).at(-1).message, /the post is scheduled for .*; checked again in \d+ s/);
  assert.equal((await p.row(later.id)).status, "approved");

  // The one approved for now is published from the api's message.
  await p.publish([sentByApi[0].body]);
  assert.equal((await p.row(now.id)).status, "published");
  assert.equal((await p.row(now.id)).publish_due_at, null);
});

test("due and not-yet-due drafts: a run queues what is due, oldest first, once; a later run the rest", async () => {
  const T = Date.now();
  const [overdue, unscheduled, ahead] = await p.approvedDrafts(3, (i) => ({
    columns: { scheduled_at: [iso(T - 5 * MINUTE), null, iso(T + 5 * MINUTE)][i] },
  }));
  await fire(T);
  const sent = p.pipeline.sent.filter((s) => s.worker === PUBLISH);
  assert.deepEqual(
    sent.map((s) => s.body),
    [overdue, unscheduled].map((d) => ({ id: d.id, action: "publish", attempt: 1, requestedAt: iso(T) })),
    "not the due ones, oldest first",
  );
  assert.ok(sent.every((s) => !s.options?.delaySeconds), "queued with a delay");
  for (const d of [overdue, unscheduled]) assert.equal((await p.row(d.id)).publish_due_at, iso(T));
  assert.equal((await p.row(ahead.id)).publish_due_at, null);

  // Within PUBLISH_LOST_AFTER_MINUTES (10) of their queueing, the messages are not lost yet.
  await fire(T + 4 * MINUTE);
  assertQueuedOnce([overdue.id, unscheduled.id], "four minutes later");
  await fire(T + 5 * MINUTE);
  assertQueuedOnce([overdue.id, unscheduled.id, ahead.id], "at the time of the last one");
  assert.equal(scheduled(ahead.id)[0].body.requestedAt, iso(T + 5 * MINUTE));
  await fire(T + 6 * MINUTE);
  assertQueuedOnce([overdue.id, unscheduled.id, ahead.id], "a minute later");
});

test("two runs fired at the same moment: both find the drafts due, each draft is queued once", async () => {
  const drafts = await p.approvedDrafts(6);
  const T = Date.now();
  await tokenCheckedAt(T);
  await Promise.all([fire(T), fire(T)]);
  // Both runs read the quota, which a run does only when it found drafts due: they raced.
  assert.equal(p.calls("limit").length, 2, "the runs did not overlap");
  assertQueuedOnce(
    drafts.map((d) => d.id),
    "overlapping runs",
  );
  // A retried run at the same time finds nothing to do.
  await fire(T);
  assertQueuedOnce(
    drafts.map((d) => d.id),
    "a retried run",
  );
});

test("a run that dies after queueing half: the next run queues the rest, the one cut off once it is overdue, none twice", async () => {
  // One approval time for all six, so the scheduler's order (due time, then id) is the ids'
  // order even when making them crosses a second.
  const approvedAt = iso(Date.now() - MINUTE);
  const sameTime = () => ({ columns: { approved_at: approvedAt, created_at: approvedAt, updated_at: approvedAt } });
  const drafts = (await p.approvedDrafts(6, sameTime)).sort((a, b) => (a.id < b.id ? -1 : 1));
  let sends = 0;
  p.pipeline.refuseSends((s) => s.worker === PUBLISH && s.queue === "publish-queue" && ++sends > 3);
  const T = Date.now();
  await fire(T);
  p.pipeline.refuseSends(null);
  const ids = drafts.map((d) => d.id);
  assertQueuedOnce(ids.slice(0, 3), "the run that failed");
  assert.deepEqual(
    p.pipeline.refused.map((s) => s.body.id),
    [ids[3]],
    "the fourth send was not the one refused",
  );
  // The fourth was marked queued before its send failed; the run stopped before the others.
  assert.equal((await p.row(ids[3])).publish_due_at, iso(T));
  for (const id of ids.slice(4)) assert.equal((await p.row(id)).publish_due_at, null);

  // The consumer publishes what was queued.
  await publishSent(drafts.slice(0, 3));

  await fire(T + MINUTE);
  assertQueuedOnce([...ids.slice(0, 3), ...ids.slice(4)], "the next run");
  await publishSent(drafts.slice(4));
  // Overdue by PUBLISH_LOST_AFTER_MINUTES (10): its message was lost.
  await fire(T + 9 * MINUTE);
  assertQueuedOnce([...ids.slice(0, 3), ...ids.slice(4)], "within the grace");
  await fire(T + 11 * MINUTE);
  assertQueuedOnce(ids, "after the grace");
  assert.deepEqual(scheduled(ids[3])[0].body, { id: ids[3], action: "publish", attempt: 1, requestedAt: iso(T + 11 * MINUTE) });
  await publishSent(drafts.slice(3, 4));
  await fire(T + 30 * MINUTE);
  assertQueuedOnce(ids, "later");
  // Each published once.
  assert.deepEqual(
    p.media().map((m) => m.caption).sort(),
    drafts.map((d) => d.instagramCaption).sort(),
  );
});

test("the publishing quota: only what fits is queued, oldest due first; the rest show the hold and when it frees up, until it does", async () => {
  // Two posts go out through the pipeline first.
  for (const d of await p.approvedDrafts(2)) {
    await p.publish([message(d.id)]);
    assert.equal((await p.row(d.id)).status, "published");
  }
  const { results: published } = await p.db
    .prepare("SELECT created_at FROM publish_logs WHERE step = 'publish' AND outcome = 'ok' ORDER BY created_at")
    .all();
  assert.equal(published.length, 2);
  // One more post fits in the window (the simulator counts every post of this file's tests).
  const usage = p.sim.state.quota().usage;
  p.sim.control.configure({ quotaTotal: usage + 1 });
  const T = Date.now();
  const due = await p.approvedDrafts(3, (i) => ({ columns: { scheduled_at: iso(T - (3 - i) * MINUTE) } }));
  await fire(T);
  assertQueuedOnce([due[0].id], "with one place left");
  for (const [i, d] of due.slice(1).entries()) {
    const shown = await read(d.id);
    assert.equal(shown.status, 200, shown.text);
    assert.equal(shown.json.status, "approved");
    const expected = iso(Date.parse(published[i].created_at) + DAY);
    assert.equal(shown.json.publishHold.expectedAt, expected, `draft ${i + 1}`);
    assert.match(
      shown.json.publishHold.reason,
      new RegExp(`publishing quota \\(${usage + 1} posts per 24 h\\) is used up: ${usage} published in the window, 0 queued or publishing; expected to be queued from ${expected}`),
    );
  }
  assert.equal((await read(due[0].id)).json.publishHold, null);

  // Still full: nothing more goes, the holds stay.
  await fire(T + MINUTE);
  assertQueuedOnce([due[0].id], "still full");
  assert.ok((await p.row(due[2].id)).publish_hold);

  // Room again: the held ones go, and the hold is cleared.
  p.sim.control.configure({ quotaTotal: usage + 10 });
  await fire(T + 2 * MINUTE);
  assertQueuedOnce(
    due.map((d) => d.id),
    "with room",
  );
  for (const d of due) assert.equal((await read(d.id)).json.publishHold, null);
});

test("a reviewer changes or clears the time of an approved post not yet queued; once it is queued, no more", async () => {
  const [moved, cleared, underReview] = [await reviewed(), await reviewed(), await reviewed()];
  const T = Math.ceil(Date.now() / 1000) * 1000;
  for (const [d, at] of [[moved, T + 2 * HOUR], [cleared, T + 5 * HOUR]]) {
    const approved = await post(`/api/v1/drafts/${d.id}/approve`, { revision: d.revision, scheduledAt: tokyo(at) });
    assert.equal(approved.status, 200, approved.text);
  }
  const approvedRevision = (await p.row(moved.id)).revision;

  // A new time: stored in UTC, at a new revision, with the comment; nothing is queued.
  const changed = await post(`/api/v1/drafts/${moved.id}/schedule`, { revision: approvedRevision, scheduledAt: tokyo(T + 3 * HOUR), comment: "Evening works better" });
  assert.equal(changed.status, 200, changed.text);
  assert.equal(changed.json.scheduledAt, iso(T + 3 * HOUR));
  assert.equal(changed.json.status, "approved");
  assert.equal(changed.json.revision, approvedRevision + 1);
  assert.deepEqual(changed.json.publish, { queued: "at_scheduled_time" });
  const history = await p.pipeline.request("GET", `/api/v1/drafts/${moved.id}/history`);
  assert.deepEqual(
    history.json.comments.map((c) => [c.decision, c.comment, c.revision]).at(-1),
    ["reschedule", "Evening works better", approvedRevision],
  );
  // The old time passes without it; the new one queues it.
  await fire(T + 2 * HOUR + MINUTE);
  assertQueuedOnce([], "at the old time");
  await fire(T + 3 * HOUR);
  assertQueuedOnce([moved.id], "at the new time");
  const queued = await post(`/api/v1/drafts/${moved.id}/schedule`, { revision: approvedRevision + 1, scheduledAt: null });
  assert.equal(queued.status, 409, queued.text);
  assert.match(queued.json.error.message, /already queued for publishing/);
  assert.equal((await p.row(moved.id)).scheduled_at, iso(T + 3 * HOUR));

  // Cleared: it goes now, as an approval without a time does.
  const revision = (await p.row(cleared.id)).revision;
  for (const [body, path] of [
    [{ revision }, "scheduledAt"],
    [{ revision, scheduledAt: iso(T - HOUR) }, "scheduledAt"],
    [{ revision, scheduledAt: "2030-01-31T09:00:00" }, "scheduledAt"],
    [{ scheduledAt: null }, "revision"],
  ]) {
    const refused = await post(`/api/v1/drafts/${cleared.id}/schedule`, body);
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual(refused.json.error.problems.map((problem) => problem.path), [path], JSON.stringify(body));
  }
  const stale = await post(`/api/v1/drafts/${cleared.id}/schedule`, { revision: revision - 1, scheduledAt: null });
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.error.code, "revision_conflict");
  const now = await post(`/api/v1/drafts/${cleared.id}/schedule`, { revision, scheduledAt: null });
  assert.equal(now.status, 200, now.text);
  assert.deepEqual(now.json.publish, { queued: "now" });
  assert.equal(now.json.scheduledAt, null);
  const sent = p.pipeline.sent.filter((s) => s.worker === "api" && s.queue === "publish-queue" && s.body.id === cleared.id);
  assert.equal(sent.length, 1);
  assert.equal((await p.row(cleared.id)).publish_due_at, sent[0].body.requestedAt);

  // Only an approved post has a time to change.
  const draft = await post(`/api/v1/drafts/${underReview.id}/schedule`, { revision: underReview.revision, scheduledAt: tokyo(T + HOUR) });
  assert.equal(draft.status, 409, draft.text);
  assert.match(draft.json.error.message, /only an approved post/);
});

// ---------------------------------------------------------------------------------------------
// Recovery

test("a lost publish message is queued again once overdue by the grace, for the attempt its approval reached, then published", async () => {
  const now = Date.now();
  // The second had spent two attempts of its approval when its message was lost; an older
  // approval's log rows do not count.
  const [lost, lostRetry, recent] = await p.approvedDrafts(3, (i) => ({
    columns: { publish_due_at: iso(now - [11, 30, 5][i] * MINUTE), publish_attempts: [0, 2, 0][i] },
  }));
  await p.db
    .prepare("INSERT INTO publish_logs (draft_id, attempt, step, outcome, message, created_at) VALUES (?1, 5, 'give_up', 'failed', 'an earlier approval', ?2)")
    .bind(lost.id, iso(now - 60 * MINUTE))
    .run();
  await fire(now);
  assertQueuedOnce([lost.id, lostRetry.id], "lost messages");
  assert.deepEqual(scheduled(lostRetry.id)[0].body, { id: lostRetry.id, action: "retry", attempt: 3, requestedAt: iso(now) });
  assert.deepEqual(scheduled(lost.id)[0].body, { id: lost.id, action: "publish", attempt: 1, requestedAt: iso(now) });
  assert.equal((await p.row(lost.id)).publish_due_at, iso(now));
  await fire(now + MINUTE);
  assertQueuedOnce([lost.id, lostRetry.id], "a minute later");

  await p.publish([scheduled(lost.id)[0].body]);
  const row = await p.row(lost.id);
  assert.equal(row.status, "published");
  assert.equal(p.media().length, 1);
  assert.equal((await p.row(recent.id)).status, "approved");
});

/** Sets a draft up as a consumer that died holding its claim left it, `lapsedMs` ago. */
async function diedPublishing(draft, { containerId, lapsedMs, attempt = 1 }) {
  await p.db
    .prepare(
      "UPDATE drafts SET status = 'publishing', publish_claim = 'dead-consumer', claim_expires_at = ?2, container_id = ?3, publish_attempts = ?4, publish_due_at = ?5 WHERE id = ?1",
    )
    .bind(draft.id, iso(Date.now() - lapsedMs), containerId, attempt - 1, iso(Date.now() - lapsedMs - 2 * MINUTE))
    .run();
  await p.db
    .prepare("INSERT INTO publish_logs (draft_id, attempt, step, outcome, message, container_id, created_at) VALUES (?1, ?2, 'container', 'ok', NULL, ?3, ?4)")
    .bind(draft.id, attempt, containerId, iso(Date.now() - lapsedMs - MINUTE))
    .run();
}

/** A container for `draft` made directly at the simulator, as a consumer would; published too when `publish`. */
async function container(draft, { publish = false } = {}) {
  const auth = { authorization: `Bearer ${p.sim.token}`, "content-type": "application/x-www-form-urlencoded" };
  const base = `${p.sim.url}/${p.sim.apiVersion}/${p.sim.userId}`;
  const created = await fetch(`${base}/media`, {
    method: "POST",
    headers: auth,
    body: new URLSearchParams({ image_url: `${p.relay.url}/media/${draft.key}`, caption: draft.instagramCaption, alt_text: draft.altText }),
  }).then((r) => r.json());
  assert.ok(created.id, JSON.stringify(created));
  if (!publish) return { containerId: created.id };
  const published = await fetch(`${base}/media_publish`, { method: "POST", headers: auth, body: new URLSearchParams({ creation_id: created.id }) }).then((r) => r.json());
  assert.ok(published.id, JSON.stringify(published));
  return { containerId: created.id, mediaId: published.id };
}

test("stuck publishing, its container PUBLISHED: queued for reconciliation, marked published, nothing posted again", async () => {
  const [draft, young] = await p.approvedDrafts(2);
  const { containerId, mediaId } = await container(draft, { publish: true });
  await diedPublishing(draft, { containerId, lapsedMs: 11 * MINUTE });
  // A claim that lapsed within the grace is left alone.
  await diedPublishing(young, { containerId: (await container(young)).containerId, lapsedMs: 2 * MINUTE });
  p.resetSim();
  const now = Date.now();
  await fire(now);
  assertQueuedOnce([draft.id], "stuck drafts");
  assert.deepEqual(scheduled(draft.id)[0].body, { id: draft.id, action: "publish", attempt: 1, requestedAt: iso(now) });
  await fire(now + MINUTE);
  assertQueuedOnce([draft.id], "a minute later: queued again");

  p.resetSim();
  assert.deepEqual((await p.publish([scheduled(draft.id)[0].body])).outcomes, ["acked"]);
  assert.deepEqual(p.ops(), ["status", "media", "permalink"], "no media_publish");
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, mediaId);
  assert.equal(p.sim.state.media().filter((m) => m.containerId === containerId).length, 1);
  await fire(now + 11 * MINUTE);
  assertQueuedOnce([draft.id, young.id], "the young one once its claim is overdue too");
});

test("stuck publishing, its container never published: queued for the attempt it was on, published once", async () => {
  const [draft] = await p.approvedDrafts(1);
  const { containerId } = await container(draft);
  await diedPublishing(draft, { containerId, lapsedMs: 15 * MINUTE, attempt: 2 });
  p.resetSim();
  const now = Date.now();
  await fire(now);
  assertQueuedOnce([draft.id], "stuck drafts");
  const [sent] = scheduled(draft.id);
  assert.deepEqual(sent.body, { id: draft.id, action: "retry", attempt: 2, requestedAt: iso(now) });
  p.resetSim();
  assert.deepEqual((await p.publish([sent.body])).outcomes, ["acked"]);
  assert.deepEqual(p.ops(), ["status", "publish", "permalink"], "not the container's status first");
  assert.equal(p.containers().length, 0, "a second container was made");
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  const posts = p.sim.state.media().filter((m) => m.containerId === containerId);
  assert.equal(posts.length, 1);
  assert.equal(posts[0].caption, draft.instagramCaption);
  await fire(now + 20 * MINUTE);
  assertQueuedOnce([draft.id], "after it was published");
});

test("images stuck pending are asked for again, without a new revision, and marked failed after IMAGE_MAX_REQUESTS", async () => {
  const T = Date.now();
  const stuck = await insertDraft({ image_status: "pending", image_key: null, image_requested_at: iso(T - 16 * MINUTE), image_requests: 1, created_at: iso(T - 20 * MINUTE) });
  const young = await insertDraft({ image_status: "pending", image_key: null, image_requested_at: iso(T - 5 * MINUTE), image_requests: 1 });
  const lapsed = await insertDraft({
    image_status: "generating",
    image_key: null,
    image_claim: "dead-job",
    image_lease_expires_at: iso(T - MINUTE),
    image_requested_at: iso(T - 30 * MINUTE),
  });
  const live = await insertDraft({
    image_status: "generating",
    image_key: null,
    image_claim: "live-job",
    image_lease_expires_at: iso(T + 2 * HOUR),
    image_requested_at: iso(T - 30 * MINUTE),
  });
  // Without text yet it is generate's (or housekeeping's) business.
  const textless = await insertDraft({ caption: null, image_status: "pending", image_key: null, image_requested_at: iso(T - 30 * MINUTE) });
  const asked = () => p.pipeline.sent.filter((s) => s.worker === PUBLISH && s.queue === "image-queue").map((s) => s.body.id);

  await fire(T);
  assert.deepEqual(asked().sort(), [stuck.id, lapsed.id].sort());
  assert.deepEqual(scheduled(stuck.id, "image-queue")[0].body, { id: stuck.id, action: "generate_image", attempt: 1, requestedAt: iso(T) });
  for (const d of [stuck, lapsed]) {
    const row = await p.row(d.id);
    assert.deepEqual(
      [row.image_status, row.image_requests, row.image_requested_at, row.image_claim, row.revision],
      ["pending", 2, iso(T), null, 1],
    );
  }
  assert.equal((await p.row(live.id)).image_claim, "live-job");
  assert.equal((await p.row(young.id)).image_requests, 1);
  assert.equal((await p.row(textless.id)).image_requests, 1);

  await fire(T + MINUTE);
  assert.equal(asked().length, 2, "asked again within IMAGE_STUCK_MINUTES");
  await fire(T + 16 * MINUTE);
  assert.equal(scheduled(stuck.id, "image-queue").length, 2);
  assert.equal((await p.row(stuck.id)).image_requests, 3);
  assert.equal((await p.row(young.id)).image_requests, 2);
  // Asked three times: failed, with the reason, which the reviewer sees.
  await fire(T + 32 * MINUTE);
  assert.equal(scheduled(stuck.id, "image-queue").length, 2, "asked a fourth time");
  const failed = await p.row(stuck.id);
  assert.equal(failed.image_status, "failed");
  assert.equal(failed.revision, 2);
  const shown = await read(stuck.id);
  assert.equal(shown.json.image.status, "failed");
  assert.match(shown.json.image.error, /asked for 3 times and never made/);
  assert.equal((await p.row(lapsed.id)).image_status, "failed");
  assert.equal((await p.row(live.id)).image_claim, "live-job", "a live job was disturbed");
  // The young one, asked again twice, is not failed yet; a message asking for it makes the
  // image as any other.
  assert.equal((await p.row(young.id)).image_requests, 3);
  const last = scheduled(young.id, "image-queue").at(-1);
  assert.deepEqual((await p.pipeline.deliver(IMAGE, "image-queue", [last.body])).outcomes, ["acked"]);
  const made = await p.row(young.id);
  assert.equal(made.image_status, "ready");
  assert.equal(made.revision, 2);
});

// ---------------------------------------------------------------------------------------------
// Reminders

test("reminders: one digest per run with the count, the oldest and links; not again within the interval; a failed webhook marks nothing", async () => {
  const T = Date.now();
  const oldest = await insertDraft({ created_at: iso(T - 30 * HOUR) });
  const old = await insertDraft({ created_at: iso(T - 26 * HOUR) });
  const young = await insertDraft({ created_at: iso(T - HOUR) });
  await insertDraft({ caption: null, created_at: iso(T - 40 * HOUR) });
  await insertDraft({ status: "approved", created_at: iso(T - 50 * HOUR) });
  const link = (d) => `<${REVIEW_BASE_URL}/review/${d.id}|${d.id}>`;

  await fire(T);
  let calls = p.webhook.calls();
  assert.equal(calls.length, 1);
  const text = calls[0].json.text;
  assert.ok(
    text.startsWith(`2 drafts are waiting for review for more than 24 h. The oldest, since ${oldest.created_at}: ${link(oldest)}`),
    text,
  );
  assert.ok(text.includes(`• ${link(oldest)} (since ${oldest.created_at})\n• ${link(old)} (since ${old.created_at})`), text);
  assert.ok(!text.includes(young.id), text);
  for (const d of [oldest, old]) assert.equal((await p.row(d.id)).reminded_at, iso(T));
  assert.equal((await p.row(young.id)).reminded_at, null);
  assert.equal((await p.row(oldest.id)).revision, 1, "a reminder made a new revision");

  // Within REMIND_EVERY_HOURS: nothing; the young one is not old enough yet.
  await fire(T + HOUR);
  assert.equal(p.webhook.calls().length, 1);
  // After it: all three, in one digest.
  await fire(T + DAY + MINUTE);
  calls = p.webhook.calls();
  assert.equal(calls.length, 2);
  assert.match(calls[1].json.text, /^3 drafts are waiting/);

  // A webhook that fails marks nothing; the next run sends it.
  p.webhook.setDefault({ status: 500, body: { error: "down" } });
  await fire(T + 2 * DAY + 2 * MINUTE);
  assert.equal(p.webhook.calls().length, 3);
  assert.equal((await p.row(young.id)).reminded_at, iso(T + DAY + MINUTE));
  p.webhook.setDefault({ status: 200, body: { ok: true } });
  // Two runs at once: one digest.
  await Promise.all([fire(T + 2 * DAY + 3 * MINUTE), fire(T + 2 * DAY + 3 * MINUTE)]);
  calls = p.webhook.calls();
  assert.equal(calls.length, 4);
  assert.match(calls[3].json.text, /^3 drafts are waiting/);
  assert.equal((await p.row(young.id)).reminded_at, iso(T + 2 * DAY + 3 * MINUTE));
});

// ---------------------------------------------------------------------------------------------
// Housekeeping

function keyRow(key) {
  return p.db.prepare("SELECT * FROM idempotency_keys WHERE key = ?1").bind(key).first();
}

test("housekeeping: expired idempotency keys and review sessions are purged, live ones kept; an expired key is free to reuse", async () => {
  const now = Date.now();
  const insert = (key, expiresAt, state = "done") =>
    p.db
      .prepare(
        `INSERT INTO idempotency_keys (key, fingerprint, state, owner, lease_expires_at, draft_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)`,
      )
      .bind(key, randomBytes(32).toString("hex"), state, randomBytes(16).toString("hex"), iso(now - DAY), iso(now - 25 * HOUR), expiresAt)
      .run();
  const expired = `expired-${randomUUID()}`;
  const expiredRunning = `expired-running-${randomUUID()}`;
  const reused = `reused-${randomUUID()}`;
  const live = `live-${randomUUID()}`;
  await insert(expired, iso(now - MINUTE));
  await insert(expiredRunning, iso(now - 1000), "running");
  await insert(reused, iso(now - MINUTE));
  await insert(live, iso(now + HOUR));
  for (const [hash, expiresAt] of [["expired-session", iso(now - 1000)], ["live-session", iso(now + HOUR)]]) {
    await p.db
      .prepare("INSERT INTO review_sessions (id_hash, reviewer, created_at, expires_at) VALUES (?1, 'you', ?2, ?3)")
      .bind(hash, iso(now - HOUR), expiresAt)
      .run();
  }

  // An expired key is as good as absent: a request with another body may claim it.
  const claimed = await p.pipeline.generate({ brief: "A post under a recycled key", language: "en" }, { headers: { "idempotency-key": reused } });
  assert.equal(claimed.status, 201, claimed.text);
  assert.equal((await keyRow(reused)).draft_id, claimed.json.draftId);

  await fire(now);
  assert.equal(await keyRow(expired), null, "an expired key was kept");
  assert.equal(await keyRow(expiredRunning), null, "an expired running key was kept");
  assert.ok(await keyRow(live), "a live key was purged");
  assert.ok(await keyRow(reused), "a key claimed again was purged");
  const { results: sessions } = await p.db.prepare("SELECT id_hash FROM review_sessions").all();
  assert.deepEqual(sessions.map((s) => s.id_hash), ["live-session"]);
  // Past their expiry too, they go.
  await fire(now + 2 * HOUR);
  assert.equal(await keyRow(live), null);
  assert.equal(await p.pipeline.count("review_sessions"), 0);
});

test("housekeeping: unreferenced images under images/ (orphans, a discarded draft's) are removed after the grace; referenced ones and every row stay", async () => {
  const referenced = await insertDraft();
  await putImage(referenced.image_key);
  const approvedKey = `images/${randomUUID()}/approved0000000.jpg`;
  const approved = await insertDraft({ status: "approved", approved_image_key: approvedKey });
  await putImage(approvedKey);
  const discardedApproved = `images/${randomUUID()}/approved1111111.jpg`;
  const discarded = await insertDraft({ status: "discarded", approved_image_key: discardedApproved });
  await putImage(discarded.image_key);
  await putImage(discardedApproved);
  const orphan = `images/${randomUUID()}/orphan000000000.jpg`;
  await putImage(orphan);
  const elsewhere = `exports/${randomUUID()}.jpg`;
  await putImage(elsewhere);

  // With the default grace (60 minutes) a new orphan stays: its job may not have recorded it yet.
  await fire(Date.now(), GRACE);
  assert.deepEqual(await p.pipeline.mediaKeys(orphan), [orphan], "removed within the grace period");
  assert.deepEqual(await p.pipeline.mediaKeys(discarded.image_key), [discarded.image_key], "removed within the grace period");

  // ORPHAN_IMAGE_GRACE_MINUTES = 0: they go, and nothing anyone points at goes with them. (The
  // cut-off is taken in whole seconds, so an object of this very second waits for the next run.)
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await fire(Date.now());
  assert.deepEqual(await p.pipeline.mediaKeys(orphan), [], "the orphan image was kept");
  assert.deepEqual(await p.pipeline.mediaKeys(discarded.image_key), [], "the discarded draft's image was kept");
  assert.deepEqual(await p.pipeline.mediaKeys(discardedApproved), [], "the discarded draft's approved image was kept");
  assert.deepEqual(await p.pipeline.mediaKeys(referenced.image_key), [referenced.image_key], "a draft's image was removed");
  assert.deepEqual(await p.pipeline.mediaKeys(approvedKey), [approvedKey], "an approved image was removed");
  assert.deepEqual(await p.pipeline.mediaKeys(elsewhere), [elsewhere], "an object outside images/ was removed");
  // Nothing else is deleted: the discarded draft stays, as it was.
  for (const d of [referenced, approved, discarded]) assert.equal((await p.row(d.id)).status, d.status);
});

// ---------------------------------------------------------------------------------------------
// Token health, tracing and metrics

test("token health: a 190 tells the operator once, holds due posts, and a working token clears the alert; a close expiry is told once", async () => {
  const [draft] = await p.approvedDrafts(1);
  p.sim.control.fault({ kind: "token_expired" });
  const T = Date.now();
  await fire(T);
  let calls = p.webhook.calls();
  assert.equal(calls.length, 1, JSON.stringify(calls.map((c) => c.json)));
  assert.match(calls[0].json.text, /access token is expired or invalid/);
  assertNoSecret(calls[0].json.text, [p.sim.token], "the alert");
  // Both the timed posts (one due) and the daily check read with the token.
  assert.equal(p.calls("limit").length, 2);
  const held = (await read(draft.id)).json;
  assert.match(held.publishHold.reason, /access token is expired or invalid/);
  assert.equal(held.publishHold.expectedAt, null);
  assertQueuedOnce([], "with an invalid token");

  // The check ran today: the next runs do not check again; the draft stays held.
  await fire(T + MINUTE);
  await fire(T + HOUR);
  assert.equal(p.calls("limit").length, 4, "the token was checked again within a day");
  assert.equal(p.webhook.calls().length, 1, "the operator was told twice");

  // Fixed: the post goes; the next day's check clears the alert.
  p.sim.control.clearFaults();
  await fire(T + 2 * HOUR);
  assertQueuedOnce([draft.id], "with the token fixed");
  assert.equal((await read(draft.id)).json.publishHold, null);
  assert.ok(await p.alertRow(`token_invalid:${p.sim.userId}`));
  await fire(T + DAY + 3 * HOUR);
  assert.equal(await p.alertRow(`token_invalid:${p.sim.userId}`), null, "a working token kept the alert");

  // A token that expires within 7 days (a Facebook Login token, which is not renewed here):
  // told once, not on the next day's check.
  p.webhook.reset();
  await p.db
    .prepare("UPDATE accounts SET token_expires_at = ?2, login = 'facebook' WHERE id = ?1")
    .bind(p.sim.userId, TOKEN_EXPIRES_AT)
    .run();
  await fire(T + 2 * DAY + 4 * HOUR);
  calls = p.webhook.calls();
  assert.equal(calls.length, 1);
  assert.match(calls[0].json.text, new RegExp(`expires at ${TOKEN_EXPIRES_AT}`));
  await fire(T + 3 * DAY + 5 * HOUR);
  assert.equal(p.webhook.calls().length, 1, "the expiry was told twice");
  assert.equal((await p.alertRow(`token_expiring:${p.sim.userId}:${TOKEN_EXPIRES_AT}`)).count, 2);
  await p.db.prepare("UPDATE accounts SET token_expires_at = NULL, login = 'instagram' WHERE id = ?1").bind(p.sim.userId).run();
});

test("each run is traced to LangSmith with its counts (no secret in it), and the counts go to Analytics Engine", async () => {
  await p.approvedDrafts(2);
  const pointsBefore = p.pipeline.metrics.length;
  await fire(Date.now());
  const run = await p.pipeline.eventually(() => langsmith.runs().find((r) => r.name === "schedule" && !r.parent_run_id), {
    what: "the scheduler's trace",
  });
  assert.equal(run.outputs.due, 2);
  assert.equal(run.outputs.queued, 2);
  assert.deepEqual(run.outputs.errors, []);
  const children = langsmith.runs().filter((r) => r.parent_run_id === run.id);
  assert.deepEqual(
    children.map((c) => c.name),
    ["timed_posts", "lost_messages", "stuck_publishing", "stuck_images", "reminders", "purge", "textless_drafts", "unreferenced_images", "token_check", "token_refresh", "token_keys"],
  );
  assert.equal(children[0].outputs.queued, 2);
  assertNoSecret(JSON.stringify(langsmith.runs()), [LANGSMITH_KEY, p.sim.token], "the trace");

  const point = await p.pipeline.eventually(
    () => p.pipeline.metrics.slice(pointsBefore).find((m) => m.worker === PUBLISH && m.blobs[0] === "schedule_run"),
    { what: "the scheduler's data point" },
  );
  assert.deepEqual(point.blobs, ["schedule_run", "ok"]);
  assert.deepEqual(point.indexes, ["schedule"]);
  assert.deepEqual(point.doubles.slice(0, 3), [2, 2, 0], "due, queued, held");
  assert.equal(point.doubles.length, 18);
  assert.ok(point.doubles[16] > 0, "D1 rows read");
});
