// A small HTTP server on loopback that records every request and answers from a script of
// behaviours, so tests can inject faults: a status, a delay, a hang, a body that stalls
// halfway, garbage.
import { createServer } from "node:http";

export async function startFakeServer(name, respond) {
  const requests = [];
  const sockets = new Set();
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
    const request = { method: req.method, path: req.url, headers: req.headers, text, json, at: Date.now() };
    requests.push(request);
    let reply;
    try {
      reply = await respond(request);
    } catch (error) {
      // A behaviour that throws answers 500 with its message rather than crash the test run.
      reply = { status: 500, body: { error: { message: `fake ${name} behaviour failed: ${error.message}` } } };
    }
    if (reply.hang) return; // never answers; the client must time out
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    res.writeHead(reply.status ?? 200, { "content-type": reply.contentType ?? "application/json", ...reply.headers });
    if (reply.stall) {
      // The status, the headers and the first bytes of the body, then nothing more: the
      // client must give up on the body too.
      res.flushHeaders();
      res.write(reply.stall);
      request.stalled = true;
      return;
    }
    res.end(typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {}));
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    requests,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A fake with one endpoint (`POST path`) that answers each call with the next scripted
 * behaviour, or with `initial()` once the script is empty. A behaviour is a reply object or a
 * function of the request returning one.
 */
export async function startScriptedFake(name, { path, initial }) {
  const script = [];
  let fallback = initial();
  const server = await startFakeServer(name, async (request) => {
    if (request.method !== "POST" || request.path !== path) {
      return { status: 404, body: { error: { message: `no route ${request.path}` } } };
    }
    const next = script.shift() ?? fallback;
    return typeof next === "function" ? await next(request) : next;
  });
  return {
    ...server,
    /** The calls of the endpoint received so far. */
    calls() {
      return server.requests.filter((r) => r.path === path);
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
      fallback = initial();
      server.requests.length = 0;
    },
  };
}
