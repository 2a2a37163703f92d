// The Instagram Graph API simulator (tests/fakes/graph-api.mjs), driven directly over HTTP
// with the requests crates/instagram builds: the publishing flow, every check Meta makes on
// a container, the fault kinds, the control API, and that no token is ever recorded or logged.
// Test images are served by a small local server: hand-built JPEG headers (SOI, SOF, EOI) are
// all the simulator reads.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";
import { countHashtags, countMentions, jpegFrame, startGraphSimulator } from "../fakes/graph-api.mjs";

/** Shaped like an Instagram token, so a leak would be unmistakable. */
const TOKEN = "IGAAJZBsimulatorE2eToken0123456789abcdefXYZ";
const VERSION = "v25.0";
const FORM = "application/x-www-form-urlencoded";
const MiB = 1024 * 1024;

let sim;
let images;
const logLines = [];
before(async () => {
  images = await startImageServer();
  sim = await startGraphSimulator({ token: TOKEN, log: (line) => logLines.push(line) });
});
after(async () => {
  await sim?.close();
  await images?.close();
});
beforeEach(() => {
  sim.control.reset();
  images.hits.length = 0;
});

// ---- test images ----------------------------------------------------------------------------

/** A minimal JPEG: SOI, a JFIF APP0, a frame header (SOF0, or SOF2 when progressive), EOI. */
function jpeg(width, height, { progressive = false, padTo = 0 } = {}) {
  const app0 = [0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00];
  const sof = [
    0xff,
    progressive ? 0xc2 : 0xc0,
    0x00,
    0x11, // length: 17
    0x08, // precision
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    0x03, // components: Y, Cb, Cr
    0x01, 0x22, 0x00,
    0x02, 0x11, 0x01,
    0x03, 0x11, 0x01,
  ];
  const bytes = Buffer.from([0xff, 0xd8, ...app0, ...sof, 0xff, 0xd9]);
  return padTo > bytes.length ? Buffer.concat([bytes, Buffer.alloc(padTo - bytes.length)]) : bytes;
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

/** What the image server serves, by path. */
const IMAGES = {
  "/ok.jpg": { body: jpeg(1080, 1080) },
  "/p/2.jpg": { body: jpeg(1080, 1350, { progressive: true }) },
  "/portrait-4x5.jpg": { body: jpeg(1080, 1350) },
  "/landscape-191.jpg": { body: jpeg(1146, 600) },
  "/narrow-320.jpg": { body: jpeg(320, 320) },
  "/wide-1440.jpg": { body: jpeg(1440, 1000) },
  "/exactly-8mib.jpg": { body: jpeg(1080, 1080, { padTo: 8 * MiB }) },
  "/too-wide-ratio.jpg": { body: jpeg(1400, 700) },
  "/too-tall-ratio.jpg": { body: jpeg(1080, 1920) },
  "/too-many-px.jpg": { body: jpeg(1600, 900) },
  "/too-few-px.jpg": { body: jpeg(300, 300) },
  "/too-big.jpg": { body: jpeg(1080, 1080, { padTo: 8 * MiB + 1 }) },
  "/too-big-chunked.jpg": { body: jpeg(1080, 1080, { padTo: 9 * MiB }), chunked: true },
  "/image.png": { body: PNG, contentType: "image/png" },
  "/page.html": { body: Buffer.from("<html><body>Log in</body></html>"), contentType: "text/html" },
  "/cut-short.jpg": { body: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]) },
  "/lossless.jpg": { body: Buffer.from([0xff, 0xd8, 0xff, 0xc3, 0x00, 0x0b, 8, 0x04, 0x38, 0x04, 0x38, 1, 1, 0x11, 0]) },
  "/slow.jpg": { hang: true },
};

async function startImageServer() {
  const hits = [];
  const sockets = new Set();
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://images").pathname;
    hits.push(path);
    const image = IMAGES[path];
    if (!image) {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("not found");
    }
    if (image.hang) return; // never answers: the simulator's download times out
    res.setHeader("content-type", image.contentType ?? "image/jpeg");
    if (image.chunked) {
      // Without a content-length, the simulator can only count the bytes as they come.
      res.write(image.body.subarray(0, MiB));
      res.end(image.body.subarray(MiB));
    } else {
      res.end(image.body);
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    hits,
    at: (path) => `${url}${path}`,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---- a client that sends what crates/instagram builds ----------------------------------------

/** instagram::form_urlencode: letters, digits and `*-._` stay, space is `+`, other bytes `%XX`. */
function formUrlencode(pairs) {
  const encode = (text) =>
    [...Buffer.from(text, "utf8")]
      .map((byte) => {
        const c = String.fromCharCode(byte);
        if (/[A-Za-z0-9*\-._]/.test(c)) return c;
        if (c === " ") return "+";
        return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      })
      .join("");
  return pairs.map(([name, value]) => `${encode(name)}=${encode(value)}`).join("&");
}

/** Sends one Graph request as the publish consumer's shell will: the token only as a header. */
async function graph(method, path, { form, token = TOKEN, signal, version = VERSION } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, signal };
  if (form) {
    init.body = formUrlencode(form);
    headers["content-type"] = FORM;
  }
  const response = await fetch(`${sim.url}${version ? `/${version}` : ""}/${path}`, init);
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The five requests of GraphConfig, plus the media list. */
const ig = {
  createContainer: (imageUrl, caption = "Hello", altText = "", options) =>
    graph("POST", `${sim.userId}/media`, {
      form: [["image_url", imageUrl], ["caption", caption], ...(altText ? [["alt_text", altText]] : [])],
      ...options,
    }),
  status: (id, options) => graph("GET", `${encodeURIComponent(id)}?fields=status_code,status`, options),
  publish: (id, options) => graph("POST", `${sim.userId}/media_publish`, { form: [["creation_id", id]], ...options }),
  limit: (options) => graph("GET", `${sim.userId}/content_publishing_limit?fields=quota_usage,config`, options),
  permalink: (id, options) => graph("GET", `${encodeURIComponent(id)}?fields=permalink`, options),
  media: (options) => graph("GET", `${sim.userId}/media?fields=id,caption,permalink,timestamp`, options),
};

/** A container made from `path` on the image server; its id. */
async function container(path = "/ok.jpg", caption = "Hello") {
  const answer = await ig.createContainer(images.at(path), caption);
  assert.equal(answer.status, 200, answer.text);
  return answer.json.id;
}

/** Checks an answer is Meta's error body with this status, code and subcode. */
function assertGraphError(answer, { status = 400, code, subcode, type = "OAuthException" }, what = "") {
  const where = `${what} ${answer.status} ${answer.text}`.trim();
  assert.equal(answer.status, status, where);
  const error = answer.json?.error;
  assert.ok(error && typeof error === "object", where);
  assert.equal(error.code, code, where);
  assert.equal(error.error_subcode, subcode, where);
  assert.equal(error.type, type, where);
  assert.equal(typeof error.message, "string", where);
  assert.match(error.fbtrace_id, /^A[A-Za-z0-9_-]{22}$/, where);
}

function assertNoToken(text, where) {
  assert.ok(!text.includes(TOKEN), `${where} holds the token`);
  assert.ok(!text.includes(TOKEN.slice(-12)), `${where} holds the end of the token`);
}

// ---- the publishing flow ----------------------------------------------------------------------

test("happy path: container, status, publish, permalink, publishing limit, media list", async () => {
  const caption = "週末限定の苺タルト🍓\n\n焼きたてをどうぞ。\n#苺 #タルト #cafe_tokyo\n@friend & family 100%+α";
  const altText = "苺のタルトの写真";
  const imageUrl = images.at("/p/2.jpg?v=1&s=a b");

  const created = await ig.createContainer(imageUrl, caption, altText);
  assert.equal(created.status, 200, created.text);
  assert.match(created.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(Object.keys(created.json), ["id"]);
  assert.match(created.json.id, /^\d{17}$/);
  const containerId = created.json.id;
  assert.deepEqual(images.hits, ["/p/2.jpg"], "the simulator downloads the image itself, once");

  const status = await ig.status(containerId);
  assert.deepEqual(status.json, {
    status_code: "FINISHED",
    status: "Finished: Media has been uploaded and it is complete.",
    id: containerId,
  });

  const published = await ig.publish(containerId);
  assert.equal(published.status, 200, published.text);
  assert.deepEqual(Object.keys(published.json), ["id"]);
  const mediaId = published.json.id;
  assert.notEqual(mediaId, containerId);
  assert.equal((await ig.status(containerId)).json.status_code, "PUBLISHED");

  const permalink = await ig.permalink(mediaId);
  assert.equal(permalink.status, 200);
  assert.match(permalink.json.permalink, /^https:\/\/graph-simulator\.invalid\/p\/[A-Za-z0-9_-]{11}\/$/);
  assert.equal(permalink.json.id, mediaId);

  const limit = await ig.limit();
  assert.deepEqual(limit.json, { data: [{ quota_usage: 1, config: { quota_total: 100, quota_duration: 86400 } }] });

  const list = await ig.media();
  assert.equal(list.json.data.length, 1);
  assert.equal(list.json.data[0].id, mediaId);
  assert.equal(list.json.data[0].caption, caption);
  assert.match(list.json.data[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);

  // What Meta would have seen, exactly.
  const [create] = sim.calls;
  assert.equal(create.op, "container");
  assert.equal(create.method, "POST");
  assert.equal(create.path, `/${VERSION}/${sim.userId}/media`);
  assert.equal(create.version, VERSION);
  assert.equal(create.contentType, FORM);
  assert.deepEqual(create.body, { image_url: imageUrl, caption, alt_text: altText });
  assert.deepEqual(create.auth, { present: true, valid: true });
  assert.equal(create.status, 200);
  assert.equal(create.outcome, "answered");
  assert.equal(typeof create.at, "number");
  assert.deepEqual(
    sim.calls.map((call) => `${call.method} ${call.op} ${call.status}`),
    [
      "POST container 200",
      "GET status 200",
      "POST publish 200",
      "GET status 200",
      "GET permalink 200",
      "GET limit 200",
      "GET media 200",
    ],
  );
  assert.deepEqual(sim.calls[2].body, { creation_id: containerId });
  assert.deepEqual(sim.calls[1].query, { fields: "status_code,status" });
  assert.equal(sim.calls[2].publishedMediaId, mediaId);

  // The published media, with the bytes the simulator fetched.
  const [item] = sim.state.media();
  assert.equal(item.id, mediaId);
  assert.equal(item.containerId, containerId);
  assert.equal(item.caption, caption);
  assert.equal(item.altText, altText);
  assert.equal(item.imageUrl, imageUrl);
  assert.equal(item.image.sha256, sha256(IMAGES["/p/2.jpg"].body));
  assert.deepEqual([item.image.width, item.image.height], [1080, 1350]);
  assert.equal(item.permalink, permalink.json.permalink);
  const [state] = sim.state.containers();
  assert.equal(state.status_code, "PUBLISHED");
  assert.equal(state.mediaId, mediaId);
  assert.deepEqual(sim.state.quota(), { usage: 1, total: 100, durationSeconds: 86400 });

  for (const [where, text] of [
    ["calls", JSON.stringify(sim.calls)],
    ["state", JSON.stringify(sim.state.snapshot())],
    ["GET /__control/calls", await (await fetch(`${sim.url}/__control/calls`)).text()],
    ["log", logLines.join("\n")],
  ]) {
    assertNoToken(text, where);
  }
});

test("unversioned paths are served too, as GraphConfig builds them with an empty version", async () => {
  const answer = await graph("GET", `${sim.userId}/content_publishing_limit?fields=quota_usage`, { version: "" });
  assert.deepEqual(answer.json, { data: [{ quota_usage: 0 }] });
  assert.equal(sim.calls[0].version, null);
  assertGraphError(
    await graph("GET", `${sim.userId}/content_publishing_limit?fields=quota_usage`, { version: "v24.0" }),
    { code: 2500 },
    "another version",
  );
});

test("a container is IN_PROGRESS for N status reads and cannot be published before FINISHED", async () => {
  sim.control.configure({ finishAfterReads: 2 });
  const id = await container();
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 }, "publish before any read");
  const reads = [];
  for (let i = 0; i < 3; i += 1) reads.push((await ig.status(id)).json.status_code);
  assert.deepEqual(reads, ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]);
  assert.equal((await ig.publish(id)).status, 200);
  assert.equal(sim.state.media().length, 1);
  // A read without status_code does not count.
  const other = await container();
  assert.deepEqual((await graph("GET", `${other}?fields=id`)).json, { id: other });
  assert.equal((await ig.status(other)).json.status_code, "IN_PROGRESS");
});

test("finishAfterMs: a container is IN_PROGRESS until the delay has passed", async () => {
  sim.control.configure({ finishAfterMs: 150 });
  const id = await container();
  assert.equal((await ig.status(id)).json.status_code, "IN_PROGRESS");
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal((await ig.status(id)).json.status_code, "FINISHED");
  // The delay is taken when the container is made; a later change does not touch it.
  sim.control.configure({ finishAfterMs: 60_000 });
  assert.equal((await ig.status(id)).json.status_code, "FINISHED");
});

test("a container is published exactly once, even by concurrent calls", async () => {
  const id = await container();
  const answers = await Promise.all([ig.publish(id), ig.publish(id), ig.publish(id)]);
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400, 400]);
  for (const answer of answers.filter((a) => a.status !== 200)) {
    assertGraphError(answer, { code: 9007, subcode: 2207027 }, "a second publish");
  }
  assert.equal(sim.state.media().length, 1);
  assert.equal((await ig.status(id)).json.status_code, "PUBLISHED");
  assert.equal((await ig.limit()).json.data[0].quota_usage, 1);
});

test("media_publish calls are counted per container: a call after the one that published is a double attempt", async () => {
  const id = await container();
  const other = await container("/ok.jpg", "Other");
  // A refused try before the container is ready is no double.
  sim.control.setContainerStatus(id, "IN_PROGRESS");
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 });
  sim.control.setContainerStatus(id, null);
  assert.equal((await ig.publish(id)).status, 200);
  assert.deepEqual(
    sim.state.containers().map((c) => [c.id, c.publishCalls, c.published, c.doubleAttempts]),
    [
      [id, 2, 1, 0],
      [other, 0, 0, 0],
    ],
  );
  // A second call on the published container is refused, and counted as a double attempt;
  // so is one a fault took, since it was sent all the same.
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 }, "a double");
  sim.control.fault({ op: "publish", code: 2, message: "An unexpected error has occurred." });
  assertGraphError(await ig.publish(id), { code: 2 }, "a double a fault took");
  assert.equal(sim.calls.at(-1).containerId, id);
  assert.deepEqual(sim.state.publishCounts(), [
    { containerId: id, imageUrl: images.at("/ok.jpg"), caption: "Hello", publishCalls: 4, published: 1, doubleAttempts: 2 },
  ]);
  assert.equal(sim.state.doubleAttempts(), 2);
  assert.equal(sim.state.snapshot().doubleAttempts, 2);
  assert.equal(sim.state.media().length, 1, "refused, not posted twice");
  // Concurrent calls: the one that published is first; the others are doubles.
  assert.deepEqual((await Promise.all([ig.publish(other), ig.publish(other)])).map((a) => a.status).sort(), [200, 400]);
  assert.equal(sim.state.container(other).doubleAttempts, 1);
});

test("publishedAfterReads and publishedAfterMs: a published container reads FINISHED for a while, as Meta's status lags", async () => {
  sim.control.configure({ publishedAfterReads: 2 });
  const id = await container();
  assert.equal((await ig.publish(id)).status, 200);
  const reads = [];
  for (let i = 0; i < 3; i += 1) reads.push((await ig.status(id)).json.status_code);
  assert.deepEqual(reads, ["FINISHED", "FINISHED", "PUBLISHED"]);
  assert.equal((await ig.status(id)).json.status_code, "PUBLISHED", "once visible it stays");

  // While it still reads FINISHED, a second media_publish is refused all the same: counted.
  const lagging = await container();
  assert.equal((await ig.publish(lagging)).status, 200);
  assert.equal((await ig.status(lagging)).json.status_code, "FINISHED");
  assertGraphError(await ig.publish(lagging), { code: 9007, subcode: 2207027 }, "publish while it lags");
  assert.equal(sim.state.container(lagging).doubleAttempts, 1);
  assert.equal(sim.state.media().length, 2);
  // Reading state (no status read) makes nothing visible.
  assert.equal(sim.state.container(lagging).status_code, "FINISHED");
  assert.equal((await ig.status(lagging)).json.status_code, "FINISHED");
  assert.equal((await ig.status(lagging)).json.status_code, "PUBLISHED");

  // By time: FINISHED until the delay has passed, however many reads.
  sim.control.configure({ publishedAfterReads: 0, publishedAfterMs: 150 });
  const timed = await container();
  assert.equal((await ig.publish(timed)).status, 200);
  assert.equal((await ig.status(timed)).json.status_code, "FINISHED");
  assert.equal((await ig.status(timed)).json.status_code, "FINISHED");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal((await ig.status(timed)).json.status_code, "PUBLISHED");
  // The lag is taken when the container is published; a later change does not touch it.
  sim.control.configure({ publishedAfterMs: 0 });
  const now = await container();
  assert.equal((await ig.publish(now)).status, 200);
  assert.equal((await ig.status(now)).json.status_code, "PUBLISHED");
});

test("the media list is paged as Meta pages it: limit, the after cursor, paging.next only while more remain", async () => {
  const published = [];
  for (let i = 0; i < 7; i += 1) {
    const id = await container("/ok.jpg", `Post ${i}`);
    published.push((await ig.publish(id)).json.id);
  }
  const newestFirst = [...published].reverse();
  const page = (query) => graph("GET", `${sim.userId}/media?fields=id,caption,timestamp${query}`);

  const first = await page("&limit=3");
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.json.data.map((item) => item.id), newestFirst.slice(0, 3));
  assert.deepEqual(first.json.data.map((item) => item.caption), ["Post 6", "Post 5", "Post 4"]);
  const { cursors, next, previous } = first.json.paging;
  assert.equal(typeof cursors.before, "string");
  assert.equal(typeof cursors.after, "string");
  assert.equal(previous, undefined);
  // `next` is the URL of the next page, with the cursor as its `after`.
  const nextUrl = new URL(next);
  assert.equal(nextUrl.searchParams.get("after"), cursors.after);
  assert.equal(nextUrl.searchParams.get("limit"), "3");
  assert.equal(nextUrl.pathname, `/${VERSION}/${sim.userId}/media`);

  // A post published meanwhile goes on top; the pages after a cursor do not shift.
  const late = await container("/ok.jpg", "Late post");
  const lateId = (await ig.publish(late)).json.id;
  const second = await page(`&limit=3&after=${encodeURIComponent(cursors.after)}`);
  assert.deepEqual(second.json.data.map((item) => item.id), newestFirst.slice(3, 6));
  assert.ok(second.json.paging.next, "one more remains");
  assert.ok(second.json.paging.previous);
  const third = await page(`&limit=3&after=${encodeURIComponent(second.json.paging.cursors.after)}`);
  assert.deepEqual(third.json.data.map((item) => item.id), newestFirst.slice(6));
  assert.equal(third.json.paging.next, undefined, "no next page when none remain");
  assert.equal(typeof third.json.paging.cursors.after, "string");
  // Past the end: no data, no paging.
  const past = await page(`&limit=3&after=${encodeURIComponent(third.json.paging.cursors.after)}`);
  assert.deepEqual(past.json, { data: [] });

  // Without a limit, mediaPageSize (25 as Meta); a limit above mediaPageMax is cut to it.
  assert.equal((await page("")).json.data.length, 8);
  assert.equal((await page("")).json.paging.next, undefined);
  assert.equal((await page("")).json.data[0].id, lateId);
  sim.control.configure({ mediaPageMax: 5 });
  const capped = await page("&limit=50");
  assert.equal(capped.json.data.length, 5);
  assert.equal(new URL(capped.json.paging.next).searchParams.get("limit"), "5");
  // A cursor or limit Meta would not understand is code 100.
  assertGraphError(await page("&after=bm90LWEtY3Vyc29y"), { code: 100 }, "unknown cursor");
  assertGraphError(await page("&limit=0"), { code: 100 }, "limit 0");
  assertGraphError(await page("&limit=ten"), { code: 100 }, "limit not a number");
});

test("faults for the media list: code 100 and code 10 refusals, then the list again", async () => {
  const id = await container();
  await ig.publish(id);
  sim.control.fault([
    { op: "media", code: 100, message: "(#100) Tried accessing nonexisting field (media)" },
    { op: "media", code: 10, message: "(#10) Application does not have permission for this action" },
  ]);
  assertGraphError(await ig.media(), { code: 100 }, "first");
  assertGraphError(await ig.media(), { code: 10 }, "second");
  assert.equal((await ig.media()).json.data.length, 1);
  assert.deepEqual(
    sim.calls.filter((call) => call.op === "media").map((call) => call.fault?.kind ?? null),
    ["error", "error", null],
  );
});

test("a fault with match takes only calls about the post whose image URL or caption holds it", async () => {
  const mine = await container("/p/2.jpg?draft=aaaa", "Mine");
  const theirs = await container("/ok.jpg", "Theirs");
  sim.control.fault([
    { op: "publish", kind: "lost_answer", match: "draft=aaaa" },
    { op: "status", code: 2, match: "Mine", times: 2 },
  ]);
  // Other posts' calls pass the fault by.
  assert.equal((await ig.status(theirs)).json.status_code, "FINISHED");
  assert.equal((await ig.publish(theirs)).status, 200);
  await assert.rejects(ig.publish(mine), TypeError, "the matching publish loses its answer");
  assertGraphError(await ig.status(mine), { code: 2 });
  assertGraphError(await ig.status(mine), { code: 2 });
  assert.equal((await ig.status(mine)).json.status_code, "PUBLISHED");
  // A media's permalink read matches its post's image URL too; lists match nothing.
  const mediaId = sim.state.media().find((item) => item.containerId === mine).id;
  sim.control.fault([
    { op: "any", code: 2, match: "draft=aaaa" },
    { op: "media", code: 2, match: "Mine" },
  ]);
  assert.equal((await ig.media()).status, 200);
  assertGraphError(await ig.permalink(mediaId), { code: 2 });
  assert.equal(sim.state.faults().queued.length, 1);
  // skip: the first N matching calls pass it by.
  const skipped = await container("/ok.jpg?draft=bbbb", "Skipped");
  sim.control.fault({ op: "status", code: 10, match: "draft=bbbb", skip: 2 });
  assert.equal((await ig.status(theirs)).status, 200, "a call that does not match is not counted");
  assert.equal((await ig.status(skipped)).status, 200);
  assert.equal((await ig.status(skipped)).status, 200);
  assertGraphError(await ig.status(skipped), { code: 10 });
  assert.equal((await ig.status(skipped)).status, 200);
  // A malformed match or skip is refused.
  assert.throws(() => sim.control.fault({ op: "status", code: 2, skip: -1 }), /skip/);
  assert.throws(() => sim.control.fault({ op: "status", code: 2, match: "" }), /match/);
  assert.throws(() => sim.control.fault({ kind: "token_expired", match: "x" }), /no match/);
});

test("an unknown container cannot be published; a container has no permalink", async () => {
  assertGraphError(await ig.publish("17889455560099999"), { code: 24, subcode: 2207006 });
  assertGraphError(await graph("POST", `${sim.userId}/media_publish`, { form: [] }), { code: 100 });
  const id = await container();
  assertGraphError(await ig.permalink(id), { code: 100 }, "permalink of a container");
  assertGraphError(await ig.status("17920238422039999"), { code: 100, subcode: 33, type: "GraphMethodException" });
  assertGraphError(await ig.status("1/../me?access_token=x"), { code: 100, subcode: 33, type: "GraphMethodException" });
  assertGraphError(await graph("POST", `17841400000000001/media_publish`, { form: [["creation_id", id]] }), {
    code: 100,
    subcode: 33,
    type: "GraphMethodException",
  });
  assertGraphError(await graph("GET", `${sim.userId}/stories`), { code: 2500 });
  assertGraphError(await graph("GET", `${sim.userId}/content_publishing_limit?fields=nope`), { code: 100 });
  assert.equal(sim.state.media().length, 0);
});

// ---- what Meta checks on a container ------------------------------------------------------------

test("images Meta accepts: the limits are inclusive, baseline and progressive JPEGs", async () => {
  for (const path of [
    "/ok.jpg",
    "/p/2.jpg",
    "/portrait-4x5.jpg",
    "/landscape-191.jpg",
    "/narrow-320.jpg",
    "/wide-1440.jpg",
    "/exactly-8mib.jpg",
  ]) {
    const answer = await ig.createContainer(images.at(path));
    assert.equal(answer.status, 200, `${path}: ${answer.text}`);
  }
  const sizes = sim.state.containers().map((c) => `${c.image.width}x${c.image.height}`);
  assert.deepEqual(sizes, ["1080x1080", "1080x1350", "1080x1350", "1146x600", "320x320", "1440x1000", "1080x1080"]);
  assert.equal(sim.state.containers().at(-1).image.bytes, 8 * MiB);
});

test("each refusal answers Meta's code and subcode and makes no container", async () => {
  const long = (n) => "a".repeat(n);
  const tags = (n, sign = "#") => Array.from({ length: n }, (_, i) => `${sign}tag${i}`).join(" ");
  const cases = [
    // [what, image path or URL, caption, alt text, expected error, downloads the image]
    ["PNG", "/image.png", "Hi", "", { code: 36001, subcode: 2207005 }, true],
    ["an HTML page", "/page.html", "Hi", "", { code: 36001, subcode: 2207005 }, true],
    ["a JPEG cut short", "/cut-short.jpg", "Hi", "", { code: 36001, subcode: 2207005 }, true],
    ["a lossless JPEG", "/lossless.jpg", "Hi", "", { code: 36001, subcode: 2207005 }, true],
    ["aspect 2:1", "/too-wide-ratio.jpg", "Hi", "", { code: 36003, subcode: 2207009 }, true],
    ["aspect 9:16", "/too-tall-ratio.jpg", "Hi", "", { code: 36003, subcode: 2207009 }, true],
    ["1600 px wide", "/too-many-px.jpg", "Hi", "", { code: 36000 }, true],
    ["300 px wide", "/too-few-px.jpg", "Hi", "", { code: 36000 }, true],
    ["8 MiB and a byte", "/too-big.jpg", "Hi", "", { code: 36000, subcode: 2207004 }, true],
    ["9 MiB, no content-length", "/too-big-chunked.jpg", "Hi", "", { code: 36000, subcode: 2207004 }, true],
    ["an image that is not there", "/missing.jpg", "Hi", "", { code: 9004, subcode: 2207052 }, true],
    ["not an http URL", "ftp://example.com/a.jpg", "Hi", "", { code: 9004, subcode: 2207052 }, false],
    ["a caption of 2,201 characters", "/ok.jpg", long(2201), "", { code: 36004, subcode: 2207010 }, false],
    ["31 hashtags", "/ok.jpg", tags(31), "", { code: 36004, subcode: 2207010 }, false],
    ["31 full-width hashtags", "/ok.jpg", tags(31, "＃"), "", { code: 36004, subcode: 2207010 }, false],
    ["16 + 15 hashtags, mixed", "/ok.jpg", `${tags(16)} ${tags(15, "＃")}`, "", { code: 36004, subcode: 2207010 }, false],
    ["21 @-mentions", "/ok.jpg", tags(21, "@"), "", { code: 100, subcode: 2207040 }, false],
    ["alt text of 1,001 characters", "/ok.jpg", "Hi", long(1001), { code: 100 }, false],
  ];
  for (const [what, image, caption, altText, expected, downloads] of cases) {
    images.hits.length = 0;
    const url = image.startsWith("/") ? images.at(image) : image;
    const answer = await ig.createContainer(url, caption, altText);
    assertGraphError(answer, expected, what);
    assert.equal(sim.state.containers().length, 0, `${what}: a container was made`);
    assert.equal(images.hits.length, downloads ? 1 : 0, `${what}: downloads`);
  }
  const [aspect] = sim.calls.filter((call) => call.imageFetch?.url?.endsWith("/too-wide-ratio.jpg"));
  assert.equal(aspect.status, 400);
  assert.equal(aspect.imageFetch.sha256, sha256(IMAGES["/too-wide-ratio.jpg"].body));
  assertGraphError(await graph("POST", `${sim.userId}/media`, { form: [["caption", "no image"]] }), { code: 100 });
});

test("the aspect-ratio message names the ratio as Meta does", async () => {
  const answer = await ig.createContainer(images.at("/too-wide-ratio.jpg"));
  assert.match(answer.json.error.message, /aspect ratio \('2:1'\) cannot be published/);
});

test("a download slower than the limit answers Meta's timeout", async () => {
  sim.control.configure({ imageFetchTimeoutMs: 150 });
  assertGraphError(await ig.createContainer(images.at("/slow.jpg")), { code: -2, subcode: 2207003 });
  assert.equal(sim.state.containers().length, 0);
});

test("caption limits are inclusive and counted in characters", async () => {
  const tags = (n, sign) => Array.from({ length: n }, (_, i) => `${sign}t${i}`).join(" ");
  for (const caption of [
    "🍰".repeat(2200), // 2,200 characters, 4,400 UTF-16 units
    `${tags(15, "#")} ${tags(15, "＃")}`,
    tags(20, "@"),
    "C# and F# are languages; ## is not a tag; write to team@example.com",
  ]) {
    const answer = await ig.createContainer(images.at("/ok.jpg"), caption, "a".repeat(1000));
    assert.equal(answer.status, 200, `${caption.slice(0, 40)}: ${answer.text}`);
  }
  assert.equal(countHashtags("#a ＃b #c#d ## # ＃"), 4);
  assert.equal(countHashtags("C# F# #"), 0);
  assert.equal(countMentions("@a ＠b mail@example.com (@c) @ @"), 3);
  sim.control.configure({ limits: { maxHashtags: 5 } });
  assertGraphError(await ig.createContainer(images.at("/ok.jpg"), tags(6, "#")), { code: 36004, subcode: 2207010 });
});

test("the JPEG reader finds the frame header after other segments", () => {
  assert.deepEqual(jpegFrame(jpeg(1080, 1350)), { width: 1080, height: 1350, progressive: false });
  assert.deepEqual(jpegFrame(jpeg(640, 512, { progressive: true })), { width: 640, height: 512, progressive: true });
  const withExif = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0x00, 0x04, 0xaa, 0xbb]), jpeg(800, 800).subarray(2)]);
  assert.deepEqual(jpegFrame(withExif), { width: 800, height: 800, progressive: false });
  assert.match(jpegFrame(PNG).error, /PNG/);
  assert.match(jpegFrame(Buffer.alloc(0)).error, /empty/);
});

// ---- the token ----------------------------------------------------------------------------------

test("a wrong, missing or query-only token answers 190; no token is recorded or logged", async () => {
  const wrong = "IGAAJZBwrongTokenForTheSimulator0123456789";
  const cases = [
    ["a wrong token", () => ig.limit({ token: wrong })],
    ["no token", () => ig.limit({ token: null })],
    ["another scheme", () => fetch(`${sim.url}/${VERSION}/${sim.userId}/media`, { headers: { authorization: `Basic ${TOKEN}` } })],
    [
      "the token in the query",
      () => graph("GET", `${sim.userId}/content_publishing_limit?fields=quota_usage&access_token=${TOKEN}`, { token: null }),
    ],
    [
      "the token in the body",
      () => graph("POST", `${sim.userId}/media`, { form: [["image_url", images.at("/ok.jpg")], ["access_token", TOKEN]], token: null }),
    ],
  ];
  for (const [what, send] of cases) {
    let answer = await send();
    if (answer instanceof Response) answer = { status: answer.status, headers: answer.headers, text: await answer.text() };
    answer.json ??= JSON.parse(answer.text);
    assertGraphError(answer, { code: 190 }, what);
    assert.match(answer.headers.get("www-authenticate"), /^OAuth "Facebook Platform" "invalid_token"/, what);
  }
  assert.deepEqual(
    sim.calls.map((call) => [call.auth.present, call.auth.valid, call.tokenInQuery, call.tokenInBody]),
    [
      [true, false, false, false],
      [false, false, false, false],
      [false, false, false, false],
      [false, false, true, false],
      [false, false, false, true],
    ],
  );
  assert.equal(sim.calls[3].query.access_token, "[redacted]");
  assert.equal(sim.calls[4].body.access_token, "[redacted]");
  assert.equal(sim.state.containers().length, 0);
  assert.equal(images.hits.length, 0, "nothing is downloaded for an unauthenticated call");
  for (const [where, text] of [
    ["calls", JSON.stringify(sim.calls)],
    ["state", JSON.stringify(sim.state.snapshot())],
    ["log", logLines.join("\n")],
  ]) {
    assertNoToken(text, where);
    assert.ok(!text.includes(wrong), `${where} holds the wrong token`);
  }
});

test("the exact shape of the invalid-token answer", async () => {
  const answer = await ig.limit({ token: "nope" });
  assert.equal(answer.status, 400);
  const { fbtrace_id: _trace, ...error } = answer.json.error;
  assert.deepEqual(error, {
    message: "Invalid OAuth access token - Cannot parse access token",
    type: "OAuthException",
    code: 190,
  });
});

// ---- faults -------------------------------------------------------------------------------------

test("fault: any error code, subcode, status and message, for the next N calls of one operation", async () => {
  sim.control.fault({
    op: "publish",
    times: 2,
    kind: "error",
    status: 500,
    code: -1,
    subcode: 2207001,
    message: "An unexpected error has occurred. Please retry your request later.",
    isTransient: true,
  });
  const id = await container(); // a container call is not a publish: no fault
  for (let i = 0; i < 2; i += 1) {
    const answer = await ig.publish(id);
    assertGraphError(answer, { status: 500, code: -1, subcode: 2207001 }, `publish ${i + 1}`);
    assert.equal(answer.json.error.message, "An unexpected error has occurred. Please retry your request later.");
    assert.equal(answer.json.error.is_transient, true);
  }
  assert.equal(sim.state.media().length, 0, "a faulted publish publishes nothing");
  assert.equal((await ig.publish(id)).status, 200, "the third call is answered normally");
  assert.deepEqual(
    sim.calls.map((call) => call.fault?.kind ?? null),
    [null, "error", "error", null],
  );

  // "any" matches every operation, in queue order with the others.
  sim.control.fault([
    { op: "any", kind: "error", code: 2, message: "Service temporarily unavailable" },
    { op: "status", kind: "error", code: 24, subcode: 2207008, status: 400 },
  ]);
  assertGraphError(await ig.limit(), { code: 2 });
  assertGraphError(await ig.status(id), { code: 24, subcode: 2207008 });
  assert.equal((await ig.status(id)).json.status_code, "PUBLISHED");
});

test("fault: a raw answer without a Graph error body", async () => {
  sim.control.fault({ op: "status", kind: "raw", status: 503, body: "<html><body>Service Unavailable</body></html>" });
  const id = await container();
  const answer = await ig.status(id);
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get("content-type"), "text/html");
  assert.equal(answer.text, "<html><body>Service Unavailable</body></html>");
});

test("fault: 429 with Retry-After; bare, Meta-shaped, or with the business-use-case header", async () => {
  sim.control.fault([
    { op: "container", kind: "rate_limit", retryAfter: 45, bare: true },
    { op: "container", kind: "rate_limit", retryAfter: 60 },
    { op: "container", kind: "rate_limit", status: 400, code: 80002, regainAccessMinutes: 5 },
  ]);
  const bare = await ig.createContainer(images.at("/ok.jpg"));
  assert.equal(bare.status, 429);
  assert.equal(bare.headers.get("retry-after"), "45");
  assert.equal(bare.text, "");
  const shaped = await ig.createContainer(images.at("/ok.jpg"));
  assertGraphError(shaped, { status: 429, code: 4 });
  assert.equal(shaped.headers.get("retry-after"), "60");
  const buc = await ig.createContainer(images.at("/ok.jpg"));
  assertGraphError(buc, { status: 400, code: 80002 });
  const usage = JSON.parse(buc.headers.get("x-business-use-case-usage"));
  assert.equal(usage[sim.userId][0].estimated_time_to_regain_access, 5);
  assert.equal(images.hits.length, 0, "a throttled call downloads nothing");
  assert.equal(sim.state.containers().length, 0);
});

test("fault: latency delays the answer, and can delay an error too", async () => {
  sim.control.fault({ op: "limit", kind: "latency", delayMs: 250 });
  let started = Date.now();
  const slow = await ig.limit();
  assert.ok(Date.now() - started >= 240, `answered after ${Date.now() - started} ms`);
  assert.equal(slow.status, 200);
  assert.ok(sim.calls[0].durationMs >= 240);

  sim.control.fault({ op: "limit", kind: "error", code: 1, delayMs: 150 });
  started = Date.now();
  assertGraphError(await ig.limit(), { code: 1 });
  assert.ok(Date.now() - started >= 140);
});

test("fault: a hang never answers; the client's own timeout ends the call", async () => {
  sim.control.fault({ op: "status", kind: "hang" });
  const id = await container();
  const started = Date.now();
  await assert.rejects(ig.status(id, { signal: AbortSignal.timeout(300) }), { name: "TimeoutError" });
  assert.ok(Date.now() - started >= 290);
  const hung = sim.calls.at(-1);
  assert.equal(hung.op, "status");
  assert.equal(hung.outcome, "hung");
  assert.equal(hung.status, null);
  // Only that call hung: the next one is answered.
  assert.equal((await ig.status(id, { signal: AbortSignal.timeout(2000) })).json.status_code, "FINISHED");
});

test("fault: an expired token answers 190/463 for every call until cleared", async () => {
  const id = await container();
  sim.control.fault({ kind: "token_expired" });
  for (const send of [() => ig.status(id), () => ig.publish(id), () => ig.limit(), () => ig.createContainer(images.at("/ok.jpg"))]) {
    const answer = await send();
    assertGraphError(answer, { code: 190, subcode: 463 });
    assert.match(answer.json.error.message, /^Error validating access token: Session has expired/);
  }
  assert.equal(sim.state.media().length, 0);
  sim.control.fault({ kind: "token_expired", subcode: 460 });
  assertGraphError(await ig.limit(), { code: 190, subcode: 460 });
  sim.control.clearFaults("token_expired");
  assert.equal((await ig.publish(id)).status, 200);
});

test("fault: the quota exhausted answers code 9 / 2207042 until cleared", async () => {
  const id = await container();
  sim.control.fault({ kind: "quota_exhausted" });
  const answer = await ig.publish(id);
  assertGraphError(answer, { code: 9, subcode: 2207042 });
  assert.equal(answer.json.error.error_user_title, "Max posts per day reached");
  assert.deepEqual((await ig.limit()).json.data[0], { quota_usage: 100, config: { quota_total: 100, quota_duration: 86400 } });
  assert.equal((await ig.status(id)).json.status_code, "FINISHED", "the container is still publishable later");
  sim.control.clearFaults();
  assert.equal((await ig.publish(id)).status, 200);
});

test("the quota runs out for real and frees up after the rolling window", async () => {
  sim.control.configure({ quotaTotal: 2 });
  for (let i = 0; i < 2; i += 1) assert.equal((await ig.publish(await container())).status, 200);
  const third = await container();
  assertGraphError(await ig.publish(third), { code: 9, subcode: 2207042 });
  assert.equal((await ig.limit()).json.data[0].quota_usage, 2);
  sim.control.advanceClock(12 * 60 * 60 * 1000);
  assertGraphError(await ig.publish(third), { code: 9, subcode: 2207042 }, "half a day later");
  // A container made now, so that it does not expire with the window.
  const fresh = await container();
  sim.control.advanceClock(12 * 60 * 60 * 1000 + 1000);
  assert.equal((await ig.limit()).json.data[0].quota_usage, 0);
  assert.equal((await ig.publish(fresh)).status, 200);
  assert.equal(sim.state.media().length, 3);
});

test("fault: published, but the connection is destroyed before the answer: exactly one media", async () => {
  const id = await container();
  sim.control.fault({ kind: "lost_answer" });
  await assert.rejects(ig.publish(id), TypeError, "the client sees a broken connection");
  const lost = sim.calls.at(-1);
  assert.equal(lost.outcome, "destroyed");
  assert.equal(lost.status, null);
  assert.match(lost.publishedMediaId, /^\d{17}$/);
  // Reconciling: the container says it went out; publishing again does not post twice.
  assert.equal((await ig.status(id)).json.status_code, "PUBLISHED");
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 }, "a retry");
  const media = sim.state.media();
  assert.equal(media.length, 1);
  assert.equal(media[0].id, lost.publishedMediaId);
  assert.equal(media[0].containerId, id);
  assert.deepEqual((await ig.media()).json.data.map((item) => item.id), [lost.publishedMediaId]);
});

test("fault: published, but a 500 without the id comes back", async () => {
  const id = await container();
  sim.control.fault({ kind: "lost_answer", mode: "500" });
  const answer = await ig.publish(id);
  assertGraphError(answer, { status: 500, code: 2 });
  assert.equal(answer.json.id, undefined);
  assert.equal(sim.state.media().length, 1);
  assert.equal((await ig.status(id)).json.status_code, "PUBLISHED");

  const other = await container();
  sim.control.fault({ kind: "lost_answer", mode: "hang" });
  await assert.rejects(ig.publish(other, { signal: AbortSignal.timeout(200) }), { name: "TimeoutError" });
  assert.equal(sim.calls.at(-1).outcome, "hung");
  assert.equal(sim.state.media().length, 2);
});

test("a lost-answer fault on a publish that fails loses nothing: the error is answered", async () => {
  sim.control.configure({ finishAfterReads: 1 });
  const id = await container();
  sim.control.fault({ kind: "lost_answer" });
  assertGraphError(await ig.publish(id), { code: 9007, subcode: 2207027 });
  assert.equal(sim.state.media().length, 0);
});

test("a container forced to ERROR, and one left to expire", async () => {
  const failed = await container();
  sim.control.setContainerStatus(failed, "ERROR", { subcode: 2207003 });
  const status = await ig.status(failed);
  assert.deepEqual(status.json, {
    status_code: "ERROR",
    status: "Error: Media upload has failed with error code 2207003",
    id: failed,
  });
  assertGraphError(await ig.publish(failed), { code: -1, subcode: 2207032 });

  const stale = await container();
  sim.control.advanceClock(24 * 60 * 60 * 1000);
  assert.equal((await ig.status(stale)).json.status_code, "EXPIRED");
  assertGraphError(await ig.publish(stale), { code: -2, subcode: 2207020 });
  assert.equal(sim.state.media().length, 0);
});

// ---- the control API over HTTP ---------------------------------------------------------------

async function controlCall(method, path, body) {
  const response = await fetch(`${sim.url}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

test("control over HTTP: faults, calls, state, config, clock, containers, reset; no token needed", async () => {
  const queued = await controlCall("POST", "/faults", [
    { op: "container", kind: "error", code: 36003, subcode: 2207009, message: "bad ratio" },
    { kind: "token_expired", subcode: 467 },
  ]);
  assert.equal(queued.status, 200);
  assert.deepEqual(queued.json.added.map((f) => [f.op, f.kind]), [
    ["container", "error"],
    ["any", "token_expired"],
  ]);
  assert.equal(queued.json.queued.length, 1);
  assert.equal(queued.json.sticky.length, 1);
  assertGraphError(await ig.createContainer(images.at("/ok.jpg")), { code: 36003, subcode: 2207009 });
  assertGraphError(await ig.limit(), { code: 190, subcode: 467 });
  assert.deepEqual((await controlCall("DELETE", "/faults?kind=token_expired")).json, { queued: [], sticky: [] });

  assert.deepEqual((await controlCall("POST", "/config", { finishAfterReads: 1 })).json.config.finishAfterReads, 1);
  const id = await container();
  assert.equal((await ig.status(id)).json.status_code, "IN_PROGRESS");
  const forced = await controlCall("POST", `/containers/${id}`, { status_code: "EXPIRED" });
  assert.equal(forced.json.container.status_code, "EXPIRED");
  assert.equal((await ig.status(id)).json.status_code, "EXPIRED");

  const calls = await controlCall("GET", "/calls");
  assert.equal(calls.json.calls.length, sim.calls.length);
  assert.deepEqual((await controlCall("GET", "/calls?op=status")).json.calls.map((c) => c.op), ["status", "status"]);
  const state = await controlCall("GET", "/state");
  assert.equal(state.json.containers.length, 1);
  assert.equal(state.json.containers[0].status_code, "EXPIRED");
  assert.deepEqual(state.json.quota, { usage: 0, total: 100, durationSeconds: 86400 });
  assert.equal(state.json.userId, sim.userId);

  assert.equal((await controlCall("POST", "/clock", { advanceMs: 1000 })).json.clockOffsetMs, 1000);
  assert.deepEqual((await controlCall("POST", "/reset")).json, { reset: true });
  const empty = await controlCall("GET", "/state");
  assert.deepEqual([empty.json.containers, empty.json.media, empty.json.calls, empty.json.clockOffsetMs], [[], [], 0, 0]);
  assert.equal(empty.json.config.finishAfterReads, 0, "reset restores the settings");
  assert.equal(sim.calls.length, 0, "control calls are not recorded");
});

test("control rejects malformed faults and unknown endpoints", async () => {
  for (const spec of [
    { kind: "explode" },
    { op: "delete", kind: "hang" },
    { kind: "error" },
    { kind: "lost_answer", op: "status" },
    { kind: "lost_answer", mode: "maybe" },
    { kind: "hang", times: 0 },
    [1],
  ]) {
    const answer = await controlCall("POST", "/faults", spec);
    assert.equal(answer.status, 400, JSON.stringify(spec));
    assert.throws(() => sim.control.fault(spec), Error, JSON.stringify(spec));
  }
  assert.equal((await controlCall("POST", "/config", { colour: "red" })).status, 400);
  assert.equal((await controlCall("POST", "/containers/123", { status_code: "FINISHED" })).status, 400);
  assert.equal((await controlCall("GET", "/nothing")).status, 404);
  assert.deepEqual(sim.state.faults(), { queued: [], sticky: [] });
});

test("reset closes hung calls", async () => {
  sim.control.fault({ kind: "hang" });
  const pending = ig.limit();
  while (sim.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  sim.control.reset();
  await assert.rejects(pending, TypeError);
});

// ---- scripts/graph-simulator ---------------------------------------------------------------------

test("scripts/graph-simulator starts on the given port and prints its URL and token", async () => {
  const script = fileURLToPath(new URL("../../scripts/graph-simulator", import.meta.url));
  const child = spawn(script, [], { env: { ...process.env, GRAPH_SIMULATOR_PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    let timer;
    const url = await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        out += chunk;
        const match = /URL\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match && out.includes("token")) resolve(match[1]);
      });
      child.on("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
      timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 5000);
    }).finally(() => clearTimeout(timer));
    assert.match(out, /token\s+local-simulator-token/);
    const answer = await fetch(`${url}/${VERSION}/17841405822304914/content_publishing_limit?fields=quota_usage`, {
      headers: { authorization: "Bearer local-simulator-token" },
    });
    assert.deepEqual(await answer.json(), { data: [{ quota_usage: 0 }] });
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
});

// ---- several accounts, and Instagram Login ---------------------------------------------------------

const REDIRECT = "https://pipeline.example/review/accounts/callback";
const SCOPE = "instagram_business_basic,instagram_business_content_publish";

/** Sends a request to the simulator's base URL without a version or a token header. */
async function plain(method, path, { form, headers = {}, redirect = "manual" } = {}) {
  const init = { method, headers: { ...headers }, redirect };
  if (form) {
    init.body = new URLSearchParams(form).toString();
    init.headers["content-type"] = FORM;
  }
  const response = await fetch(`${sim.url}${path}`, init);
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The authorization page's URL with these parameters (the app's own by default). */
function authorizeUrl(params = {}) {
  const query = new URLSearchParams({
    client_id: sim.app.appId,
    redirect_uri: REDIRECT,
    response_type: "code",
    scope: SCOPE,
    state: "st-8f1c",
    ...params,
  });
  return `/oauth/authorize?${query}`;
}

/** The Allow links of an authorization page, by username. */
function allowLinks(html) {
  const links = {};
  for (const match of html.matchAll(/<li data-user-id="(\d+)" data-username="([^"]+)">.*?<a class="allow" role="button" href="([^"]+)">Allow<\/a><\/li>/g)) {
    links[match[2]] = { userId: match[1], href: match[3].replaceAll("&amp;", "&") };
  }
  return links;
}

/** Opens the page, clicks Allow for `username`, and returns the code and state it redirects with. */
async function authorize(username, params) {
  const page = await plain("GET", authorizeUrl(params));
  assert.equal(page.status, 200, page.text);
  const link = allowLinks(page.text)[username];
  assert.ok(link, `no Allow link for @${username}: ${page.text}`);
  const click = await plain("GET", link.href);
  assert.equal(click.status, 302, click.text);
  const location = new URL(click.headers.get("location"));
  assert.equal(`${location.origin}${location.pathname}`, params?.redirect_uri ?? REDIRECT);
  assert.equal(location.hash, "#_", "Meta appends #_ to the redirect");
  return { code: location.searchParams.get("code"), state: location.searchParams.get("state"), location };
}

function exchangeCode(code, overrides = {}) {
  return plain("POST", "/oauth/access_token", {
    form: { client_id: sim.app.appId, client_secret: sim.app.appSecret, grant_type: "authorization_code", redirect_uri: REDIRECT, code, ...overrides },
  });
}

function longLived(token, secret = sim.app.appSecret) {
  return plain("GET", `/access_token?${new URLSearchParams({ grant_type: "ig_exchange_token", client_secret: secret, access_token: token })}`);
}

function refresh(token) {
  return plain("GET", `/refresh_access_token?${new URLSearchParams({ grant_type: "ig_refresh_token", access_token: token })}`);
}

/** A container made and published for the account of `token` at `user`; the media id. */
async function publishAs(user, token, caption) {
  const created = await graph("POST", `${user}/media`, { form: [["image_url", images.at("/ok.jpg")], ["caption", caption]], token });
  assert.equal(created.status, 200, created.text);
  const published = await graph("POST", `${user}/media_publish`, { form: [["creation_id", created.json.id]], token });
  assert.equal(published.status, 200, published.text);
  return published.json.id;
}

test("two accounts publish to their own media, quota and list; the default account stays the first", async () => {
  const shop = sim.control.addAccount({ username: "shop_tokyo", quotaTotal: 1 });
  assert.match(shop.userId, /^\d{17}$/);
  assert.notEqual(shop.userId, sim.userId);
  assert.match(shop.token, /^IGAA[A-Za-z0-9_-]{40}$/);
  // Accounts added by earlier tests stay (reset keeps accounts): the default one is first.
  assert.deepEqual(sim.accounts()[0], { userId: sim.userId, username: "local_simulator", token: TOKEN });
  assert.deepEqual(sim.accounts().at(-1), shop);

  const mine = await publishAs(sim.userId, TOKEN, "Default account's post");
  const theirs = await publishAs(shop.userId, shop.token, "Shop's post");
  assert.deepEqual(sim.state.media(sim.userId).map((item) => item.id), [mine]);
  assert.deepEqual(sim.state.media(shop.userId).map((item) => item.id), [theirs]);
  // Each account lists only its own media, with its own username.
  const listed = await graph("GET", `${shop.userId}/media?fields=id,username`, { token: shop.token });
  assert.deepEqual(listed.json.data, [{ id: theirs, username: "shop_tokyo" }]);
  assert.deepEqual((await ig.media()).json.data.map((item) => item.id), [mine]);
  // Quotas are per account: the shop's one post used its quota of 1; the default has 100.
  assert.deepEqual((await graph("GET", `${shop.userId}/content_publishing_limit?fields=quota_usage,config`, { token: shop.token })).json, {
    data: [{ quota_usage: 1, config: { quota_total: 1, quota_duration: 86400 } }],
  });
  assert.deepEqual(sim.state.quota(), { usage: 1, total: 100, durationSeconds: 86400 });
  const another = await graph("POST", `${shop.userId}/media`, { form: [["image_url", images.at("/ok.jpg")]], token: shop.token });
  assertGraphError(await graph("POST", `${shop.userId}/media_publish`, { form: [["creation_id", another.json.id]], token: shop.token }), {
    code: 9,
    subcode: 2207042,
  });
  assert.equal((await publishAs(sim.userId, TOKEN, "Still room here")).length, 17);
  assert.equal(sim.calls.find((call) => call.op === "container" && call.account === shop.userId).tokenRef, sim.state.tokenRef(shop.token));
  // reset keeps the accounts and their start tokens, and empties their media.
  sim.control.reset();
  assert.deepEqual(
    sim.state.accounts().filter((account) => ["local_simulator", "shop_tokyo"].includes(account.username)).map((account) => [account.username, account.media, account.quota.total]),
    [
      ["local_simulator", 0, 100],
      ["shop_tokyo", 0, 1],
    ],
  );
  assert.equal((await graph("GET", "me?fields=username", { token: shop.token })).json.username, "shop_tokyo");
});

test("a token of one account is refused on another account's objects with 100/33, as Meta answers an object it cannot see", async () => {
  const shop = sim.control.addAccount({ username: "shop_osaka" });
  const id = await container();
  const cases = [
    ["a container for the other account", () => graph("POST", `${shop.userId}/media`, { form: [["image_url", images.at("/ok.jpg")]] })],
    ["its publishing limit", () => graph("GET", `${shop.userId}/content_publishing_limit?fields=quota_usage`)],
    ["its media", () => graph("GET", `${shop.userId}/media?fields=id`)],
    ["its account", () => graph("GET", `${shop.userId}?fields=username`)],
    ["the default account's container, read with the shop's token", () => ig.status(id, { token: shop.token })],
  ];
  for (const [what, send] of cases) {
    assertGraphError(await send(), { code: 100, subcode: 33, type: "GraphMethodException" }, what);
  }
  // Publishing the default account's container under the shop: the container is not the shop's.
  assertGraphError(await graph("POST", `${shop.userId}/media_publish`, { form: [["creation_id", id]], token: shop.token }), {
    code: 24,
    subcode: 2207006,
  });
  assert.equal(sim.state.media().length, 0);
  assert.equal(images.hits.length, 1, "only the default account's own container downloaded its image");
});

test("Instagram Login: authorize, Allow, code, short-lived token, long-lived token, /me, refresh", async () => {
  const shop = sim.control.addAccount({ username: "shop_kyoto" });
  const { code, state } = await authorize("shop_kyoto");
  assert.equal(state, "st-8f1c");
  assert.match(code, /^AQ[A-Za-z0-9_-]{40,}$/);

  const short = await exchangeCode(code);
  assert.equal(short.status, 200, short.text);
  // user_id is a JSON number, as Meta sends it: read it from the text, not through a double.
  assert.match(short.text, new RegExp(`"user_id":${shop.userId}[,}]`));
  assert.equal(short.json.permissions, SCOPE);
  const shortInfo = sim.state.token(short.json.access_token);
  assert.deepEqual([shortInfo.userId, shortInfo.kind, shortInfo.origin], [shop.userId, "short", "code"]);
  assert.equal(shortInfo.expiresAt - shortInfo.issuedAt, 3600 * 1000);

  const long = await longLived(short.json.access_token);
  assert.equal(long.status, 200, long.text);
  assert.deepEqual(Object.keys(long.json).sort(), ["access_token", "expires_in", "token_type"]);
  assert.deepEqual([long.json.token_type, long.json.expires_in], ["bearer", 5184000]);
  const longToken = long.json.access_token;
  assert.equal(sim.state.token(longToken).kind, "long");

  for (const path of ["v25.0/me?fields=user_id,username", "me?fields=user_id,username"]) {
    const me = await plain("GET", `/${path}`, { headers: { authorization: `Bearer ${longToken}` } });
    assert.deepEqual(me.json, { user_id: shop.userId, username: "shop_kyoto", id: shop.userId }, path);
  }
  assert.equal((await plain("GET", `/me?fields=username&access_token=${longToken}`)).json.username, "shop_kyoto", "token as a parameter");
  // The long-lived token publishes to the shop's account.
  const mediaId = await publishAs(shop.userId, longToken, "Connected through Instagram Login");
  assert.deepEqual(sim.state.media(shop.userId).map((item) => item.id), [mediaId]);

  // A day later it can be refreshed: a new token for 60 days; the old one works until it expires.
  sim.control.advanceClock(24 * 60 * 60 * 1000);
  const renewed = await refresh(longToken);
  assert.equal(renewed.status, 200, renewed.text);
  assert.deepEqual([renewed.json.token_type, renewed.json.expires_in], ["bearer", 5184000]);
  assert.notEqual(renewed.json.access_token, longToken);
  assert.equal(sim.state.token(renewed.json.access_token).origin, "refresh");
  assert.equal(sim.state.token(renewed.json.access_token).expiresInSeconds, 5184000);
  for (const value of [longToken, renewed.json.access_token]) {
    assert.equal((await graph("GET", "me?fields=username", { token: value })).json.username, "shop_kyoto");
  }
  assert.deepEqual(
    sim.calls.filter((call) => ["authorize", "allow", "token", "exchange", "refresh"].includes(call.op)).map((call) => [call.op, call.status, call.account]),
    [
      ["authorize", 200, null],
      ["allow", 302, shop.userId],
      ["token", 200, shop.userId],
      ["exchange", 200, shop.userId],
      ["refresh", 200, shop.userId],
    ],
  );
  assert.equal(sim.calls.find((call) => call.op === "refresh").issuedTokenRef, sim.state.tokenRef(renewed.json.access_token));
  // No token, code or secret is recorded, in calls, state or the log.
  const recorded = [JSON.stringify(sim.calls), JSON.stringify(sim.state.snapshot()), logLines.join("\n"), await (await fetch(`${sim.url}/__control/calls`)).text()];
  for (const secret of [code, short.json.access_token, longToken, renewed.json.access_token, sim.app.appSecret]) {
    for (const text of recorded) assert.ok(!text.includes(secret), "a secret was recorded");
  }
  assert.equal(sim.calls.find((call) => call.op === "token").body.client_secret, "[redacted]");
});

test("refresh is refused while a token is under a day old, once it expired, and for a short-lived token", async () => {
  const shop = sim.control.addAccount({ username: "shop_nagoya" });
  const young = await refresh(shop.token);
  assertGraphError(young, { code: 100 }, "a token issued now");
  assert.match(young.json.error.message, /at least 24 hours old/);
  sim.control.setTokenAge(shop.token, 86399);
  assertGraphError(await refresh(shop.token), { code: 100 }, "a second short of a day");
  // 9 days from expiry and 51 days old: refreshed.
  const [aged] = sim.control.setTokenAge(shop.token, 51 * 86400);
  assert.equal(aged.expiresInSeconds, 9 * 86400);
  assert.equal((await refresh(shop.token)).status, 200);
  // Expired: 190/463, and the token publishes nothing any more.
  sim.control.expire(shop.token);
  assertGraphError(await refresh(shop.token), { code: 190, subcode: 463 }, "expired");
  assertGraphError(await graph("GET", `${shop.userId}/content_publishing_limit?fields=quota_usage`, { token: shop.token }), { code: 190, subcode: 463 });
  // Expiry by the clock too: a token 1 second from expiry, then a second later.
  const soon = sim.control.issueToken(shop.userId, { ageSeconds: 2 * 86400, expiresInSeconds: 1 });
  assert.equal((await refresh(soon)).status, 200);
  sim.control.advanceClock(1000);
  assertGraphError(await refresh(soon), { code: 190, subcode: 463 }, "expired by the clock");
  const short = sim.control.issueToken(shop.userId, { kind: "short", ageSeconds: 1800 });
  assertGraphError(await refresh(short), { code: 100 }, "a short-lived token");
  assertGraphError(await longLived(sim.control.issueToken(shop.userId)), { code: 100 }, "a long-lived token is not exchanged again");
  assertGraphError(await longLived(short, "wrong-secret"), { code: 101 }, "a wrong app secret");
  assertGraphError(await plain("GET", `/refresh_access_token?grant_type=nope&access_token=${short}`), { code: 100 }, "a wrong grant type");
});

test("a revoked token answers 190/460 everywhere; revoking an account's tokens ends them all", async () => {
  const shop = sim.control.addAccount({ username: "shop_kobe" });
  const second = sim.control.issueToken(shop.userId, { ageSeconds: 2 * 86400 });
  const [revoked] = sim.control.revoke(shop.token);
  assert.deepEqual(revoked.revoked, { subcode: 460 });
  for (const [what, send] of [
    ["publishing limit", () => graph("GET", `${shop.userId}/content_publishing_limit?fields=quota_usage`, { token: shop.token })],
    ["me", () => graph("GET", "me?fields=username", { token: shop.token })],
    ["refresh", () => refresh(shop.token)],
  ]) {
    const answer = await send();
    assertGraphError(answer, { code: 190, subcode: 460 }, what);
    assert.match(answer.json.error.message, /changed their password/, what);
  }
  // The account's other token still works until the account's tokens are all revoked.
  assert.equal((await refresh(second)).status, 200);
  sim.control.revoke({ userId: shop.userId }, { subcode: 458 });
  assertGraphError(await graph("GET", "me", { token: second }), { code: 190, subcode: 458 });
  // The default account is untouched.
  assert.equal((await ig.limit()).status, 200);
  // Over HTTP too, naming the token by its reference.
  const third = sim.control.issueToken(shop.userId);
  const answer = await fetch(`${sim.url}/__control/tokens/revoke`, { method: "POST", body: JSON.stringify({ ref: sim.state.tokenRef(third) }) });
  assert.equal((await answer.json()).tokens[0].revoked.subcode, 460);
  assertGraphError(await graph("GET", "me", { token: third }), { code: 190, subcode: 460 });
});

test("a code is single-use, expires in minutes, and is bound to the app and the redirect URI", async () => {
  sim.control.addAccount({ username: "shop_sendai" });
  const first = await authorize("shop_sendai");
  assert.equal((await exchangeCode(first.code)).status, 200);
  const reused = await exchangeCode(first.code);
  assert.equal(reused.status, 400);
  assert.deepEqual(reused.json, { error_type: "OAuthException", code: 400, error_message: "This authorization code has been used" });

  const second = await authorize("shop_sendai");
  const cases = [
    ["another app", { client_id: "123" }, "Invalid platform app"],
    ["a wrong secret", { client_secret: "nope" }, "Error validating client secret."],
    ["another grant type", { grant_type: "password" }, "Unsupported grant_type: password"],
    ["an unknown code", { code: "AQnotacode" }, "Invalid authorization code"],
  ];
  for (const [what, overrides, message] of cases) {
    const answer = await exchangeCode(second.code, overrides);
    assert.equal(answer.status, 400, what);
    assert.equal(answer.json.error_message, message, what);
  }
  // Those refusals did not spend it; another redirect URI does.
  const elsewhere = await exchangeCode(second.code, { redirect_uri: "https://evil.example/callback" });
  assert.match(elsewhere.json.error_message, /redirect_uri is identical/);
  assert.equal((await exchangeCode(second.code)).json.error_message, "This authorization code has been used");

  const late = await authorize("shop_sendai");
  sim.control.advanceClock(600 * 1000);
  assert.equal((await exchangeCode(late.code)).json.error_message, "This authorization code has expired");
  assert.equal(sim.state.tokens().filter((token) => token.origin === "code").length, 1, "one short-lived token in all");
});

test("the authorization page lists every account with an Allow link carrying state; Cancel and bad requests", async () => {
  const shop = sim.control.addAccount({ username: "shop_fukuoka" });
  const page = await plain("GET", authorizeUrl({ state: "a&b=<c>" }));
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /^text\/html/);
  const links = allowLinks(page.text);
  assert.deepEqual(Object.keys(links), sim.accounts().map((account) => account.username));
  assert.equal(Object.keys(links)[0], "local_simulator");
  assert.equal(links.shop_fukuoka.userId, shop.userId);
  const allowHref = new URL(links.shop_fukuoka.href, sim.url);
  assert.equal(allowHref.searchParams.get("state"), "a&b=<c>");
  assert.equal(allowHref.searchParams.get("redirect_uri"), REDIRECT);
  assert.ok(!page.text.includes("a&b=<c>"), "state is escaped in the page");
  const click = await plain("GET", links.shop_fukuoka.href);
  const location = new URL(click.headers.get("location"));
  assert.equal(location.searchParams.get("state"), "a&b=<c>");
  assert.ok(location.searchParams.get("code"));

  // Cancel comes back with Meta's access_denied and the state.
  const cancel = page.text.match(/<a class="cancel" href="([^"]+)">Cancel<\/a>/)[1].replaceAll("&amp;", "&");
  const denied = new URL((await plain("GET", cancel)).headers.get("location"));
  assert.deepEqual(
    ["error", "error_reason", "state", "code"].map((name) => denied.searchParams.get(name)),
    ["access_denied", "user_denied", "a&b=<c>", null],
  );

  for (const [what, params] of [
    ["another app", { client_id: "42" }],
    ["no redirect URI", { redirect_uri: "" }],
    ["response_type token", { response_type: "token" }],
    ["no basic scope", { scope: "instagram_business_content_publish" }],
  ]) {
    const answer = await plain("GET", authorizeUrl(params));
    assert.equal(answer.status, 400, what);
    assert.match(answer.text, /Invalid Request/, what);
    assert.deepEqual(allowLinks(answer.text), {}, what);
  }
});

test("a token granted without the publish permission reads but cannot publish (code 10)", async () => {
  const shop = sim.control.addAccount({ username: "shop_sapporo" });
  const { code } = await authorize("shop_sapporo", { scope: "instagram_business_basic" });
  const short = await exchangeCode(code);
  assert.equal(short.json.permissions, "instagram_business_basic");
  const token = short.json.access_token;
  assert.equal((await graph("GET", "me?fields=username", { token })).json.username, "shop_sapporo");
  assertGraphError(await graph("POST", `${shop.userId}/media`, { form: [["image_url", images.at("/ok.jpg")]], token }), { code: 10 });
  assert.equal(images.hits.length, 0);
});

test("faults on the token calls and per account: each OAuth op can fail, and one account's faults leave the other alone", async () => {
  const shop = sim.control.addAccount({ username: "shop_naha" });
  sim.control.setTokenAge(shop.token, 2 * 86400);
  sim.control.fault([
    { op: "refresh", code: 2, message: "An unexpected error has occurred." },
    { op: "token", kind: "raw", status: 502, body: "<html>Bad gateway</html>" },
    { op: "exchange", kind: "rate_limit", retryAfter: 30 },
    { op: "authorize", kind: "raw", status: 500, body: "down" },
    { op: "me", code: 190, subcode: 467 },
  ]);
  assertGraphError(await refresh(shop.token), { code: 2 });
  assert.equal((await exchangeCode("AQx")).status, 502);
  assert.equal((await longLived("x")).status, 429);
  assert.equal((await plain("GET", authorizeUrl())).text, "down");
  assertGraphError(await graph("GET", "me", { token: shop.token }), { code: 190, subcode: 467 });
  assert.deepEqual(
    sim.calls.map((call) => [call.op, call.fault?.kind ?? null]),
    [
      ["refresh", "error"],
      ["token", "raw"],
      ["exchange", "rate_limit"],
      ["authorize", "raw"],
      ["me", "error"],
    ],
  );
  assert.equal((await refresh(shop.token)).status, 200, "a fault takes one call");

  // An account-bound sticky fault: the shop is out of quota and its token expired; the default is not.
  sim.control.fault([{ kind: "quota_exhausted", account: shop.userId }, { kind: "token_expired", account: shop.userId, subcode: 460 }]);
  assertGraphError(await graph("GET", "me", { token: shop.token }), { code: 190, subcode: 460 });
  assert.deepEqual(sim.state.quota(shop.userId).usage, 100);
  assert.equal((await ig.limit()).json.data[0].quota_usage, 0);
  assert.equal((await publishAs(sim.userId, TOKEN, "The default account still publishes")).length, 17);
  sim.control.clearFaults("token_expired");
  assert.equal((await graph("GET", "me", { token: shop.token })).status, 200);
  // A queued fault for one account passes the other's calls by.
  sim.control.fault({ op: "limit", code: 4, account: shop.userId });
  assert.equal((await ig.limit()).status, 200);
  assertGraphError(await graph("GET", `${shop.userId}/content_publishing_limit?fields=quota_usage`, { token: shop.token }), { code: 4 });
  assert.throws(() => sim.control.fault({ op: "limit", code: 4, account: "1" }), /account/);
});

test("accounts and tokens over the control API", async () => {
  const added = await controlCall("POST", "/accounts", { username: "shop_kanazawa", quotaTotal: 3 });
  assert.equal(added.status, 200);
  const { userId, token } = added.json.account;
  const listed0 = (await controlCall("GET", "/accounts")).json.accounts;
  assert.deepEqual([listed0[0].username, listed0[0].quota.total], ["local_simulator", 100]);
  assert.deepEqual(listed0.at(-1), { userId, username: "shop_kanazawa", quota: { usage: 0, total: 3, durationSeconds: 86400 }, media: 0 });
  assert.equal((await controlCall("POST", `/accounts/${userId}`, { quotaTotal: 5 })).json.account.quota.total, 5);
  const aged = await controlCall("POST", "/tokens/age", { token, seconds: 51 * 86400 });
  assert.equal(aged.json.tokens[0].expiresInSeconds, 9 * 86400);
  const issued = await controlCall("POST", "/tokens/issue", { userId, kind: "short" });
  assert.equal(issued.json.info.kind, "short");
  assert.equal((await controlCall("POST", "/tokens/expiry", { token: issued.json.token, expiresInSeconds: 0 })).json.tokens[0].expired, true);
  assert.equal((await controlCall("POST", "/tokens/expire", { userId })).json.tokens.length, 2);
  const listed = await controlCall("GET", `/tokens?userId=${userId}`);
  assert.ok(listed.json.tokens.every((t) => t.expired));
  assert.ok(!JSON.stringify(listed.json).includes(token), "the token list holds no token");
  assert.equal((await controlCall("POST", "/accounts", { username: "shop_kanazawa" })).status, 400, "a username is taken once");
  assert.equal((await controlCall("POST", "/accounts", { username: "no spaces" })).status, 400);
  assert.equal((await controlCall("POST", "/tokens/revoke", { token: "never-made" })).status, 400);
});

test("scripts/graph-simulator with GRAPH_SIMULATOR_ACCOUNTS prints every account and the OAuth URLs, and GRAPH_SIMULATOR_STATE keeps tokens across a restart", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const folder = mkdtempSync(join(tmpdir(), "graph-simulator-"));
  const env = { GRAPH_SIMULATOR_PORT: "0", GRAPH_SIMULATOR_ACCOUNTS: "3", GRAPH_SIMULATOR_STATE: join(folder, "state.json") };
  try {
    let issued;
    await withSimulatorScript(env, async (url, out) => {
      for (const line of [
        /@local_simulator\s+user id 17841405822304914\s+token local-simulator-token\n/,
        /@local_simulator_2\s+user id (\d{17})\s+token local-simulator-token-2\n/,
        /@local_simulator_3\s+user id \d{17}\s+token local-simulator-token-3\n/,
        new RegExp(`authorize\\s+${url}/oauth/authorize\\n`),
        new RegExp(`token\\s+${url}/oauth/access_token\\n`),
        new RegExp(`exchange\\s+${url}/access_token\\n`),
        new RegExp(`refresh\\s+${url}/refresh_access_token\\n`),
        /app id 990602627938098, app secret local-simulator-app-secret/,
      ]) {
        assert.match(out, line);
      }
      const second = /@local_simulator_2\s+user id (\d{17})/.exec(out)[1];
      const answer = await fetch(`${url}/__control/tokens/issue`, { method: "POST", body: JSON.stringify({ userId: second, ageSeconds: 3600 }) });
      issued = (await answer.json()).token;
      const page = await (await fetch(`${url}/oauth/authorize?client_id=990602627938098&redirect_uri=https://a.example/cb&response_type=code&scope=instagram_business_basic`)).text();
      assert.equal((page.match(/class="allow"/g) ?? []).length, 3);
    });
    // Started again on the same state file: the issued token still works, for the same account.
    await withSimulatorScript(env, async (url) => {
      const me = await fetch(`${url}/me?fields=username`, { headers: { authorization: `Bearer ${issued}` } });
      assert.deepEqual(Object.keys(await me.json()).sort(), ["id", "username"]);
      const state = await (await fetch(`${url}/__control/accounts`)).json();
      assert.equal(state.accounts.length, 3);
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

/** Runs scripts/graph-simulator with `env`, waits for its banner, calls `body(url, out)`, stops it. */
async function withSimulatorScript(env, body) {
  const script = fileURLToPath(new URL("../../scripts/graph-simulator", import.meta.url));
  const child = spawn(script, [], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    let timer;
    const url = await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        out += chunk;
        const match = /URL\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match && out.includes("control")) resolve(match[1]);
      });
      child.on("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
      timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 5000);
    }).finally(() => clearTimeout(timer));
    await body(url, out);
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

// ---- carousels, the post's options and the first comment ----------------------------------------

const carouselItem = (imageUrl, altText, extra = []) =>
  graph("POST", `${sim.userId}/media`, {
    form: [["is_carousel_item", "true"], ["image_url", imageUrl], ...(altText ? [["alt_text", altText]] : []), ...extra],
  });
const carouselParent = (children, caption = "Three cups", extra = []) =>
  graph("POST", `${sim.userId}/media`, { form: [["media_type", "CAROUSEL"], ["children", children.join(",")], ["caption", caption], ...extra] });
const comment = (mediaId, message, options) => graph("POST", `${mediaId}/comments`, { form: [["message", message]], ...options });
const listComments = (mediaId, options) => graph("GET", `${mediaId}/comments?fields=id,text,username&limit=100`, options);
const OPTIONS = [
  ["collaborators", JSON.stringify(["maker.one", "maker_two"])],
  ["location_id", "110843418940484"],
  ["is_ai_generated", "true"],
];

/** Three children with their alt texts, read FINISHED; their ids. */
async function children(count = 3) {
  const ids = [];
  for (let i = 1; i <= count; i += 1) {
    const made = await carouselItem(images.at(i % 2 ? "/ok.jpg" : "/portrait-4x5.jpg"), `Cup ${i}`);
    assert.equal(made.status, 200, made.text);
    assert.equal((await ig.status(made.json.id)).json.status_code, "FINISHED");
    ids.push(made.json.id);
  }
  return ids;
}

test("a carousel is published as one post, its images in order with their alt texts and the options on the parent", async () => {
  const kids = await children(3);
  const parent = await carouselParent(kids, "Three cups #coffee", OPTIONS);
  assert.equal(parent.status, 200, parent.text);
  assert.equal((await ig.status(parent.json.id)).json.status_code, "FINISHED");
  const published = await ig.publish(parent.json.id);
  assert.equal(published.status, 200, published.text);
  const [post] = sim.state.media();
  assert.equal(sim.state.media().length, 1, "one post");
  assert.equal(post.mediaType, "CAROUSEL");
  assert.equal(post.caption, "Three cups #coffee");
  assert.deepEqual(post.children.map((child) => [child.containerId, child.altText]), [
    [kids[0], "Cup 1"],
    [kids[1], "Cup 2"],
    [kids[2], "Cup 3"],
  ]);
  assert.deepEqual(post.collaborators, ["maker.one", "maker_two"]);
  assert.equal(post.locationId, "110843418940484");
  assert.equal(post.isAiGenerated, true);
  const read = await graph("GET", `${published.json.id}?fields=media_type`);
  assert.equal(read.json.media_type, "CAROUSEL_ALBUM");
  // A child is never a post of its own, nor part of a second one.
  assertGraphError(await ig.publish(kids[0]), { code: 100 }, "a carousel item published alone");
  assertGraphError(await carouselParent(kids.slice(0, 2)), { code: 100 }, "children reused");
  // A single image takes the same options, and none of them when none are sent.
  const single = await graph("POST", `${sim.userId}/media`, {
    form: [["image_url", images.at("/ok.jpg")], ["caption", "One cup"], ["alt_text", "A cup"], ...OPTIONS.slice(0, 2)],
  });
  assert.equal(single.status, 200, single.text);
  await ig.publish(single.json.id);
  const one = sim.state.media().at(-1);
  assert.deepEqual([one.mediaType, one.altText, one.collaborators, one.locationId, one.isAiGenerated, one.children], [
    "IMAGE",
    "A cup",
    ["maker.one", "maker_two"],
    "110843418940484",
    false,
    null,
  ]);
});

test("carousel children and parents are checked as Meta documents them", async () => {
  const kids = await children(2);
  const refusals = [
    ["a child with a caption", carouselItem(images.at("/ok.jpg"), "x", [["caption", "no"]])],
    ["a child with collaborators", carouselItem(images.at("/ok.jpg"), "x", [OPTIONS[0]])],
    ["a child with a place", carouselItem(images.at("/ok.jpg"), "x", [OPTIONS[1]])],
    ["one child", carouselParent(kids.slice(0, 1))],
    ["no children", graph("POST", `${sim.userId}/media`, { form: [["media_type", "CAROUSEL"], ["caption", "x"]] })],
    ["a child twice", carouselParent([kids[0], kids[0]])],
    ["an unknown child", carouselParent([kids[0], "17889455560099999"])],
    ["a single image as a child", container().then((id) => carouselParent([kids[0], id]))],
    ["six collaborators", carouselParent(kids, "x", [["collaborators", JSON.stringify(["a", "b", "c", "d", "e", "f"])]])],
    ["collaborators not a list", carouselParent(kids, "x", [["collaborators", "a,b"]])],
    ["a place that is no id", carouselParent(kids, "x", [["location_id", "Paris"]])],
    ["a label that is no boolean", carouselParent(kids, "x", [["is_ai_generated", "yes"]])],
    ["another media type", graph("POST", `${sim.userId}/media`, { form: [["media_type", "REELS"], ["children", kids.join(",")]] })],
  ];
  for (const [what, answer] of refusals) assertGraphError(await answer, { code: 100 }, what);
  // Eleven children are too many (the limit is configuration: three here).
  sim.control.configure({ limits: { maxCarouselItems: 3 } });
  const four = [...kids, ...(await children(2))];
  assertGraphError(await carouselParent(four), { code: 100 }, "more children than allowed");
  // A child still processing is not ready.
  sim.control.configure({ finishAfterReads: 5 });
  const slow = await carouselItem(images.at("/ok.jpg"), "slow");
  assertGraphError(await carouselParent([kids[0], slow.json.id]), { code: 100 }, "a child IN_PROGRESS");
  assert.equal(sim.state.containers().filter((c) => c.mediaType === "CAROUSEL").length, 0, "no parent was made");
});

test("the first comment is posted, listed and kept when its answer is lost", async () => {
  const id = await container();
  const media = (await ig.publish(id)).json.id;
  const first = await comment(media, "Menu in bio & more 🍰");
  assert.equal(first.status, 200, first.text);
  const listed = await listComments(media);
  assert.deepEqual(listed.json.data, [{ id: first.json.id, text: "Menu in bio & more 🍰", username: "local_simulator" }]);
  // The answer is lost, the comment is not.
  sim.control.fault({ op: "comment", kind: "lost_answer" });
  await assert.rejects(comment(media, "Second"), TypeError, "the client sees a broken connection");
  assert.deepEqual(
    sim.state.comments(media).map((c) => c.text),
    ["Menu in bio & more 🍰", "Second"],
  );
  const lost = sim.calls.findLast((call) => call.op === "comment");
  assert.equal(lost.outcome, "destroyed");
  // The other faults reach the new calls too.
  sim.control.fault({ op: "comments", code: 2, status: 500, isTransient: true });
  assertGraphError(await listComments(media), { status: 500, code: 2 }, "a 5xx on the comments' read");
  sim.control.fault({ op: "comment", code: 2, status: 500, isTransient: true });
  assertGraphError(await comment(media, "Third"), { status: 500, code: 2 }, "a 5xx on the comment");
  assert.equal(sim.state.comments(media).length, 2, "a refused comment is not kept");
  // Nothing to comment on, nothing to say, or no permission.
  assertGraphError(await comment(id, "on a container"), { code: 100, subcode: 33, type: "GraphMethodException" }, "a container");
  assertGraphError(await comment(media, "  "), { code: 100 }, "an empty comment");
  const basic = sim.control.issueToken(sim.userId, { permissions: ["instagram_business_basic", "instagram_business_content_publish"] });
  assertGraphError(await comment(media, "x", { token: basic }), { code: 10 }, "without the comments permission");
  assertGraphError(await listComments(media, { token: basic }), { code: 10 }, "reading without the comments permission");
});
