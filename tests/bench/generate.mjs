// Benchmarks POST /api/v1/generate: the three compiled Workers in workerd (Miniflare, started
// as the e2e harness does, tests/bench/pipeline.mjs), the caption writer set to "openai" and
// pointed at the fake OpenAI server, which answers at once. Run by hand (scripts/bench builds
// first); not part of CI.
//
// Then, unless BENCH_COMPARE=0, the same route in Rust and in TypeScript side by side: the
// compiled api Worker and its TypeScript twin (tests/bench/ts/worker.ts, Hono and Zod), both in
// the same workerd with the same variables, D1 database, KV namespace and fake model, reached
// the same way, measured in alternating rounds (Rust, TS, TS, Rust, ...) after a warm-up each.
// See tests/bench/pipeline.mjs for what they share and why their image messages go to a queue
// of their own.
//
// For each request the fake records how long it held the model call (from the request's
// arrival to the end of its answer); the Worker's overhead is the end-to-end latency minus
// that. Requests and model calls are matched by a unique marker carried in the brief.
//
// Settings (environment):
//   BENCH_REQUESTS     requests per concurrency level (200)
//   BENCH_CONCURRENCY  comma-separated concurrency levels (1,16)
//   BENCH_WARMUP       warm-up requests before measuring (30)
//   BENCH_IMAGE_SIDE   image-consumer's IMAGE_WIDTH and IMAGE_HEIGHT (its config: 1080); the
//                      consumer makes each draft's image in the same workerd while the
//                      benchmark runs, so a smaller side (320 is the least Instagram takes)
//                      lightens that background load (first table only)
//   BENCH_COMPARE      0 skips the Rust/TypeScript comparison (1)
//   BENCH_ROUNDS       alternating rounds per side and concurrency level in the comparison;
//                      each side gets BENCH_REQUESTS requests in all (4)
//   BENCH_TS_INSERT_FIRST  1 makes the TypeScript twin insert the row before it calls the
//                      model, rather than beside it as the Rust route does (0)
//   BENCH_PAIRS        after the comparison's table, this many Rust and TypeScript requests
//                      interleaved one by one at concurrency 1 (R T, T R, ...), for the
//                      latency ratio that moves least between runs (400; 0 skips)
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { subscribe } from "node:diagnostics_channel";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { API_TOKEN, ROOT } from "../e2e/harness.mjs";
import { reply, startFakeOpenAI } from "../fakes/openai.mjs";
import { buildTypeScriptWorker, startBenchPipeline } from "./pipeline.mjs";

function setting(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  return value;
}

function wholeNumber(name, fallback) {
  const value = Number(setting(name, String(fallback)));
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${process.env[name]}`);
  return value;
}

const REQUESTS = wholeNumber("BENCH_REQUESTS", 200);
const WARMUP = wholeNumber("BENCH_WARMUP", 30);
const CONCURRENCY = setting("BENCH_CONCURRENCY", "1,16")
  .split(",")
  .map((level) => Number(level.trim()));
if (CONCURRENCY.some((level) => !Number.isInteger(level) || level < 1)) {
  throw new Error(`BENCH_CONCURRENCY must list whole numbers of at least 1, got ${process.env.BENCH_CONCURRENCY}`);
}
const IMAGE_SIDE = setting("BENCH_IMAGE_SIDE", undefined);
const COMPARE = setting("BENCH_COMPARE", "1") !== "0";
const ROUNDS = Math.max(1, wholeNumber("BENCH_ROUNDS", 4));
const TS_INSERT_FIRST = setting("BENCH_TS_INSERT_FIRST", "0") === "1";
const PAIRS = wholeNumber("BENCH_PAIRS", 400);
const MARKER = /bench-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

// --- the model's own time, as the fake OpenAI server sees it -------------------------------

const fake = await startFakeOpenAI();
const fakePort = Number(new URL(fake.url).port);
/** marker -> milliseconds from the model request's arrival to the end of its answer */
const modelMs = new Map();
/** per model request in flight: its start, and its marker once the body has been read */
const inFlight = new WeakMap();
const byHeaders = new WeakMap();

function isFake(socket) {
  return socket?.localPort === fakePort;
}
subscribe("http.server.request.start", ({ request, response, socket }) => {
  if (!isFake(socket)) return;
  const record = { start: performance.now(), marker: undefined };
  inFlight.set(response, record);
  byHeaders.set(request.headers, record);
});
subscribe("http.server.response.finish", ({ response, socket }) => {
  if (!isFake(socket)) return;
  const record = inFlight.get(response);
  if (record?.marker) modelMs.set(record.marker, performance.now() - record.start);
});
// The fake hands its behaviour the request's own headers object, which links the two.
const answer = reply.post();
fake.setDefault((request) => {
  const record = byHeaders.get(request.headers);
  if (record) record.marker = request.text.match(MARKER)?.[0];
  return answer;
});

// --- the pipeline ---------------------------------------------------------------------------

if (COMPARE) buildTypeScriptWorker();
const pipeline = await startBenchPipeline(
  {
    api: {
      LLM_PROVIDER: "openai",
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_API_KEY: "sk-fake-bench",
      OPENAI_MODEL: "fake-model",
    },
    ...(IMAGE_SIDE ? { "image-consumer": { IMAGE_WIDTH: IMAGE_SIDE, IMAGE_HEIGHT: IMAGE_SIDE } } : {}),
  },
  { compare: COMPARE, tsVars: TS_INSERT_FIRST ? { INSERT_FIRST: "true" } : {} },
);
const endpoint = `${pipeline.url}/api/v1/generate`;
const WORKERD = workerdPid();

async function generateOnce(url = endpoint) {
  const marker = `bench-${randomUUID()}`;
  const body = JSON.stringify({
    brief: `Autumn menu launch at our cafe: squash soup, chestnut cake, spiced latte (${marker})`,
    language: "en",
    keywords: ["autumn", "cafe"],
  });
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body,
  });
  const text = await response.text();
  const latency = performance.now() - started;
  return { marker, status: response.status, text, latency };
}

/** Sends `total` requests made by `send`, keeping `concurrency` in flight. */
async function drive(total, concurrency, send = generateOnce) {
  const results = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      next += 1;
      results.push(await send());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { results, wallMs: performance.now() - started };
}

/** A GET for the reference rows: what a request costs without generating anything. */
function getOnce(path, base = pipeline.url) {
  return async () => {
    const started = performance.now();
    const response = await fetch(base + path, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    const text = await response.text();
    return { status: response.status, text, latency: performance.now() - started };
  };
}

/** Waits until the image consumer has caught up, so one level's images do not slow the next. */
async function drainImages(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await pipeline.db.prepare("SELECT COUNT(*) AS n FROM drafts WHERE image_status = 'pending'").first();
    if (row.n === 0) return;
    if (Date.now() > deadline) {
      console.log(`note: ${row.n} images still pending after ${timeoutMs / 1000} s; measuring anyway`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// --- CPU used by workerd (all three Workers and the D1, KV, R2 and queue simulators) -------
// Read from /proc (Linux only), so the figures hold even when other work shares the machine:
// CPU per request, and how busy workerd's busiest thread was (near 100 % = one core's limit).

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function workerdPid() {
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const [, comm, ppid] = readFileSync(`/proc/${entry}/stat`, "utf8").match(/^\d+ \((.*)\) \S+ (\d+)/) ?? [];
        if (comm === "workerd" && Number(ppid) === process.pid) return Number(entry);
      } catch {
        // the process ended while being read
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/** utime + stime of a process or thread, in clock ticks. */
function ticks(statPath) {
  const stat = readFileSync(statPath, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Busy clock ticks of the whole machine, all CPUs together. */
function machineBusyTicks() {
  try {
    const [, user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
    return user + nice + system + irq + softirq + steal;
  } catch {
    return undefined;
  }
}

function cpuSnapshot(pid) {
  if (pid === undefined) return undefined;
  try {
    const threads = new Map();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        threads.set(tid, ticks(`/proc/${pid}/task/${tid}/stat`));
      } catch {
        // the thread ended
      }
    }
    return { total: ticks(`/proc/${pid}/stat`), threads, machine: machineBusyTicks() };
  } catch {
    return undefined;
  }
}

/** Runs `measure`, returning its result with workerd's CPU time per request and busiest thread. */
async function withCpu(pid, measure) {
  const before = cpuSnapshot(pid);
  const nodeBefore = process.cpuUsage();
  const run = await measure();
  const after = cpuSnapshot(pid);
  const node = process.cpuUsage(nodeBefore);
  const count = run.results.length;
  run.nodeCpuMs = (node.user + node.system) / 1000 / count;
  if (before && after) {
    run.workerdCpuMs = ((after.total - before.total) * 1000) / CLOCK_TICKS / count;
    let busiest = 0;
    for (const [tid, value] of after.threads) busiest = Math.max(busiest, value - (before.threads.get(tid) ?? 0));
    run.busiestThread = ((busiest * 1000) / CLOCK_TICKS / run.wallMs) * 100;
    // What the rest of the machine used meanwhile, in CPUs: other work skews the figures.
    const ours = after.total - before.total + ((node.user + node.system) / 1e6) * CLOCK_TICKS;
    run.otherCpus = (after.machine - before.machine - ours) / CLOCK_TICKS / (run.wallMs / 1000);
  }
  return run;
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function summarise(label, concurrency, { results, wallMs, workerdCpuMs, busiestThread, nodeCpuMs, otherCpus }, expected = 201) {
  const failed = results.filter((r) => r.status !== expected);
  const ok = results.filter((r) => r.status === expected);
  const latency = ok.map((r) => r.latency);
  const model = [];
  const overhead = [];
  let unmatched = 0;
  for (const result of ok) {
    const ms = result.marker && modelMs.get(result.marker);
    if (ms === undefined) {
      unmatched += 1;
      continue;
    }
    model.push(ms);
    overhead.push(result.latency - ms);
  }
  return {
    label,
    concurrency,
    requests: results.length,
    failed: failed.length,
    firstFailure: failed[0] && `${failed[0].status} ${failed[0].text.slice(0, 200)}`,
    unmatched: expected === 201 ? unmatched : 0,
    throughput: (ok.length / wallMs) * 1000,
    latency: [percentile(latency, 50), percentile(latency, 99)],
    model: [percentile(model, 50), percentile(model, 99)],
    overhead: [percentile(overhead, 50), percentile(overhead, 99)],
    workerdCpuMs: workerdCpuMs ?? NaN,
    busiestThread: busiestThread ?? NaN,
    nodeCpuMs: nodeCpuMs ?? NaN,
    otherCpus: otherCpus ?? NaN,
  };
}

function version(path) {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", path, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

function printTable(rows) {
  const ms = (value) => (Number.isNaN(value) ? "-" : value.toFixed(2));
  const columns = [
    ["request", (r) => r.label],
    ["concurrency", (r) => String(r.concurrency)],
    ["requests", (r) => String(r.requests)],
    ["failed", (r) => String(r.failed)],
    ["req/s", (r) => r.throughput.toFixed(1)],
    ["latency p50", (r) => ms(r.latency[0])],
    ["latency p99", (r) => ms(r.latency[1])],
    ["model p50", (r) => ms(r.model[0])],
    ["model p99", (r) => ms(r.model[1])],
    ["overhead p50", (r) => ms(r.overhead[0])],
    ["overhead p99", (r) => ms(r.overhead[1])],
    ["workerd CPU/req", (r) => ms(r.workerdCpuMs)],
    ["busiest thread %", (r) => (Number.isNaN(r.busiestThread) ? "-" : r.busiestThread.toFixed(0))],
    ["node CPU/req", (r) => ms(r.nodeCpuMs)],
    ["others CPUs", (r) => (Number.isNaN(r.otherCpus) ? "-" : Math.max(0, r.otherCpus).toFixed(2))],
  ];
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)));
  const widths = columns.map(([title], i) => Math.max(title.length, ...cells.map((c) => c[i].length)));
  const line = (values) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  console.log(line(columns.map(([title]) => title)));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of cells) console.log(line(row));
  console.log("latencies and CPU times in ms. model: how long the fake OpenAI held each call; overhead: latency - model.");
  console.log("workerd CPU/req: CPU time of the workerd process (the three Workers and the storage and queue");
  console.log("simulators, the image consumer's work included) per request; busiest thread: the share of the run");
  console.log("its busiest thread was on a CPU. node CPU/req: this process (client and fake OpenAI).");
  console.log("others CPUs: CPUs used meanwhile by every other process on the machine (should be near 0).");
}

// --- Rust and TypeScript side by side ---------------------------------------------------------

/** Combines the runs of one side: all results, the summed wall time, CPU weighted by requests. */
function combine(runs) {
  const results = runs.flatMap((run) => run.results);
  const wallMs = runs.reduce((sum, run) => sum + run.wallMs, 0);
  const byRequests = (key) => runs.reduce((sum, run) => sum + (run[key] ?? NaN) * run.results.length, 0) / results.length;
  const byWall = (key) => runs.reduce((sum, run) => sum + (run[key] ?? NaN) * run.wallMs, 0) / wallMs;
  return {
    results,
    wallMs,
    workerdCpuMs: byRequests("workerdCpuMs"),
    nodeCpuMs: byRequests("nodeCpuMs"),
    busiestThread: byWall("busiestThread"),
    otherCpus: byWall("otherCpus"),
  };
}

/** `total` split into `parts` near-equal whole shares. */
function shares(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0)).filter((n) => n > 0);
}

/**
 * Measures `sides` ({ name: send }) at `concurrency` in alternating rounds, each side getting
 * `total` requests in all: rounds run A B, B A, A B, ... so that neither side always goes first
 * (or always follows the other's leftovers, such as its waitUntil work).
 */
async function alternate(sides, concurrency, total) {
  const names = Object.keys(sides);
  const runs = Object.fromEntries(names.map((name) => [name, []]));
  for (const [round, count] of shares(total, ROUNDS).entries()) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) runs[name].push(await withCpu(WORKERD, () => drive(count, concurrency, sides[name])));
  }
  return Object.fromEntries(names.map((name) => [name, combine(runs[name])]));
}

function printComparison(rows) {
  const ms = (value) => (Number.isNaN(value) ? "-" : value.toFixed(2));
  const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "-");
  const columns = [
    ["request", (r) => r.label],
    ["concurrency", (r) => String(r.concurrency)],
    ["impl", (r) => r.impl],
    ["failed", (r) => String(r.failed)],
    ["req/s", (r) => r.throughput.toFixed(1)],
    ["p50 ms", (r) => ms(r.latency[0])],
    ["p99 ms", (r) => ms(r.latency[1])],
    ["model p50 ms", (r) => ms(r.model[0])],
    ["overhead p50 ms", (r) => ms(r.overhead[0])],
    ["overhead p99 ms", (r) => ms(r.overhead[1])],
    ["workerd CPU/req ms", (r) => ms(r.workerdCpuMs)],
    ["others CPUs", (r) => (Number.isNaN(r.otherCpus) ? "-" : Math.max(0, r.otherCpus).toFixed(2))],
    ["ratio rust/ts p50", (r) => (r.versus ? ratio(r.latency[0], r.versus.latency[0]) : "")],
    ["ratio rust/ts overhead p50", (r) => (r.versus ? ratio(r.overhead[0], r.versus.overhead[0]) : "")],
    ["ratio rust/ts req/s", (r) => (r.versus ? ratio(r.throughput, r.versus.throughput) : "")],
    ["ratio rust/ts CPU/req", (r) => (r.versus ? ratio(r.workerdCpuMs, r.versus.workerdCpuMs) : "")],
  ];
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)));
  const widths = columns.map(([title], i) => Math.max(title.length, ...cells.map((c) => c[i].length)));
  const line = (values) => `| ${values.map((v, i) => (i < 3 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(" | ")} |`;
  console.log(line(columns.map(([title]) => title)));
  console.log(`|${widths.map((w, i) => (i < 3 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const row of cells) console.log(line(row));
  console.log("ratios on the Rust rows, Rust divided by TypeScript: for p50, overhead and CPU below 1.00 means Rust is faster;");
  console.log("for req/s above 1.00 means Rust serves more. overhead: latency - the fake model's own time for that request.");
  console.log("workerd CPU/req: the whole workerd process (the Worker, the D1, KV and queue simulators, the queue sink) per request;");
  console.log("it moves least when other processes compete for the CPUs (others CPUs: how many they used meanwhile).");
}

async function compare() {
  const sides = {
    rust: () => generateOnce(`${pipeline.rustUrl}/api/v1/generate`),
    ts: () => generateOnce(`${pipeline.tsUrl}/api/v1/generate`),
  };
  console.log(
    `\nRust and TypeScript side by side: ${REQUESTS} requests per side and level in ${shares(REQUESTS, ROUNDS).length} alternating rounds, ` +
      `${WARMUP} warm-up requests per side; same workerd, variables, D1, KV, fake model; direct sockets; image messages to an ack-only queue` +
      (TS_INSERT_FIRST ? "; the TypeScript twin inserts the row before calling the model (BENCH_TS_INSERT_FIRST=1)" : ""),
  );
  for (const [name, send] of Object.entries(sides)) {
    if (WARMUP === 0) break;
    const warm = await drive(WARMUP, Math.max(...CONCURRENCY), send);
    const bad = warm.results.find((r) => r.status !== 201);
    if (bad) throw new Error(`${name} warm-up request failed: ${bad.status} ${bad.text.slice(0, 300)}`);
  }
  const rows = [];
  for (const concurrency of CONCURRENCY) {
    const measured = await alternate(sides, concurrency, REQUESTS);
    const rust = { ...summarise("POST /api/v1/generate", concurrency, measured.rust), impl: "rust" };
    const ts = { ...summarise("POST /api/v1/generate", concurrency, measured.ts), impl: "ts" };
    rows.push({ ...rust, versus: ts }, ts);
  }
  // The floor: a request that touches no storage, through the same sockets.
  const floor = await alternate(
    { rust: getOnce("/healthz", pipeline.rustUrl), ts: getOnce("/healthz", pipeline.tsUrl) },
    1,
    REQUESTS,
  );
  const rustFloor = { ...summarise("GET /healthz", 1, floor.rust, 200), impl: "rust" };
  const tsFloor = { ...summarise("GET /healthz", 1, floor.ts, 200), impl: "ts" };
  rows.push({ ...rustFloor, versus: tsFloor }, tsFloor);
  printComparison(rows);
  for (const row of rows) {
    const what = `${row.impl} ${row.label} at concurrency ${row.concurrency}`;
    if (row.failed > 0) console.log(`${what}: ${row.failed} requests failed, first: ${row.firstFailure}`);
    if (row.unmatched > 0) console.log(`${what}: ${row.unmatched} requests without a matching model call`);
  }
  if (PAIRS > 0) await interleaved(sides, PAIRS);
  return 2 * (WARMUP + REQUESTS * CONCURRENCY.length + PAIRS);
}

/**
 * Rust and TypeScript requests one by one, alternating which goes first: each pair meets the
 * machine in the same moment, so a slower minute (another VM on the host, say) slows both
 * sides alike. On a shared 2-CPU VM the table's ratios moved by up to 0.1 between runs, these
 * by about 0.02.
 */
async function interleaved(sides, pairs) {
  const latencies = { rust: [], ts: [] };
  for (let i = 0; i < pairs; i += 1) {
    for (const name of i % 2 === 0 ? ["rust", "ts"] : ["ts", "rust"]) {
      const result = await sides[name]();
      if (result.status !== 201) throw new Error(`${name} request failed: ${result.status} ${result.text.slice(0, 300)}`);
      latencies[name].push(result.latency);
    }
  }
  const [rust, ts] = [percentile(latencies.rust, 50), percentile(latencies.ts, 50)];
  console.log(
    `interleaved, ${pairs} pairs at concurrency 1: p50 rust ${rust.toFixed(2)} ms, ts ${ts.toFixed(2)} ms, ratio rust/ts ${(rust / ts).toFixed(2)}`,
  );
}

// --- run ------------------------------------------------------------------------------------

const cpus = os.cpus();
console.log(
  `machine: ${os.availableParallelism()} CPUs (${cpus[0]?.model.trim() ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}`,
);
console.log(
  `node ${process.version}, miniflare ${version("miniflare")}, workerd ${version("workerd")}, wrangler ${version("wrangler")}` +
    (COMPARE ? `, hono ${version("hono")}, zod ${version("zod")}` : ""),
);
console.log(`settings: ${REQUESTS} requests per level, concurrency ${CONCURRENCY.join(", ")}, ${WARMUP} warm-up requests`);
console.log(
  `writer: openai (fake, answers at once); LangSmith off; image-consumer running (placeholder images, ${IMAGE_SIDE ?? "configured size"})`,
);
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(`load average before: ${loadAverage()} (figures are only comparable on an otherwise idle machine)\n`);

try {
  // Warm up: compile and instantiate the wasm, open connections, fill caches.
  if (WARMUP > 0) {
    const warm = await drive(WARMUP, Math.max(...CONCURRENCY));
    const bad = warm.results.find((r) => r.status !== 201);
    if (bad) throw new Error(`warm-up request failed: ${bad.status} ${bad.text.slice(0, 300)}`);
  }
  const rows = [];
  for (const concurrency of CONCURRENCY) {
    await drainImages();
    rows.push(summarise("POST /api/v1/generate", concurrency, await withCpu(WORKERD, () => drive(REQUESTS, concurrency))));
  }
  // For reference, at concurrency 1: the floor of a request through Miniflare and workerd
  // (healthz: no storage), and a read of one draft (one D1 query, one KV read).
  const { results } = await drive(1, 1);
  const draftId = JSON.parse(results[0].text).draftId;
  await drainImages();
  const reference = (path) => withCpu(WORKERD, () => drive(REQUESTS, 1, getOnce(path)));
  rows.push(summarise("GET /healthz", 1, await reference("/healthz"), 200));
  rows.push(summarise("GET /api/v1/drafts/{id}", 1, await reference(`/api/v1/drafts/${draftId}`), 200));
  printTable(rows);
  console.log(`load average after: ${loadAverage()}`);
  for (const row of rows) {
    const what = `${row.label} at concurrency ${row.concurrency}`;
    if (row.failed > 0) console.log(`${what}: ${row.failed} requests failed, first: ${row.firstFailure}`);
    if (row.unmatched > 0) console.log(`${what}: ${row.unmatched} requests without a matching model call`);
  }
  let generated = WARMUP + REQUESTS * CONCURRENCY.length + 1;
  // The comparison runs last: its Rust drafts never get an image (their messages go to the
  // sink), so drainImages would wait for them.
  if (COMPARE) {
    generated += await compare();
    console.log(`load average after: ${loadAverage()}`);
  }
  const calls = fake.requests.length;
  if (calls !== generated) console.log(`note: ${calls} model calls for ${generated} requests (repair rounds?)`);
} finally {
  await pipeline.dispose();
  await fake.close();
}
