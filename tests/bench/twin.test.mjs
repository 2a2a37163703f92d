// The benchmark's TypeScript twin (tests/bench/ts/worker.ts) is a hand-kept copy of the api
// Worker's generate route; the comparison means something only while it does what the Rust
// route does. So it is held to the Rust route's contract: its routes are operations of
// workers/api/openapi.json with statuses that operation documents, and, run side by side in
// one workerd as scripts/bench runs them (tests/bench/pipeline.mjs), the compiled api Worker
// and the twin answer the same bad requests with the same status and error code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startFakeOpenAI } from "../fakes/openai.mjs";
import { API_TOKEN, ROOT } from "../e2e/harness.mjs";
import { buildTypeScriptWorker, startBenchPipeline, TS_SOURCE } from "./pipeline.mjs";

const source = readFileSync(TS_SOURCE, "utf8");
const document = JSON.parse(readFileSync(join(ROOT, "workers", "api", "openapi.json"), "utf8"));

/** The twin's routes, `{ method, path }`, as its Hono app declares them. */
function twinRoutes() {
  return [...source.matchAll(/\bapp\.(get|post|put|patch|delete)\(\s*"([^"]+)"/g)].map(([, method, path]) => ({ method, path }));
}

test("every route of the TypeScript twin is an operation of the api's OpenAPI document, answering only documented statuses", () => {
  const routes = twinRoutes();
  assert.ok(routes.some((route) => route.method === "post" && route.path === "/api/v1/generate"), "the twin has no POST /api/v1/generate");
  // Every status the twin's routes can answer with: each `new ApiError(n` but the one of its
  // handler for paths it has no route for.
  const errorStatuses = new Set(
    source
      .split("\n")
      .filter((line) => !line.includes("app.notFound("))
      .flatMap((line) => [...line.matchAll(/new ApiError\((\d{3})/g)].map((m) => m[1])),
  );
  assert.ok(errorStatuses.has("400") && errorStatuses.has("401"), `the twin's error statuses were not found: ${[...errorStatuses]}`);
  const problems = [];
  for (const { method, path } of routes) {
    const operation = document.paths[path]?.[method];
    if (!operation) {
      problems.push(`${method.toUpperCase()} ${path} is not in workers/api/openapi.json`);
      continue;
    }
    const documented = new Set(Object.keys(operation.responses));
    const statuses = path === "/healthz" ? ["200"] : ["201", ...errorStatuses];
    for (const status of statuses) {
      if (!documented.has(status)) problems.push(`${method.toUpperCase()} ${path}: the twin can answer ${status}, which the document does not list`);
    }
  }
  assert.deepEqual(problems, []);
});

let bench;
let fake;
before(async () => {
  buildTypeScriptWorker();
  // As scripts/bench runs them: both sides write with an OpenAI-compatible model, the fake.
  fake = await startFakeOpenAI();
  bench = await startBenchPipeline(
    { api: { LLM_PROVIDER: "openai", OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: "sk-fake-bench", OPENAI_MODEL: "fake-model" } },
    { compare: true },
  );
});
after(async () => {
  await bench?.dispose();
  await fake?.close();
});

const json = { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" };
const long = (n) => "x".repeat(n);
/** Requests the Rust route refuses before anything is stored: name, headers, body. */
const BAD = [
  ["no token", { "content-type": "application/json" }, JSON.stringify({ brief: "soup" })],
  ["a wrong token", { ...json, authorization: "Bearer wrong-token-0000000000000000" }, JSON.stringify({ brief: "soup" })],
  ["another scheme", { ...json, authorization: `Basic ${API_TOKEN}` }, JSON.stringify({ brief: "soup" })],
  ["text/plain", { ...json, "content-type": "text/plain" }, JSON.stringify({ brief: "soup" })],
  ["no content type", { authorization: json.authorization }, JSON.stringify({ brief: "soup" })],
  ["malformed JSON", json, "{\"brief\": "],
  ["a JSON array", json, "[]"],
  ["an empty object", json, "{}"],
  ["an empty brief", json, JSON.stringify({ brief: "" })],
  ["a brief too long", json, JSON.stringify({ brief: long(2001) })],
  ["a brief that is a number", json, JSON.stringify({ brief: 5 })],
  ["an unknown tone", json, JSON.stringify({ brief: "soup", tone: "grumpy" })],
  ["a language that is no tag", json, JSON.stringify({ brief: "soup", language: "english" })],
  ["eleven keywords", json, JSON.stringify({ brief: "soup", keywords: Array.from({ length: 11 }, (_, i) => `k${i}`) })],
  ["an empty keyword", json, JSON.stringify({ brief: "soup", keywords: [""] })],
  ["a keyword too long", json, JSON.stringify({ brief: "soup", keywords: [long(51)] })],
  ["hashtagCount over the cap", json, JSON.stringify({ brief: "soup", hashtagCount: 99 })],
  ["hashtagCount negative", json, JSON.stringify({ brief: "soup", hashtagCount: -1 })],
  ["hashtagCount a fraction", json, JSON.stringify({ brief: "soup", hashtagCount: 1.5 })],
  ["an empty imagePrompt", json, JSON.stringify({ brief: "soup", imagePrompt: "" })],
  ["scheduledAt in the past", json, JSON.stringify({ brief: "soup", scheduledAt: "2020-01-01T00:00:00Z" })],
  ["scheduledAt without an offset", json, JSON.stringify({ brief: "soup", scheduledAt: "2031-01-01T09:00:00" })],
  ["a body over the limit", json, JSON.stringify({ brief: long(60_000) })],
];

test("the Rust route and its TypeScript twin answer the same bad requests with the same status and error code", async () => {
  const answer = async (base, headers, body) => {
    const response = await fetch(`${base}/api/v1/generate`, { method: "POST", headers, body });
    const text = await response.text();
    let code;
    try {
      code = JSON.parse(text).error?.code;
    } catch {
      code = undefined;
    }
    return { status: response.status, code };
  };
  const differ = [];
  for (const [name, headers, body] of BAD) {
    const rust = await answer(bench.rustUrl, headers, body);
    const ts = await answer(bench.tsUrl, headers, body);
    assert.ok(rust.status >= 400 && rust.status < 500, `${name}: the Rust route answered ${rust.status}, not a refusal`);
    if (rust.status !== ts.status || rust.code !== ts.code) {
      differ.push(`${name}: Rust ${rust.status} ${rust.code}, TypeScript ${ts.status} ${ts.code}`);
    }
  }
  assert.deepEqual(differ, [], `the twin has drifted from the Rust route:\n${differ.join("\n")}`);
  // Nothing was stored by either side.
  for (const table of ["drafts", "ts_drafts"]) {
    assert.equal((await bench.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first()).n, 0, `${table} has rows`);
  }
});

test("a valid request makes a draft on both sides", async () => {
  const body = JSON.stringify({ brief: "Squash soup is back", language: "en" });
  for (const base of [bench.rustUrl, bench.tsUrl]) {
    const response = await fetch(`${base}/api/v1/generate`, { method: "POST", headers: json, body });
    assert.equal(response.status, 201, `${base}: ${await response.text()}`);
  }
});
