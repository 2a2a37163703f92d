// Publishing under random faults and duplicate deliveries: 200 approved drafts (or
// PUBLISH_RANDOM_DRAFTS), driven through the publish consumer in rounds until nothing is left
// to deliver. Each round hands over whatever the previous one queued or left unacked, some
// of it twice and in two concurrent invocations, while the simulator injects errors, 429s,
// hangs, lost answers, an expired token, the quota; D1 refuses some drafts' changes for a
// round, and the alert webhook fails now and then.
// Afterwards every draft is published or failed with a reason, none is stuck, no container
// was published twice, and the simulator holds exactly one post per published draft.
//
// The seed is printed; PUBLISH_RANDOM_SEED=<seed> replays a run's choices (timing may still
// differ).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { message, startPublishing } from "./publish-support.mjs";

const SEED = Number(process.env.PUBLISH_RANDOM_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DRAFTS = Number(process.env.PUBLISH_RANDOM_DRAFTS ?? 200);
const MAX_ROUNDS = 120;

/** mulberry32: a small seeded generator, enough for choosing faults. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(SEED);
const chance = (p) => random() < p;
const pick = (list) => list[Math.floor(random() * list.length)];
const int = (low, high) => low + Math.floor(random() * (high - low + 1));
function shuffle(list) {
  for (let i = list.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** A random fault for the next few matching calls. */
function randomFault() {
  const op = pick(["container", "status", "publish", "permalink", "media", "any"]);
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
    () => ({ op: "container", times: 1, code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." }),
    () => ({ op: "status", times: 1, code: 24, subcode: 2207008, message: "The media is not found yet." }),
  ];
  return pick(kinds)();
}

let p;
before(async () => {
  console.log(`publish-random: seed ${SEED}, ${DRAFTS} drafts (PUBLISH_RANDOM_SEED=${SEED} to replay)`);
  p = await startPublishing({
    // No quota unless a round injects it: 200 posts are more than a day's 100.
    sim: { quotaTotal: 100_000 },
    vars: { GRAPH_TIMEOUT_MS: "800", PUBLISH_LEASE_SECONDS: "4" },
  });
});
after(() => p?.dispose());

test(`random faults and duplicate deliveries: every draft ends published or failed, each post published once (seed ${SEED})`, async () => {
  const drafts = await p.approvedDrafts(DRAFTS);
  const byCaption = new Map(drafts.map((d) => [d.instagramCaption, d]));
  let publishQueue = drafts.map((d) => message(d.id));
  let failedQueue = [];
  let seen = p.pipeline.sent.length;
  const retries = new Map();
  const stats = { rounds: 0, deliveries: 0, duplicates: 0, retried: 0, faults: 0, webhookDown: 0, tokenRounds: 0, quotaRounds: 0, d1Faults: 0 };

  for (let round = 1; publishQueue.length + failedQueue.length > 0; round += 1) {
    assert.ok(round <= MAX_ROUNDS, `not quiescent after ${MAX_ROUNDS} rounds (seed ${SEED}): ${publishQueue.length} + ${failedQueue.length} messages left`);
    stats.rounds = round;
    // This round's weather.
    p.sim.control.clearFaults();
    p.sim.control.configure({ finishAfterReads: chance(0.3) ? 1 : 0 });
    // Enough faults that a good share of this round's calls meet one.
    const faults = Array.from({ length: int(Math.ceil(publishQueue.length / 10), Math.ceil(publishQueue.length / 3)) }, randomFault);
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
    // D1 fails for a few drafts this round: every change to them is refused (a trigger), so
    // their consumer errors and the queue retries the message.
    const unlucky = shuffle(drafts.map((d) => d.id)).slice(0, chance(0.5) ? int(1, 6) : 0);
    for (const [n, id] of unlucky.entries()) {
      await p.db
        .prepare(`CREATE TRIGGER random_d1_fault_${n} BEFORE UPDATE ON drafts WHEN OLD.id = '${id}' BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`)
        .run();
    }
    stats.d1Faults += unlucky.length;
    const webhookDown = chance(0.25);
    p.webhook.setDefault(webhookDown ? { status: 503, body: { error: "down" } } : { status: 200, body: { ok: true } });
    stats.webhookDown += webhookDown ? 1 : 0;

    // Each message once, some twice; shuffled; in batches of up to 20, two invocations at once.
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
    for (let i = 0; i < batches.length; i += 2) {
      const results = await Promise.all(batches.slice(i, i + 2).map((batch) => p.publish(batch)));
      results.forEach(({ outcomes }, k) =>
        outcomes.forEach((outcome, j) => {
          if (outcome !== "retried") return;
          // The queue redelivers a retried message up to max_retries (3) times, then moves
          // it to its dead-letter queue, the failed queue.
          const body = batches[i + k][j];
          const key = JSON.stringify(body);
          const count = (retries.get(key) ?? 0) + 1;
          retries.set(key, count);
          (count > 3 ? toFailed : next).push(body);
        }),
      );
    }
    stats.deliveries += deliveries.length;
    stats.retried += next.length;

    const nextFailed = [];
    for (const batch of [failedQueue.slice(0, 10), failedQueue.slice(10)].filter((b) => b.length > 0)) {
      const { outcomes } = await p.failed(batch);
      outcomes.forEach((outcome, j) => outcome === "retried" && nextFailed.push(batch[j]));
    }

    for (const n of unlucky.keys()) await p.db.prepare(`DROP TRIGGER random_d1_fault_${n}`).run();

    // What the consumer queued this round is delivered next round, whatever its delay.
    const sent = p.pipeline.sent.slice(seen);
    seen = p.pipeline.sent.length;
    publishQueue = [...next, ...sent.filter((s) => s.queue === "publish-queue").map((s) => s.body)];
    failedQueue = [...nextFailed, ...toFailed, ...sent.filter((s) => s.queue === "failed-queue").map((s) => s.body)];
  }

  // Late duplicates of every first message change nothing.
  p.sim.control.clearFaults();
  const mediaBefore = p.sim.state.media().length;
  for (let i = 0; i < drafts.length; i += 20) {
    await p.publish(drafts.slice(i, i + 20).map((d) => message(d.id)));
  }
  assert.equal(p.sim.state.media().length, mediaBefore, "a late duplicate published again");

  const { results: rows } = await p.db
    .prepare(`SELECT * FROM drafts WHERE id IN (SELECT value FROM json_each(?1))`)
    .bind(JSON.stringify(drafts.map((d) => d.id)))
    .all();
  assert.equal(rows.length, drafts.length);
  const counts = {};
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
  console.log(`publish-random: ${JSON.stringify(stats)} -> ${JSON.stringify(counts)}`);

  const media = p.sim.state.media();
  const containersPublished = media.map((m) => m.containerId);
  assert.equal(new Set(containersPublished).size, containersPublished.length, "a container was published twice");
  const postsPerDraft = new Map();
  for (const item of media) {
    const draft = byCaption.get(item.caption);
    assert.ok(draft, `a post no draft asked for: ${item.caption}`);
    postsPerDraft.set(draft.id, [...(postsPerDraft.get(draft.id) ?? []), item]);
  }
  for (const row of rows) {
    const posts = postsPerDraft.get(row.id) ?? [];
    assert.ok(["published", "failed"].includes(row.status), `draft ${row.id} is stuck in ${row.status} (seed ${SEED})`);
    assert.equal(row.publish_claim, null, `draft ${row.id} still holds a claim`);
    if (row.status === "published") {
      assert.equal(posts.length, 1, `draft ${row.id} has ${posts.length} posts (seed ${SEED})`);
      assert.equal(row.media_id, posts[0].id, `draft ${row.id} records another media id`);
      assert.equal(posts[0].image.sha256, drafts[0].sha256);
    } else {
      assert.ok(row.last_error && row.last_error.length > 0, `failed draft ${row.id} has no reason`);
      assert.equal(posts.length, 0, `failed draft ${row.id} is live on Instagram (seed ${SEED}): ${row.last_error}`);
    }
  }
  assert.equal(media.length, counts.published ?? 0, "the simulator's posts differ from the published drafts");
  assert.ok((counts.published ?? 0) > 0, "nothing was published at all");
});
