// A fake Workers AI. The harness binds `AI` to a stand-in (startPipeline's `ai` option) that
// posts each `env.AI.run(model, input)` here as `{ model, input }`; this server records it and
// answers from a script of behaviours, or the default (a valid post) when the script is empty.
import { VALID_POST } from "./openai.mjs";
import { startScriptedFake } from "./server.mjs";

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
  const fake = await startScriptedFake("workers-ai", { path: "/run", initial: () => aiReply.text() });
  /** Every `run` call so far: `{ model, input }`. */
  return { ...fake, calls: () => fake.calls().map((request) => request.json) };
}
