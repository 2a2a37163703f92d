// What a request and a scheduler run cost in D1, as the Workers record it: the api's
// `api_request` data point and the scheduler's `schedule_run` point carry the rows read and
// written (the sum of every statement's `meta`), and so does the root run of their LangSmith
// trace. Each figure is checked against the harness's own count of the same statements (the
// D1 stand-in reads each result's `meta` as it passes), so a statement the Workers' meter
// missed, or a meter that counts nothing, fails here.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import { GraphPipeline, startWithGraph } from "./harness.mjs";

const LANGSMITH_KEY = "lsv2_pt_e2e_d1cost_0a1b2c3d4e5f";
const PUBLISH = "publish-consumer";
const DAY = 24 * 3600 * 1000;

let started;
let pipeline;
let langsmith;
let sim;
before(async () => {
  langsmith = await startFakeLangSmith();
  const tracing = { LANGSMITH_API_KEY: LANGSMITH_KEY, LANGSMITH_ENDPOINT: langsmith.url, LANGSMITH_PROJECT: "e2e-d1-cost" };
  started = new GraphPipeline(
    await startWithGraph({
      vars: { api: tracing, [PUBLISH]: tracing },
      // Only the request or the run under test touches D1 while it is measured.
      options: { record: true, costs: true, idle: [PUBLISH, "image-consumer"] },
    }),
  );
  ({ pipeline, sim } = started);
});
after(async () => {
  await started?.dispose();
  await langsmith?.close();
});

/** The rows D1 said `worker`'s statements read and wrote since `mark` (an index of costs). */
function costSince(mark, worker) {
  const costs = pipeline.costs.slice(mark).filter((c) => c.worker === worker);
  return {
    statements: costs.length,
    rowsRead: costs.reduce((sum, c) => sum + c.rowsRead, 0),
    rowsWritten: costs.reduce((sum, c) => sum + c.rowsWritten, 0),
  };
}

function pointAfter(mark, what, match) {
  return pipeline.eventually(() => pipeline.metrics.slice(mark).find(match), { what });
}

async function rootRun(name, match = () => true) {
  return pipeline.eventually(() => langsmith.runs().find((r) => r.name === name && !r.parent_run_id && match(r)), {
    what: `the ${name} trace`,
  });
}

test("an api request's data point and its trace carry the D1 rows it read and wrote", async () => {
  // A generate writes (the row, its text) and reads (the row it returns).
  let costs = pipeline.costs.length;
  let points = pipeline.metrics.length;
  const created = await pipeline.generate({ brief: "What a request costs in D1", language: "en" });
  assert.equal(created.status, 201, created.text);
  const generated = costSince(costs, "api");
  assert.ok(generated.rowsRead > 0 && generated.rowsWritten > 0, JSON.stringify(generated));
  const point = await pointAfter(points, "the generate request's data point", (p) => p.blobs[0] === "api_request" && p.blobs[2] === "/api/v1/generate");
  assert.deepEqual(point.blobs, ["api_request", "POST", "/api/v1/generate", "201"]);
  assert.deepEqual(point.indexes, ["api"]);
  assert.equal(point.doubles.length, 3);
  assert.deepEqual(point.doubles.slice(0, 2), [generated.rowsRead, generated.rowsWritten], "rows read, rows written");
  assert.ok(point.doubles[2] >= 0, "duration_ms");
  const trace = await rootRun("generate");
  assert.equal(trace.extra.metadata.d1_rows_read, generated.rowsRead);
  assert.equal(trace.extra.metadata.d1_rows_written, generated.rowsWritten);

  // A read writes nothing.
  costs = pipeline.costs.length;
  points = pipeline.metrics.length;
  const id = created.json.draftId;
  const read = await pipeline.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(read.status, 200, read.text);
  const got = costSince(costs, "api");
  assert.ok(got.rowsRead > 0, JSON.stringify(got));
  assert.equal(got.rowsWritten, 0);
  const readPoint = await pointAfter(points, "the read's data point", (p) => p.blobs[0] === "api_request" && p.blobs[2] === "/api/v1/drafts/{id}");
  assert.deepEqual(readPoint.blobs, ["api_request", "GET", "/api/v1/drafts/{id}", "200"]);
  assert.deepEqual(readPoint.doubles.slice(0, 2), [got.rowsRead, 0]);

  // A request no route matches runs no statement.
  points = pipeline.metrics.length;
  assert.equal((await pipeline.request("GET", "/nowhere")).status, 404);
  const none = await pointAfter(points, "the unmatched request's data point", (p) => p.blobs[0] === "api_request" && p.blobs[3] === "404");
  assert.deepEqual(none.blobs, ["api_request", "GET", "", "404"]);
  assert.deepEqual(none.doubles.slice(0, 2), [0, 0]);
});

test("a scheduler run's data point and its trace carry the D1 rows it read and wrote", async () => {
  // Two days on, a draft waits for review (a reminder is written) and its image is overdue
  // (asked for again): the run reads and writes.
  const created = await pipeline.generate({ brief: "A draft the scheduler reminds", language: "en" });
  assert.equal(created.status, 201, created.text);
  const costs = pipeline.costs.length;
  const points = pipeline.metrics.length;
  langsmith.reset();
  await pipeline.runCron({ at: Date.now() + 2 * DAY });
  const run = costSince(costs, PUBLISH);
  assert.ok(run.rowsRead > 0 && run.rowsWritten > 0, JSON.stringify(run));
  const point = await pointAfter(points, "the scheduler's data point", (p) => p.worker === PUBLISH && p.blobs[0] === "schedule_run");
  assert.deepEqual(point.blobs, ["schedule_run", "ok"]);
  assert.equal(point.doubles.length, 18);
  assert.ok(point.doubles[8] >= 1, "reminded");
  assert.deepEqual(point.doubles.slice(16), [run.rowsRead, run.rowsWritten], "rows read, rows written");
  const trace = await rootRun("schedule");
  assert.equal(trace.outputs.reminded, point.doubles[8]);
  assert.equal(trace.extra.metadata.d1_rows_read, run.rowsRead);
  assert.equal(trace.extra.metadata.d1_rows_written, run.rowsWritten);
});
