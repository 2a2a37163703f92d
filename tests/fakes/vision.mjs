// Vision answers for the LLM fakes (openai.mjs, workers-ai.mjs): behaviours that read the
// photos a request carries and describe each one from what can be checked of it, its size
// in pixels and bytes ("Photo 2: 1440x1800 pixels, 447151 bytes"), so a test can tell that
// every photo was sent, whole, and in order. The faults are the fakes' own (status, hang,
// garbage).
import { completion } from "./openai.mjs";

export const VISION_CAPTION = "Three moments from our autumn menu, straight from the kitchen.";

/** The photos' `data:` URLs in a Chat Completions message list (`image_url` parts), in order. */
export function photoUrls(messages = []) {
  return messages.flatMap((message) =>
    Array.isArray(message.content)
      ? message.content.filter((part) => part.type === "image_url").map((part) => part.image_url?.url ?? part.image_url)
      : [],
  );
}

/** Width and height from a JPEG's frame header, or null. */
export function jpegDimensions(bytes) {
  let pos = 2;
  while (pos + 8 < bytes.length && bytes[pos] === 0xff) {
    const marker = bytes[pos + 1];
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (marker >= 0xc0 && marker <= 0xc2) {
      return { height: (bytes[pos + 5] << 8) | bytes[pos + 6], width: (bytes[pos + 7] << 8) | bytes[pos + 8] };
    }
    pos += 2 + length;
  }
  return null;
}

/** What the fake "sees" in a photo: its pixel size and its byte count. */
export function describePhoto(dataUrl, index) {
  const match = /^data:image\/jpeg;base64,(.*)$/s.exec(dataUrl ?? "");
  if (!match) return `Photo ${index + 1}: not a JPEG data URL`;
  const bytes = Buffer.from(match[1], "base64");
  const size = jpegDimensions(bytes);
  const pixels = size ? `${size.width}x${size.height} pixels` : "no frame header";
  return `Photo ${index + 1}: ${pixels}, ${bytes.length} bytes`;
}

/** How many hashtags the prompt asks for ("Exactly 5 hashtags", "Exactly 1 hashtag", none). */
export function askedHashtags(messages = []) {
  const system = messages.find((m) => m.role === "system")?.content ?? "";
  if (/No hashtags/.test(system)) return 0;
  const match = /Exactly (\d+) hashtags?/.exec(system);
  return match ? Number(match[1]) : 5;
}

/** The answer to a request with these messages and photos; `altTexts` overrides the descriptions. */
export function visionPost(messages, urls, { altTexts } = {}) {
  const tags = ["AutumnMenu", "Cafe", "Kitchen", "Seasonal", "Tokyo", "Soup", "Cake", "Latte", "Food", "Menu"];
  return {
    caption: VISION_CAPTION,
    hashtags: tags.slice(0, askedHashtags(messages)),
    altTexts: altTexts ?? urls.map(describePhoto),
  };
}

/** OpenAI-compatible behaviours. */
export const visionReply = {
  /** Describes each photo of the request. */
  describe: (options) => (request) => {
    const messages = request.json?.messages ?? [];
    return { body: completion(JSON.stringify(visionPost(messages, photoUrls(messages), options))) };
  },
  /** Describes one photo fewer than were sent. */
  oneShort: () => (request) => {
    const messages = request.json?.messages ?? [];
    const urls = photoUrls(messages);
    return { body: completion(JSON.stringify(visionPost(messages, urls.slice(1)))) };
  },
};

/** Workers AI behaviours: `{ model, input }` in, the binding's output out. */
export const visionAiReply = {
  describe: () => (request) => {
    const input = request.json?.input ?? {};
    const urls = input.image ? [input.image] : photoUrls(input.messages);
    return { body: { response: JSON.stringify(visionPost(input.messages, urls)), usage: { total_tokens: 900 } } };
  },
};
