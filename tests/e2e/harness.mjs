// Starts the three compiled Workers in one workerd runtime through Miniflare, with the
// bindings read from the wrangler configs (not repeated here), shared queues, KV, D1 and R2,
// and the D1 migrations applied. Outside services are replaced per test through variables.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const API_TOKEN = "test-token-5d41402abc4b2a76b9719d911017c592";
const CONFIGS = {
  api: "wrangler/api.toml",
  "publish-consumer": "wrangler/publish-consumer.toml",
  "image-consumer": "wrangler/image-consumer.toml",
};

function workerOptions(name, vars) {
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
function migrationStatements() {
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
 * Starts the pipeline. `vars` overrides variables per Worker, for example
 * `{ api: { LLM_PROVIDER: "openai", OPENAI_BASE_URL: fake.url } }`.
 */
export async function startPipeline(vars = {}) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: Object.keys(CONFIGS).map((name) =>
      workerOptions(name, { ...(name === "api" ? { API_TOKEN } : {}), ...(vars[name] ?? {}) }),
    ),
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const db = await mf.getD1Database("DB", "api");
  for (const statement of migrationStatements()) {
    await db.prepare(statement).run();
  }
  return new Pipeline(mf, url, db);
}

export class Pipeline {
  constructor(mf, url, db) {
    this.mf = mf;
    this.url = url;
    this.db = db;
  }

  /** A request to the api Worker, authorised unless `token` is given (null sends none). */
  async request(method, path, { body, token = API_TOKEN, headers = {}, raw } = {}) {
    const init = { method, headers: { ...headers } };
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
