// Hostile input against the running Workers: a sign-in body that once crashed the Worker,
// times far in the future, invisible characters, 60 MB bodies streamed in chunks, and a few
// thousand random requests. Throughout, the api Worker's instance (its `/healthz` id) must
// stay the same: a panic in wasm restarts it. Refused requests must leave D1 as it was.
//
// HOSTILE_SEED replays a run of random requests; HOSTILE_REQUESTS sets how many (3000).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { after, before, test } from "node:test";
import { API_TOKEN, startPipeline } from "./harness.mjs";

const REVIEWER = { name: "Aiko", token: "aiko-hostile-5e1f0c9b2d4a68f3" };
const ZWJ_CHEF = "\u{1F469}\u{200D}\u{1F373}";
const SCOTLAND = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";

let pipeline;
let drafts = [];
let session;

before(async () => {
  // The consumers are idle: what the api queues waits, so only api requests write to D1.
  pipeline = await startPipeline({ api: { REVIEWERS: `${REVIEWER.name}:${REVIEWER.token}` } }, { idle: ["image-consumer", "publish-consumer"] });
  for (const brief of ["Autumn menu at our cafe", "Chestnut cake is back", "Rainy day soup"]) {
    const { status, json } = await pipeline.generate({ brief, language: "en" });
    assert.equal(status, 201);
    drafts.push(json.draftId);
  }
  session = await signIn();
});
after(() => pipeline?.dispose());

async function signIn() {
  const response = await fetch(`${pipeline.url}/review/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: pipeline.url },
    body: `name=${REVIEWER.name}&token=${REVIEWER.token}&next=%2Freview`,
  });
  assert.equal(response.status, 303);
  const cookie = response.headers.get("set-cookie");
  return cookie.split(";")[0];
}

/** The api Worker's instance id: it changes when the wasm instance is started again. */
async function instance() {
  const { status, json } = await pipeline.request("GET", "/healthz", { token: null });
  assert.equal(status, 200);
  assert.match(json.instance, /^[0-9a-f]{16}$/);
  return json.instance;
}

/** Every table's rows, hashed: equal digests mean D1 holds the same data. */
let digestStatements;
async function databaseDigest() {
  if (!digestStatements) {
    const { results: tables } = await pipeline.db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
      .all();
    // A table WITHOUT ROWID (the search index's own tables) is read in its key's order.
    const order = (sql) => (/WITHOUT ROWID/i.test(sql ?? "") ? "" : " ORDER BY rowid");
    digestStatements = tables.map(({ name, sql }) => [name, pipeline.db.prepare(`SELECT * FROM "${name}"${order(sql)}`)]);
  }
  const contents = await pipeline.db.batch(digestStatements.map(([, statement]) => statement));
  const hash = createHash("sha256");
  digestStatements.forEach(([name], i) => hash.update(`${name}\n${JSON.stringify(contents[i].results)}\n`));
  return hash.digest("hex");
}

async function draft(id) {
  const { status, json } = await pipeline.request("GET", `/api/v1/drafts/${id}`);
  assert.equal(status, 200);
  return json;
}

test("a sign-in body with a percent sign before a multi-byte character is refused (401), and the same instance answers next", async () => {
  const first = await instance();
  const digest = await databaseDigest();
  // Origin is whatever a client sets: the page's own (as a script can send), or another.
  for (const [origin, expected] of [
    [pipeline.url, 401],
    ["https://elsewhere.example", 403],
  ]) {
    const response = await fetch(`${pipeline.url}/review/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: "name=%1é&token=%1é",
    });
    assert.equal(response.status, expected, `Origin ${origin}`);
    await response.text();
    assert.equal(await instance(), first, "the Worker was started again");
  }
  // The same percent sign in a query string.
  const list = await pipeline.request("GET", "/api/v1/drafts?status=%1é");
  assert.equal(list.status, 400);
  assert.equal(list.json.error.problems[0].path, "status");
  assert.equal(await instance(), first);
  assert.equal(await databaseDigest(), digest);
});

test("a time whose UTC year passes 9999 is a 400 with its path on generate, approve and schedule, never a crash", async () => {
  const first = await instance();
  const far = "9999-12-31T23:30:00-01:00";
  const id = drafts[0];
  const { revision } = await draft(id);
  const digest = await databaseDigest();
  const answers = [
    await pipeline.generate({ brief: "Far ahead", scheduledAt: far }),
    // Decisions are a reviewer's: their own token.
    await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, { body: { revision, scheduledAt: far }, token: REVIEWER.token }),
    await pipeline.request("POST", `/api/v1/drafts/${id}/schedule`, { body: { revision, scheduledAt: far }, token: REVIEWER.token }),
    await pipeline.request("POST", `/api/v1/drafts/${id}/approve`, { body: { revision, scheduledAt: "2101-01-01T00:00:00Z" }, token: REVIEWER.token }),
  ];
  for (const { status, json } of answers) {
    assert.equal(status, 400, JSON.stringify(json));
    assert.deepEqual(
      json.error.problems.map((p) => p.path),
      ["scheduledAt"],
    );
    assert.match(json.error.problems[0].reason, /years 2010 to 2100/);
  }
  // A page cursor carrying such a time is no cursor.
  const cursor = Buffer.from(`${far}|1`).toString("hex");
  const list = await pipeline.request("GET", `/api/v1/drafts?cursor=${cursor}`);
  assert.equal(list.status, 400);
  assert.equal(list.json.error.problems[0].path, "cursor");
  assert.equal(await instance(), first);
  assert.equal(await databaseDigest(), digest);
});

test("invisible characters are refused by field path; emoji sequences and flags are kept", async () => {
  const id = drafts[1];
  for (const [field, text, character] of [
    ["caption", "Sale \u202E%05 ffo", "U+202E RIGHT-TO-LEFT OVERRIDE"],
    ["caption", "Cafe\u200Bopen", "U+200B ZERO WIDTH SPACE"],
    ["altText", "A cup\u2066 of tea", "U+2066 LEFT-TO-RIGHT ISOLATE"],
    ["caption", "hidden\u{E0068}\u{E0069}", "U+E0068 TAG character"],
  ]) {
    const { revision } = await draft(id);
    const digest = await databaseDigest();
    const { status, json } = await pipeline.request("PATCH", `/api/v1/drafts/${id}`, { body: { revision, [field]: text } });
    assert.equal(status, 400, `${field} ${JSON.stringify(text)}`);
    assert.deepEqual(
      json.error.problems.map((p) => p.path),
      [field],
    );
    assert.ok(json.error.problems[0].reason.includes(character), json.error.problems[0].reason);
    assert.equal(await databaseDigest(), digest, "a refused edit changed D1");
  }
  const hashtag = await pipeline.request("PATCH", `/api/v1/drafts/${id}`, {
    body: { revision: (await draft(id)).revision, hashtags: ["cafe", "lat\u200Bte"] },
  });
  assert.equal(hashtag.status, 400);
  assert.equal(hashtag.json.error.problems[0].path, "hashtags[1]");

  const caption = `Today's chef ${ZWJ_CHEF} from Scotland ${SCOTLAND} \u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645`;
  const saved = await pipeline.request("PATCH", `/api/v1/drafts/${id}`, { body: { revision: (await draft(id)).revision, caption } });
  assert.equal(saved.status, 200, JSON.stringify(saved.json));
  assert.equal(saved.json.caption, caption);

  // Comments, with a token or a reviewer's session.
  const comment = await pipeline.request("POST", `/api/v1/drafts/${id}/comments`, { body: { comment: "Looks fine\u202E" } });
  assert.equal(comment.status, 400);
  assert.equal(comment.json.error.problems[0].path, "comment");
  const kept = await pipeline.request("POST", `/api/v1/drafts/${id}/comments`, {
    token: null,
    headers: { cookie: session, origin: pipeline.url },
    body: { comment: `Yes ${ZWJ_CHEF}${SCOTLAND}` },
  });
  assert.equal(kept.status, 201);

  // The check the review page asks names each character by path and place.
  const check = await pipeline.request("POST", "/api/v1/text/check", {
    token: null,
    headers: { cookie: session, origin: pipeline.url },
    body: { caption: `ok ${ZWJ_CHEF}\u202E`, hashtags: ["a", "\u200Bb"], altText: SCOTLAND },
  });
  assert.equal(check.status, 200);
  assert.deepEqual(check.json.refused, [
    { path: "caption", at: 6, codePoint: "U+202E", name: "U+202E RIGHT-TO-LEFT OVERRIDE" },
    { path: "hashtags[1]", at: 0, codePoint: "U+200B", name: "U+200B ZERO WIDTH SPACE" },
  ]);
});

/** The workerd process Miniflare started for this file. */
function workerdPid() {
  const pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  const found = pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      return parent === process.pid && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd";
    } catch {
      return false;
    }
  });
  assert.equal(found.length, 1, `workerd processes of this test: ${found.join(", ")}`);
  return found[0];
}

/** VmRSS and VmHWM (its peak since the last reset) of `pid`, in MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)[1]);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/**
 * Sends a chunked body (no Content-Length) of `megabytes` of `a` to `path`: first one byte
 * more than the route's `limit`, then, if the Worker has not answered within a second (it
 * waits for the rest, as a reader that buffers whole bodies does), the rest in 16 KiB chunks.
 * Resolves with the status and the bytes sent. A Worker that stops at the limit has read
 * everything sent so far when it answers, so its answer is never lost to a reset.
 */
function streamBody(method, path, headers, limit, megabytes) {
  const { hostname, port } = new URL(pipeline.url);
  const total = megabytes * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let sent = 0;
    let status = null;
    const req = httpRequest({ host: hostname, port, path, method, headers: { ...headers, "transfer-encoding": "chunked" } }, (res) => {
      status = res.statusCode;
      const parts = [];
      res.on("data", (part) => parts.push(part));
      res.on("end", () => {
        req.destroy();
        resolve({ status, sent, text: Buffer.concat(parts).toString("utf8") });
      });
    });
    req.on("error", (error) => (status === null ? resolve({ status: null, sent, text: error.code ?? error.message }) : undefined));
    const send = async (bytes) => {
      const until = sent + bytes;
      while (status === null && sent < until && !req.destroyed) {
        const size = Math.min(16 * 1024, until - sent);
        sent += size;
        if (!req.write(Buffer.alloc(size, "a"))) {
          await new Promise((done) => {
            const go = () => {
              req.off("drain", go).off("close", go);
              done();
            };
            req.once("drain", go).once("close", go);
          });
        }
        await new Promise((done) => setTimeout(done, 1));
      }
    };
    (async () => {
      await send(limit + 1);
      for (let waited = 0; status === null && waited < 1000; waited += 50) await new Promise((done) => setTimeout(done, 50));
      await send(total - sent);
      if (status === null && !req.destroyed) req.end();
    })().catch(reject);
  });
}

test("a 60 MB chunked body to any route that reads one is refused (413) as it streams, and workerd's memory stays flat", async () => {
  const first = await instance();
  const id = drafts[2];
  const json = { "content-type": "application/json" };
  const bearer = { ...json, authorization: `Bearer ${API_TOKEN}` };
  // A person's decisions take a reviewer's own token.
  const reviewer = { ...json, authorization: `Bearer ${REVIEWER.token}` };
  // Each route with its body limit (the README's and the OpenAPI document's).
  const routes = [
    ["POST", "/api/v1/generate", bearer, 47776],
    ["PATCH", `/api/v1/drafts/${id}`, bearer, 65536],
    ["POST", `/api/v1/drafts/${id}/approve`, reviewer, 16384],
    ["POST", `/api/v1/drafts/${id}/reapprove`, reviewer, 16384],
    ["POST", `/api/v1/drafts/${id}/schedule`, reviewer, 16384],
    ["POST", `/api/v1/drafts/${id}/withdraw`, reviewer, 16384],
    ["POST", `/api/v1/drafts/${id}/comments`, bearer, 16384],
    ["POST", `/api/v1/drafts/${id}/discard`, bearer, 16384],
    ["POST", `/api/v1/drafts/${id}/regenerate`, bearer, 16384],
    ["POST", "/api/v1/text/check", { ...json, cookie: session, origin: pipeline.url }, 65536],
    // Without any token.
    ["POST", "/review/login", { "content-type": "application/x-www-form-urlencoded", origin: pipeline.url }, 4096],
  ];
  const pid = workerdPid();
  const digest = await databaseDigest();
  const start = memory(pid);
  // The peak is measured from here (writing 5 to clear_refs resets VmHWM to the current RSS).
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  let streamed = 0;
  for (const [method, path, headers, limit] of routes) {
    const { status, sent, text } = await streamBody(method, path, headers, limit, 60);
    assert.equal(status, 413, `${method} ${path}: ${text} (${sent} bytes sent)`);
    assert.match(text, new RegExp(`larger than ${limit} bytes`));
    // Answered on the byte past the limit, without waiting for the rest.
    assert.equal(sent, limit + 1, `${method} ${path}: ${sent} bytes were taken before the answer`);
    streamed += sent;
  }
  const end = memory(pid);
  const growth = end.peak - start.rss;
  console.log(
    `workerd memory over ${routes.length} chunked 60 MB bodies: RSS ${start.rss.toFixed(1)} MiB before, peak ${end.peak.toFixed(1)} MiB, ${end.rss.toFixed(1)} MiB after (peak growth ${growth.toFixed(1)} MiB; ${(streamed / 1048576).toFixed(1)} MiB were sent before the 413s)`,
  );
  assert.ok(growth < 40, `workerd grew by ${growth.toFixed(1)} MiB while refusing the bodies`);
  // Declared too large: refused before the body is read, while the client has sent one chunk.
  const declared = await new Promise((resolve, reject) => {
    const { hostname, port } = new URL(pipeline.url);
    const headers = { "content-type": "application/x-www-form-urlencoded", origin: pipeline.url, "content-length": String(60 * 1024 * 1024) };
    const req = httpRequest({ host: hostname, port, path: "/review/login", method: "POST", headers }, (res) => {
      res.resume();
      res.on("end", () => {
        req.destroy();
        resolve(res.statusCode);
      });
    });
    req.on("error", reject);
    req.write(Buffer.alloc(64 * 1024, "a"));
  });
  assert.equal(declared, 413);
  assert.equal(await instance(), first);
  assert.equal(await databaseDigest(), digest);
});

// ---- Random requests ----------------------------------------------------------------------

/** mulberry32: a small seeded generator, enough to replay a run. */
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const chance = (p) => next() < p;
  return { next, int, pick, chance };
}

const TRICKY = ["%", "%1", "%1é", "%zz", "%00", "%E2%80%AE", "+", "&", "=", "é", "日本", "\u202E", "\u200B", "\u{1F469}\u200D\u{1F373}", "\u{E0041}", "\\", "..", "/", "\0", "\r\n", "'", '"', "<script>", "%F0%9F", "\uD800"];

/** Percent-encoded as a URL carries it; a lone surrogate becomes its (invalid) UTF-8 bytes. */
function encode(text) {
  return text.replace(/[\uD800-\uDFFF]/gu, "\uFFFD").split("\uFFFD").map(encodeURIComponent).join("%ED%A0%80");
}

function trickyText(r, max = 12) {
  let text = "";
  const length = r.int(max);
  for (let i = 0; i < length; i += 1) text += r.chance(0.5) ? r.pick(TRICKY) : String.fromCodePoint(r.chance(0.8) ? 32 + r.int(95) : r.int(0x2ffff));
  return text;
}

function randomValue(r, depth = 0) {
  switch (r.int(depth > 2 ? 7 : 9)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 2, 3, 1.5, 1e308, -1e308, 2 ** 53 + 1, 4294967296]);
    case 3:
      return r.pick(["9999-12-31T23:30:00-01:00", "0000-01-01T00:00:00Z", "2030-01-31T09:00:00+09:00", "2031-02-30T00:00:00Z", "2030-01-01T00:00:00+23:59"]);
    case 4:
    case 5:
    case 6:
      return trickyText(r, 20);
    case 7:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(FIELDS), randomValue(r, depth + 1)]));
  }
}

const FIELDS = ["revision", "caption", "hashtags", "altText", "comment", "scheduledAt", "text", "image", "brief", "tone", "language", "keywords", "hashtagCount", "imagePrompt", "token", "next", "x"];
const ACTIONS = ["approve", "reapprove", "schedule", "history", "comments", "discard", "regenerate", "withdraw", "x"];

function randomPath(r) {
  const uuid = () => Array.from({ length: 32 }, () => r.int(16).toString(16)).join("").replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
  const id = () => r.pick([...drafts, uuid(), "not-an-id", encode(trickyText(r, 6)) || "x", drafts[0].toUpperCase()]);
  const query = () =>
    r.chance(0.4)
      ? "?" +
        Array.from({ length: 1 + r.int(3) }, () => `${r.pick(["status", "limit", "cursor", "next", "x", ""])}=${r.chance(0.5) ? encode(trickyText(r, 6)) : r.pick(["draft", "5", "0", "-1", "%1", "%zz", "ff", "2030", "%2F%2Fevil.example"])}`).join("&")
      : "";
  const [method, path] = r.pick([
    () => ["GET", "/healthz"],
    () => ["GET", "/api/v1/openapi.json"],
    () => ["POST", "/api/v1/generate"],
    () => ["POST", "/api/v1/generate"],
    () => ["GET", "/api/v1/drafts"],
    () => ["GET", `/api/v1/drafts/${id()}`],
    () => ["PATCH", `/api/v1/drafts/${id()}`],
    () => ["PATCH", `/api/v1/drafts/${id()}`],
    () => [r.pick(["POST", "GET"]), `/api/v1/drafts/${id()}/${r.pick(ACTIONS)}`],
    () => ["POST", `/api/v1/drafts/${id()}/${r.pick(ACTIONS)}`],
    () => ["POST", "/api/v1/text/check"],
    () => ["GET", "/review"],
    () => ["GET", "/review/login"],
    () => ["POST", "/review/login"],
    () => ["POST", "/review/login"],
    () => ["POST", "/review/logout"],
    () => ["GET", "/review/failures"],
    () => ["GET", `/review/assets/${r.pick(["app.js", "app.css", "x", "..%2F..%2Fsecret"])}`],
    () => ["GET", `/review/${id()}`],
    () => ["GET", "/media/pending.svg"],
    () => ["GET", `/media/images/${id()}/${r.pick(["a.jpg", "..", "%2e%2e", "x"])}`],
    () => ["GET", `/${encode(trickyText(r, 10))}`],
  ])();
  // Mostly the route's own method, sometimes any.
  return [r.chance(0.8) ? method : r.pick(["GET", "POST", "PATCH", "HEAD", "OPTIONS", "PUT", "DELETE"]), path + query()];
}

function randomRequest(r) {
  const [method, path] = randomPath(r);
  const headers = {};
  switch (r.int(5)) {
    case 0:
      headers.authorization = `Bearer ${API_TOKEN}`;
      break;
    case 1:
      headers.cookie = session;
      break;
    case 2:
      headers.authorization = r.pick(["Bearer", "Bearer ", `bearer ${API_TOKEN}x`, "Basic YTpi", `Bearer ${REVIEWER.token}`, `Bearer ${"a".repeat(16)}`]);
      break;
    case 3:
      headers.cookie = r.pick([`review_session=${"0".repeat(64)}`, "review_session=", "a=b; review_session=zz", `review_session=${"f".repeat(65)}`, "=;=;"]);
      break;
    default:
      break;
  }
  if (r.chance(0.1)) headers["x-reviewer"] = r.pick([REVIEWER.name, "RIKO ", "", "Nobody", "%1", "x".repeat(300)]);
  if (r.chance(0.6)) headers.origin = r.pick([pipeline.url, "https://elsewhere.example", "null", ""]);
  if (r.chance(0.2)) headers.range = r.pick(["bytes=0-1", "bytes=-1", "bytes=18446744073709551615-", "bytes=1-0", "bytes=0-1,2-3", "items=1-2", "bytes=é"]);
  if (r.chance(0.15)) headers["if-none-match"] = r.pick(["*", '"x"', 'W/"a", "b"', ",,,", '"']);
  if (r.chance(0.15)) headers["idempotency-key"] = r.pick(["k-1", "x".repeat(300), "é", " ", "k\u00ff"]);
  let body;
  if (method !== "GET" && method !== "HEAD" && r.chance(0.85)) {
    const kind = r.int(6);
    headers["content-type"] = r.pick(["application/json", "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "text/plain", "APPLICATION/JSON", "multipart/form-data; boundary=x"]);
    if (r.chance(0.1)) headers["content-encoding"] = r.pick(["gzip", "br", "identity"]);
    if (kind <= 2) body = JSON.stringify(randomValue(r, 1 + (kind === 0 ? 2 : 0)) ?? {});
    else if (kind === 3) {
      const name = r.pick([REVIEWER.name, "%1é", "", "%", encode(trickyText(r, 6)), encode("x".repeat(5000))]);
      body = `name=${name}&token=${r.pick(["%1é", REVIEWER.token, "%", "%%"])}&next=${encode(trickyText(r, 6))}`;
    }
    else if (kind === 4) body = Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256)));
    else body = "x".repeat(r.pick([0, 1, 16 * 1024 + 1, 70 * 1024]));
  }
  return { method, path, headers, body };
}

test("a few thousand random requests: no 5xx, no restart, and D1 unchanged by every refused one", async (t) => {
  const seed = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 32));
  const count = Number(process.env.HOSTILE_REQUESTS ?? 3000);
  console.log(`random requests: seed ${seed}, ${count} requests (HOSTILE_SEED=${seed} replays them)`);
  t.diagnostic(`seed ${seed}`);
  const r = generator(seed);
  const first = await instance();
  let digest = await databaseDigest();
  const statuses = {};
  for (let i = 0; i < count; i += 1) {
    const request = randomRequest(r);
    const what = () => `request ${i} of seed ${seed}: ${request.method} ${request.path} ${JSON.stringify(request.headers)} ${String(request.body ?? "").slice(0, 200)}`;
    let response;
    for (let tries = 1; !response; tries += 1) {
      try {
        response = await fetch(pipeline.url + request.path, { method: request.method, headers: request.headers, body: request.body, redirect: "manual" });
        await response.arrayBuffer();
      } catch (error) {
        // A kept-alive connection the local server closed just as it was reused: the request
        // never reached the Worker, so it is sent again once (a restart would show in the
        // instance id, checked below and at the end).
        response = undefined;
        const reused = ["UND_ERR_SOCKET", "ECONNRESET"].includes(error.cause?.code);
        if (!reused || tries > 1) assert.fail(`${what()}: the connection failed: ${error.cause?.message ?? error.message}`);
      }
    }
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    assert.ok(response.status < 500, `${what()}: HTTP ${response.status}`);
    let now;
    try {
      now = await databaseDigest();
    } catch (error) {
      assert.fail(`${what()}: reading D1 afterwards failed: ${error.stack}`);
    }
    if (response.status >= 400) assert.equal(now, digest, `${what()}: refused with ${response.status}, yet D1 changed`);
    digest = now;
    if (i % 250 === 0) assert.equal(await instance(), first, `${what()}: the Worker was started again`);
  }
  assert.equal(await instance(), first, "the Worker was started again");
  console.log(`random requests: statuses ${JSON.stringify(statuses)}`);
});
