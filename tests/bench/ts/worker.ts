// The TypeScript twin of the api Worker's `POST /api/v1/generate` (workers/api/src/generate.rs),
// written as one would write it with Hono and Zod, for the benchmark's Rust/TypeScript
// comparison (tests/bench/generate.mjs). Not deployed, not part of the product.
//
// It does what the Rust route does on its critical path (the text in D1 columns, KV a read copy
// written after the answer; tests/bench/twin.test.mjs holds it to the Rust route's routes and its
// answers to bad requests), in its own table `ts_drafts` (the shape
// of `drafts`, created by the benchmark) and the same KV namespace and queue:
//   bearer auth (constant time) -> content type and size -> Zod validation, every problem by
//   path -> ((insert the row -> queue the image message) || chat model, one repair round) ->
//   one conditional D1 update with the text, returning the row -> KV read copy (waitUntil)
//   -> 201 with the draft view.
// Left out, as the benchmark never exercises them: Idempotency-Key, LangSmith tracing, and the
// writers other than an OpenAI-compatible endpoint.
/// <reference path="./bindings.d.ts" />
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";

type Bindings = {
  API_TOKEN?: string;
  LLM_PROVIDER?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_MODEL?: string;
  OPENAI_API_KEY?: string;
  OPENAI_STRUCTURED_OUTPUT?: string;
  LLM_TIMEOUT_MS?: string;
  DEFAULT_LANGUAGE?: string;
  MAX_HASHTAGS?: string;
  /** "true": the model waits for the row's insert instead of running beside it. */
  INSERT_FIRST?: string;
  DB: D1Database;
  DRAFTS: KVNamespace;
  IMAGE_QUEUE: Queue<ImageMessage>;
};
type Env = { Bindings: Bindings };

const MAX_BRIEF_CHARS = 2_000;
const MAX_KEYWORDS = 10;
const MAX_KEYWORD_CHARS = 50;
const MAX_IMAGE_PROMPT_CHARS = 1_000;
/** The largest body the schema admits with every character escaped, as the Rust route derives it. */
const MAX_BODY_BYTES = 12 * (MAX_BRIEF_CHARS + MAX_KEYWORDS * MAX_KEYWORD_CHARS + MAX_IMAGE_PROMPT_CHARS + 12 + 2 * 64) + 4 * 1024;
const MAX_CAPTION_CHARS = 2_200;
const MAX_ALT_TEXT_CHARS = 1_000;
const MAX_HASHTAG_CHARS = 100;
const DEFAULT_MAX_HASHTAGS = 5;
const HARD_MAX_HASHTAGS = 30;
const MAX_MODEL_ATTEMPTS = 2;
const TEMPERATURE = 0.7;

// --- errors: one shape, {"error": {"code", "message", "problems"?}} -------------------------

type Problem = { path: string; reason: string };

class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 415 | 500 | 502 | 503,
    readonly code: string,
    message: string,
    readonly problems?: Problem[],
  ) {
    super(message);
  }
}

const unauthorized = () => new ApiError(401, "unauthorized", "missing or wrong bearer token");
const notConfigured = (message: string) => new ApiError(503, "not_configured", message);
const badGateway = (message: string) => new ApiError(502, "model_failed", message);
const invalid = (problems: Problem[]) => new ApiError(400, "validation_failed", "request body is invalid", problems);

function errorResponse(error: ApiError): Response {
  const body = { error: { code: error.code, message: error.message, ...(error.problems ? { problems: error.problems } : {}) } };
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };
  if (error.status === 401) headers["www-authenticate"] = "Bearer";
  return new Response(JSON.stringify(body), { status: error.status, headers });
}

// --- settings, read per request as the Rust Worker does -------------------------------------

function setting(env: Bindings, name: keyof Bindings): string | undefined {
  const value = env[name];
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function numberSetting(env: Bindings, name: keyof Bindings, fallback: number): number {
  const text = setting(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw notConfigured(`setting ${name} is ${JSON.stringify(text)}, expected a number`);
  return value;
}

type Config = {
  defaultLanguage: string;
  maxHashtags: number;
  timeoutMs: number;
  baseUrl: string;
  model: string;
  apiKey: string;
  structuredOutput: boolean;
};

function readConfig(env: Bindings): Config {
  const maxHashtags = numberSetting(env, "MAX_HASHTAGS", DEFAULT_MAX_HASHTAGS);
  if (maxHashtags > HARD_MAX_HASHTAGS) {
    throw notConfigured(`setting MAX_HASHTAGS is ${maxHashtags}, Instagram allows at most ${HARD_MAX_HASHTAGS}`);
  }
  const provider = setting(env, "LLM_PROVIDER") ?? "template";
  if (provider !== "openai") throw notConfigured(`LLM_PROVIDER is ${JSON.stringify(provider)}; this Worker only has the openai writer`);
  const apiKey = setting(env, "OPENAI_API_KEY");
  if (apiKey === undefined) throw notConfigured("LLM_PROVIDER is openai but the secret OPENAI_API_KEY is not set");
  return {
    defaultLanguage: setting(env, "DEFAULT_LANGUAGE") ?? "ja",
    maxHashtags,
    timeoutMs: numberSetting(env, "LLM_TIMEOUT_MS", 30_000),
    baseUrl: (setting(env, "OPENAI_BASE_URL") ?? "https://api.openai.com/v1").replace(/\/+$/, ""),
    model: setting(env, "OPENAI_MODEL") ?? "gpt-4o-mini",
    apiKey,
    structuredOutput: setting(env, "OPENAI_STRUCTURED_OUTPUT") !== "false",
  };
}

// --- middleware: auth, content type, size ----------------------------------------------------

const encoder = new TextEncoder();

/** Bearer token from API_TOKEN, compared in constant time (Workers' crypto.subtle.timingSafeEqual). */
const bearer: MiddlewareHandler<Env> = async (c, next) => {
  const expected = setting(c.env, "API_TOKEN");
  if (expected === undefined) throw notConfigured("API_TOKEN is not set; the API is closed");
  const header = c.req.header("authorization") ?? "";
  const space = header.indexOf(" ");
  // The scheme name is case-insensitive (RFC 9110, section 11.1).
  const given = space > 0 && header.slice(0, space).toLowerCase() === "bearer" ? header.slice(space + 1).trim() : "";
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  // Lengths differ: still compare, against itself, so the time does not tell where they differ.
  const same = a.byteLength === b.byteLength ? crypto.subtle.timingSafeEqual(a, b) : !crypto.subtle.timingSafeEqual(a, a);
  if (given === "" || !same) throw unauthorized();
  await next();
};

const jsonOnly: MiddlewareHandler<Env> = async (c, next) => {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json") throw new ApiError(415, "unsupported_media_type", "content type must be application/json");
  await next();
};

const sizeLimit = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => errorResponse(new ApiError(413, "payload_too_large", `request body is larger than ${MAX_BODY_BYTES} bytes`)),
});

// --- the request body ------------------------------------------------------------------------

const FIELDS = ["brief", "tone", "language", "keywords", "hashtagCount", "imagePrompt", "scheduledAt"] as const;
const TONES = ["friendly", "professional", "playful", "informative", "inspirational"] as const;
type Tone = (typeof TONES)[number];
const TONE_HINTS: Record<Tone, string> = {
  friendly: "warm and approachable, like talking to a friend",
  professional: "clear, polite and businesslike",
  playful: "light-hearted and fun; emoji are welcome",
  informative: "factual and helpful; teach the reader something",
  inspirational: "uplifting and motivating",
};

/** `language[-Script][-REGION]`, as the Rust parser takes it. */
const LANGUAGE = /^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$/;

function canonicalLanguage(tag: string): string {
  const [, primary, script, region] = LANGUAGE.exec(tag)!;
  let canonical = primary.toLowerCase();
  if (script) canonical += `-${script[0].toUpperCase()}${script.slice(1).toLowerCase()}`;
  if (region) canonical += `-${region.toUpperCase()}`;
  return canonical;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "boolean":
      return "a boolean";
    case "number":
      return "a number";
    case "string":
      return "a string";
    default:
      return "an object";
  }
}

/** A string, trimmed, then 1 to `max` characters (Zod counts UTF-16 units). */
const text = (max: number, what = "a string") =>
  z
    .string({ error: (issue) => (issue.input === undefined ? "required" : `expected ${what}, got ${kind(issue.input)}`) })
    .trim()
    .min(1, "must not be empty")
    .max(max, { error: (issue) => `must have at most ${max} characters, got ${(issue.input as string).length}` });

/** An optional field; `null` counts as absent, as in the Rust parser. */
const orDefault = <T extends z.ZodType, D>(schema: T, fallback: () => D) =>
  schema.nullish().transform((value) => (value ?? fallback()) as NonNullable<z.output<T>> | D);

function requestSchema(defaultLanguage: string, maxHashtags: number) {
  return z.strictObject(
    {
      brief: text(MAX_BRIEF_CHARS),
      tone: orDefault(
        z.enum(TONES, { error: (issue) => `must be one of ${TONES.map((t) => JSON.stringify(t)).join(", ")}, got ${JSON.stringify(issue.input)}` }),
        (): Tone => "friendly",
      ),
      language: orDefault(
        z
          .string()
          .regex(LANGUAGE, { error: (issue) => `must be a language tag such as "ja", "en", "en-US" or "pt-BR", got ${JSON.stringify(issue.input)}` })
          .transform(canonicalLanguage),
        () => defaultLanguage,
      ),
      keywords: orDefault(
        z.array(text(MAX_KEYWORD_CHARS), { error: (issue) => `expected an array of strings, got ${kind(issue.input)}` }).max(MAX_KEYWORDS, {
          error: (issue) => `must have at most ${MAX_KEYWORDS} items, got ${(issue.input as unknown[]).length}`,
        }),
        (): string[] => [],
      ),
      hashtagCount: orDefault(
        z
          .number({ error: (issue) => `expected an integer, got ${kind(issue.input)}` })
          .int({ error: (issue) => `expected an integer, got ${issue.input}` })
          .min(0, { error: (issue) => `must be between 0 and ${maxHashtags}, got ${issue.input}` })
          .max(maxHashtags, { error: (issue) => `must be between 0 and ${maxHashtags}, got ${issue.input}` }),
        () => maxHashtags,
      ),
      imagePrompt: orDefault(text(MAX_IMAGE_PROMPT_CHARS), () => null),
      scheduledAt: orDefault(
        z.iso
          .datetime({ offset: true, error: (issue) => `must be an RFC 3339 date-time such as "2030-01-31T09:00:00+09:00", got ${JSON.stringify(issue.input)}` })
          .refine((at) => Date.parse(at) > Date.now(), { error: (issue) => `must be later than now (${new Date().toISOString()}), got ${issue.input}` }),
        () => null,
      ),
    },
    { error: (issue) => (issue.code === "invalid_type" ? "body must be a JSON object" : undefined) },
  );
}
type GenerateRequest = z.output<ReturnType<typeof requestSchema>>;

/** Schemas depend on two settings; built once per pair, not per request. */
const requestSchemas = new Map<string, ReturnType<typeof requestSchema>>();
function schemaFor(config: Config) {
  const key = `${config.defaultLanguage}\u0000${config.maxHashtags}`;
  let schema = requestSchemas.get(key);
  if (schema === undefined) {
    schema = requestSchema(config.defaultLanguage, config.maxHashtags);
    requestSchemas.set(key, schema);
  }
  return schema;
}

/** `keywords[1]`, `brief`, or "" for the body as a whole. */
function formatPath(path: PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join("");
}

function problemsOf(error: z.ZodError): Problem[] {
  return error.issues.flatMap((issue): Problem[] =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), reason: `unknown field, the known fields are ${FIELDS.join(", ")}` }))
      : [{ path: formatPath(issue.path), reason: issue.message }],
  );
}

function parseRequest(body: string, config: Config): GenerateRequest {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw invalid([{ path: "", reason: `body is not valid JSON: ${(error as Error).message}` }]);
  }
  const parsed = schemaFor(config).safeParse(value);
  if (!parsed.success) throw invalid(problemsOf(parsed.error));
  return parsed.data;
}

// --- the chain: prompt, model, answer, one repair round ---------------------------------------

type ChatMessage = { role: "system" | "user" | "assistant"; content: string };

function systemMessage(language: string, hashtags: number): string {
  const hashtagRule = hashtags === 0 ? 'No hashtags: "hashtags" is an empty array.' : hashtags === 1 ? "Exactly 1 hashtag." : `Exactly ${hashtags} hashtags, all different.`;
  return `You write Instagram posts. From the brief you are given, write the caption, the hashtags and the alt text of the post's image.

Answer with one JSON object and nothing else. It has exactly these fields:
- "caption": a string, the caption. Do not put any hashtags in it.
- "hashtags": an array of strings, each one hashtag without the leading '#', made of letters, digits and _ only.
- "altText": a string describing the image for people who use screen readers.

Limits:
- The caption and the hashtags together have at most ${MAX_CAPTION_CHARS} characters.
- ${hashtagRule}
- The alt text has at most ${MAX_ALT_TEXT_CHARS} characters.

Write the caption, the hashtags and the alt text in the language whose BCP 47 tag is "${language}".`;
}

function userMessage(request: GenerateRequest): string {
  const keywords = request.keywords.length === 0 ? "none" : request.keywords.join(", ");
  let message = `Brief: ${request.brief}\nTone: ${request.tone} (${TONE_HINTS[request.tone]})\nKeywords to work in: ${keywords}`;
  if (request.imagePrompt !== null) message += `\nThe image shows: ${request.imagePrompt}`;
  return message;
}

function outputSchema(hashtags: number) {
  return {
    type: "object",
    properties: {
      caption: { type: "string", description: "The caption, without hashtags" },
      hashtags: { type: "array", items: { type: "string" }, description: `Exactly ${hashtags} distinct hashtags, without the leading #` },
      altText: { type: "string", description: "A description of the image for screen-reader users" },
    },
    required: ["caption", "hashtags", "altText"],
    additionalProperties: false,
  };
}

/** What the chat completion must carry, and the model's answer inside it. */
const completionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.union([z.string(), z.array(z.object({ text: z.string() })).min(1)]).nullish(),
          refusal: z.string().nullish(),
        }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1, "the response has no choices"),
});

const answerSchema = z.object({
  caption: z.string({ error: (issue) => (issue.input === undefined ? "missing field caption" : `caption must be a string, got ${kind(issue.input)}`) }),
  hashtags: z.array(
    z.string({ error: (issue) => `must be a string, got ${kind(issue.input)}` }).transform((tag) => tag.trim().replace(/^[#＃]+/u, "")),
    { error: (issue) => (issue.input === undefined ? "missing field hashtags" : `hashtags must be an array of strings, got ${kind(issue.input)}`) },
  ),
  altText: z.string({ error: (issue) => (issue.input === undefined ? "missing field altText" : `altText must be a string, got ${kind(issue.input)}`) }),
});

type PostText = { caption: string; hashtags: string[]; altText: string };

const TAG_CHARS = /^[\p{Alphabetic}\p{N}_]+$/u;
const HASHTAG_IN_TEXT = /(?<![#＃])[#＃]+([\p{Alphabetic}\p{N}_]+)/gu;
const chars = (text: string) => [...text].length;

/** Instagram's limits and the prompt's rules; every problem, for the repair round. */
function checkPost(raw: z.output<typeof answerSchema>, maxHashtags: number, expected: number): PostText | string[] {
  const problems: string[] = [];
  const caption = raw.caption.trim();
  const altText = raw.altText.trim();
  const inCaption = [...caption.matchAll(HASHTAG_IN_TEXT)].map((m) => m[1]).filter((tag) => !/^[0-9]+$/.test(tag));
  if (inCaption.length > 0) {
    problems.push(`caption contains hashtags (${inCaption.map((t) => `#${t}`).join(", ")}); put every hashtag in the hashtags array instead`);
  }
  if (raw.hashtags.length !== expected) {
    const given = raw.hashtags.length === 1 ? "1 hashtag given" : `${raw.hashtags.length} hashtags given`;
    problems.push(
      expected === 0
        ? `${given}, but no hashtags are wanted: hashtags must be an empty array`
        : `${given}, exactly ${expected} ${expected === 1 ? "is" : "are"} required`,
    );
  } else if (raw.hashtags.length > Math.min(maxHashtags, HARD_MAX_HASHTAGS)) {
    problems.push(`${raw.hashtags.length} hashtags given, at most ${maxHashtags} are allowed`);
  }
  const seen = new Set<string>();
  for (const tag of raw.hashtags) {
    const reason =
      tag === ""
        ? "it is empty"
        : chars(tag) > MAX_HASHTAG_CHARS
          ? "it is too long"
          : !TAG_CHARS.test(tag)
            ? "only letters, digits and _ are allowed"
            : /^[0-9]+$/.test(tag)
              ? "Instagram ignores hashtags made only of digits"
              : seen.has(tag.toLowerCase())
                ? "it appears more than once"
                : undefined;
    if (reason) problems.push(`hashtag ${JSON.stringify(tag)} is not valid: ${reason}`);
    seen.add(tag.toLowerCase());
  }
  if (caption === "") problems.push("caption is empty");
  else if (chars(caption) > MAX_CAPTION_CHARS) problems.push(`caption has ${chars(caption)} characters, at most ${MAX_CAPTION_CHARS} are allowed`);
  if (altText === "") problems.push("alt text is empty");
  else if (chars(altText) > MAX_ALT_TEXT_CHARS) problems.push(`alt text has ${chars(altText)} characters, at most ${MAX_ALT_TEXT_CHARS} are allowed`);
  const post = { caption, hashtags: raw.hashtags, altText };
  if (problems.length === 0 && chars(instagramCaption(post)) > MAX_CAPTION_CHARS) {
    problems.push(`caption with its hashtags has ${chars(instagramCaption(post))} characters, at most ${MAX_CAPTION_CHARS} are allowed`);
  }
  return problems.length > 0 ? problems : post;
}

function instagramCaption(post: PostText): string {
  return post.hashtags.length === 0 ? post.caption : `${post.caption}\n\n${post.hashtags.map((t) => `#${t}`).join(" ")}`;
}

/** The first JSON object in the answer, as models like to wrap it in prose or fences. */
function parseAnswer(answer: string, maxHashtags: number, expected: number): PostText | string[] {
  const start = answer.indexOf("{");
  const end = answer.lastIndexOf("}");
  if (start < 0 || end <= start) return ["answer is not a JSON object"];
  let value: unknown;
  try {
    value = JSON.parse(answer.slice(start, end + 1));
  } catch (error) {
    return [`answer is not valid JSON: ${(error as Error).message}`];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return ["answer is not a JSON object"];
  const object = value as Record<string, unknown>;
  if (object.altText === undefined && object.alt_text !== undefined) object.altText = object.alt_text;
  const parsed = answerSchema.safeParse(object);
  if (!parsed.success) return parsed.error.issues.map((issue) => (issue.path.length > 1 ? `${formatPath(issue.path)} ${issue.message}` : issue.message));
  return checkPost(parsed.data, maxHashtags, expected);
}

/** One round trip to the model: the answer text, or a 502 with the provider's reason. */
async function complete(config: Config, messages: ChatMessage[], schema: object, key: string[]): Promise<string> {
  const body: Record<string, unknown> = { model: config.model, messages, temperature: TEMPERATURE };
  if (config.structuredOutput) {
    body.response_format = { type: "json_schema", json_schema: { name: "instagram_post", strict: true, schema } };
  }
  let response: Response;
  try {
    response = await fetch(`${config.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${config.apiKey}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error).name === "TimeoutError" ? `no answer within ${config.timeoutMs} ms` : `request failed: ${redact((error as Error).message, key)}`;
    throw badGateway(`the caption model (openai) failed: ${reason}`);
  }
  const text = await response.text();
  if (!response.ok) {
    const status = response.status;
    const reason = status === 429 ? "rate limited" : status >= 500 ? `unavailable (HTTP ${status})` : `rejected the request (HTTP ${status}): ${redact(providerMessage(text), key)}`;
    throw badGateway(`the caption model (openai) failed: ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badGateway("the caption model (openai) failed: response body is not JSON");
  }
  const completion = completionSchema.safeParse(json);
  if (!completion.success) throw badGateway(`the caption model (openai) failed: ${completion.error.issues[0].message}`);
  const { message, finish_reason } = completion.data.choices[0];
  if (message.refusal?.trim()) throw badGateway(`the caption model (openai) failed: the model refused: ${message.refusal}`);
  if (typeof message.content === "string") return message.content;
  if (Array.isArray(message.content)) return message.content.map((part) => part.text).join("");
  throw badGateway(
    `the caption model (openai) failed: ${finish_reason === "content_filter" ? "the provider's content filter withheld the answer" : "the response has no text in choices[0].message.content"}`,
  );
}

function providerMessage(body: string): string {
  try {
    const value = JSON.parse(body);
    return String(value?.error?.message ?? value?.error ?? value?.message ?? body).slice(0, 300);
  } catch {
    return body.slice(0, 300);
  }
}

function redact(text: string, secrets: string[]): string {
  return secrets.reduce((out, secret) => out.split(secret).join("[redacted]"), text);
}

async function writePost(config: Config, request: GenerateRequest): Promise<PostText> {
  const expected = Math.min(request.hashtagCount, config.maxHashtags);
  const messages: ChatMessage[] = [
    { role: "system", content: systemMessage(request.language, expected) },
    { role: "user", content: userMessage(request) },
  ];
  const schema = outputSchema(expected);
  for (let attempt = 1; ; attempt++) {
    const answer = await complete(config, messages, schema, [config.apiKey]);
    const post = parseAnswer(answer, config.maxHashtags, expected);
    if (!Array.isArray(post)) return post;
    if (attempt >= MAX_MODEL_ATTEMPTS) {
      throw badGateway(`the caption model (openai) gave no usable answer: the model's answer was not usable after ${attempt} attempts: ${post.join("; ")}`);
    }
    messages.splice(2, 2, { role: "assistant", content: answer }, {
      role: "user",
      content: `Your answer could not be used:\n${post.map((p) => `- ${p}`).join("\n")}\n\nReply with the corrected JSON object only, with exactly the fields caption, hashtags and altText, and no other text.`,
    });
  }
}

// --- storage -----------------------------------------------------------------------------------

type ImageMessage = { id: string; action: "generate_image"; attempt: number; requestedAt: string };

/** The columns of `ts_drafts` (a copy of `drafts`' shape) that the answer shows. */
type DraftRow = {
  id: string;
  status: string;
  revision: number;
  language: string;
  caption: string;
  hashtags: string;
  alt_text: string;
  writer: string | null;
  request: string | null;
  image_status: string;
  image_key: string | null;
  image_error: string | null;
  scheduled_at: string | null;
  approved_revision: number | null;
  approved_at: string | null;
  approved_by: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
};

/** RFC 3339 in UTC to the second, as the Rust Workers write times. */
const rfc3339 = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z");

// Revision 0 until the text is written, as the Rust store does.
const INSERT = `INSERT INTO ts_drafts (id, revision, language, provider, image_prompt, scheduled_at, request, writer, created_at, updated_at)
  VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)`;
const IMAGE_FAILED = `UPDATE ts_drafts SET image_status = 'failed', image_error = ?1, updated_at = ?2
  WHERE id = ?3 AND status = 'draft' AND image_status = 'pending' AND caption IS NULL`;
// The text lands in one conditional update that returns the row; a row without text is
// invisible to readers.
const WRITE_TEXT = `UPDATE ts_drafts
  SET caption = ?1, hashtags = ?2, alt_text = ?3, generated_caption = ?1, generated_hashtags = ?2,
      generated_alt_text = ?3, revision = revision + 1, updated_at = ?4
  WHERE id = ?5 AND status = 'draft' AND caption IS NULL
  RETURNING *`;
const DISCARD = `DELETE FROM ts_drafts WHERE id = ?1 AND caption IS NULL`;

const json = (text: string | null) => {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
};

// --- the route ---------------------------------------------------------------------------------

async function generate(c: Context<Env>): Promise<Response> {
  const config = readConfig(c.env);
  const request = parseRequest(await c.req.text(), config);
  const { DB, DRAFTS, IMAGE_QUEUE } = c.env;
  const id = crypto.randomUUID();
  const started = rfc3339(Date.now());
  const insert = DB.prepare(INSERT).bind(
    id,
    request.language,
    "openai",
    request.imagePrompt ?? request.brief,
    request.scheduledAt && rfc3339(Date.parse(request.scheduledAt)),
    JSON.stringify(request),
    JSON.stringify({ provider: "openai", model: config.model, offline: false }),
    started,
  );
  const message: ImageMessage = { id, action: "generate_image", attempt: 1, requestedAt: started };
  const queue = () => IMAGE_QUEUE.send(message, { contentType: "json" }).then(() => undefined, (error: unknown) => error ?? new Error("queue send failed"));

  // The row goes in before the image message (the image consumer reads the prompt from it),
  // and the model writes beside both, as the Rust route does. With INSERT_FIRST the model
  // waits for the insert instead, and runs beside the message only.
  let stored: PromiseSettledResult<unknown>;
  let written: PromiseSettledResult<PostText>;
  if (setting(c.env, "INSERT_FIRST") === "true") {
    await insert.run().catch((reason) => {
      throw new Error(`inserting draft ${id}: ${reason}`);
    });
    [stored, written] = await Promise.allSettled([queue(), writePost(config, request)]);
  } else {
    [stored, written] = await Promise.allSettled([insert.run().then(queue), writePost(config, request)]);
  }
  if (stored.status === "rejected" || written.status === "rejected") {
    // Nothing half-made stays behind.
    await DB.prepare(DISCARD).bind(id).run().catch((e) => console.error(`discarding draft ${id} after a failure: ${e}`));
    if (stored.status === "rejected") throw new Error(`inserting draft ${id}: ${stored.reason}`);
    throw (written as PromiseRejectedResult).reason;
  }
  if (stored.value !== undefined) {
    // The text is good and worth keeping; the reviewer sees why there is no image.
    console.error(`draft ${id}: queueing the image failed: ${stored.value}`);
    await DB.prepare(IMAGE_FAILED).bind("the image request could not be queued", rfc3339(Date.now()), id).run();
  }

  const post = written.value;
  const row = await DB.prepare(WRITE_TEXT)
    .bind(post.caption, JSON.stringify(post.hashtags), post.altText, rfc3339(Date.now()), id)
    .first<DraftRow>();
  if (row === null) throw new Error(`draft ${id}: the text could not be written`);

  // The KV read copy, after the answer.
  const text = { caption: row.caption, hashtags: json(row.hashtags) as string[], altText: row.alt_text };
  const document = {
    draftId: row.id,
    request: json(row.request),
    text,
    writer: json(row.writer),
    revision: row.revision,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  c.executionCtx.waitUntil(
    DRAFTS.put(`draft:${id}`, JSON.stringify(document)).catch((e) => console.error(`draft ${id}: refreshing the KV copy failed: ${e}`)),
  );

  const origin = new URL(c.req.url).origin;
  const media = (key: string | null) => (key === null ? null : `${origin}/media/${key}`);
  return c.json(
    {
      draftId: row.id,
      status: row.status,
      revision: row.revision,
      caption: text.caption,
      hashtags: text.hashtags,
      altText: text.altText,
      instagramCaption: instagramCaption(text),
      language: row.language,
      writer: document.writer,
      image: {
        status: row.image_status,
        url: media(row.image_key),
        previewUrl: media(row.image_key) ?? `${origin}/media/pending.svg`,
        error: row.image_error,
      },
      scheduledAt: row.scheduled_at,
      approval: row.approved_revision === null ? null : { revision: row.approved_revision, approvedAt: row.approved_at, approvedBy: row.approved_by },
      lastError: row.last_error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    },
    201,
    { "cache-control": "no-store" },
  );
}

const app = new Hono<Env>();
app.get("/healthz", (c) => c.json({ status: "ok", worker: "api-ts" }));
app.use("/api/*", bearer);
app.post("/api/v1/generate", jsonOnly, sizeLimit, generate);
app.notFound((c) => errorResponse(new ApiError(404, "not_found", `no route for ${c.req.path}`)));
app.onError((error) => {
  if (error instanceof ApiError) return errorResponse(error);
  console.error(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return errorResponse(new ApiError(500, "internal", "internal error"));
});

export default app;
