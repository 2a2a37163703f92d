// Publishing under random faults and duplicate deliveries: 120 approved drafts (or
// PUBLISH_RANDOM_DRAFTS), each with its own image and alt text (a third of them carousels of
// 2 to 4 images, a third single images, both with a first comment, made with items and options
// in D1 and approved through the approve route), driven through the publish
// consumer in rounds until nothing is left to deliver. Each round hands over whatever the
// previous one queued or left unacked, some of it twice and in two concurrent invocations,
// while the simulator injects errors, 429s, hangs, lost answers, an expired token, the quota,
// and its status lags a publish (Meta is eventually consistent); D1 refuses some drafts'
// changes for a round (every change, or only the write of the media id right after
// media_publish); the failed queue's messages and scheduler runs are interleaved with the
// publish batches; the alert webhook fails now and then. When all is quiet, every failed
// draft is re-approved and every publish message ever queued is delivered again, and the run
// goes on until quiet again.
// Afterwards every draft is published or failed with a reason, none is stuck, no container
// was published twice nor sent media_publish after it was published, every post is its own
// draft's (image, alt text, caption), and every published draft records its own media id;
// every post with a first comment has at most one, and its draft records it or why not.
//
// The seed is printed; PUBLISH_RANDOM_SEED=<seed> replays a run's choices (timing may still
// differ), PUBLISH_RANDOM_SEEDS=1,2,3 runs several seeds one after another, each on a fresh
// pipeline.
import assert from "node:assert/strict";
import { test } from "node:test";
import { instagramCaption, message, rfc3339, seeded, sleep, startPublishing } from "./publish-support.mjs";
import { REVIEWER } from "./harness.mjs";

const SEEDS = (process.env.PUBLISH_RANDOM_SEEDS ?? process.env.PUBLISH_RANDOM_SEED ?? String(Math.floor(Math.random() * 2 ** 31)))
  .split(",")
  .map((seed) => Number(seed.trim()))
  .filter((seed) => Number.isInteger(seed));
const DRAFTS = Number(process.env.PUBLISH_RANDOM_DRAFTS ?? 120);
const MAX_ROUNDS = 150;
const LEASE_SECONDS = 4;
/** The simulator's PUBLISHED lags media_publish by up to this; the consumer's settle time is longer. */
const LAG_MS = 400;
const SETTLE_SECONDS = 2;

/** A random fault for the next few matching calls. */
function randomFault({ pick, int }) {
  const op = pick(["container", "status", "publish", "permalink", "media", "comment", "comments", "any"]);
  const times = int(1, 4);
  const kinds = [
    () => ({ op, times, code: pick([1, 2]), message: "An unexpected error has occurred." }),
    () => ({ op, times, code: -1, subcode: 2207001, message: "Server error" }),
    () => ({ op, times, kind: "raw", status: pick([500, 502, 503]), body: "<html>upstream</html>" }),
    () => ({ op, times, kind: "rate_limit", retryAfter: int(1, 90) }),
    () => ({ op, times, kind: "rate_limit", status: 400, code: 80002, regainAccessMinutes: int(1, 5) }),
    () => ({ op, times, kind: "latency", delayMs: int(10, 200) }),
    () => ({ op, times: 1, kind: "hang" }),
    () => ({ op: "publish", times: 1, kind: "lost_answer", mode: pick(["destroy", "500", "hang"]) }),
    () => ({ op: "publish", times: int(1, 3), kind: "lost_answer", mode: "destroy" }),
    () => ({ op: "comment", times: int(1, 2), kind: "lost_answer", mode: pick(["destroy", "500", "hang"]) }),
    () => ({ op: "container", times: 1, code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." }),
    () => ({ op: "status", times: 1, code: 24, subcode: 2207008, message: "The media is not found yet." }),
  ];
  return pick(kinds)();
}

for (const SEED of SEEDS) {
  test(`random faults and duplicate deliveries: every draft ends published or failed, each post published once, by its own draft (seed ${SEED})`, async () => {
    const started = Date.now();
    const rng = seeded(SEED);
    const { chance, int, shuffle } = rng;
    console.log(`publish-random: seed ${SEED}, ${DRAFTS} drafts (PUBLISH_RANDOM_SEED=${SEED} to replay)`);
    const p = await startPublishing({
      // No quota unless a round injects it: these posts are more than a day's 100.
      sim: { quotaTotal: 100_000, publishedAfterMs: LAG_MS },
      vars: {
        GRAPH_TIMEOUT_MS: "800",
        PUBLISH_LEASE_SECONDS: String(LEASE_SECONDS),
        PUBLISH_SETTLE_SECONDS: String(SETTLE_SECONDS),
        PUBLISH_LOST_AFTER_MINUTES: "1",
        // The scheduler's clock runs ahead: no review reminders, no image taken for an orphan.
        REMIND_AFTER_HOURS: "100000",
        ORPHAN_IMAGE_GRACE_MINUTES: "100000000",
      },
    });
    try {
      await run(p, SEED, rng, { chance, int, shuffle }, started);
    } finally {
      await p.dispose();
    }
  });
}

async function run(p, SEED, rng, { chance, int, shuffle }, started) {
  // A third plain, a third carousels, a third single images with a first comment.
  const plain = Math.ceil(DRAFTS / 3);
  const carousels = Math.ceil((DRAFTS - plain) / 2);
  const firstComment = (i) => ({ firstComment: `Menu in our bio (${i})`, collaborators: i % 2 ? ["maker.one"] : [] });
  const drafts = [
    ...(await p.approvedDrafts(plain, () => ({ columns: { publish_due_at: rfc3339(new Date()) } }))).map((d) => ({ ...d, items: [], options: null })),
    ...(await p.formatDrafts(carousels, (i) => ({
      items: Array.from({ length: 2 + (i % 3) }, (_, n) => ({ source: n === 1 ? "imageModel" : "uploaded" })),
      options: firstComment(i),
    }))),
    ...(await p.formatDrafts(DRAFTS - plain - carousels, (i) => ({ options: firstComment(i) }))),
  ];
  const byId = new Map(drafts.map((d) => [d.id, d]));
  let publishQueue = drafts.map((d) => message(d.id));
  let failedQueue = [];
  /** Every publish message ever queued, for the redelivery at the end. */
  const history = [...publishQueue];
  let seen = p.pipeline.sent.length;
  const retries = new Map();
  const stats = {
    rounds: 0,
    deliveries: 0,
    duplicates: 0,
    retried: 0,
    faults: 0,
    webhookDown: 0,
    tokenRounds: 0,
    quotaRounds: 0,
    d1Faults: 0,
    d1MediaIdFaults: 0,
    failedRuns: 0,
    schedulerRuns: 0,
    reapproved: 0,
  };
  let cronAt = Date.now() + 2 * 3600_000;
  const cron = async () => {
    cronAt = Math.max(cronAt + 2 * 60_000, Date.now() + 2 * 3600_000);
    stats.schedulerRuns += 1;
    await p.pipeline.runCron({ at: cronAt });
  };
  /** Hands a failed-queue batch to its consumer; what it retries stays for later. */
  const failedBatch = async (batch) => {
    stats.failedRuns += 1;
    const { outcomes } = await p.failed(batch);
    return batch.filter((_, j) => outcomes[j] === "retried");
  };
  const collect = () => {
    const sent = p.pipeline.sent.slice(seen);
    seen = p.pipeline.sent.length;
    const publish = sent.filter((s) => s.queue === "publish-queue").map((s) => s.body);
    history.push(...publish);
    return { publish, failed: sent.filter((s) => s.queue === "failed-queue").map((s) => s.body) };
  };
  const notDone = async () =>
    (
      await p.db
        .prepare(`SELECT COUNT(*) AS n FROM drafts WHERE status IN ('approved', 'publishing') AND id IN (SELECT value FROM json_each(?1))`)
        .bind(JSON.stringify(drafts.map((d) => d.id)))
        .first()
    ).n;

  /** Rounds of weather until nothing is left to deliver and no draft is between states. */
  async function untilQuiet(phase) {
    for (let round = 1; ; round += 1) {
      if (publishQueue.length + failedQueue.length === 0) {
        const left = await notDone();
        if (left === 0) return;
        // Drafts between states with no message (a claim whose holder failed, a message
        // the queue gave up on): the scheduler finds them, once their lease lapsed.
        await sleep((LEASE_SECONDS + 1) * 1000);
        await cron();
        const queued = collect();
        publishQueue.push(...queued.publish);
        failedQueue.push(...queued.failed);
      }
      assert.ok(
        round <= MAX_ROUNDS,
        `${phase}: not quiescent after ${MAX_ROUNDS} rounds (seed ${SEED}): ${publishQueue.length} + ${failedQueue.length} messages left`,
      );
      stats.rounds += 1;
      // This round's weather.
      p.sim.control.clearFaults();
      p.sim.control.configure({ finishAfterReads: chance(0.3) ? 1 : 0, publishedAfterMs: chance(0.5) ? LAG_MS : 0 });
      // Enough faults that a good share of this round's calls meet one.
      const faults = Array.from({ length: int(Math.ceil(publishQueue.length / 10), Math.ceil(publishQueue.length / 3)) }, () => randomFault(rng));
      if (faults.length > 0) p.sim.control.fault(faults);
      stats.faults += faults.length;
      if (round > 1 && chance(0.1)) {
        p.sim.control.fault({ kind: "token_expired" });
        stats.tokenRounds += 1;
      }
      if (round > 1 && chance(0.1)) {
        p.sim.control.fault({ kind: "quota_exhausted" });
        stats.quotaRounds += 1;
      }
      // D1 fails for a few drafts this round, through triggers: every change to them is
      // refused, or only the write of the media id after media_publish went out. Their
      // consumer errors and the queue retries the message.
      const unlucky = shuffle(drafts.map((d) => d.id)).slice(0, chance(0.6) ? int(1, 8) : 0);
      const triggers = [];
      for (const [n, id] of unlucky.entries()) {
        const mediaIdOnly = chance(0.5);
        const name = `random_d1_fault_${n}`;
        triggers.push(name);
        await p.db
          .prepare(
            mediaIdOnly
              ? `CREATE TRIGGER ${name} BEFORE UPDATE OF media_id ON drafts WHEN OLD.id = '${id}' AND NEW.media_id IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`
              : `CREATE TRIGGER ${name} BEFORE UPDATE ON drafts WHEN OLD.id = '${id}' BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`,
          )
          .run();
        if (mediaIdOnly) stats.d1MediaIdFaults += 1;
        else stats.d1Faults += 1;
      }
      const webhookDown = chance(0.25);
      p.webhook.setDefault(webhookDown ? { status: 503, body: { error: "down" } } : { status: 200, body: { ok: true } });
      stats.webhookDown += webhookDown ? 1 : 0;

      // Each message once, some twice; shuffled; in batches of up to 20, two invocations at
      // once; the failed queue's messages and scheduler runs come between them.
      const deliveries = [];
      for (const body of publishQueue) {
        deliveries.push(body);
        if (chance(0.15)) {
          deliveries.push(body);
          stats.duplicates += 1;
        }
      }
      shuffle(deliveries);
      const batches = [];
      for (let i = 0; i < deliveries.length; ) {
        const size = int(1, 20);
        batches.push(deliveries.slice(i, i + size));
        i += size;
      }
      const next = [];
      const toFailed = [];
      let failedLeft = failedQueue;
      const nextFailed = [];
      for (let i = 0; i < batches.length; i += 2) {
        const work = batches.slice(i, i + 2).map((batch) => p.publish(batch));
        // Alongside: a failed-queue batch, a scheduler run.
        if (failedLeft.length > 0 && chance(0.3)) {
          const batch = failedLeft.slice(0, 5);
          failedLeft = failedLeft.slice(5);
          work.push(failedBatch(batch).then((retried) => nextFailed.push(...retried)));
        }
        if (chance(0.15)) work.push(cron());
        const results = await Promise.all(work);
        results.slice(0, 2).forEach((result, k) => {
          if (!result?.outcomes) return;
          result.outcomes.forEach((outcome, j) => {
            if (outcome !== "retried") return;
            // The queue redelivers a retried message up to max_retries (3) times, then moves
            // it to its dead-letter queue, the failed queue.
            const body = batches[i + k][j];
            const key = JSON.stringify(body);
            const count = (retries.get(key) ?? 0) + 1;
            retries.set(key, count);
            (count > 3 ? toFailed : next).push(body);
          });
        });
      }
      stats.deliveries += deliveries.length;
      stats.retried += next.length;

      for (let i = 0; i < failedLeft.length; i += 5) nextFailed.push(...(await failedBatch(failedLeft.slice(i, i + 5))));

      for (const name of triggers) await p.db.prepare(`DROP TRIGGER ${name}`).run();

      // What the Workers queued this round is delivered next round, whatever its delay.
      const queued = collect();
      publishQueue = [...next, ...queued.publish];
      failedQueue = [...nextFailed, ...toFailed, ...queued.failed];
      // Waits that read the clock (a lag, the settle time) pass between rounds.
      await sleep(100);
    }
  }

  await untilQuiet("first pass");
  // A quiet end: no faults; the webhook works.
  const calm = () => {
    p.sim.control.clearFaults();
    p.sim.control.configure({ finishAfterReads: 0 });
    p.webhook.setDefault({ status: 200, body: { ok: true } });
  };
  calm();

  // Every failed draft re-approved, then every publish message ever queued delivered again.
  const ids = JSON.stringify(drafts.map((d) => d.id));
  const { results: failed } = await p.db
    .prepare(`SELECT id, revision FROM drafts WHERE status = 'failed' AND id IN (SELECT value FROM json_each(?1))`)
    .bind(ids)
    .all();
  for (const row of failed) {
    const answer = await p.pipeline.request("POST", `/api/v1/drafts/${row.id}/reapprove`, { body: { revision: row.revision }, token: REVIEWER.token });
    assert.equal(answer.status, 200, `reapprove ${row.id}: ${answer.text}`);
    stats.reapproved += 1;
  }
  const queued = collect();
  publishQueue = [...history];
  failedQueue = [...failedQueue, ...queued.failed];
  await untilQuiet("after re-approval");
  calm();

  // Late duplicates of every first message change nothing.
  const mediaBefore = p.sim.state.media().length;
  for (let i = 0; i < drafts.length; i += 20) {
    await p.publish(drafts.slice(i, i + 20).map((d) => message(d.id)));
  }
  assert.equal(p.sim.state.media().length, mediaBefore, "a late duplicate published again");

  const { results: rows } = await p.db.prepare(`SELECT * FROM drafts WHERE id IN (SELECT value FROM json_each(?1))`).bind(ids).all();
  assert.equal(rows.length, drafts.length);
  const counts = {};
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;

  const media = p.sim.state.media();
  const doubles = p.sim.state.doubleAttempts();
  const postsPerDraft = new Map();
  for (const item of media) {
    const draft = drafts.find((d) => item.imageUrl.includes(d.id));
    assert.ok(draft, `a post no draft asked for: ${item.imageUrl}`);
    postsPerDraft.set(draft.id, [...(postsPerDraft.get(draft.id) ?? []), item]);
  }
  // Why a live post's media id is unknown: the lookup failed, or it ran and did not find it.
  const unknown = { lookupFailed: 0, notFound: 0, other: 0 };
  for (const row of rows.filter((r) => r.status === "published" && !r.media_id)) {
    const notes = (await p.logs(row.id)).filter((l) => l.step === "reconcile").map((l) => l.message ?? "");
    if (notes.some((note) => /could not be looked up/.test(note))) unknown.lookupFailed += 1;
    else if (notes.some((note) => /no recent post matches/.test(note))) unknown.notFound += 1;
    else unknown.other += 1;
  }
  const figures = {
    seed: SEED,
    drafts: DRAFTS,
    doubles,
    publishedWithMediaId: rows.filter((r) => r.status === "published" && r.media_id).length,
    publishedMediaUnknown: rows.filter((r) => r.status === "published" && !r.media_id).length,
    unknown,
    failed: counts.failed ?? 0,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(`publish-random: ${JSON.stringify(stats)} -> ${JSON.stringify(counts)}`);
  console.log(`publish-random figures: ${JSON.stringify(figures)}`);

  const containersPublished = media.map((m) => m.containerId);
  assert.equal(new Set(containersPublished).size, containersPublished.length, "a container was published twice");
  assert.equal(doubles, 0, `${doubles} media_publish calls on containers already published (seed ${SEED})`);
  const firstComments = { posted: 0, failed: [] };
  for (const row of rows) {
    const posts = postsPerDraft.get(row.id) ?? [];
    const draft = byId.get(row.id);
    assert.ok(["published", "failed"].includes(row.status), `draft ${row.id} is stuck in ${row.status} (seed ${SEED})`);
    assert.equal(row.publish_claim, null, `draft ${row.id} still holds a claim`);
    if (row.status === "published") {
      assert.equal(posts.length, 1, `draft ${row.id} has ${posts.length} posts (seed ${SEED})`);
      if (row.media_id !== posts[0].id) {
        const logs = await p.logs(row.id);
        const reconcile = logs.filter((l) => l.step === "reconcile").map((l) => l.message);
        assert.fail(`draft ${row.id} records media id ${row.media_id}, its post is ${posts[0].id} (seed ${SEED}); reconciliation: ${reconcile.join(" | ")}`);
      }
      if (draft.items.length > 1) {
        assert.deepEqual(
          posts[0].children.map((child) => [child.image.sha256, child.altText]),
          draft.items.map((item) => [item.sha256, item.altText]),
          `draft ${row.id}'s carousel carries other images or alt texts`,
        );
      } else {
        assert.equal(posts[0].image.sha256, draft.sha256, `draft ${row.id}'s post carries another image`);
        assert.equal(posts[0].altText, draft.altText, `draft ${row.id}'s post carries another alt text`);
      }
      assert.equal(posts[0].caption, instagramCaption(draft.caption, draft.hashtags));
      // The first comment: never two; recorded with its id, or why not.
      const comments = p.sim.state.comments(posts[0].id);
      const wanted = draft.options?.firstComment;
      assert.ok(comments.length <= (wanted ? 1 : 0), `draft ${row.id}'s post has ${comments.length} comments (seed ${SEED})`);
      if (wanted) {
        assert.ok(row.comment_id || row.comment_error, `draft ${row.id}: its first comment neither posted nor failed`);
        if (row.comment_id) assert.deepEqual(comments.map((c) => [c.id, c.text]), [[row.comment_id, wanted]], `draft ${row.id}'s comment`);
        else firstComments.failed.push(row.comment_error);
        if (comments.length === 1) firstComments.posted += 1;
      }
    } else {
      assert.ok(row.last_error && row.last_error.length > 0, `failed draft ${row.id} has no reason`);
      assert.equal(posts.length, 0, `failed draft ${row.id} is live on Instagram (seed ${SEED}): ${row.last_error}`);
    }
  }
  console.log(`publish-random first comments: ${firstComments.posted} posted, ${firstComments.failed.length} failed (${[...new Set(firstComments.failed.map((r) => r.slice(0, 60)))].join(" | ")})`);
  assert.equal(media.length, counts.published ?? 0, "the simulator's posts differ from the published drafts");
  assert.ok((counts.published ?? 0) > 0, "nothing was published at all");
}
