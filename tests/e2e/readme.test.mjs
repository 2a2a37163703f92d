// The README's shell examples, taken from README.md and run as written with bash against a
// running local system, so the README cannot drift from the code: the ```sh blocks under
// "Try it", and every curl line elsewhere that talks to http://127.0.0.1:8787.
//
// The README talks to http://127.0.0.1:8787 and reads the token from wrangler/api.dev.vars in
// the repository root. So the test forwards port 8787 to the pipeline the harness started
// (failing, saying so, when the port is taken, for example by a running scripts/dev), and runs
// bash in a temporary folder laid out like the repository root, whose wrangler/api.dev.vars
// holds the test's token: nothing in the real repository is read or touched.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { API_TOKEN, REVIEWER, ROOT, startPipeline } from "./harness.mjs";
import { draftIds, UUID_V4 } from "./support.mjs";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const PORT = 8787;
const ORIGIN = `http://127.0.0.1:${PORT}`;

/** Fenced code blocks: `{ lang, code, start, end }`, `start`/`end` being line indexes. */
function codeBlocks(markdown) {
  const lines = markdown.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = lines[i].match(/^```(\S*)\s*$/);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j += 1;
    blocks.push({ lang: open[1], code: lines.slice(i + 1, j).join("\n"), start: i, end: j });
    i = j;
  }
  return { lines, blocks };
}

/** The ```sh blocks after the paragraph starting "Try it", up to the next heading. */
function tryItBlocks(markdown) {
  const { lines, blocks } = codeBlocks(markdown);
  const at = lines.findIndex((line) => /^Try it\b/.test(line));
  assert.ok(at >= 0, 'README.md has no paragraph starting "Try it"');
  let next = lines.findIndex((line, i) => i > at && /^#{1,6}\s/.test(line));
  if (next < 0) next = lines.length;
  const found = blocks.filter((b) => b.start > at && b.start < next && ["sh", "bash", "shell"].includes(b.lang));
  assert.ok(found.length > 0, 'no ```sh block under "Try it" in README.md');
  return found;
}

/**
 * Commands in the other code blocks that call curl on 127.0.0.1:8787, each with its
 * backslash-continued lines.
 */
function otherCurlCommands(markdown, skip) {
  const { blocks } = codeBlocks(markdown);
  const commands = [];
  for (const block of blocks) {
    if (skip.some((s) => s.start === block.start)) continue;
    const joined = block.code.split(/(?<!\\)\n/);
    for (const command of joined) {
      if (/\bcurl\b/.test(command) && command.includes("127.0.0.1:8787")) commands.push(command);
    }
  }
  return commands;
}

/** Forwards 127.0.0.1:`port` to `target` byte for byte; rejects with EADDRINUSE when taken. */
async function forward(port, target) {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1", exclusive: true }, resolve);
  });
  return {
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** What is listening on `port`, in words, if `ss` can tell. */
function whoListens(port) {
  const ss = spawnSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
  return ss.status === 0 && ss.stdout.trim() ? ss.stdout.trim().replace(/\s+/g, " ") : "another process";
}

/** Runs `script` with bash in `cwd`; answers exit code, stdout and stderr. */
function bash(script, cwd, timeoutMs = 60000) {
  const env = { PATH: process.env.PATH, HOME: cwd, LANG: "C.UTF-8", NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" };
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["--noprofile", "--norc", "-s"], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

const MARK = "__readme_test__";

/** The reviewer the README's script approves for. */
const AIKO = { name: "Aiko", token: "aiko-readme-4b1e7d0c9a8f6e5d3c2b" };

let pipeline;
before(async () => {
  pipeline = await startPipeline({ api: { REVIEWERS: `${REVIEWER.name}:${REVIEWER.token}\n${AIKO.name}:${AIKO.token}` } });
});
after(() => pipeline?.dispose());

// Guards the README's "Try it" against the api Worker as it is (lines of commit 15edb50): the
// bearer check (workers/api/src/auth.rs), POST /api/v1/generate's 201 with `draftId`
// (workers/api/src/generate.rs:131-136), GET /api/v1/drafts/{id} (drafts.rs:175-181), media
// URLs from the request's origin (drafts.rs:113-121), and the README's own wording.
test("README: the Try it commands, run as written with bash, make a draft and read it back", async () => {
  for (const tool of ["bash", "curl", "sed"]) {
    assert.equal(spawnSync("sh", ["-c", `command -v ${tool}`]).status, 0, `${tool} is not installed; the README's examples need it`);
  }
  let proxy;
  try {
    proxy = await forward(PORT, pipeline.url);
  } catch (error) {
    if (error.code !== "EADDRINUSE") throw error;
    assert.fail(`port ${PORT} in use: ${whoListens(PORT)}; stop it (a running scripts/dev?) to run the README's examples`);
  }
  const folder = mkdtempSync(join(tmpdir(), "readme-"));
  try {
    // The repository root as the README expects it: only wrangler/api.dev.vars, as scripts/dev writes it.
    mkdirSync(join(folder, "wrangler"));
    writeFileSync(join(folder, "wrangler", "api.dev.vars"), `API_TOKEN=${API_TOKEN}\nREVIEWERS=readme:readme-reviewer-5d41402abc4b2a76b9719d91\n`);

    const blocks = tryItBlocks(README);
    const others = otherCurlCommands(README, blocks);
    const commands = blocks.map((b) => b.code).join("\n");
    // The README's commands as written; around them only what reports on them: pipefail and
    // an ERR trap so that every failing command (a curl that cannot connect included) is named,
    // a line with the variables the commands set, and a line before each other curl command.
    const script = [
      "set -o pipefail",
      `trap 'echo "${MARK} failed with $?: $BASH_COMMAND" >&2' ERR`,
      commands,
      `printf '\\n${MARK} TOKEN=%s DRAFT=%s\\n' "\${TOKEN-}" "\${DRAFT-}"`,
      ...others.flatMap((command, i) => [`printf '\\n${MARK} command ${i}\\n'`, command]),
    ].join("\n");

    await pipeline.settleImages();
    const known = await draftIds(pipeline);
    const run = await bash(script, folder);
    const report = `exit ${run.code}${run.signal ? ` (${run.signal})` : ""}\n--- script\n${script}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
    assert.equal(run.code, 0, report);
    assert.doesNotMatch(run.stderr, new RegExp(`${MARK} failed`), report);

    const [output, vars, ...otherOutputs] = run.stdout.split(`\n${MARK} `);
    assert.ok(vars, report);
    assert.equal(otherOutputs.length, others.length, report);
    const token = vars.match(/TOKEN=(\S*)/)?.[1];
    const draftId = vars.match(/DRAFT=(\S*)/)?.[1];
    assert.equal(token, API_TOKEN, `TOKEN was not read from wrangler/api.dev.vars\n${report}`);
    assert.match(draftId ?? "", UUID_V4, `DRAFT is not a draft id: the generate answer had no "draftId"\n${report}`);

    // The generate call made exactly this one draft, from the README's body.
    const made = [...(await draftIds(pipeline))].filter((id) => !known.has(id));
    if (others.length === 0) assert.deepEqual(made, [draftId], report);
    else assert.ok(made.includes(draftId), report);
    const sent = JSON.parse(commands.match(/-d '(\{[^']*\})'/)[1]);
    const row = await pipeline.draftRow(draftId);
    const stored = JSON.parse(row.request);
    assert.equal(stored.brief, sent.brief);
    assert.deepEqual(stored.keywords, sent.keywords);
    assert.equal(row.language, sent.language);

    // The last command printed the draft: the same draft the API shows, in the language asked for.
    let shown;
    try {
      shown = JSON.parse(output.trim().split("\n").at(-1));
    } catch {
      assert.fail(`the GET printed no JSON\n${report}`);
    }
    assert.equal(shown.error, undefined, `the GET answered an error\n${report}`);
    assert.equal(shown.draftId, draftId);
    assert.equal(shown.language, "en");
    assert.equal(shown.status, "draft");
    assert.ok(shown.caption.includes(sent.brief), `the English caption does not carry the brief: ${shown.caption}`);
    assert.ok(shown.image.previewUrl.startsWith(`${ORIGIN}/media/`), `previewUrl ${shown.image.previewUrl}`);
    const api = await pipeline.request("GET", `/api/v1/drafts/${draftId}`);
    assert.equal(api.status, 200, api.text);
    for (const field of ["draftId", "status", "caption", "hashtags", "altText", "instagramCaption", "language", "createdAt"]) {
      assert.deepEqual(shown[field], api.json[field], field);
    }
    // Every other curl line answered, and not with an error.
    for (const [i, command] of others.entries()) {
      const text = otherOutputs[i].replace(/^command \d+\n/, "").trim();
      assert.ok(text, `no output from: ${command}\n${report}`);
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      assert.equal(json?.error, undefined, `${command} answered an error\n${report}`);
      t.diagnostic(`ran: ${command}`);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
    await proxy.close();
  }
});

// Guards the README's "approve from a script" against the api Worker: a reviewer's token as the
// bearer token with their name in X-Reviewer (workers/api/src/auth.rs), the revision read from
// GET /api/v1/drafts/{id}, and approve recording the reviewer as approved_by.
test("README: approving from a script, run as written with bash, approves as the person named", async () => {
  for (const tool of ["bash", "curl", "sed"]) {
    assert.equal(spawnSync("sh", ["-c", `command -v ${tool}`]).status, 0, `${tool} is not installed; the README's examples need it`);
  }
  const { blocks } = codeBlocks(README);
  const block = blocks.find((b) => b.lang === "sh" && b.code.includes("/approve") && /^AIKO=/m.test(b.code));
  assert.ok(block, 'README.md has no ```sh block approving for Aiko from a script');
  assert.match(block.code, /x-reviewer: Aiko/, "the script does not name the reviewer");
  const made = await pipeline.generate({ brief: "Approved from a script", language: "en" });
  assert.equal(made.status, 201, made.text);
  await pipeline.settleImages();
  // Only the two placeholders change: the Worker's origin and Aiko's token.
  const code = block.code.replace(/^ORIGIN=\S+/m, `ORIGIN=${pipeline.url}`).replace(/^AIKO=\S+/m, `AIKO=${AIKO.token}`);
  assert.notEqual(code, block.code);
  const script = ["set -o pipefail", `trap 'echo "${MARK} failed with $?: $BASH_COMMAND" >&2' ERR`, `DRAFT=${made.json.draftId}`, code].join("\n");
  const folder = mkdtempSync(join(tmpdir(), "readme-"));
  try {
    const run = await bash(script, folder);
    const report = `exit ${run.code}\n--- script\n${script}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
    assert.equal(run.code, 0, report);
    assert.doesNotMatch(run.stderr, new RegExp(`${MARK} failed`), report);
    const answer = JSON.parse(run.stdout.trim().split("\n").at(-1));
    assert.equal(answer.error, undefined, report);
    const row = await pipeline.draftRow(made.json.draftId);
    assert.equal(row.status, "approved", report);
    assert.equal(row.approved_by, AIKO.name);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

// Guards the numbers and codes the README states against the server: generation::MAX_BODY_BYTES
// (crates/generation/src/request.rs:30) and the 413 check (workers/api/src/generate.rs:502-515),
// 415 for another content type and 400 for malformed JSON (generate.rs:517-528), and the
// defaults `ja` and 5 (wrangler/api.toml, workers/api/src/config.rs).
test("README: the body limit, 415 and 400, and the defaults it states are the server's", async () => {
  const limitText = README.match(/at most ([\d,]+) bytes/)?.[1];
  assert.ok(limitText, "README.md states no body limit for generate");
  const limit = Number(limitText.replace(/,/g, ""));
  const document = (await pipeline.request("GET", "/api/v1/openapi.json")).json;
  assert.match(document.paths["/api/v1/generate"].post.responses["413"].description, new RegExp(`\\b${limit}\\b`));

  const body = JSON.stringify({ brief: "At the limit", language: "en" });
  const atLimit = await pipeline.request("POST", "/api/v1/generate", {
    raw: body + " ".repeat(limit - body.length),
    headers: { "content-type": "application/json" },
  });
  assert.equal(atLimit.status, 201, atLimit.text);
  const over = await pipeline.request("POST", "/api/v1/generate", {
    raw: body + " ".repeat(limit - body.length + 1),
    headers: { "content-type": "application/json" },
  });
  assert.equal(over.status, 413, over.text);

  assert.match(README, /`415` a\s+content type other than `application\/json`/);
  const wrongType = await pipeline.request("POST", "/api/v1/generate", { raw: body, headers: { "content-type": "text/plain" } });
  assert.equal(wrongType.status, 415, wrongType.text);
  const malformed = await pipeline.request("POST", "/api/v1/generate", { raw: "{", headers: { "content-type": "application/json" } });
  assert.equal(malformed.status, 400, malformed.text);

  assert.match(README, /the default language is `ja`/);
  const defaults = await pipeline.generate({ brief: "README defaults", keywords: ["one", "two", "three", "four", "five", "six"] });
  assert.equal(defaults.status, 201, defaults.text);
  assert.equal(defaults.json.language, "ja");
  assert.match(README, /`hashtagCount` \| optional \| 0 to `MAX_HASHTAGS` \(default 5/);
  const documented = document.components.schemas.GenerateRequest.properties.hashtagCount;
  assert.equal(documented.default, 5);
  assert.equal(documented.maximum, 5);
});
