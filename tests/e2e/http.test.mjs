// The api Worker as an HTTP service (issue 10): HEAD wherever GET, OPTIONS and 405 with
// Allow, public media with 304, 206 and 416 streamed from R2, the generate size limit against
// the schema's worst case in Python's escaped encoding, GET /api/v1/drafts with cursor pages,
// Retry-After on 409 in_progress, the OpenAPI document as configured, DEFAULT_LANGUAGE
// validated, and scheduledAt's reason in words.
//
// Each test names the Rust it guards; line numbers are those of commit 15edb50.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { reply, startFakeOpenAI } from "../fakes/openai.mjs";
import { API_TOKEN, REVIEWER, ROOT, startPipeline } from "./harness.mjs";
import { assertNothingStored, OPENAI_KEY, OPENAI_MODEL, UUID_V4, withImages } from "./support.mjs";

const document = JSON.parse(readFileSync(join(ROOT, "workers/api/openapi.json"), "utf8"));
/** generation::MAX_BODY_BYTES, as crates/generation/src/request.rs derives it. */
const MAX_BODY_BYTES = 47776;
const SLOW_TIMEOUT_MS = 10000;

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  pipeline = await startPipeline(
    {},
    {
      variants: {
        // An OpenAI-compatible model that answers as slowly as the test scripts it.
        slow: {
          LLM_PROVIDER: "openai",
          OPENAI_BASE_URL: fake.baseUrl,
          OPENAI_API_KEY: OPENAI_KEY,
          OPENAI_MODEL,
          LLM_TIMEOUT_MS: String(SLOW_TIMEOUT_MS),
        },
        configured: { MAX_HASHTAGS: "3", DEFAULT_LANGUAGE: "en-US" },
        lowercase: { DEFAULT_LANGUAGE: "EN-us" },
        english: { DEFAULT_LANGUAGE: "english" },
        tooManyTags: { MAX_HASHTAGS: "31" },
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});

const { draftWithImage, sharedDraft } = withImages(() => pipeline);

/** Headers as a plain object, without those that depend on how the body travels or when. */
function comparableHeaders(headers) {
  const skip = new Set(["date", "transfer-encoding", "content-length"]);
  return Object.fromEntries([...headers].filter(([name]) => !skip.has(name)));
}

// ---------------------------------------------------------------------------------------
// HEAD, OPTIONS, 405 with Allow
// ---------------------------------------------------------------------------------------

// Guards workers/api/src/routes.rs:200 (HEAD looks up the GET route, so it gets GET's status
// and headers). lib.rs:43-46, which drops the body, is not observable from outside: workerd
// never sends a body in answer to HEAD (a mutant without it passes this test).
test("HEAD answers wherever GET does, with GET's status and headers and no body", async () => {
  const { id, key } = await sharedDraft();
  const cases = [
    { path: "/healthz" },
    { path: `/media/${key}` },
    { path: "/media/pending.svg" },
    { path: `/media/images/${randomUUID()}/missing.jpg` },
    { path: `/api/v1/drafts/${id}` },
    { path: `/api/v1/drafts/${id}`, token: null },
    { path: `/api/v1/drafts/${randomUUID()}` },
    { path: "/api/v1/drafts?limit=1" },
    { path: "/api/v1/openapi.json" },
    { path: "/review/login", token: null },
  ];
  for (const { path, token } of cases) {
    const options = token === null ? { token: null } : {};
    const get = await pipeline.request("GET", path, options);
    const head = await pipeline.request("HEAD", path, options);
    const what = `HEAD ${path}${token === null ? " without a token" : ""}`;
    assert.notEqual(head.status, 405, `${what}: 405, allowed ${head.headers.get("allow")}`);
    assert.equal(head.status, get.status, what);
    assert.equal(head.text, "", `${what} has a body`);
    assert.deepEqual(comparableHeaders(head.headers), comparableHeaders(get.headers), what);
    // A HEAD may leave Content-Length out, but must not state another length than GET's.
    const length = head.headers.get("content-length");
    if (length !== null && get.headers.get("content-length") !== null) {
      assert.equal(length, get.headers.get("content-length"), `${what}: Content-Length`);
    }
  }
});

/** The methods each path answers, from the OpenAPI document; the public pages beside it. */
function allowedByPath() {
  const table = Object.entries(document.paths).map(([path, item]) => ({
    path: path.replace("{id}", randomUUID()),
    methods: Object.keys(item).filter((m) => ["get", "put", "post", "delete", "patch"].includes(m)).map((m) => m.toUpperCase()),
  }));
  table.push(
    { path: "/media/pending.svg", methods: ["GET"] },
    { path: `/media/images/${randomUUID()}/x.jpg`, methods: ["GET"] },
    { path: "/review/login", methods: ["GET", "POST"] },
  );
  return table.map(({ path, methods }) => ({
    path,
    allowed: [...methods, ...(methods.includes("GET") ? ["HEAD"] : []), "OPTIONS"].sort(),
  }));
}

const listed = (header) => (header ?? "").split(",").map((m) => m.trim()).filter(Boolean).sort();

// Guards workers/api/src/routes.rs:203-223 (Allow lists the path's methods, HEAD with GET,
// OPTIONS) and workers/api/src/reply.rs:148-152 (OPTIONS answers 204 with Allow).
test("OPTIONS answers 204 with Allow naming every method of the path", async () => {
  for (const { path, allowed } of allowedByPath()) {
    const response = await pipeline.request("OPTIONS", path, { token: null });
    assert.equal(response.status, 204, `OPTIONS ${path}: ${response.text}`);
    assert.deepEqual(listed(response.headers.get("allow")), allowed, `OPTIONS ${path}`);
    assert.equal(response.text, "", `OPTIONS ${path} has a body`);
  }
  const unknown = await pipeline.request("OPTIONS", "/api/v2/generate");
  assert.equal(unknown.status, 404, unknown.text);
});

// Guards workers/api/src/reply.rs:106-108 (every 405 sets Allow) and routes.rs:203-223.
test("every 405 carries Allow with the methods the path answers", async () => {
  const deleteHealthz = await pipeline.request("DELETE", "/healthz");
  assert.equal(deleteHealthz.status, 405, deleteHealthz.text);
  assert.deepEqual(listed(deleteHealthz.headers.get("allow")), ["GET", "HEAD", "OPTIONS"]);
  assert.equal(deleteHealthz.json.error.code, "method_not_allowed");

  const getGenerate = await pipeline.request("GET", "/api/v1/generate");
  assert.equal(getGenerate.status, 405, getGenerate.text);
  assert.deepEqual(listed(getGenerate.headers.get("allow")), ["OPTIONS", "POST"]);

  // HEAD follows GET: where there is no GET, HEAD is a wrong method too.
  const headGenerate = await pipeline.request("HEAD", "/api/v1/generate");
  assert.equal(headGenerate.status, 405);
  assert.deepEqual(listed(headGenerate.headers.get("allow")), ["OPTIONS", "POST"]);

  for (const { path, allowed } of allowedByPath()) {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
      if (allowed.includes(method)) continue;
      const response = await pipeline.request(method, path, method === "GET" ? {} : { body: {} });
      assert.equal(response.status, 405, `${method} ${path}: ${response.text}`);
      assert.deepEqual(listed(response.headers.get("allow")), allowed, `${method} ${path}: Allow`);
    }
  }
});

// ---------------------------------------------------------------------------------------
// The generate size limit
// ---------------------------------------------------------------------------------------

/**
 * `value` as Python's `json.dumps(value)` writes it (the default `requests.post(json=...)`
 * sends): `", "` and `": "` between items, and every non-ASCII character escaped, a character
 * outside the BMP as its two UTF-16 surrogates (`\ud83d\ude00`).
 */
function pythonJsonDumps(value) {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(v)}`).join(", ")}}`;
  }
  // JSON.stringify leaves non-ASCII as it is; without the `u` flag the regex sees UTF-16 units.
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const EMOJI = "\u{1F600}";
/** Every string the schema allows at its longest, each character an emoji. */
const WORST_CASE = {
  brief: EMOJI.repeat(2000),
  keywords: Array.from({ length: 10 }, () => EMOJI.repeat(50)),
  imagePrompt: EMOJI.repeat(1000),
};

/** The limit the served OpenAPI document states in generate's 413 answer. */
async function documentedLimit() {
  const served = await pipeline.request("GET", "/api/v1/openapi.json");
  assert.equal(served.status, 200, served.text);
  const text = served.json.paths["/api/v1/generate"].post.responses["413"].description;
  const match = text.replace(/,/g, "").match(/(\d+) bytes/);
  assert.ok(match, `the 413 description states no limit: ${text}`);
  return Number(match[1]);
}

async function postRaw(body, headers = {}) {
  return pipeline.request("POST", "/api/v1/generate", { raw: body, headers: { "content-type": "application/json", ...headers } });
}

// Guards crates/generation/src/request.rs:30-36 (MAX_BODY_BYTES from the schema's maxima)
// and workers/api/src/generate.rs:502-515 read_body (the limit by Content-Length and as read).
test("the worst-case body in Python's escaped JSON is accepted; one byte over the limit is 413", async () => {
  const body = pythonJsonDumps(WORST_CASE);
  assert.ok(body.startsWith('{"brief": "\\ud83d\\ude00\\ud83d\\ude00'), body.slice(0, 40));
  assert.ok(/^[\x20-\x7e]*$/.test(body), "the body is not pure ASCII");
  const limit = await documentedLimit();
  assert.equal(limit, MAX_BODY_BYTES, "the document states another limit than generation::MAX_BODY_BYTES");
  assert.ok(body.length <= limit, `the worst case is ${body.length} bytes, over the documented ${limit}`);

  const accepted = await postRaw(body);
  assert.equal(accepted.status, 201, accepted.text.slice(0, 500));
  assert.match(accepted.json.draftId, UUID_V4);
  const row = await pipeline.draftRow(accepted.json.draftId);
  const request = JSON.parse(row.request);
  assert.equal(request.brief, WORST_CASE.brief, "the brief was not stored as sent");
  assert.deepEqual(request.keywords, WORST_CASE.keywords);
  assert.equal(row.image_prompt, WORST_CASE.imagePrompt);

  // Exactly at the limit (the same body padded with trailing spaces, still valid JSON).
  const atLimit = body + " ".repeat(limit - body.length);
  assert.equal(Buffer.byteLength(atLimit), limit);
  const fits = await postRaw(atLimit);
  assert.equal(fits.status, 201, fits.text.slice(0, 500));

  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  const over = await postRaw(atLimit + " ");
  assert.equal(over.status, 413, over.text.slice(0, 500));
  assert.equal(over.json.error.code, "payload_too_large");
  assert.match(over.json.error.message, new RegExp(String(limit)));

  // Without a Content-Length (chunked), the body is measured as it is read.
  const chunked = await fetch(`${pipeline.url}/api/v1/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(atLimit));
        controller.enqueue(new TextEncoder().encode(" "));
        controller.close();
      },
    }),
    duplex: "half",
  });
  assert.equal(chunked.status, 413, await chunked.text());
  assertNothingStored(before, await pipeline.storedCounts(), "a body over the limit");
});

// ---------------------------------------------------------------------------------------
// GET /api/v1/drafts
// ---------------------------------------------------------------------------------------

/** Every page of `query` at `limit` per page: the drafts in order and every page's size. */
async function allPages(target, query, limit) {
  const drafts = [];
  const sizes = [];
  let cursor;
  for (let page = 0; page < 50; page += 1) {
    const params = new URLSearchParams({ ...query, limit: String(limit) });
    if (cursor) params.set("cursor", cursor);
    const response = await target.request("GET", `/api/v1/drafts?${params}`);
    assert.equal(response.status, 200, response.text);
    assert.ok(response.json.drafts.length <= limit, `a page of ${response.json.drafts.length} at limit ${limit}`);
    drafts.push(...response.json.drafts);
    sizes.push(response.json.drafts.length);
    cursor = response.json.nextCursor;
    if (cursor === null) return { drafts, sizes, last: response.json };
    assert.equal(typeof cursor, "string", `nextCursor ${JSON.stringify(cursor)}`);
  }
  assert.fail("more than 50 pages");
}

// Guards workers/api/src/drafts.rs:205-264 (parameters, one extra row for nextCursor, counts)
// and crates/platform/src/store.rs:380-427 (ORDER BY created_at DESC, id DESC at :396 and the
// cursor as a (created_at, id) tuple at :395).
test("GET /api/v1/drafts: newest first, by status, cursor pages with every draft once, counts", async () => {
  // A pipeline of its own, so the drafts of other tests do not count.
  const own = await startPipeline();
  try {
    const made = [];
    for (let i = 1; i <= 5; i += 1) {
      const response = await own.generate({ brief: `List draft number ${i}`, language: "en" });
      assert.equal(response.status, 201, response.text);
      made.push(response.json.draftId);
    }
    await own.settleImages();

    const all = await allPages(own, {}, 2);
    assert.deepEqual(all.sizes, [2, 2, 1]);
    const ids = all.drafts.map((d) => d.draftId);
    assert.equal(new Set(ids).size, ids.length, `a draft listed twice: ${ids}`);
    assert.deepEqual([...ids].sort(), [...made].sort(), "not every draft listed exactly once");
    const times = all.drafts.map((d) => d.createdAt);
    assert.deepEqual(times, [...times].sort().reverse(), `not newest first: ${times}`);
    assert.deepEqual(all.last.counts, { draft: 5, approved: 0, publishing: 0, published: 0, failed: 0, discarded: 0 });
    // A listed draft is the same as the draft read on its own.
    // A listed draft is the draft as GET shows it, but for its publish log (one draft only).
    const single = await own.request("GET", `/api/v1/drafts/${ids[0]}`);
    const { publishLog, ...withoutLog } = single.json;
    assert.deepEqual(publishLog, []);
    assert.deepEqual(all.drafts[0], withoutLog);

    // One draft discarded: filtered lists and counts follow.
    const gone = made[2];
    const current = await own.request("GET", `/api/v1/drafts/${gone}`);
    const discarded = await own.request("POST", `/api/v1/drafts/${gone}/discard`, { body: { revision: current.json.revision } });
    assert.equal(discarded.status, 200, discarded.text);

    const drafts = await allPages(own, { status: "draft" }, 2);
    assert.deepEqual(drafts.sizes, [2, 2], "four drafts at two per page: two pages, no empty third one");
    assert.deepEqual(
      drafts.drafts.map((d) => d.draftId),
      ids.filter((id) => id !== gone),
      "the status filter changed the order or the set",
    );
    assert.ok(drafts.drafts.every((d) => d.status === "draft"));
    assert.deepEqual(drafts.last.counts, { draft: 4, approved: 0, publishing: 0, published: 0, failed: 0, discarded: 1 });

    const onlyGone = await allPages(own, { status: "discarded" }, 20);
    assert.deepEqual(onlyGone.drafts.map((d) => d.draftId), [gone]);
    assert.equal(onlyGone.drafts[0].status, "discarded");
    // Counts are of every status, whatever the filter.
    assert.equal(onlyGone.last.counts.draft, 4);

    const none = await allPages(own, { status: "published" }, 20);
    assert.deepEqual(none.drafts, []);

    // The default page holds all five, newest first.
    const whole = await own.request("GET", "/api/v1/drafts");
    assert.equal(whole.status, 200);
    assert.deepEqual(whole.json.drafts.map((d) => d.draftId), ids);
    assert.equal(whole.json.nextCursor, null);
  } finally {
    await own.dispose();
  }
});

// "Newest first" within one second too: drafts made one after the other are listed in the
// reverse order they were made. Guards crates/domain/src/message.rs:157-163 (format_rfc3339
// drops the fraction, so created_at has whole seconds) with store.rs:396 (ties are ordered
// by the random id, not by time).
test("GET /api/v1/drafts: drafts made within the same second are still newest first", async () => {
  const own = await startPipeline();
  try {
    // Ten, so that by chance alone (ties ordered by random ids) they come out right once in
    // millions of runs.
    const made = [];
    for (let i = 1; i <= 10; i += 1) {
      const response = await own.generate({ brief: `Same-second draft ${i}`, language: "en" });
      assert.equal(response.status, 201, response.text);
      made.push(response.json.draftId);
    }
    const all = await allPages(own, {}, 3);
    assert.deepEqual(
      all.drafts.map((d) => d.draftId),
      [...made].reverse(),
      `created at ${all.drafts.map((d) => d.createdAt).join(", ")}`,
    );
  } finally {
    await own.dispose();
  }
});

// Guards workers/api/src/drafts.rs:208-234 (each bad parameter is a problem by its name).
test("GET /api/v1/drafts: a bad status, limit or cursor is 400, by parameter name", async () => {
  const cases = [
    { query: "status=done", paths: ["status"] },
    { query: "status=DRAFT", paths: ["status"] },
    { query: "limit=0", paths: ["limit"] },
    { query: "limit=101", paths: ["limit"] },
    { query: "limit=two", paths: ["limit"] },
    { query: "limit=-1", paths: ["limit"] },
    { query: "cursor=zz", paths: ["cursor"] },
    { query: `cursor=${Buffer.from("yesterday|not-an-id").toString("hex")}`, paths: ["cursor"] },
    { query: "status=done&limit=0&cursor=zz", paths: ["status", "limit", "cursor"] },
    { query: "sort=oldest", paths: ["sort"] },
  ];
  for (const { query, paths } of cases) {
    const response = await pipeline.request("GET", `/api/v1/drafts?${query}`);
    assert.equal(response.status, 400, `${query}: ${response.text}`);
    assert.equal(response.json.error.code, "validation_failed");
    assert.deepEqual(response.json.error.problems.map((p) => p.path), paths, query);
  }
  const ok = await pipeline.request("GET", "/api/v1/drafts?limit=100&status=discarded");
  assert.equal(ok.status, 200, ok.text);
  const unauthorised = await pipeline.request("GET", "/api/v1/drafts", { token: null });
  assert.equal(unauthorised.status, 401);
});

// The reason for a bad status names every status the API accepts (the document's enum,
// `discarded` included). Guards workers/api/src/drafts.rs:215, whose list leaves
// `discarded` out though Status::parse accepts it.
test("GET /api/v1/drafts: the reason for a bad status lists every status there is", async () => {
  const statuses = document.paths["/api/v1/drafts"].get.parameters.find((p) => p.name === "status").schema.enum;
  assert.ok(statuses.includes("discarded"));
  const response = await pipeline.request("GET", "/api/v1/drafts?status=done");
  assert.equal(response.status, 400);
  const { reason } = response.json.error.problems[0];
  for (const status of statuses) {
    assert.ok(reason.includes(status), `the reason leaves out ${status}: ${reason}`);
  }
});

// ---------------------------------------------------------------------------------------
// The OpenAPI document as configured
// ---------------------------------------------------------------------------------------

// Guards workers/api/src/lib.rs:79-84 and openapi.rs:10-20 (the document filled in with
// MAX_HASHTAGS and DEFAULT_LANGUAGE) and config.rs:33-43, 56-64.
test("the OpenAPI document states the running MAX_HASHTAGS and DEFAULT_LANGUAGE, and the server acts on them", async () => {
  const configured = pipeline.variant("configured");
  const served = await configured.request("GET", "/api/v1/openapi.json");
  assert.equal(served.status, 200, served.text);
  const properties = served.json.components.schemas.GenerateRequest.properties;
  assert.equal(properties.hashtagCount.maximum, 3);
  assert.equal(properties.hashtagCount.default, 3);
  assert.equal(properties.language.default, "en-US");

  // The default deployment's document keeps wrangler/api.toml's values.
  const plain = await pipeline.request("GET", "/api/v1/openapi.json");
  const plainProperties = plain.json.components.schemas.GenerateRequest.properties;
  assert.equal(plainProperties.hashtagCount.maximum, 5);
  assert.equal(plainProperties.language.default, "ja");

  // What the document says is what the server does.
  const tooMany = await configured.generate({ brief: "Four hashtags please", hashtagCount: 4 });
  assert.equal(tooMany.status, 400, tooMany.text);
  assert.deepEqual(tooMany.json.error.problems.map((p) => p.path), ["hashtagCount"]);
  const defaults = await configured.generate({ brief: "Defaults of this deployment", keywords: ["autumn", "soup", "cake", "cafe"] });
  assert.equal(defaults.status, 201, defaults.text);
  assert.equal(defaults.json.language, "en-US");
  assert.ok(defaults.json.hashtags.length <= 3, `${defaults.json.hashtags.length} hashtags`);

  // DEFAULT_LANGUAGE is canonicalised like a request's language.
  const lowercase = pipeline.variant("lowercase");
  const lowercaseDocument = await lowercase.request("GET", "/api/v1/openapi.json");
  assert.equal(lowercaseDocument.json.components.schemas.GenerateRequest.properties.language.default, "en-US");
  const lowercaseDraft = await lowercase.generate({ brief: "Canonical case" });
  assert.equal(lowercaseDraft.status, 201, lowercaseDraft.text);
  assert.equal(lowercaseDraft.json.language, "en-US");
});

// Guards workers/api/src/routes.rs:59-63 (the document needs the token) against the words of
// workers/api/openapi.json info.description, and each operation's security against the server.
test("the OpenAPI document's description agrees with the server about which routes need the token", async () => {
  const anonymous = await pipeline.request("GET", "/api/v1/openapi.json", { token: null });
  assert.equal(anonymous.status, 401, anonymous.text);
  assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");

  const served = (await pipeline.request("GET", "/api/v1/openapi.json")).json;
  const description = served.info.description;
  const sentences = description.split(/(?<=\.)\s+/);
  const tokenSentence = sentences.find((s) => s.includes("Authorization: Bearer"));
  assert.ok(tokenSentence, `info.description never says which routes need the token: ${description}`);
  assert.match(tokenSentence, /this document|openapi\.json/, `it does not say the document itself needs the token: ${tokenSentence}`);
  for (const sentence of sentences) {
    assert.doesNotMatch(sentence, /(this document|openapi\.json)[^.]*\b(is|are) (public|open)\b/i, sentence);
  }

  for (const [path, item] of Object.entries(served.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!["get", "post", "patch", "put", "delete"].includes(method)) continue;
      const security = operation.security ?? served.security ?? [];
      const needsToken = security.length > 0;
      const concrete = path.replace("{id}", randomUUID());
      const response = await pipeline.request(method.toUpperCase(), concrete, {
        token: null,
        ...(method === "get" ? {} : { body: {} }),
      });
      assert.equal(response.status === 401, needsToken, `${method.toUpperCase()} ${path} without a token: ${response.status}`);
    }
  }
});

// Guards workers/api/src/config.rs:56-64 (DEFAULT_LANGUAGE checked like a request's
// language) as config.rs:33-43 checks MAX_HASHTAGS.
test("DEFAULT_LANGUAGE=english is 503 not_configured, as MAX_HASHTAGS=31 is; nothing is stored", async () => {
  await pipeline.settleImages();
  const before = await pipeline.storedCounts();
  for (const [variant, setting] of [["english", "DEFAULT_LANGUAGE"], ["tooManyTags", "MAX_HASHTAGS"]]) {
    const target = pipeline.variant(variant);
    const generated = await target.generate({ brief: "Any brief", language: "en" });
    assert.equal(generated.status, 503, `${variant}: ${generated.text}`);
    assert.equal(generated.json.error.code, "not_configured");
    assert.match(generated.json.error.message, new RegExp(setting));
    const documentResponse = await target.request("GET", "/api/v1/openapi.json");
    assert.equal(documentResponse.status, 503, `${variant} document: ${documentResponse.text.slice(0, 200)}`);
    assert.equal(documentResponse.json.error.code, "not_configured");
  }
  assertNothingStored(before, await pipeline.storedCounts(), "a misconfigured Worker");
});

// ---------------------------------------------------------------------------------------
// scheduledAt without an offset
// ---------------------------------------------------------------------------------------

// Guards crates/generation/src/request.rs:398-419 (parse_scheduled_at's reason in words),
// used by generate and by workers/api/src/approve.rs:279.
test("scheduledAt without an offset is 400 with 'needs a UTC offset such as +09:00 or Z'", async () => {
  const REASON = "needs a UTC offset such as +09:00 or Z";
  for (const scheduledAt of ["2030-01-31T09:00:00", "2030-01-31T09:00", "2030-01-31T09:00:00.5"]) {
    const response = await pipeline.generate({ brief: "Scheduled without an offset", language: "en", scheduledAt });
    assert.equal(response.status, 400, `${scheduledAt}: ${response.text}`);
    const problem = response.json.error.problems.find((p) => p.path === "scheduledAt");
    assert.ok(problem, response.text);
    assert.ok(problem.reason.includes(REASON), `${scheduledAt}: ${problem.reason}`);
  }
  const withOffset = await pipeline.generate({ brief: "Scheduled with an offset", language: "en", scheduledAt: "2030-01-31T09:00:00+09:00" });
  assert.equal(withOffset.status, 201, withOffset.text);
  assert.equal(Date.parse(withOffset.json.scheduledAt), Date.parse("2030-01-31T00:00:00Z"));

  // Approval reads scheduledAt with the same words.
  const { id, draft } = await draftWithImage("Approve me later");
  const approve = await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, {
    body: { revision: draft.revision, scheduledAt: "2030-01-31T09:00:00" },
    token: REVIEWER.token,
  });
  assert.equal(approve.status, 400, approve.text);
  const problem = approve.json.error.problems.find((p) => p.path === "scheduledAt");
  assert.ok(problem?.reason.includes(REASON), approve.text);
});
