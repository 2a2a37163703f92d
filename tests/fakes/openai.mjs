// A fake OpenAI-compatible Chat Completions endpoint. Each call takes the next scripted
// behaviour, or the default (a valid post) when the script is empty.
import { startScriptedFake } from "./server.mjs";

export const VALID_POST = {
  caption: "Our autumn menu is here: roasted squash soup, chestnut cake and spiced lattes.",
  hashtags: ["AutumnMenu", "Cafe", "SeasonalFood", "Latte", "Tokyo"],
  altText: "A wooden table with a bowl of orange soup, a slice of cake and a latte.",
};

/** A Chat Completions response whose message content is `content`. */
export function completion(content, extra = {}) {
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: 1700000000,
    model: "fake-model",
    choices: [{ index: 0, message: { role: "assistant", content, ...extra }, finish_reason: "stop" }],
    usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
  };
}

/** Behaviours a test can queue. */
export const reply = {
  post: (post = VALID_POST) => ({ body: completion(JSON.stringify(post)) }),
  content: (text) => ({ body: completion(text) }),
  garbage: () => ({ body: completion("Sure! Here is a lovely caption for your cafe.") }),
  status: (status, message = "fake failure") => ({ status, body: { error: { message, type: "fake" } } }),
  hang: () => ({ hang: true }),
  /** A 200 with its headers and the start of its body, then nothing more. */
  stall: () => ({ stall: '{"id":"chatcmpl-stalled","choices":[{"message":{"role":"assistant","content":"' }),
  delay: (delayMs, post = VALID_POST) => ({ delayMs, body: completion(JSON.stringify(post)) }),
};

export async function startFakeOpenAI() {
  const fake = await startScriptedFake("openai", { path: "/v1/chat/completions", initial: () => reply.post() });
  return { ...fake, baseUrl: `${fake.url}/v1` };
}
