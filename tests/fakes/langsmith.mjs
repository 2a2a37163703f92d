// A fake LangSmith endpoint: records the runs posted to /runs/batch, and keeps datasets and
// their examples (GET /datasets?name=, POST /datasets, POST /examples) as LangSmith does.
import { randomUUID } from "node:crypto";
import { startFakeServer } from "./server.mjs";

export async function startFakeLangSmith({ status = 200 } = {}) {
  let answer = status;
  const datasets = [];
  const examples = [];
  const server = await startFakeServer("langsmith", async (request) => {
    if (answer >= 300) return { status: answer, body: { detail: "fake LangSmith is failing" } };
    const url = new URL(request.path, "http://fake");
    if (request.method === "GET" && url.pathname === "/datasets") {
      return { status: 200, body: datasets.filter((d) => d.name === url.searchParams.get("name")) };
    }
    if (request.method === "POST" && url.pathname === "/datasets") {
      const dataset = { id: randomUUID(), name: request.json?.name };
      datasets.push(dataset);
      return { status: 200, body: dataset };
    }
    if (request.method === "POST" && url.pathname === "/examples") {
      if (!datasets.some((d) => d.id === request.json?.dataset_id)) return { status: 404, body: { detail: "no such dataset" } };
      const example = { id: randomUUID(), ...request.json };
      examples.push(example);
      return { status: 200, body: example };
    }
    return { status: answer, body: {} };
  });
  return {
    ...server,
    /** Every run posted so far, flattened across batches. */
    runs() {
      return server.requests.filter((r) => r.path === "/runs/batch").flatMap((r) => r.json?.post ?? []);
    },
    /** Every example added so far, with the name of its dataset. */
    examples() {
      return examples.map((e) => ({ ...e, dataset: datasets.find((d) => d.id === e.dataset_id)?.name }));
    },
    answerWith(code) {
      answer = code;
    },
    reset() {
      server.requests.length = 0;
      answer = status;
    },
  };
}
