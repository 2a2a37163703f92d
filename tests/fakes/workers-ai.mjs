// A fake Workers AI. The harness binds `AI` to a stand-in (startPipeline's `ai` option) that
// posts each `env.AI.run(model, input)` here as `{ model, input }`; this server records it and
// answers from a script of behaviours, or the default (a valid post) when the script is empty.
import { VALID_POST } from "./openai.mjs";
import { startFakeServer } from "./server.mjs";

/** Behaviours a test can queue. A non-2xx status makes `run` throw with `error`. */
export const aiReply = {
  /** JSON mode answering with the post as text. */
  text: (post = VALID_POST) => ({ body: { response: JSON.stringify(post), usage: { total_tokens: 150 } } }),
  /** JSON mode answering with the post already parsed, as the binding may. */
  object: (post = VALID_POST) => ({ body: { response: post, usage: { total_tokens: 150 } } }),
  /** Any output, as `run` returns it. */
  output: (output) => ({ body: output }),
  error: (message = "AiError: 3040: Capacity temporarily exceeded") => ({ status: 500, body: { error: message } }),
  hang: () => ({ hang: true }),
};

export async function startFakeWorkersAI() {
  const script = [];
  let fallback = aiReply.text();
  const server = await startFakeServer("workers-ai", async (request) => {
    if (request.method !== "POST" || request.path !== "/run") {
      return { status: 404, body: { error: `no route ${request.path}` } };
    }
    const next = script.shift() ?? fallback;
    return typeof next === "function" ? await next(request) : next;
  });
  return {
    ...server,
    /** Every `run` call so far: `{ model, input }`. */
    calls() {
      return server.requests.filter((r) => r.path === "/run").map((r) => r.json);
    },
    /** Queues behaviours for the next calls, in order. */
    script(...behaviours) {
      script.push(...behaviours);
    },
    /** Sets what every unscripted call gets. */
    setDefault(behaviour) {
      fallback = behaviour;
    },
    reset() {
      script.length = 0;
      fallback = aiReply.text();
      server.requests.length = 0;
    },
  };
}
