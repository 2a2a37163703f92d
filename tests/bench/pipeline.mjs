// The benchmark's runtime: the three compiled Workers in one workerd through Miniflare, as
// tests/e2e/harness.mjs starts them (bindings from the wrangler configs, secrets from
// wrangler/.dev.vars left out, the D1 migrations applied), and, for the Rust/TypeScript
// comparison, two more Workers in the same workerd:
//
// - `bench-rust`: the compiled Rust api Worker again, with the api's variables and bindings;
// - `bench-ts`: the TypeScript twin of its generate route (tests/bench/ts/worker.ts, bundled
//   with esbuild into target/bench-ts/), with the same variables, D1 database and KV namespace;
//   it writes its drafts to `ts_drafts`, a copy of the shape of `drafts`.
//
// Both are reached the same way (a direct socket each, not through Miniflare's entry Worker),
// and both send their image message to the same queue, `bench-image-queue`, whose consumer
// only acknowledges. Not the image consumer's queue: it draws images only for rows of
// `drafts`, so with the TypeScript twin writing `ts_drafts` it would burn CPU in this workerd
// while the Rust side is measured and not while the TypeScript side is.
//
// The harness is not reused because it cannot add a Worker from a script of ours.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { Miniflare } from "miniflare";
import { API_TOKEN, migrationStatements, ROOT, TOKEN_ENCRYPTION_KEY, workerOptions } from "../e2e/harness.mjs";

export const TS_SOURCE = join(ROOT, "tests", "bench", "ts", "worker.ts");
export const TS_BUNDLE = join(ROOT, "target", "bench-ts", "worker.js");
const BENCH_QUEUE = "bench-image-queue";

/**
 * The TypeScript twin's own table, `ts_drafts`: the same columns, constraints and indexes as
 * `drafts` after the migrations, read back from the schema so the two never drift apart.
 */
export async function createTypeScriptTable(db) {
  const { results } = await db
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'drafts' AND sql IS NOT NULL ORDER BY type DESC")
    .all();
  const table = results.find((row) => row.type === "table");
  if (!table) throw new Error("no drafts table after the migrations");
  const renamed = (sql) =>
    sql
      .replace(/^CREATE TABLE\s+(["`]?)drafts\1/i, "CREATE TABLE ts_drafts")
      .replace(/^CREATE (UNIQUE )?INDEX\s+(["`]?)(\w+)\2\s+ON\s+(["`]?)drafts\4/i, "CREATE $1INDEX ts_$3 ON ts_drafts");
  for (const { sql } of [table, ...results.filter((row) => row.type === "index")]) {
    const statement = renamed(sql);
    if (!/ts_drafts/.test(statement)) throw new Error(`cannot copy the drafts schema: ${sql}`);
    await db.prepare(statement).run();
  }
}

/** Acknowledges every image message of the comparison. */
const SINK_SCRIPT = `export default { async queue(batch) { batch.ackAll(); } };`;

/** Bundles the TypeScript twin as `wrangler deploy` would (ES module, no minification). */
export function buildTypeScriptWorker() {
  mkdirSync(dirname(TS_BUNDLE), { recursive: true });
  const esbuild = process.env.ESBUILD_BIN || join(ROOT, "node_modules", ".bin", "esbuild");
  execFileSync(
    esbuild,
    [
      TS_SOURCE,
      "--bundle",
      "--format=esm",
      "--platform=browser",
      "--conditions=workerd,worker,browser",
      "--target=es2022",
      "--log-level=warning",
      `--outfile=${TS_BUNDLE}`,
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  return TS_BUNDLE;
}

const directSocket = [{ host: "127.0.0.1", port: 0 }];

/**
 * Starts the pipeline; `vars` overrides variables per Worker (`{ api: {...} }`). With
 * `compare`, also `bench-rust` and `bench-ts` (see above), whose URLs are `rustUrl` and `tsUrl`;
 * `tsVars` are variables for `bench-ts` only.
 */
export async function startBenchPipeline(vars = {}, { compare = false, tsVars = {} } = {}) {
  const apiVars = { API_TOKEN, ...(vars.api ?? {}) };
  const api = workerOptions("api", apiVars);
  const workers = [api, workerOptions("publish-consumer", { TOKEN_ENCRYPTION_KEY, ...(vars["publish-consumer"] ?? {}) }), workerOptions("image-consumer", vars["image-consumer"] ?? {})];
  if (compare) {
    const imageQueue = { IMAGE_QUEUE: { queueName: BENCH_QUEUE } };
    workers.push(
      {
        ...workerOptions("api", apiVars),
        name: "bench-rust",
        queueProducers: { ...api.queueProducers, ...imageQueue },
        unsafeDirectSockets: directSocket,
      },
      {
        name: "bench-ts",
        modules: true,
        modulesRoot: dirname(TS_BUNDLE),
        scriptPath: TS_BUNDLE,
        compatibilityDate: api.compatibilityDate,
        compatibilityFlags: api.compatibilityFlags,
        bindings: { ...api.bindings, ...tsVars },
        d1Databases: api.d1Databases,
        kvNamespaces: api.kvNamespaces,
        queueProducers: imageQueue,
        unsafeDirectSockets: directSocket,
      },
      {
        name: "bench-image-sink",
        modules: true,
        script: SINK_SCRIPT,
        compatibilityDate: api.compatibilityDate,
        queueConsumers: { [BENCH_QUEUE]: {} },
      },
    );
  }
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const db = await mf.getD1Database("DB", "api");
  for (const statement of migrationStatements()) {
    await db.prepare(statement).run();
  }
  if (compare) await createTypeScriptTable(db);
  const direct = async (name) => (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
  return {
    mf,
    url,
    db,
    rustUrl: compare ? await direct("bench-rust") : undefined,
    tsUrl: compare ? await direct("bench-ts") : undefined,
    dispose: () => mf.dispose(),
  };
}
