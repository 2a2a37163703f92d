// The windows in which a post live on Instagram could end as a `failed` draft, be posted
// twice, or strand its draft, one test (or more) each:
//   1. media_publish went out and nothing recorded it (D1 refused the write): the failed queue
//      must read the container before it fails the draft;
//   2. the failed queue's write and a consumer's reclaim of a lapsed lease at once;
//   3. an unclear media_publish answer followed by FINISHED on the last attempt;
//   4. the failed queue reading a draft before the consumer that gave it up wrote `failed`;
//   5. the recent-media lookup or a sent container's status refused for good;
//   6. throttling spending attempts, and lasting without bound;
//   7. duplicate deliveries meeting a live claim multiplying the work;
//   8. attempt numbers carried over from an earlier approval;
//   9. a snapshot checked against today's rules before its sent container is read;
//  10. two drafts with the same caption, their posts past the first page of recent media.
// Each drives the real publish consumer against the Graph API simulator into its window with
// faults that need nothing of the consumer's own (simulator faults, D1 triggers, a held queue
// send, D1 latency), so each also runs against a consumer built before the publish machine,
// where it fails.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { message, PUBLISH, rfc3339, sleep, startPublishing } from "./publish-support.mjs";
import { REVIEWER } from "./harness.mjs";

const LEASE_SECONDS = 2;
/** Copies of the consumer with other settings. */
const ONCE = "publish-consumer-once";
const TWICE = "publish-consumer-twice";
const BRIEF_THROTTLE = "publish-consumer-brief-throttle";

let p;
before(async () => {
  p = await startPublishing({
    sim: { quotaTotal: 100_000 },
    vars: {
      PUBLISH_LEASE_SECONDS: String(LEASE_SECONDS),
      PUBLISH_SETTLE_SECONDS: "3",
      PUBLISH_LOST_AFTER_MINUTES: "1",
      REMIND_AFTER_HOURS: "100000",
      ORPHAN_IMAGE_GRACE_MINUTES: "100000000",
    },
    copies: {
      [ONCE]: { of: PUBLISH, vars: { PUBLISH_MAX_ATTEMPTS: "1" } },
      [TWICE]: { of: PUBLISH, vars: { PUBLISH_MAX_ATTEMPTS: "2" } },
      [BRIEF_THROTTLE]: { of: PUBLISH, vars: { PUBLISH_THROTTLE_LIMIT_SECONDS: "3" } },
    },
  });
});
after(() => p?.dispose());
beforeEach(() => {
  p.resetSim();
  p.sim.control.configure({ publishedAfterMs: 0, publishedAfterReads: 0 });
  p.webhook.reset();
  p.pipeline.holdSends(null);
});

// ---- helpers ------------------------------------------------------------------------------------

/** The messages sent to `queue` for `id` from index `from` of its list on. */
function sentFor(queue, id, from = 0) {
  return p.sent(queue, id).slice(from);
}

/** Webhook alerts naming the draft: failures, and "needs a look". */
function alerts(id) {
  const texts = p.webhook.calls().map((call) => call.json?.text ?? "");
  return {
    failed: texts.filter((text) => text.includes(id) && text.includes("post failed")),
    unresolved: texts.filter((text) => text.includes(id) && text.includes("needs a look")),
  };
}

/** The draft's posts on the simulator (its image URL holds its id). */
function postsOf(id) {
  return p.sim.state.media().filter((item) => item.imageUrl.includes(id));
}

async function untilLeaseLapsed(id) {
  const row = await p.row(id);
  const lease = row.claim_expires_at ? Date.parse(row.claim_expires_at) : 0;
  await sleep(Math.max(0, lease - Date.now() + 150));
}

/** A D1 trigger refusing updates of the draft (`column`: only writes of that column). */
async function refuseWrites(id, column) {
  const name = `window_refuse_${id.replaceAll("-", "")}`;
  const when = column ? `OLD.id = '${id}' AND NEW.${column} IS NOT NULL` : `OLD.id = '${id}'`;
  await p.db
    .prepare(`CREATE TRIGGER ${name} BEFORE UPDATE${column ? ` OF ${column}` : ""} ON drafts WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`)
    .run();
  return () => p.db.prepare(`DROP TRIGGER ${name}`).run();
}

/**
 * Delivers every publish message queued for the draft (from `from` on) to `worker`, one by one,
 * until none is left or `max` were delivered; `pause` ms between deliveries. Returns the row.
 */
async function drain(id, { worker = PUBLISH, from = 0, max = 20, pause = 0 } = {}) {
  let next = from;
  for (let n = 0; n < max; n += 1) {
    const pending = sentFor("publish-queue", id, next);
    if (pending.length === 0) break;
    next += 1;
    await p.pipeline.deliver(worker, "publish-queue", [pending[0].body]);
    if (pause > 0) await sleep(pause);
  }
  return p.row(id);
}

/** A container made from the draft's approved snapshot straight on the simulator, and published if asked. */
async function containerOf(draft, { publish = false, caption = draft.instagramCaption } = {}) {
  const auth = { authorization: `Bearer ${p.sim.token}`, "content-type": "application/x-www-form-urlencoded" };
  const base = `${p.sim.url}/${p.sim.apiVersion}/${p.sim.userId}`;
  const created = await fetch(`${base}/media`, {
    method: "POST",
    headers: auth,
    body: new URLSearchParams({ image_url: `${p.relay.url}/media/${draft.key}`, caption, alt_text: draft.altText }),
  }).then((r) => r.json());
  assert.ok(created.id, JSON.stringify(created));
  if (!publish) return { containerId: created.id };
  const published = await fetch(`${base}/media_publish`, { method: "POST", headers: auth, body: new URLSearchParams({ creation_id: created.id }) }).then((r) =>
    r.json(),
  );
  assert.ok(published.id, JSON.stringify(published));
  return { containerId: created.id, mediaId: published.id };
}

/** Never failed while live, never two posts: what every window must keep. */
function assertNeverFailedWhileLive(row, where) {
  const posts = postsOf(row.id);
  assert.ok(posts.length <= 1, `${where}: ${posts.length} posts`);
  if (posts.length === 1) assert.notEqual(row.status, "failed", `${where}: failed while its post is live (${row.last_error})`);
  assert.equal(p.sim.state.doubleAttempts(), 0, `${where}: media_publish sent for a published container`);
}

// ---- the windows ---------------------------------------------------------------------------------

test("window 1: media_publish went out and D1 refused to record it; the failed queue reads the container and records the post, never fails it", async () => {
  const draft = await p.approvedDraft();
  const allow = await refuseWrites(draft.id, "media_id");
  let outcomes;
  try {
    ({ outcomes } = await p.publish([message(draft.id)]));
  } finally {
    await allow();
  }
  assert.deepEqual(outcomes, ["retried"], "the media id write was refused, so the message is retried");
  assert.equal(postsOf(draft.id).length, 1, "the post went out");
  assert.equal((await p.row(draft.id)).media_id, null, "the fault happened: no media id recorded");
  // Its retries met the same trouble, the queue gave up on it: once the lease lapsed, the
  // failed queue gets it.
  await untilLeaseLapsed(draft.id);
  assert.deepEqual((await p.failed([message(draft.id, { action: "retry", attempt: 1 })])).outcomes, ["acked"]);
  const row = await p.row(draft.id);
  assertNeverFailedWhileLive(row, "window 1");
  assert.equal(row.status, "published");
  assert.equal(row.media_id, postsOf(draft.id)[0].id);
  assert.equal(p.calls("publish").length, 1, "published again");
  assert.deepEqual(alerts(draft.id).failed, []);
});

test("window 2: the failed queue and a consumer reclaiming a lapsed lease at once: the failed queue's write never wipes the live claim", async () => {
  // D1 answers slowly, so the failed queue's read and its write lie apart and the consumer's
  // claim lands between them.
  const slow = await startPublishing({ d1LatencyMs: 150, vars: { PUBLISH_LEASE_SECONDS: "30" } });
  try {
    const draft = await slow.approvedDraft();
    const auth = { authorization: `Bearer ${slow.sim.token}`, "content-type": "application/x-www-form-urlencoded" };
    const created = await fetch(`${slow.sim.url}/${slow.sim.apiVersion}/${slow.sim.userId}/media`, {
      method: "POST",
      headers: auth,
      body: new URLSearchParams({ image_url: `${slow.relay.url}/media/${draft.key}`, caption: draft.instagramCaption, alt_text: draft.altText }),
    }).then((r) => r.json());
    // A consumer died holding the draft after making its container (nothing was sent).
    await slow.db
      .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'dead-consumer', claim_expires_at = ?2, container_id = ?3 WHERE id = ?1")
      .bind(draft.id, rfc3339(new Date(Date.now() - 60_000)), created.id)
      .run();
    // The consumer's status read takes a while: it is past its claim and before media_publish
    // when the failed queue writes.
    slow.sim.control.fault({ op: "status", kind: "latency", delayMs: 1500, match: draft.id });
    const dead = message(draft.id, { action: "retry", attempt: 5 });
    const [failed, published] = await Promise.all([slow.failed([dead]), sleep(100).then(() => slow.publish([message(draft.id)]))]);
    assert.deepEqual(published.outcomes, ["acked"]);
    // The failed queue leaves the draft to the claim's holder.
    assert.deepEqual(failed.outcomes, ["acked"]);
    const row = await slow.row(draft.id);
    const posts = slow.sim.state.media().filter((m) => m.imageUrl.includes(draft.id));
    // The consumer claimed it: the fault's interleaving happened.
    const claims = (await slow.logs(draft.id)).filter((l) => l.step === "claim" && l.outcome === "ok");
    assert.ok(claims.length >= 1, "nobody claimed the draft");
    assert.ok(posts.length <= 1);
    if (posts.length === 1) {
      assert.equal(row.status, "published", `failed while its post is live: ${row.last_error}`);
      assert.equal(row.media_id, posts[0].id);
    } else {
      assert.equal(row.status, "failed");
    }
    assert.equal(row.publish_claim, null);
  } finally {
    await slow.dispose();
  }
});

test("window 3: an unclear media_publish answer followed by FINISHED is not 'not published', even on the last attempt", async () => {
  const draft = await p.approvedDraft();
  // Meta received the call and published; its answer is a 500, and its status lags.
  p.sim.control.configure({ publishedAfterMs: 1500 });
  p.sim.control.fault({ op: "publish", kind: "lost_answer", mode: "500", match: draft.id });
  assert.deepEqual((await p.pipeline.deliver(ONCE, "publish-queue", [message(draft.id)])).outcomes, ["acked"]);
  assert.equal(postsOf(draft.id).length, 1, "the post went out");
  const statuses = p.calls("status").map((call) => call.status);
  assert.ok(statuses.length >= 2, "the status was read after the unclear answer");
  let row = await p.row(draft.id);
  assert.notEqual(row.status, "failed", `given up on its only attempt while the post is live: ${row.last_error}`);
  await sleep(1600);
  row = await drain(draft.id, { worker: ONCE, max: 10, pause: 300 });
  assertNeverFailedWhileLive(row, "window 3");
  assert.equal(row.status, "published");
  assert.equal(row.media_id, postsOf(draft.id)[0].id);
  assert.equal(p.calls("publish").length, 1);
  assert.deepEqual(sentFor("failed-queue", draft.id), []);
  assert.deepEqual(alerts(draft.id).failed, []);
});

test("window 4: a draft given up on is failed before anything reaches the failed queue, and its operator is alerted exactly once", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "container", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported.", match: draft.id });
  // Whatever the consumer sends to the failed queue is handled there at once, while the
  // consumer is still inside its send.
  const handled = [];
  p.pipeline.holdSends(async (record) => {
    if (record.queue !== "failed-queue" || record.body?.id !== draft.id) return;
    handled.push(await p.failed([record.body]));
  });
  await p.publish([message(draft.id)]);
  p.pipeline.holdSends(null);
  // What the failed queue handled it acked: the queue does not deliver it again.
  assert.ok(handled.every((h) => h.outcomes[0] === "acked"));
  const row = await p.row(draft.id);
  assert.equal(row.status, "failed");
  assert.match(row.last_error, /2207009|aspect ratio/);
  assert.equal(alerts(draft.id).failed.length, 1, `alerts: ${JSON.stringify(alerts(draft.id))}; failed queue: ${JSON.stringify(handled.map((h) => h.outcomes))}`);
});

for (const [code, what] of [
  [100, "(#100) Tried accessing nonexisting field (media)"],
  [10, "(#10) Application does not have permission for this action"],
]) {
  test(`window 5: the recent-media lookup refused with code ${code} after a lost answer: published (media id unknown) at once, not approved forever`, async () => {
    const draft = await p.approvedDraft();
    p.sim.control.fault([
      { op: "publish", kind: "lost_answer", mode: "destroy", match: draft.id },
      { op: "media", code, message: what, times: 100 },
    ]);
    await p.publish([message(draft.id)]);
    let row = await p.row(draft.id);
    if (row.status !== "published") row = await drain(draft.id, { max: 3 });
    assert.ok(p.calls("media").length >= 1, "the lookup was made and refused");
    assert.ok(p.calls("media").every((call) => call.status === 400));
    assertNeverFailedWhileLive(row, "window 5");
    assert.equal(row.status, "published", `still ${row.status} after four deliveries: ${row.last_error}`);
    assert.equal(row.media_id, null);
    assert.equal(p.calls("publish").length, 1);
    // Said where a person looks: the draft's publish log.
    const shown = await p.pipeline.request("GET", `/api/v1/drafts/${draft.id}`);
    assert.ok(
      shown.json.publishLog.some((entry) => /media id could not be looked up/.test(entry.message ?? "")),
      JSON.stringify(shown.json.publishLog),
    );
    p.sim.control.clearFaults();
  });
}

test("window 5: the status of a container sent to media_publish refused for good: the draft waits unresolved, the operator is told once, never failed", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault([
    { op: "publish", kind: "lost_answer", mode: "destroy", match: draft.id },
    { op: "status", code: 10, message: "(#10) Application does not have permission for this action", match: draft.id, skip: 1, times: 100 },
  ]);
  await p.publish([message(draft.id)]);
  let row = await drain(draft.id, { max: 4 });
  assert.ok(p.calls("status").filter((call) => call.status === 400).length >= 3, "the status reads were refused");
  assertNeverFailedWhileLive(row, "window 5");
  assert.equal(row.status, "approved", `${row.status}: ${row.last_error}`);
  assert.equal(alerts(draft.id).unresolved.length, 1, "the operator is told once that it needs a look");
  assert.deepEqual(alerts(draft.id).failed, []);
  // Once the status can be read, the draft is settled.
  p.sim.control.clearFaults();
  row = await drain(draft.id, { from: 4, max: 4 });
  assert.equal(row.status, "published");
  assert.equal(row.media_id, postsOf(draft.id)[0].id);
  assert.equal(alerts(draft.id).unresolved.length, 1);
});

test("window 6: throttling waits without spending attempts", async () => {
  const draft = await p.approvedDraft();
  // More throttled answers than the attempts this consumer makes.
  p.sim.control.fault({ op: "container", kind: "rate_limit", retryAfter: 1, times: 4, match: draft.id });
  await p.pipeline.deliver(TWICE, "publish-queue", [message(draft.id)]);
  const row = await drain(draft.id, { worker: TWICE, max: 10 });
  assert.equal(p.calls("container").filter((call) => call.status === 429).length, 4, "throttled four times");
  assert.equal(row.status, "published", `${row.status}: ${row.last_error}`);
  assert.deepEqual(
    sentFor("publish-queue", draft.id).map((s) => s.body.attempt),
    [1, 1, 1, 1],
    "each throttled try waited on the same attempt",
  );
  assert.equal(row.publish_attempts, 1, "the one attempt that published; the throttled tries count none");
});

test("window 6: throttling is bounded in time: past PUBLISH_THROTTLE_LIMIT_SECONDS the draft fails with the reason and one alert", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "container", kind: "rate_limit", retryAfter: 1, times: 1000, match: draft.id });
  await p.pipeline.deliver(BRIEF_THROTTLE, "publish-queue", [message(draft.id)]);
  const row = await drain(draft.id, { worker: BRIEF_THROTTLE, max: 12, pause: 500 });
  assert.equal(row.status, "failed", `${row.status}: ${row.last_error}`);
  assert.match(row.last_error, /kept throttling/);
  assert.equal(alerts(draft.id).failed.length, 1);
  assert.equal(postsOf(draft.id).length, 0);
});

test("window 7: duplicate deliveries meeting a live claim queue nothing", async () => {
  const draft = await p.approvedDraft();
  await p.db
    .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'live-consumer', claim_expires_at = ?2 WHERE id = ?1")
    .bind(draft.id, rfc3339(new Date(Date.now() + 60_000)))
    .run();
  const duplicates = [message(draft.id), message(draft.id, { action: "retry", attempt: 2 })];
  const [one, two] = await Promise.all([p.publish(duplicates), p.publish([message(draft.id)])]);
  assert.deepEqual([...one.outcomes, ...two.outcomes], ["acked", "acked", "acked"]);
  assert.deepEqual(sentFor("publish-queue", draft.id), [], "a duplicate queued a message");
  assert.equal(p.calls().length, 0);
  const row = await p.row(draft.id);
  assert.equal(row.publish_claim, "live-consumer");
  // Leaves the draft to no one: later tests' scheduler runs must not find it stuck.
  await p.db.prepare("UPDATE drafts SET status = 'failed', publish_claim = NULL, claim_expires_at = NULL, last_error = 'test' WHERE id = ?1").bind(draft.id).run();
});

test("window 8: attempts count per approval: after a re-approval the scheduler queues attempt 1, and the new series has all its attempts", async () => {
  const draft = await p.approvedDraft();
  // Two failed attempts: the approval is used up.
  p.sim.control.fault({ op: "container", code: 2, message: "An unexpected error has occurred.", times: 2, match: draft.id });
  await p.pipeline.deliver(TWICE, "publish-queue", [message(draft.id)]);
  let row = await drain(draft.id, { worker: TWICE, max: 3 });
  assert.equal(row.status, "failed", row.last_error);
  assert.match(row.last_error, /attempt 2/);
  // Re-approved; its publish message is lost, and the scheduler queues it again once overdue.
  const answer = await p.pipeline.request("POST", `/api/v1/drafts/${draft.id}/reapprove`, { body: { revision: row.revision }, token: REVIEWER.token });
  assert.equal(answer.status, 200, answer.text);
  const before = sentFor("publish-queue", draft.id).length;
  await p.pipeline.runCron({ at: Date.now() + 3 * 60_000 });
  const requeued = sentFor("publish-queue", draft.id, before);
  assert.equal(requeued.length, 1, "the scheduler did not queue the lost message");
  assert.equal(requeued[0].body.attempt, 1, "the new approval's first attempt");
  // One more failure, and the new series goes on to its second attempt and publishes.
  p.sim.control.fault({ op: "container", code: 2, message: "An unexpected error has occurred.", times: 1, match: draft.id });
  row = await drain(draft.id, { worker: TWICE, from: before, max: 4 });
  assert.equal(row.status, "published", `${row.status}: ${row.last_error}`);
  assert.equal(postsOf(draft.id).length, 1);
});

test("window 9: a snapshot that breaks today's rules is reconciled first: its sent container is live, so the draft is published, not failed", async () => {
  // 31 hashtags: more than Instagram's 30, a rule deployed after the post was sent.
  const hashtags = Array.from({ length: 31 }, (_, i) => `tag${i}`);
  p.sim.control.configure({ limits: { maxHashtags: 40 } });
  const draft = await p.approvedDraft({ hashtags });
  const { containerId, mediaId } = await containerOf(draft, { publish: true });
  p.sim.control.configure({ limits: { maxHashtags: 30 } });
  const sentAt = rfc3339(new Date(Date.now() - 60_000));
  await p.db
    .prepare("UPDATE drafts SET container_id = ?2, publish_sent_container = ?2, publish_sent_at = ?3 WHERE id = ?1")
    .bind(draft.id, containerId, sentAt)
    .run();
  await p.db
    .prepare(
      "INSERT INTO publish_logs (draft_id, attempt, step, outcome, container_id, message, created_at) VALUES (?1, 1, 'publish', 'retry', ?2, 'the answer was lost', ?3)",
    )
    .bind(draft.id, containerId, sentAt)
    .run();
  // Only the consumer's calls from here on.
  p.resetSim();
  await p.publish([message(draft.id, { action: "retry", attempt: 2 })]);
  const row = await drain(draft.id, { max: 4 });
  assertNeverFailedWhileLive(row, "window 9");
  assert.equal(row.status, "published", `${row.status}: ${row.last_error}`);
  assert.equal(row.media_id, mediaId);
  assert.equal(p.calls("publish").length, 0, "published again");
  assert.equal(p.calls("container").length, 0, "a new container from a snapshot that breaks the rules");
});

for (const order of ["the first sent first", "the last sent first"]) {
  test(`window 10: two drafts with the same caption among many posts at once (past the first page), checked ${order}: each records its own media id`, async () => {
    const caption = `Same words, two posts ${Date.now()}`;
    const twins = await p.approvedDrafts(2, () => ({ caption }));
    for (const twin of twins) {
      // Its answer lost, and its status unreadable for now: it waits for a later check.
      p.sim.control.fault([
        { op: "publish", kind: "lost_answer", mode: "destroy", match: twin.id },
        { op: "status", code: 2, message: "An unexpected error has occurred.", match: twin.id, skip: 1, times: 3 },
      ]);
      await p.publish([message(twin.id)]);
      assert.equal(postsOf(twin.id).length, 1);
      assert.equal((await p.row(twin.id)).status, "approved");
    }
    // Then 60 other posts go out: the twins' posts are past the first page of recent media.
    const others = await p.approvedDrafts(60);
    for (let i = 0; i < others.length; i += 20) await p.publish(others.slice(i, i + 20).map((d) => message(d.id)));
    assert.equal(p.media().length, 62);
    // The twins are checked again.
    p.sim.control.clearFaults();
    for (const twin of order === "the first sent first" ? twins : [...twins].reverse()) await drain(twin.id, { max: 4 });
    for (const twin of twins) {
      const row = await p.row(twin.id);
      assert.equal(row.status, "published", `${row.status}: ${row.last_error}`);
      assert.equal(row.media_id, postsOf(twin.id)[0].id, "a twin recorded another post, or none");
    }
    assert.equal(p.calls("publish").length, 62);
    assert.ok(p.calls("media").some((call) => call.query.after), "the lookup read past the first page");
  });
}
