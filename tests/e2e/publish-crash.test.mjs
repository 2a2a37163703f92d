// Crash-point simulation: the real publish consumer against the Graph API simulator, stopped
// dead right after each await of the publish path (PUBLISH_CRASH_AFTER: the Graph call or the
// D1 write took effect, and nothing after it happened), then everything that can happen next:
//
//   alone                  the message redelivered on its own;
//   with-failed-scheduler  the redelivery, the failed queue (the same message dead-lettered)
//                          and the scheduler's recovery, all at the same moment;
//   after-lease            the lease lapses first, then the redelivery and the scheduler;
//   after-lease-all        the lease lapses, then redelivery, failed queue and scheduler at once;
//   d1-refuses             D1 refuses the next write to the draft for one delivery (any write,
//                          or only the media id's, by the case's seed);
//   reapprove              the message redelivered, and once all is quiet a reviewer
//                          re-approves (or regenerates the image of, and approves) a failed
//                          draft, then every publish message of the draft is delivered again.
//
// Each case then runs to quiescence (whatever the consumer queued delivered, retried messages
// redelivered and dead-lettered after the queue's retries, the scheduler run whenever nothing
// is left to deliver), and must show: at most one successful media_publish for the draft and
// no media_publish after it (the simulator counts them), never `failed` with its post live,
// `published` with its own media id and a post carrying its own image, caption and alt text,
// or `failed` with a reason and exactly one alert.
//
// Some points happen only on some paths; each case's simulator faults (aimed at its draft with
// `match`) make its path: `plain` (nothing goes wrong), `lost` (media_publish's answer lost:
// the status, which lags PUBLISHED by LAG_MS, then the recent-media lookup), `transient` (the
// container call fails once: a deferred retry), `unresolved` (media_publish's answer lost and
// the container cannot be read twice: the draft waits and the operator is told it needs a
// look), `refused` (Instagram refuses the image: given up, then the alert), `carousel` (three
// images and a first comment: children, parent, comment), `comment` (one image and a first
// comment), `lost-comment` (the comment's answer lost: the post's comments read). Each case proves
// its crash happened (its delivery was retried and the consumer logged "stopped dead after
// <point>").
//
// Each case has a seed (printed) that fixes its draft id and its choices; PUBLISH_CRASH_SEED
// sets the base seed, PUBLISH_CRASH_ONLY=<text> runs the cases whose name or seed contains it,
// PUBLISH_CRASH_CONCURRENCY how many run at once (one Miniflare start carries them all).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { instagramCaption, message, rfc3339, seeded, sha256, sleep, startPublishing, uuidFrom } from "./publish-support.mjs";
import { REVIEWER } from "./harness.mjs";

const BASE_SEED = Number(process.env.PUBLISH_CRASH_SEED ?? 15_2026);
const ONLY = process.env.PUBLISH_CRASH_ONLY;
const CONCURRENCY = Number(process.env.PUBLISH_CRASH_CONCURRENCY ?? 6);
const LEASE_SECONDS = 3;
const SETTLE_SECONDS = 3;
/** The simulator's PUBLISHED lags media_publish by this much (less than the settle time). */
const LAG_MS = 1500;
const MAX_ROUNDS = 300;
/** A queue's deliveries of one message: the first and max_retries (3) more. */
const PUBLISH_DELIVERIES = 4;
const FAILED_DELIVERIES = 6;

const PATHS = {
  plain: () => [],
  lost: (id) => [{ op: "publish", kind: "lost_answer", mode: "destroy", match: id }],
  transient: (id) => [{ op: "container", code: 2, message: "An unexpected error has occurred.", match: id }],
  unresolved: (id) => [
    { op: "publish", kind: "lost_answer", mode: "destroy", match: id },
    // The read before media_publish passes; the next two are refused.
    { op: "status", code: 10, message: "(#10) Application does not have permission for this action", match: id, skip: 1, times: 2 },
  ],
  refused: (id) => [{ op: "container", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported.", match: id }],
  carousel: () => [],
  comment: () => [],
  "lost-comment": (id) => [{ op: "comment", kind: "lost_answer", mode: "destroy", match: id }],
};
/** The paths whose draft is made with items and options (a carousel, a first comment). */
const FORMATS = {
  carousel: { items: [{}, { source: "imageModel" }, {}], options: { firstComment: "Menu in our bio", collaborators: ["maker.one"] } },
  comment: { options: { firstComment: "Menu in our bio" } },
  "lost-comment": { options: { firstComment: "Menu in our bio" } },
};

/** Every crash point of the publish path, with the paths on which each is first reached. */
const POINTS = [
  ["ClaimPublish", "plain"],
  ["create_container", "plain"],
  ["create_container", "transient"],
  ["container_status", "plain"],
  ["PublishSent", "plain"],
  ["media_publish", "plain"],
  ["media_publish", "lost"],
  ["MediaPublished", "plain"],
  ["permalink", "plain"],
  ["PublishSucceeded", "plain"],
  ["recent_media", "lost"],
  ["PublishDeferred", "transient"],
  ["PublishDeferred", "lost"],
  ["PublishDeferred", "unresolved"],
  ["queue_send", "transient"],
  ["queue_send", "lost"],
  ["queue_send", "unresolved"],
  ["PublishFailed", "refused"],
  ["alert", "refused"],
  ["create_carousel_item", "carousel"],
  ["container_status", "carousel"],
  ["create_carousel", "carousel"],
  ["CommentSent", "carousel"],
  ["CommentSent", "comment"],
  ["post_comment", "comment"],
  ["PublishSucceeded", "comment"],
  ["post_comment", "lost-comment"],
  ["comments", "lost-comment"],
];
const COMBOS = ["alone", "with-failed-scheduler", "after-lease", "after-lease-all", "d1-refuses", "reapprove"];

const CASES = POINTS.flatMap(([point, path], i) =>
  COMBOS.map((combo, j) => {
    const seed = (BASE_SEED + (i * COMBOS.length + j) * 7919) >>> 0;
    const name = `${point} via ${path}, then ${combo} (seed ${seed})`;
    return { point, path, combo, seed, name, id: uuidFrom(`publish-crash ${seed} ${point} ${path} ${combo}`) };
  }),
);
const SELECTED = ONLY ? CASES.filter((c) => c.name.includes(ONLY)) : CASES;

let p;
let bucket;
before(async () => {
  console.log(
    `publish-crash: base seed ${BASE_SEED} (PUBLISH_CRASH_SEED=${BASE_SEED} to replay), ${SELECTED.length} cases, ${CONCURRENCY} at once`,
  );
  p = await startPublishing({
    sim: { quotaTotal: 100_000, publishedAfterMs: LAG_MS },
    vars: {
      GRAPH_TIMEOUT_MS: "2000",
      PUBLISH_LEASE_SECONDS: String(LEASE_SECONDS),
      PUBLISH_SETTLE_SECONDS: String(SETTLE_SECONDS),
      PUBLISH_LOST_AFTER_MINUTES: "1",
      // The scheduler's clock runs far ahead: no review reminders, and no image removed as
      // unreferenced between its upload and its draft's insert.
      REMIND_AFTER_HOURS: "100000",
      ORPHAN_IMAGE_GRACE_MINUTES: "100000000",
      PUBLISH_CRASH_AFTER: SELECTED.map((c) => `${c.id}:${c.point}`).join(","),
    },
    logs: true,
  });
  bucket = await p.bucket();
});
after(() => p?.dispose());

// ---- the queues, as the broker runs them --------------------------------------------------------

/** Each case's draft: its pending messages, what was ever queued for it, its counters. */
const flows = new Map();
let routed = 0;

/** Hands what the Workers queued since the last call to the drafts' pending messages. */
function route() {
  const sent = p.pipeline.sent;
  for (; routed < sent.length; routed += 1) {
    const { queue, body } = sent[routed];
    const flow = flows.get(body?.id);
    if (!flow) continue;
    if (queue === "publish-queue") {
      flow.history.push(body);
      flow.publishQ.push(fresh(body));
    } else if (queue === "failed-queue") flow.failedQ.push(fresh(body));
  }
}

function fresh(body) {
  return { body, id: `message-${randomUUID()}`, attempts: 1 };
}

/**
 * One delivery from publish-queue. A retried message comes back (same id, one more delivery)
 * until the queue's retries are used up; then it is dead-lettered to the failed queue.
 */
async function deliverPublish(flow, entry) {
  flow.deliveries += 1;
  const { outcomes } = await p.publish([entry.body], { ids: [entry.id], attempts: entry.attempts });
  if (outcomes[0] !== "retried") return { outcome: outcomes[0] };
  const again = entry.attempts < PUBLISH_DELIVERIES ? { ...entry, attempts: entry.attempts + 1 } : null;
  if (again) flow.publishQ.push(again);
  else flow.failedQ.push(fresh(entry.body));
  return { outcome: "retried", again };
}

async function deliverFailed(flow, entry) {
  flow.deliveries += 1;
  const { outcomes } = await p.failed([entry.body], { ids: [entry.id], attempts: entry.attempts });
  if (outcomes[0] !== "retried") return { outcome: outcomes[0] };
  const again = entry.attempts < FAILED_DELIVERIES ? { ...entry, attempts: entry.attempts + 1 } : null;
  if (again) flow.failedQ.push(again);
  else flow.lost.push(entry.body);
  return { outcome: "retried", again };
}

function deliver(flow, [queue, entry]) {
  return queue === "publish" ? deliverPublish(flow, entry) : deliverFailed(flow, entry);
}

/** The scheduler's clock runs ahead, each run further: a lapsed claim or an overdue message is found at once. */
let cronAt = Date.now() + 2 * 3600_000;
async function cron() {
  cronAt = Math.max(cronAt + 2 * 60_000, Date.now() + 2 * 3600_000);
  await p.pipeline.runCron({ at: cronAt });
}

function crashLines(id) {
  return p.pipeline.logs.filter((line) => line.includes(id) && line.includes("stopped dead after"));
}

const final = (row) => row.status === "published" || row.status === "failed";

/** Nothing to deliver and the draft not done: wait out a live claim, then let the scheduler look. */
async function stall(flow, row) {
  if (row.status === "publishing" && row.claim_expires_at) {
    const wait = Date.parse(row.claim_expires_at) - Date.now() + 100;
    if (wait > 0) await sleep(Math.min(wait, (LEASE_SECONDS + 1) * 1000));
  }
  flow.cronRuns += 1;
  await cron();
  await sleep(50);
}

/** Delivers the draft's messages (the seed shuffles them, two at a time) until it reaches its crash point. */
async function untilCrash(flow) {
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    route();
    const next = flow.publishQ.length > 0 ? ["publish", flow.publishQ.shift()] : flow.failedQ.length > 0 ? ["failed", flow.failedQ.shift()] : null;
    if (next) {
      const { outcome, again } = await deliver(flow, next);
      if (outcome !== "retried") continue;
      // Only a crash makes a delivery fail on this path; its log line follows shortly.
      const lines = await p.pipeline.eventually(() => (crashLines(flow.id).length > 0 ? crashLines(flow.id) : null), {
        timeoutMs: 5000,
        what: `the consumer's "stopped dead" line for ${flow.name}`,
      });
      assert.equal(lines.length, 1, `${flow.name}: ${lines.join("\n")}`);
      assert.match(lines[0], new RegExp(`stopped dead after ${flow.point} \\(PUBLISH_CRASH_AFTER\\)`), flow.name);
      // The crashed message is the queue's to redeliver: the follow-up decides when.
      const queue = next[0] === "publish" ? flow.publishQ : flow.failedQ;
      if (again) queue.splice(queue.indexOf(again), 1);
      return again ? [next[0], again] : null;
    }
    const row = await p.row(flow.id);
    assert.ok(!final(row), `${flow.name}: the draft ended ${row.status} without reaching ${flow.point}: ${row.last_error}`);
    await stall(flow, row);
  }
  assert.fail(`${flow.name}: ${flow.point} not reached after ${MAX_ROUNDS} rounds`);
}

/** Delivers whatever is pending until the draft is published or failed and nothing is left. */
async function quiesce(flow) {
  let row;
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    route();
    const batch = [...flow.publishQ.splice(0).map((e) => ["publish", e]), ...flow.failedQ.splice(0).map((e) => ["failed", e])];
    if (batch.length > 0) {
      flow.rng.shuffle(batch);
      // Two at a time: the queue may hand a duplicate to a second invocation.
      for (let i = 0; i < batch.length; i += 2) await Promise.all(batch.slice(i, i + 2).map((item) => deliver(flow, item)));
      row = await p.row(flow.id);
      // Waits that read the clock (the settle time, a lag) pass between rounds.
      if (!final(row)) await sleep(150);
      continue;
    }
    row = await p.row(flow.id);
    if (final(row)) return row;
    await stall(flow, row);
  }
  assert.fail(
    `${flow.name}: not quiescent after ${MAX_ROUNDS} rounds: ${row.status}, claim ${row.publish_claim}, due ${row.publish_due_at}, ${row.last_error}`,
  );
}

/** What happens right after the crash, by the case's combination. */
async function followUp(flow, crashed) {
  const redeliver = () => (crashed ? deliver(flow, crashed) : Promise.resolve());
  const dead = () => deliverFailed(flow, fresh(crashed ? crashed[1].body : message(flow.id)));
  const lapse = async () => {
    const row = await p.row(flow.id);
    const lease = row.claim_expires_at ? Date.parse(row.claim_expires_at) : 0;
    await sleep(Math.max(0, lease - Date.now() + 100));
  };
  const together = (...runs) => Promise.all(flow.rng.shuffle(runs).map((run) => run()));
  switch (flow.combo) {
    case "alone":
    case "reapprove":
      return redeliver();
    case "with-failed-scheduler":
      return together(redeliver, dead, cron);
    case "after-lease":
      await lapse();
      return together(redeliver, cron);
    case "after-lease-all":
      await lapse();
      return together(redeliver, dead, cron);
    case "d1-refuses": {
      const trigger = `crash_d1_${flow.id.replaceAll("-", "")}`;
      const onlyMediaId = flow.rng.chance(0.5);
      flow.note = onlyMediaId ? "D1 refused the media id write" : "D1 refused every write";
      const when = onlyMediaId ? `OLD.id = '${flow.id}' AND NEW.media_id IS NOT NULL` : `OLD.id = '${flow.id}'`;
      await p.db
        .prepare(
          `CREATE TRIGGER ${trigger} BEFORE UPDATE${onlyMediaId ? " OF media_id" : ""} ON drafts WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`,
        )
        .run();
      try {
        return await redeliver();
      } finally {
        await p.db.prepare(`DROP TRIGGER ${trigger}`).run();
      }
    }
  }
  throw new Error(`unknown combination ${flow.combo}`);
}

/** A reviewer tries a failed draft again: re-approves it, or (by the seed) asks for a new image and approves that. */
async function tryAgain(flow, row) {
  if (flow.rng.chance(0.5)) {
    const answer = await p.pipeline.request("POST", `/api/v1/drafts/${flow.id}/reapprove`, { body: { revision: row.revision }, token: REVIEWER.token });
    assert.equal(answer.status, 200, `${flow.name}: reapprove: ${answer.text}`);
    flow.note = "re-approved";
    return;
  }
  let answer = await p.pipeline.request("POST", `/api/v1/drafts/${flow.id}/regenerate`, { body: { revision: row.revision, image: true } });
  assert.equal(answer.status, 200, `${flow.name}: regenerate: ${answer.text}`);
  const ready = await p.pipeline.eventually(
    async () => {
      const now = await p.row(flow.id);
      return now.status === "draft" && now.image_status === "ready" && now.image_key !== row.approved_image_key ? now : null;
    },
    { timeoutMs: 30_000, what: `${flow.name}: the regenerated image` },
  );
  answer = await p.pipeline.request("POST", `/api/v1/drafts/${flow.id}/approve`, { body: { revision: ready.revision }, token: REVIEWER.token });
  assert.equal(answer.status, 200, `${flow.name}: approve: ${answer.text}`);
  flow.note = "regenerated (image) and approved";
}

function alerts(id) {
  const texts = p.webhook.calls().map((call) => call.json?.text ?? "");
  return {
    failed: texts.filter((text) => text.includes(id) && text.includes("post failed")).length,
    unresolved: texts.filter((text) => text.includes(id) && text.includes("needs a look")).length,
  };
}

/** What every case must show once quiet. `failedAlertsBefore`: failure alerts of an earlier approval. */
async function check(flow, row, failedAlertsBefore = 0) {
  const where = `${flow.name}${flow.note ? `, ${flow.note}` : ""}`;
  const counts = p.sim.state.publishCounts().filter((c) => c.imageUrl.includes(flow.id));
  const posts = p.sim.state.media().filter((m) => m.imageUrl.includes(flow.id));
  const published = counts.reduce((n, c) => n + c.published, 0);
  const doubles = counts.reduce((n, c) => n + c.doubleAttempts, 0);
  assert.ok(published <= 1, `${where}: ${published} successful media_publish calls`);
  assert.equal(posts.length, published, `${where}: posts and publishes differ`);
  assert.equal(doubles, 0, `${where}: ${doubles} media_publish calls after its container was published`);
  assert.equal(row.publish_claim, null, `${where}: still claimed`);
  const alerted = alerts(flow.id);
  assert.ok(alerted.unresolved <= 1, `${where}: told ${alerted.unresolved} times that it needs a look`);
  if (row.status === "published") {
    assert.equal(posts.length, 1, `${where}: published, but nothing is live`);
    const [post] = posts;
    assert.equal(row.media_id, post.id, `${where}: records media id ${row.media_id}, its post is ${post.id}`);
    const items = row.approved_media_items ? JSON.parse(row.approved_media_items) : null;
    if (items && items.length > 1) {
      // A carousel: each image in order, with its own alt text.
      assert.equal(post.children.length, items.length, `${where}: another number of images`);
      for (const [i, item] of items.entries()) {
        const object = await bucket.get(item.image.key);
        assert.equal(post.children[i].image.sha256, sha256(new Uint8Array(await object.arrayBuffer())), `${where}: image ${i + 1} is another`);
        assert.equal(post.children[i].altText, item.altText, `${where}: image ${i + 1} carries another alt text`);
      }
    } else {
      const object = await bucket.get(row.approved_image_key);
      assert.equal(post.image.sha256, sha256(new Uint8Array(await object.arrayBuffer())), `${where}: the post carries another image`);
      assert.equal(post.altText, row.approved_alt_text, `${where}: the post carries another alt text`);
    }
    // The first comment: once, recorded with its id.
    const firstComment = row.approved_post_options ? JSON.parse(row.approved_post_options).firstComment : undefined;
    const comments = p.sim.state.comments(post.id);
    if (firstComment) {
      assert.deepEqual(comments.map((c) => c.text), [firstComment], `${where}: ${comments.length} first comments (${row.comment_error})`);
      assert.equal(row.comment_id, comments[0].id, `${where}: records comment ${row.comment_id}`);
    } else {
      assert.equal(comments.length, 0, `${where}: a comment nobody asked for`);
    }
    assert.equal(post.caption, instagramCaption(row.approved_caption, JSON.parse(row.approved_hashtags)), `${where}: another caption`);
    assert.equal(alerted.failed, failedAlertsBefore, `${where}: published, yet alerted as failed`);
  } else {
    assert.equal(row.status, "failed", `${where}: ends ${row.status}`);
    assert.equal(posts.length, 0, `${where}: failed while its post is live (${row.last_error})`);
    assert.ok(row.last_error?.length > 0, `${where}: failed without a reason`);
    assert.equal(alerted.failed - failedAlertsBefore, 1, `${where}: ${alerted.failed - failedAlertsBefore} failure alerts`);
  }
}

async function runCase(c) {
  const flow = { ...c, rng: seeded(c.seed), publishQ: [], failedQ: [], history: [], lost: [], deliveries: 0, cronRuns: 0, note: "" };
  flows.set(c.id, flow);
  const started = Date.now();
  const faults = PATHS[c.path](c.id);
  if (faults.length > 0) p.sim.control.fault(faults);
  if (FORMATS[c.path]) await p.formatDrafts(1, () => ({ id: c.id, ...FORMATS[c.path] }));
  else await p.approvedDrafts(1, () => ({ id: c.id, columns: { publish_due_at: rfc3339(new Date()) } }));
  const first = message(c.id);
  flow.history.push(first);
  flow.publishQ.push(fresh(first));

  const crashed = await untilCrash(flow);
  await followUp(flow, crashed);
  let row = await quiesce(flow);
  let failedBefore = 0;
  if (c.combo === "reapprove") {
    if (row.status === "failed") {
      await check(flow, row);
      failedBefore = alerts(c.id).failed;
      await tryAgain(flow, row);
    }
    // Every publish message the draft ever had, delivered again.
    route();
    for (const body of [...flow.history]) flow.publishQ.push(fresh(body));
    row = await quiesce(flow);
  }
  await check(flow, row, failedBefore);
  assert.deepEqual(flow.lost, [], `${c.name}: failed-queue messages given up on`);
  const result = `${row.status}${row.media_id ? "" : row.status === "published" ? " (media id unknown)" : ""}`;
  console.log(
    `publish-crash: ${c.name} -> ${result}${flow.note ? `, ${flow.note}` : ""}; ${flow.deliveries} deliveries, ${flow.cronRuns} scheduler runs, ${Date.now() - started} ms`,
  );
  return row.status;
}

test("every crash point, with every follow-up: never two posts nor two first comments, never failed while live, one alert per failure", { concurrency: CONCURRENCY }, async (t) => {
  const outcomes = await Promise.all(SELECTED.map((c) => t.test(c.name, () => runCase(c))));
  assert.equal(outcomes.length, SELECTED.length);
  const points = new Set(SELECTED.map((c) => c.point));
  const combos = new Set(SELECTED.map((c) => c.combo));
  const paths = new Set(SELECTED.map((c) => `${c.point} via ${c.path}`));
  console.log(
    `publish-crash: ${points.size} crash points (${paths.size} point-path pairs) x ${combos.size} combinations = ${SELECTED.length} cases; media_publish doubles in all: ${p.sim.state.doubleAttempts()}`,
  );
  assert.equal(p.sim.state.doubleAttempts(), 0, "a media_publish was sent for a published container");
});
