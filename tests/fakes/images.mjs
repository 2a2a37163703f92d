// A fake image provider with three faces on one loopback server:
// - `POST /v1/images/generations`: an OpenAI-compatible images endpoint;
// - `POST /run`: the fake Workers AI protocol of tests/e2e/harness.mjs (`{ model, input }` in;
//   a JSON answer is what `env.AI.run` returns, an image answer comes back as a stream or a
//   Uint8Array, as stable-diffusion-xl's does);
// - `GET /files/<name>`: downloads of images answered as a `url`.
// Each generation or run call takes the next scripted behaviour, or the default. The server
// records every request, how many calls were in flight at once, and when a call that was never
// answered was given up by the client (its connection closed).
import { createServer } from "node:http";

export const OPENAI_PATH = "/v1/images/generations";
export const AI_PATH = "/run";

/**
 * Behaviours. A behaviour is `{ status, headers, contentType, body, delayMs, hang }`: `body` is
 * a Buffer (sent as is), a string, or an object (sent as JSON); `hang` never answers.
 */
export const imageReply = {
  /** OpenAI: the image as `b64_json`. */
  b64: (bytes) => ({ body: { created: 1700000000, data: [{ b64_json: Buffer.from(bytes).toString("base64") }] } }),
  /** OpenAI: a link to the image, served by this fake at `/files/<name>` (see `url`). */
  url: (name) => (request) => ({ body: { created: 1700000000, data: [{ url: `${request.origin}/files/${name}` }] } }),
  /** An OpenAI-style error body. */
  error: (status, { code = null, message = "fake failure", headers = {} } = {}) => ({
    status,
    headers,
    body: { error: { code, message, type: "invalid_request_error", param: null } },
  }),
  hang: () => ({ hang: true }),
  /** Workers AI, flux-style: `{ image: "<base64 JPEG>" }`. */
  aiBase64: (bytes) => ({ body: { image: Buffer.from(bytes).toString("base64") } }),
  /** Workers AI, stable-diffusion-xl-style: PNG bytes, handed to the Worker as a ReadableStream
   * (`as: "stream"`) or a Uint8Array (`as: "uint8array"`). */
  aiBinary: (bytes, { as = "stream", contentType = "image/png" } = {}) => ({
    contentType,
    headers: { "x-fake-ai-return": as },
    body: Buffer.from(bytes),
  }),
  /** Workers AI: `run` throws with this message. */
  aiError: (message) => ({ status: 500, body: { error: message } }),
  /** Delays any behaviour. */
  slow: (delayMs, behaviour) => async (request) => ({ ...(await resolve(behaviour, request)), delayMs }),
};

async function resolve(behaviour, request) {
  return typeof behaviour === "function" ? await behaviour(request) : behaviour;
}

export async function startFakeImages() {
  const requests = [];
  const files = new Map();
  const scripts = { [OPENAI_PATH]: [], [AI_PATH]: [] };
  const defaults = { [OPENAI_PATH]: null, [AI_PATH]: null };
  const sockets = new Set();
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString("utf8");
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const path = req.url.split("?")[0];
    const request = {
      method: req.method,
      path,
      headers: req.headers,
      json,
      at: Date.now(),
      origin: `http://${req.headers.host}`,
      answered: false,
      closedAt: null,
    };
    requests.push(request);
    res.on("close", () => {
      request.closedAt = Date.now();
    });

    if (req.method === "GET" && path.startsWith("/files/")) {
      const file = files.get(decodeURIComponent(path.slice("/files/".length)));
      if (file === undefined) return send(res, request, { status: 404, body: "no such file", contentType: "text/plain" });
      return send(res, request, file);
    }
    if (req.method !== "POST" || !(path in scripts)) {
      return send(res, request, { status: 404, body: { error: { message: `no route ${path}` } } });
    }
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const next = scripts[path].shift() ?? defaults[path];
      if (next == null) throw new Error(`no behaviour scripted for ${path}`);
      const reply = await resolve(next, request);
      if (reply.hang) return; // never answers; the client must give up
      if (reply.delayMs) await new Promise((done) => setTimeout(done, reply.delayMs));
      send(res, request, reply);
    } catch (error) {
      send(res, request, { status: 500, body: { error: { message: `fake images behaviour failed: ${error.message}` } } });
    } finally {
      inFlight -= 1;
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    /** The base URL for IMAGE_OPENAI_BASE_URL. */
    baseUrl: `${url}/v1`,
    requests,
    /** Calls of the OpenAI endpoint so far. */
    openaiCalls: () => requests.filter((r) => r.path === OPENAI_PATH),
    /** Calls of the fake Workers AI so far, as `{ model, input }`. */
    aiCalls: () => requests.filter((r) => r.path === AI_PATH).map((r) => r.json),
    /** Downloads of files so far. */
    downloads: () => requests.filter((r) => r.path.startsWith("/files/")),
    /** The most generation calls (both endpoints) that were in flight at once. */
    maxInFlight: () => maxInFlight,
    /** Queues behaviours for the next OpenAI calls, in order. */
    scriptOpenAI: (...behaviours) => scripts[OPENAI_PATH].push(...behaviours),
    /** Queues behaviours for the next Workers AI calls, in order. */
    scriptAI: (...behaviours) => scripts[AI_PATH].push(...behaviours),
    setDefaultOpenAI: (behaviour) => {
      defaults[OPENAI_PATH] = behaviour;
    },
    setDefaultAI: (behaviour) => {
      defaults[AI_PATH] = behaviour;
    },
    /** Serves `bytes` at `/files/<name>`. */
    file(name, bytes, contentType = "image/png") {
      files.set(name, { body: Buffer.from(bytes), contentType });
    },
    reset() {
      requests.length = 0;
      scripts[OPENAI_PATH].length = 0;
      scripts[AI_PATH].length = 0;
      maxInFlight = 0;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(done));
    },
  };
}

function send(res, request, reply) {
  const body =
    Buffer.isBuffer(reply.body) || typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
  res.writeHead(reply.status ?? 200, { "content-type": reply.contentType ?? "application/json", ...(reply.headers ?? {}) });
  res.end(body);
  request.answered = true;
}
