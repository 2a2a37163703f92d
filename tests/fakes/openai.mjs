// A fake OpenAI-compatible Chat Completions endpoint. Each call takes the next scripted
// behaviour, or the default (a valid post) when the script is empty.
import { startFakeServer } from "./server.mjs";

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
  delay: (delayMs, post = VALID_POST) => ({ delayMs, body: completion(JSON.stringify(post)) }),
};

export async function startFakeOpenAI() {
  const script = [];
  let fallback = reply.post();
  const server = await startFakeServer("openai", async (request) => {
    if (request.method !== "POST" || request.path !== "/v1/chat/completions") {
      return { status: 404, body: { error: { message: `no route ${request.path}` } } };
    }
    const next = script.shift() ?? fallback;
    return typeof next === "function" ? await next(request) : next;
  });
  return {
    ...server,
    baseUrl: `${server.url}/v1`,
    /** The Chat Completions calls received so far. */
    calls() {
      return server.requests.filter((r) => r.path === "/v1/chat/completions");
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
      fallback = reply.post();
      server.requests.length = 0;
    },
  };
}
