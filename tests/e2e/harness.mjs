// Starts the three compiled Workers in one workerd runtime through Miniflare, with the
// bindings read from the wrangler configs (not repeated here), shared queues, KV, D1 and R2,
// and the D1 migrations applied. Outside services are replaced per test through variables.
import { randomUUID } from "node:crypto";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { startGraphSimulator } from "../fakes/graph-api.mjs";
import { startScriptedFake } from "../fakes/server.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const API_TOKEN = "test-token-5d41402abc4b2a76b9719d911017c592";
/**
 * The reviewer every pipeline has unless a test sets its own `REVIEWERS`: approving,
 * re-approving, rescheduling and withdrawing need a person, so tests send this token.
 */
export const REVIEWER = { name: "Riko", token: "riko-review-3f8a91c4d2b7e6a05c1d9f2e" };
/**
 * The publish consumer's TOKEN_ENCRYPTION_KEY in every pipeline unless a test sets its own: a
 * key for tests only (32 bytes in base64), never one to deploy.
 */
export const TOKEN_ENCRYPTION_KEY = "dGVzdC1vbmx5LXRva2VuLWtleS0wMTIzNDU2Nzg5YWI=";
const CONFIGS = {
  api: "wrangler/api.toml",
  "publish-consumer": "wrangler/publish-consumer.toml",
  "image-consumer": "wrangler/image-consumer.toml",
};

/**
 * The Worker whose wrangler config has a Cron Trigger (`[triggers] crons`): the one that runs
 * the scheduler and housekeeping.
 */
export function cronWorkerName() {
  const withCron = Object.entries(CONFIGS)
    .filter(([, config]) => /^\s*crons\s*=/m.test(readFileSync(join(ROOT, config), "utf8")))
    .map(([name]) => name);
  if (withCron.length !== 1) throw new Error(`expected one Worker with a Cron Trigger, found ${withCron.join(", ") || "none"}`);
  return withCron[0];
}

/** Miniflare options of Worker `name`, read from its wrangler config, with `vars` on top. */
export function workerOptions(name, vars) {
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(join(ROOT, CONFIGS[name]));
  // Secrets from a developer's wrangler/.dev.vars must not leak into tests.
  const bindings = Object.fromEntries(
    Object.entries(workerOptions.bindings ?? {}).filter(([key]) => !/TOKEN|KEY|SECRET/.test(key)),
  );
  return {
    ...workerOptions,
    name,
    modules: true,
    modulesRoot: dirname(main),
    scriptPath: main,
    bindings: { ...bindings, ...vars },
  };
}

/** Statements of every migration, in order, as `wrangler d1 migrations apply` runs them. */
export function migrationStatements() {
  const folder = join(ROOT, "migrations");
  return readdirSync(folder)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .flatMap((file) =>
      readFileSync(join(folder, file), "utf8")
        .replace(/--.*$/gm, "")
        .split(/;\s*$/m)
        .map((statement) => statement.trim())
        .filter(Boolean),
    );
}

/**
 * A stand-in for the Workers AI binding: a module whose default export builds the binding.
 * Each `run(model, input)` is posted as JSON `{ model, input }` to `${URL}/run`; a 2xx answer's
 * JSON is what `run` returns, any other answer makes `run` throw with its `error` text, as
 * the real binding throws on a failed inference.
 */
const FAKE_AI_SCRIPT = `
export default function (env) {
  return {
    async run(model, input) {
      const response = await fetch(env.URL + "/run", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, input }),
      });
      // Image models answer bytes: stable-diffusion-xl a ReadableStream, others a Uint8Array.
      const returns = response.ok ? response.headers.get("x-fake-ai-return") : null;
      if (returns === "stream") return response.body;
      if (returns === "uint8array") return new Uint8Array(await response.arrayBuffer());
      const answer = await response.json().catch(() => ({ error: "the fake AI answered with no JSON" }));
      if (!response.ok) throw new Error(answer.error ?? "AI run failed with HTTP " + response.status);
      return answer;
    },
  };
}
`;
const FAKE_AI_WORKER = "fake-ai";

/**
 * Stand-in for an Analytics Engine dataset binding that records every data point. Writing is
 * fire-and-forget, as with the real binding: the point is posted to the test's recorder and
 * the Worker goes on at once.
 */
const METRICS_RECORDER_SCRIPT = `
const text = (blob) => (blob == null || typeof blob === "string" ? blob : new TextDecoder().decode(blob));
class AnalyticsEngineDataset {
  constructor(env) {
    this.env = env;
  }
  writeDataPoint(point = {}) {
    const record = {
      worker: this.env.WORKER,
      dataset: this.env.DATASET,
      indexes: point.indexes ?? [],
      blobs: (point.blobs ?? []).map(text),
      doubles: point.doubles ?? [],
    };
    this.env.SINK.fetch("http://recorder/metrics", { method: "POST", body: JSON.stringify(record) }).catch(() => {});
  }
}
export default function (env) {
  return new AnalyticsEngineDataset(env);
}
`;
const METRICS_RECORDER_WORKER = "record-metrics";

/**
 * Stand-in for a queue producer binding that records every message it is given, then sends it
 * on to the real queue (bound as QUEUE), so consumers still receive it. A send the test refuses
 * (`Pipeline.refuseSends`) throws as a failing queue would, and sends nothing. The class name
 * is the one the `worker` crate checks for.
 */
const QUEUE_RECORDER_SCRIPT = `
const json = (value) => { try { return JSON.parse(JSON.stringify(value ?? null)); } catch { return String(value); } };
class WorkerQueue {
  constructor(env) {
    this.env = env;
  }
  async record(messages) {
    const records = messages.map(({ body, options }) => ({
      worker: this.env.WORKER,
      binding: this.env.BINDING,
      queue: this.env.QUEUE_NAME,
      body: json(body),
      options: json(options),
    }));
    const answer = await this.env.SINK.fetch("http://recorder/sends", { method: "POST", body: JSON.stringify(records) });
    if (answer.status === 503) throw new Error(await answer.text());
  }
  async send(body, options) {
    await this.record([{ body, options }]);
    return this.env.QUEUE.send(body, options ?? undefined);
  }
  async sendBatch(messages, options) {
    const list = [...messages];
    await this.record(list.map(({ body, ...rest }) => ({ body, options: { ...(options ?? {}), ...rest } })));
    return this.env.QUEUE.sendBatch(list, options ?? undefined);
  }
}
export default function (env) {
  return new WorkerQueue(env);
}
`;

/**
 * Stand-in for the D1 binding that yields to the event loop for `MS` milliseconds (a real
 * timer) before each statement, then runs it on the real database (bound as DB), so requests
 * fired at the same moment interleave between a read and the write that depends on it, as
 * against remote D1. With a SINK it also reports each statement run (`{ worker, sql }`). The
 * class names are the ones the `worker` crate checks for.
 */
const D1_LATENCY_SCRIPT = `
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
class D1PreparedStatement {
  constructor(db, inner, sql) {
    this.db = db;
    this.inner = inner;
    this.sql = sql;
  }
  bind(...values) {
    return new D1PreparedStatement(this.db, this.inner.bind(...values), this.sql);
  }
  async first(...args) {
    await this.db.before([this]);
    // first() has no meta: run it as all() to report its cost, answer as first() would.
    if (!this.db.env.COST) return this.inner.first(...args);
    const result = await this.inner.all();
    await this.db.after([this], [result]);
    const row = result.results[0] ?? null;
    return args[0] != null && row !== null ? row[args[0]] : row;
  }
  async all() {
    await this.db.before([this]);
    return this.db.after([this], [await this.inner.all()]);
  }
  async run() {
    await this.db.before([this]);
    return this.db.after([this], [await this.inner.run()]);
  }
  async raw(...args) {
    await this.db.before([this]);
    return this.inner.raw(...args);
  }
}
class D1Database {
  constructor(env) {
    this.env = env;
    this.inner = env.DB;
    this.ms = Number(env.MS);
  }
  async before(statements) {
    if (this.env.SINK) {
      const records = statements.map((statement) => ({ worker: this.env.WORKER, sql: statement.sql }));
      await this.env.SINK.fetch("http://recorder/d1", { method: "POST", body: JSON.stringify(records) });
    }
    await pause(this.ms);
  }
  async after(statements, results) {
    if (this.env.COST) {
      const records = statements.map((statement, i) => ({
        worker: this.env.WORKER,
        sql: statement.sql,
        rowsRead: results[i]?.meta?.rows_read ?? 0,
        rowsWritten: results[i]?.meta?.rows_written ?? 0,
      }));
      await this.env.COST.fetch("http://recorder/d1-cost", { method: "POST", body: JSON.stringify(records) });
    }
    return results.length === 1 ? results[0] : results;
  }
  prepare(query) {
    return new D1PreparedStatement(this, this.inner.prepare(query), query);
  }
  async batch(statements) {
    await this.before(statements);
    const results = await this.inner.batch(statements.map((statement) => statement.inner));
    await this.after(statements, results);
    return results;
  }
  async exec(query) {
    await this.before([{ sql: query }]);
    return this.inner.exec(query);
  }
  dump() {
    return this.inner.dump();
  }
}
export default function (env) {
  return new D1Database(env);
}
`;
const D1_LATENCY_WORKER = "d1-latency";

function queueRecorderWorker(queue) {
  return `record-queue-${queue}`;
}

/**
 * Replaces `options`' Analytics Engine datasets and queue producers with the recording
 * stand-ins; `queues` collects the queues that need a recorder Worker.
 */
function withRecorders(options, queues) {
  const worker = options.name;
  const wrappedBindings = { ...(options.wrappedBindings ?? {}) };
  for (const [binding, { dataset }] of Object.entries(options.analyticsEngineDatasets ?? {})) {
    wrappedBindings[binding] = { scriptName: METRICS_RECORDER_WORKER, bindings: { WORKER: worker, DATASET: dataset } };
  }
  for (const [binding, producer] of Object.entries(options.queueProducers ?? {})) {
    const queue = typeof producer === "string" ? producer : producer.queueName;
    queues.add(queue);
    wrappedBindings[binding] = { scriptName: queueRecorderWorker(queue), bindings: { WORKER: worker, BINDING: binding, QUEUE_NAME: queue } };
  }
  return { ...options, analyticsEngineDatasets: {}, queueProducers: {}, wrappedBindings };
}

/** Variables without the ones set to `undefined`, so an override can also unset one. */
function defined(vars) {
  return Object.fromEntries(Object.entries(vars).filter(([, value]) => value !== undefined));
}

/**
 * Starts the pipeline. `vars` overrides variables per Worker, for example
 * `{ api: { LLM_PROVIDER: "openai", OPENAI_BASE_URL: fake.url } }`; a value of `undefined`
 * removes the variable.
 *
 * Options:
 * - `variants`: `{ name: vars }` starts more copies of the api Worker, each with these
 *   variables on top of `vars.api`, sharing every binding (D1, KV, R2, queues) with the
 *   rest; `pipeline.variant(name)` talks to one. A test file can so try several settings
 *   without starting the runtime again.
 * - `ai`: the URL of a fake Workers AI server (tests/fakes/workers-ai.mjs); binds `AI` in
 *   every api Worker to a stand-in that forwards `env.AI.run(model, input)` to it.
 * - `copies`: `{ name: { of, vars, ai } }` starts more copies of a consumer Worker (`of`, such
 *   as "image-consumer"), each with these variables on top of `vars[of]` and sharing every
 *   binding, but consuming no queue (a queue has one consumer): `pipeline.deliver(name, ...)`
 *   hands one a batch. With `ai: true` the copy gets the `AI` stand-in of the `ai` option too;
 *   an answer with the header `x-fake-ai-return: stream` (or `uint8array`) reaches the Worker
 *   as a ReadableStream (or a Uint8Array) of its body, as image models answer.
 * - `record`: when true, every Worker's Analytics Engine datasets (METRICS) and queue
 *   producers are replaced by recording stand-ins. Data points land in `pipeline.metrics`,
 *   messages in `pipeline.sent` (and still reach their queue); see `Pipeline`.
 * - `idle`: names of consumer Workers (such as "image-consumer") started without their
 *   queue consumers: what is sent to their queues waits there, undelivered, so a test can
 *   look at the state before any delivery and then hand the message over with `deliver`.
 * - `d1LatencyMs`: every Worker's D1 binding yields this long before each statement (see
 *   D1_LATENCY_SCRIPT), so that requests fired at the same moment really interleave. With
 *   `record`, every statement run lands in `pipeline.statements` (`{ worker, sql }`).
 * - `logs`: when true, every line the Workers print (console.log, console.error) is kept in
 *   `pipeline.logs`, oldest first, and still printed.
 * - `costs`: when true, every statement's D1 cost lands in `pipeline.costs` (`{ worker, sql,
 *   rowsRead, rowsWritten }`, from its result's `meta`), through the same D1 stand-in (with
 *   no latency unless `d1LatencyMs` says).
 *
 * With the environment variable `D1_STATEMENT_LOG` set to a file, every pipeline appends each
 * statement it runs to that file, one JSON `{ worker, sql }` a line: what the query-plan test
 * (tests/plans) reads after the end-to-end suite.
 */
export async function startPipeline(
  vars = {},
  { variants = {}, ai, copies = {}, record = false, idle = [], d1LatencyMs, logs = false, costs = false } = {},
) {
  vars = { ...vars, "publish-consumer": { TOKEN_ENCRYPTION_KEY, ...(vars["publish-consumer"] ?? {}) } };
  const statementLog = process.env.D1_STATEMENT_LOG;
  if (d1LatencyMs === undefined && (costs || statementLog)) d1LatencyMs = 0;
  // The api seals the tokens of accounts connected on the review page with the same key.
  const apiVars = { API_TOKEN, REVIEWERS: `${REVIEWER.name}:${REVIEWER.token}`, TOKEN_ENCRYPTION_KEY, ...(vars.api ?? {}) };
  const aiBinding = (options) =>
    ai === undefined
      ? options
      : {
          ...options,
          wrappedBindings: { ...(options.wrappedBindings ?? {}), AI: { scriptName: FAKE_AI_WORKER, bindings: { URL: ai } } },
        };
  for (const name of idle) {
    if (!(name in CONFIGS) || name === "api") throw new Error(`idle: ${name} is not a consumer Worker`);
  }
  const workers = Object.keys(CONFIGS).map((name) => {
    if (name === "api") return aiBinding(workerOptions(name, defined(apiVars)));
    const options = workerOptions(name, defined(vars[name] ?? {}));
    return idle.includes(name) ? { ...options, queueConsumers: {} } : options;
  });
  for (const [variant, overrides] of Object.entries(variants)) {
    workers.push({
      ...aiBinding(workerOptions("api", defined({ ...apiVars, ...overrides }))),
      name: variantWorkerName(variant),
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    });
  }
  for (const [copy, { of, vars: overrides = {}, ai: withAi = false }] of Object.entries(copies)) {
    if (!(of in CONFIGS) || of === "api") throw new Error(`copies: ${of} is not a consumer Worker`);
    const options = workerOptions(of, defined({ ...(vars[of] ?? {}), ...overrides }));
    workers.push({
      ...(withAi ? aiBinding(options) : options),
      name: copy,
      queueConsumers: {},
    });
  }
  const records = { metrics: [], sent: [], statements: [], refused: [], refuse: null, hold: null, logs: [], costs: [] };
  const logged = new Set();
  const sink = async (request) => {
    const { pathname } = new URL(request.url);
    const body = await request.json();
    if (pathname === "/d1-cost") {
      if (costs) records.costs.push(...body);
      if (statementLog) {
        const fresh = body
          .map(({ worker, sql }) => JSON.stringify({ worker, sql }))
          .filter((line) => !logged.has(line) && logged.add(line));
        if (fresh.length > 0) appendFileSync(statementLog, fresh.map((line) => `${line}\n`).join(""));
      }
    } else if (pathname === "/metrics") records.metrics.push(body);
    else if (pathname === "/d1") records.statements.push(...body);
    else if (records.refuse !== null && body.some((record) => records.refuse(record))) {
      records.refused.push(...body);
      return new Response("the queue refused the message (a test's fault)", { status: 503 });
    } else {
      // A held send waits (and the Worker with it) until the test's hook has run.
      if (records.hold !== null) for (const record of body) await records.hold(record);
      records.sent.push(...body);
    }
    return new Response(null, { status: 204 });
  };
  if (record) {
    const queues = new Set();
    workers.splice(0, workers.length, ...workers.map((options) => withRecorders(options, queues)));
    workers.push({ name: METRICS_RECORDER_WORKER, modules: true, script: METRICS_RECORDER_SCRIPT, serviceBindings: { SINK: sink } });
    for (const queue of queues) {
      workers.push({
        name: queueRecorderWorker(queue),
        modules: true,
        script: QUEUE_RECORDER_SCRIPT,
        serviceBindings: { SINK: sink },
        queueProducers: { QUEUE: { queueName: queue } },
      });
    }
  }
  if (ai !== undefined) {
    workers.push({ name: FAKE_AI_WORKER, modules: true, script: FAKE_AI_SCRIPT });
  }
  if (d1LatencyMs !== undefined) {
    const database = workers[0].d1Databases.DB;
    for (const [i, options] of workers.entries()) {
      if (!options.d1Databases?.DB) continue;
      const { DB, ...rest } = options.d1Databases;
      workers[i] = {
        ...options,
        d1Databases: rest,
        wrappedBindings: {
          ...(options.wrappedBindings ?? {}),
          DB: { scriptName: D1_LATENCY_WORKER, bindings: { MS: String(d1LatencyMs), WORKER: options.name } },
        },
      };
    }
    workers.push({
      name: D1_LATENCY_WORKER,
      modules: true,
      script: D1_LATENCY_SCRIPT,
      d1Databases: { DB: database },
      serviceBindings: { ...(record ? { SINK: sink } : {}), ...(costs || statementLog ? { COST: sink } : {}) },
    });
  }
  const stdio = logs
    ? {
        handleRuntimeStdio(stdout, stderr) {
          for (const [stream, sink] of [
            [stdout, process.stdout],
            [stderr, process.stderr],
          ]) {
            createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
              records.logs.push(line);
              sink.write(`${line}\n`);
            });
          }
        },
      }
    : {};
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers, ...stdio });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const db = await mf.getD1Database("DB", d1LatencyMs === undefined ? "api" : D1_LATENCY_WORKER);
    for (const statement of migrationStatements()) {
      await db.prepare(statement).run();
    }
    const variantUrls = {};
    for (const variant of Object.keys(variants)) {
      variantUrls[variant] = (await mf.unsafeGetDirectURL(variantWorkerName(variant))).toString().replace(/\/$/, "");
    }
    return new Pipeline(mf, url, db, variantUrls, records);
  } catch (error) {
    // A runtime that started must not outlive a failed start.
    await mf.dispose().catch(() => {});
    throw error;
  }
}

function variantWorkerName(variant) {
  return `api-${variant}`;
}

let clientAddresses = 0;

export class Pipeline {
  constructor(mf, url, db, variantUrls = {}, records = { metrics: [], sent: [], statements: [], refused: [], refuse: null, hold: null, logs: [], costs: [] }) {
    this.mf = mf;
    this.url = url;
    this.db = db;
    this.variantUrls = variantUrls;
    this.records = records;
  }

  /**
   * With `record`: every Analytics Engine data point written so far, oldest first, as
   * `{ worker, dataset, indexes, blobs, doubles }`. Writes are fire-and-forget, so a point
   * may arrive a moment after the handler that wrote it returned: wait with `eventually`.
   */
  get metrics() {
    return this.records.metrics;
  }

  /**
   * With `record`: every message sent to a queue so far, oldest first, as
   * `{ worker, binding, queue, body, options }` (`options` as given to `send`, such as
   * `{ contentType, delaySeconds }`).
   */
  get sent() {
    return this.records.sent;
  }

  /**
   * With `record`: from now on, a send for which `refuse(record)` is true (`record` as in
   * `sent`) throws in the Worker, as a failing queue would, and is not delivered; such sends
   * land in `refused`. `null` accepts every send again.
   */
  refuseSends(refuse) {
    this.records.refuse = refuse;
  }

  /**
   * With `record`: from now on, every send waits for `hook(record)` (`record` as in `sent`)
   * before it reaches its queue, so a test can act while a Worker is inside its send (deliver
   * that very message elsewhere, say). `null` lets sends through at once again.
   */
  holdSends(hook) {
    this.records.hold = hook;
  }

  /** With `record`: the sends refused by `refuseSends`, oldest first. */
  get refused() {
    return this.records.refused;
  }

  /** With `logs`: every line the Workers printed so far, oldest first. */
  get logs() {
    return this.records.logs;
  }

  /**
   * With `record` and `d1LatencyMs`: every D1 statement the Workers ran so far, oldest first,
   * as `{ worker, sql }` (reported before it runs).
   */
  get statements() {
    return this.records.statements;
  }

  /**
   * With `costs`: every D1 statement the Workers ran so far, oldest first, with what D1 said
   * it cost, as `{ worker, sql, rowsRead, rowsWritten }` (reported after it ran).
   */
  get costs() {
    return this.records.costs;
  }

  /**
   * Hands `bodies` to Worker `worker`'s queue handler as one batch from `queue`, as the queue
   * broker would (each message's delivery count is `attempts`), and answers what the broker
   * would do with each message: "acked" or "retried" (a handler that throws retries all).
   * Each message gets a new unique id, as the broker gives, unless `ids` names them (to
   * deliver the same queue message again); `messages` holds what was handed over.
   */
  async deliver(worker, queue, bodies, { attempts = 1, ids = [] } = {}) {
    const messages = bodies.map((body, i) => ({ id: ids[i] ?? `message-${randomUUID()}`, timestamp: new Date(), attempts, body }));
    const result = await (await this.mf.getWorker(worker)).queue(queue, messages);
    const retryAll = result.outcome !== "ok" || result.retryBatch.retry;
    const retried = new Set(result.retryMessages.map((message) => message.msgId));
    const explicit = new Set(result.explicitAcks);
    const outcomes = messages.map(({ id }) =>
      retryAll || retried.has(id) ? "retried" : result.ackAll || explicit.has(id) ? "acked" : "acked implicitly",
    );
    return { outcomes, result, messages };
  }

  /** The same pipeline, seen through the api Worker copy `name` started with `variants`. */
  variant(name) {
    const url = this.variantUrls[name];
    if (url === undefined) throw new Error(`no api variant ${name}; pass it in startPipeline's variants`);
    return new Pipeline(this.mf, url, this.db, this.variantUrls, this.records);
  }

  /**
   * A request to the api Worker, authorised unless `token` is given (null sends none);
   * `signal` can abort it, so a test of a hang cannot hang itself.
   */
  async request(method, path, { body, token = API_TOKEN, headers = {}, raw, signal } = {}) {
    // Each request comes from a client address of its own unless the test names one: failed
    // credentials are limited per client, and a test about the limit sets the address.
    clientAddresses += 1;
    const client = `10.${(clientAddresses >> 16) & 255}.${(clientAddresses >> 8) & 255}.${clientAddresses & 255}`;
    const init = { method, headers: { "cf-connecting-ip": client, ...headers }, signal };
    if (token !== null) init.headers.authorization = `Bearer ${token}`;
    if (raw !== undefined) {
      init.body = raw;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] ??= "application/json";
    }
    const response = await fetch(this.url + path, init);
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  /**
   * A GET sent with node:http exactly as `path` is written: fetch would resolve dot segments
   * (`/media/../x` becomes `/x`) before the Worker sees the request. Answers status, headers,
   * text and JSON like `request`.
   */
  rawGet(path, { headers = {} } = {}) {
    const { hostname, port } = new URL(this.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, path, method: "GET", headers }, (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: new Headers(res.headers), json, text });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  }

  /**
   * Runs the scheduler (publish-consumer's Cron Trigger) once, as if the schedule fired at
   * `at` (a Date, or milliseconds since the epoch): the scheduler's clock is the event's
   * scheduled time. `worker` may name a copy of publish-consumer (see `copies`).
   */
  async runCron({ at = new Date(), worker = "publish-consumer", cron = "* * * * *" } = {}) {
    return (await this.mf.getWorker(worker)).scheduled({ cron, scheduledTime: new Date(at) });
  }

  /** The DRAFTS KV namespace, as the api Worker sees it. */
  draftsKv() {
    return this.mf.getKVNamespace("DRAFTS", "api");
  }

  generate(body, options = {}) {
    return this.request("POST", "/api/v1/generate", { body, ...options });
  }

  async count(table) {
    const row = await this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first();
    return row.n;
  }

  async kvKeys() {
    const kv = await this.mf.getKVNamespace("DRAFTS", "api");
    return (await kv.list()).keys.map((key) => key.name);
  }

  /** The draft's D1 row, or null. */
  draftRow(id) {
    return this.db.prepare("SELECT * FROM drafts WHERE id = ?1").bind(id).first();
  }

  /** The keys of the objects in the MEDIA bucket, optionally only those under `prefix`. */
  async mediaKeys(prefix) {
    const bucket = await this.mf.getR2Bucket("MEDIA", "api");
    const keys = [];
    let cursor;
    do {
      const page = await bucket.list({ prefix, cursor });
      keys.push(...page.objects.map((object) => object.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return keys;
  }

  /** Counts of what a generate request stores, to compare before and after one. */
  async storedCounts() {
    return {
      drafts: await this.count("drafts"),
      idempotencyKeys: await this.count("idempotency_keys"),
      kvDrafts: (await this.kvKeys()).filter((key) => key.startsWith("draft:")).length,
      media: (await this.mediaKeys()).length,
    };
  }

  /** Waits until no draft's image is still pending or being made, so later counts are not disturbed. */
  settleImages(timeoutMs = 15000) {
    return this.eventually(
      async () =>
        (await this.db.prepare("SELECT COUNT(*) AS n FROM drafts WHERE image_status IN ('pending', 'generating')").first()).n === 0,
      { timeoutMs, what: "every pending image to be made" },
    );
  }

  /** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
  async eventually(probe, { timeoutMs = 15000, intervalMs = 100, what = "condition" } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      last = await probe();
      if (last) return last;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
  }

  dispose() {
    return this.mf.dispose();
  }
}

/**
 * A relay in front of the api Worker, standing for its public origin: the simulator downloads
 * `image_url` from it as Meta downloads from the public URL. Its target is set once the
 * pipeline (whose URL is only known after start) is up. It counts what it served.
 */
async function startRelay() {
  const relay = { target: null, served: [] };
  const server = createServer(async (req, res) => {
    try {
      const upstream = await fetch(relay.target + req.url, { method: req.method });
      const body = Buffer.from(await upstream.arrayBuffer());
      relay.served.push({ path: req.url, status: upstream.status, bytes: body.length });
      const headers = {};
      for (const name of ["content-type", "etag", "cache-control"]) {
        const value = upstream.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      res.writeHead(upstream.status, { ...headers, "content-length": body.length });
      res.end(body);
    } catch (error) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  relay.url = `http://127.0.0.1:${server.address().port}`;
  relay.close = () => new Promise((resolve) => server.close(resolve));
  return relay;
}

/**
 * The one way to start the Workers with the Instagram side faked: the Graph API simulator
 * (`sim`, its options) behind publish-consumer, a relay as the api's public origin (the
 * simulator downloads images through it), and, with `webhook`, an alert webhook fake at
 * `${webhook.url}/hook`. `vars` are per Worker as for startPipeline, or a function of the
 * simulator answering them (for settings that name its URL); publish-consumer's Graph, media
 * and webhook settings come first and `vars` go on top. `options` go to startPipeline.
 * Answers `{ pipeline, sim, relay, webhook }`; `GraphPipeline` wraps it.
 */
export async function startWithGraph({ sim: simOptions = {}, vars = {}, webhook: withWebhook = false, options = {} } = {}) {
  const sim = await startGraphSimulator(simOptions);
  const relay = await startRelay();
  const webhook = withWebhook
    ? await startScriptedFake("alert-webhook", { path: "/hook", initial: () => ({ status: 200, body: { ok: true } }) })
    : null;
  const given = typeof vars === "function" ? vars(sim) : vars;
  try {
    const pipeline = await startPipeline(
      {
        ...given,
        "publish-consumer": {
          GRAPH_API_BASE_URL: sim.url,
          GRAPH_API_VERSION: sim.apiVersion,
          PUBLIC_MEDIA_BASE_URL: relay.url,
          ...(webhook ? { ALERT_WEBHOOK_URL: `${webhook.url}/hook` } : {}),
          ...(given["publish-consumer"] ?? {}),
        },
      },
      options,
    );
    relay.target = pipeline.url;
    return { pipeline, sim, relay, webhook };
  } catch (error) {
    // Nothing left listening: a failed start must not keep the test process alive.
    await Promise.all([sim.close(), relay.close(), webhook?.close()]);
    throw error;
  }
}

/** What startWithGraph started, as one object: the pipeline and its fakes, disposed together. */
export class GraphPipeline {
  constructor({ pipeline, sim, relay, webhook = null }) {
    this.pipeline = pipeline;
    this.sim = sim;
    this.relay = relay;
    this.webhook = webhook;
    this.url = pipeline.url;
    this.db = pipeline.db;
  }

  /** The draft's D1 row, or null. */
  row(id) {
    return this.pipeline.draftRow(id);
  }

  async dispose() {
    await this.pipeline?.dispose();
    await this.sim?.close();
    await this.relay?.close();
    await this.webhook?.close();
  }
}
