// A fake LangSmith endpoint: records the runs posted to /runs/batch.
import { startFakeServer } from "./server.mjs";

export async function startFakeLangSmith({ status = 200 } = {}) {
  let answer = status;
  const server = await startFakeServer("langsmith", async () => ({ status: answer, body: {} }));
  return {
    ...server,
    /** Every run posted so far, flattened across batches. */
    runs() {
      return server.requests.filter((r) => r.path === "/runs/batch").flatMap((r) => r.json?.post ?? []);
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
