// Benchmarks the publish consumer (run by hand: scripts/bench-publish; not in CI).
//
// 200 approved drafts (BENCH_DRAFTS) are published against the Graph API simulator, which
// answers every call after 100 ms (BENCH_GRAPH_MS) and finishes containers at once. The
// consumer works 5 drafts at a time, so the ceiling is 5 / (Graph calls per draft x 100 ms):
// with container, status, media_publish and permalink, 5 / 0.4 s = 12.5 drafts per second.
// The simulator downloads a container's image from the api Worker while the delay runs, as
// Meta fetches it during the call; a call still takes a little longer than the delay (timers,
// reading the request): the ceiling a consumer with no work of its own would reach is
// 5 / (calls x the mean call the simulator measured), and the share of that one is the
// consumer's own efficiency. Both are printed.
//
// The consumer is handed batches of max_batch_size (BENCH_BATCH, 20) back to back, as the queue
// broker does when the queue is full and max_concurrency is 1.
import { performance } from "node:perf_hooks";
import { message, startPublishing } from "../e2e/publish-support.mjs";

const DRAFTS = Number(process.env.BENCH_DRAFTS ?? 200);
const GRAPH_MS = Number(process.env.BENCH_GRAPH_MS ?? 100);
const BATCH = Number(process.env.BENCH_BATCH ?? 20);
const IN_FLIGHT = 5;

function maxInFlight(calls) {
  const events = calls.flatMap((call) => [
    [call.at, 1],
    [call.at + call.durationMs, -1],
  ]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, delta] of events) {
    now += delta;
    most = Math.max(most, now);
  }
  return most;
}

const p = await startPublishing({
  sim: { quotaTotal: 1_000_000, finishAfterReads: 0, finishAfterMs: 0 },
  // No LangSmith, no recording stand-ins for metrics and queues; everything else as deployed.
  vars: { GRAPH_TIMEOUT_MS: "15000", PUBLISH_LEASE_SECONDS: "120" },
  record: false,
});
try {
  // Warm-up: one draft through every step, so the isolate and D1 are ready.
  const [warm] = await p.approvedDrafts(1);
  await p.publish([message(warm.id)]);
  const drafts = await p.approvedDrafts(DRAFTS);
  p.resetSim();
  p.sim.control.fault({ op: "any", kind: "latency", delayMs: GRAPH_MS, times: 1_000_000_000 });

  const started = performance.now();
  for (let i = 0; i < drafts.length; i += BATCH) {
    await p.publish(drafts.slice(i, i + BATCH).map((d) => message(d.id)));
  }
  const seconds = (performance.now() - started) / 1000;

  const { results } = await p.db
    .prepare("SELECT status, COUNT(*) AS n FROM drafts WHERE id IN (SELECT value FROM json_each(?1)) GROUP BY status")
    .bind(JSON.stringify(drafts.map((d) => d.id)))
    .all();
  const published = results.find((r) => r.status === "published")?.n ?? 0;
  const calls = p.calls();
  const callsPerDraft = calls.length / DRAFTS;
  const rate = published / seconds;
  const ceiling = IN_FLIGHT / (callsPerDraft * (GRAPH_MS / 1000));
  const row = (label, value) => console.log(`  ${label.padEnd(34)} ${value}`);
  console.log(`\npublish-consumer benchmark (batches of ${BATCH}, ${IN_FLIGHT} in flight, Graph answers after ${GRAPH_MS} ms)`);
  row("drafts published", `${published} of ${DRAFTS}`);
  row("wall time", `${seconds.toFixed(2)} s`);
  row("Graph calls per draft", callsPerDraft.toFixed(2));
  row("most calls in flight at once", maxInFlight(calls));
  const callMs = calls.reduce((sum, call) => sum + call.durationMs, 0);
  row("mean Graph call, as the simulator saw it", `${(callMs / calls.length).toFixed(1)} ms`);
  // The share of the 5 slots' time spent inside Graph calls; the rest is the Worker's own work
  // (D1 reads and writes, queue sends) and the gaps between batches.
  row("slots busy in Graph calls", `${((callMs / (IN_FLIGHT * seconds * 1000)) * 100).toFixed(1)} %`);
  row("drafts per second", rate.toFixed(2));
  row(`ceiling 5 / (calls x ${GRAPH_MS} ms)`, `${ceiling.toFixed(2)} drafts per second`);
  row("share of that ceiling", `${((rate / ceiling) * 100).toFixed(1)} %`);
  const measured = IN_FLIGHT / (callsPerDraft * (callMs / calls.length / 1000));
  row("ceiling 5 / (calls x mean call)", `${measured.toFixed(2)} drafts per second`);
  row("share of that ceiling", `${((rate / measured) * 100).toFixed(1)} %`);
  if (published !== DRAFTS) process.exitCode = 1;
} finally {
  await p.dispose();
}
