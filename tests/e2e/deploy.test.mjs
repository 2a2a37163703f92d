// scripts/deploy: the dry run lists every resource and secret the wrangler configs call for and
// touches nothing remote (any wrangler it could reach fails loudly and is watched); and a whole
// deploy against a stand-in wrangler (tests/fakes/wrangler.mjs) creates what is missing, puts
// each secret on the Workers that need it, deploys in order, and a second run changes nothing.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { unstable_readConfig as readConfig } from "wrangler";
import { ROOT } from "./harness.mjs";

const SCRIPT = join(ROOT, "scripts", "deploy");
const WORKERS = ["image-consumer", "publish-consumer", "api"];
/** The secrets each Worker must be given: the API's tokens, reviewers, the encryption key, the Instagram app. */
const SECRETS = {
  api: ["API_TOKEN", "REVIEWERS", "TOKEN_ENCRYPTION_KEY", "INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET"],
  "publish-consumer": ["TOKEN_ENCRYPTION_KEY"],
  "image-consumer": [],
};
const configs = Object.fromEntries(WORKERS.map((worker) => [worker, readConfig({ config: join(ROOT, "wrangler", `${worker}.toml`) }, { hideWarnings: true })]));

let scratch;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), "deploy-test-"));
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  // The deploy copies of the configs the full run wrote (ignored by git) hold the fake ids.
  for (const worker of WORKERS) rmSync(join(ROOT, "wrangler", `.${worker}.deploy.json`), { force: true });
});

/** Runs scripts/deploy with `args` and `env` (on top of a clean one); `{code, stdout, stderr}`. */
function runDeploy(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** An environment with no Cloudflare credential and a HOME with no wrangler login. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(CLOUDFLARE_|CF_|WRANGLER)/.test(key)) continue;
    if (["API_TOKEN", "REVIEWERS", "TOKEN_ENCRYPTION_KEY", "INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET", "DEPLOY_API_ORIGIN"].includes(key)) continue;
    env[key] = value;
  }
  const home = join(scratch, `home-${Math.random().toString(36).slice(2)}`);
  mkdirSync(home);
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), ...extra };
}

test("scripts/deploy --dry-run lists every resource and secret of the configs, needs no login, touches nothing remote", async () => {
  // Every way to reach Cloudflare fails loudly and leaves a mark: WRANGLER, and wrangler, npx
  // and curl on the PATH. Proxies that go nowhere catch a fetch made in-process.
  const bin = join(scratch, "bin");
  const marks = join(scratch, "marks");
  mkdirSync(bin);
  for (const name of ["wrangler", "npx", "curl"]) {
    const path = join(bin, name);
    writeFileSync(path, `#!/bin/sh\necho "$0 $*" >> "${marks}"\necho "dry run called $0" >&2\nexit 97\n`);
    chmodSync(path, 0o755);
  }
  const wranglerFiles = readdirSync(join(ROOT, "wrangler")).sort();
  const result = await runDeploy(
    ["--dry-run"],
    cleanEnv({
      WRANGLER: join(bin, "wrangler"),
      PATH: `${bin}:${process.env.PATH}`,
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
      DEPLOY_STATE: join(scratch, "dry-state.json"),
    }),
  );
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.equal(existsSync(marks), false, `a dry run called: ${existsSync(marks) ? readFileSync(marks, "utf8") : ""}`);
  assert.deepEqual(readdirSync(join(ROOT, "wrangler")).sort(), wranglerFiles, "a dry run writes no file");
  assert.equal(existsSync(join(scratch, "dry-state.json")), false);
  const lines = result.stdout.split("\n");
  const listed = (prefix) => lines.filter((line) => line.startsWith(prefix));

  // Queues: every queue a config writes, reads or dead-letters to, once each.
  const queues = new Set();
  for (const config of Object.values(configs)) {
    for (const producer of config.queues.producers ?? []) queues.add(producer.queue);
    for (const consumer of config.queues.consumers ?? []) {
      queues.add(consumer.queue);
      if (consumer.dead_letter_queue) queues.add(consumer.dead_letter_queue);
    }
  }
  assert.deepEqual(
    listed("create if missing: queue ").map((line) => line.split(" ")[4]).sort(),
    [...queues].sort(),
  );
  assert.ok(queues.has("failed-queue-dlq"), "the last-resort queue is among them");
  // KV, D1, R2: one line each per resource, naming every Worker that binds it.
  const kv = Object.entries(configs).flatMap(([worker, config]) => (config.kv_namespaces ?? []).map((ns) => [worker, ns.binding]));
  const [kvLine, ...moreKv] = listed("create if missing: kv namespace ");
  assert.equal(moreKv.length, 0, "the two Workers' DRAFTS is one namespace");
  for (const [worker, binding] of kv) assert.match(kvLine, new RegExp(`binding ${binding} on .*\\b${worker}\\b`));
  assert.match(kvLine, /kv namespace instagram-pipeline-drafts /);
  const databases = new Set(Object.values(configs).flatMap((config) => config.d1_databases.map((db) => db.database_name)));
  assert.deepEqual(listed("create if missing: d1 database ").map((line) => line.split(" ")[5]), [...databases]);
  const buckets = new Set(Object.values(configs).flatMap((config) => config.r2_buckets.map((bucket) => bucket.bucket_name)));
  assert.deepEqual(listed("create if missing: r2 bucket ").map((line) => line.split(" ")[5]), [...buckets]);
  assert.match(listed("create if missing: r2 bucket ")[0], /by wrangler deploy/);
  const migrations = readdirSync(join(ROOT, "migrations")).filter((file) => file.endsWith(".sql")).sort();
  assert.deepEqual(listed("apply if not applied: migration ").map((line) => line.split(" ")[5]), migrations);
  // Secrets, per Worker by its config's name.
  const expectedSecrets = WORKERS.flatMap((worker) => SECRETS[worker].map((name) => `${name} on ${configs[worker].name}`)).sort();
  assert.deepEqual(
    listed("ask if missing: secret ").map((line) => line.replace(/^ask if missing: secret /, "").replace(/ \(.*\)$/, "")).sort(),
    expectedSecrets,
  );
  // The Workers in the order they go up: consumers before the api.
  assert.deepEqual(
    listed("deploy: ").map((line) => line.split(" ")[1]),
    WORKERS.map((worker) => configs[worker].name),
  );
  assert.match(result.stdout, /then print: the review page https:\/\/<instagram-pipeline-api host>\/review\n/);
  assert.match(result.stdout, /then print: the OAuth redirect URL for Meta https:\/\/<instagram-pipeline-api host>\/review\/accounts\/callback\n/);
});

test("scripts/deploy against a stand-in wrangler: the first run creates and sets everything, a second run changes nothing", async () => {
  const state = join(scratch, "fake-wrangler.json");
  const deployState = join(scratch, "deploy-state.json");
  const key = Buffer.alloc(32, 7).toString("base64");
  const env = (extra) =>
    cleanEnv({ WRANGLER: join(ROOT, "tests", "fakes", "wrangler.mjs"), FAKE_WRANGLER_STATE: state, DEPLOY_STATE: deployState, ...extra });
  const read = () => JSON.parse(readFileSync(state, "utf8"));

  // Not logged in: it stops before anything else.
  const loggedOut = await runDeploy([], env({ FAKE_WRANGLER_LOGGED_OUT: "1" }));
  assert.equal(loggedOut.code, 1);
  assert.match(loggedOut.stderr, /not logged in to Cloudflare: run `npx wrangler login`/);
  assert.deepEqual(read().calls, [["whoami", "--json"]]);
  rmSync(state);

  // A secret missing and no terminal to ask on: it says which, and changes nothing.
  const noSecrets = await runDeploy([], env());
  assert.equal(noSecrets.code, 1);
  assert.match(noSecrets.stderr, /missing, with no terminal to ask on: API_TOKEN, REVIEWERS, TOKEN_ENCRYPTION_KEY: set them in the environment/);
  assert.ok(read().calls.every((call) => !["create", "deploy", "apply"].some((word) => call.includes(word))), "nothing made");
  rmSync(state);

  const first = await runDeploy(
    [],
    env({ API_TOKEN: "a3f9c2e17b5d48e6a0c4f1b92d7e5a38c6b0", REVIEWERS: "Aiko:0f3e9a7c5b1d2e4f6a8c0b9d7e5f3a1c\nBen:9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a", TOKEN_ENCRYPTION_KEY: key }),
  );
  assert.equal(first.code, 0, first.stderr + first.stdout);
  let fake = read();
  assert.deepEqual([...fake.queues].sort(), ["failed-queue", "failed-queue-dlq", "image-queue", "publish-queue"]);
  assert.deepEqual(fake.kv.map((ns) => ns.title), ["instagram-pipeline-drafts"]);
  assert.deepEqual(fake.d1.map((db) => db.name), ["instagram-pipeline"]);
  assert.deepEqual(fake.r2, ["instagram-media"], "the bucket came from wrangler deploy");
  assert.deepEqual(fake.migrations[fake.d1[0].uuid], ["applied"]);
  // Migrations before the first Worker, the Workers in order, then publish-consumer again
  // with the api's origin it learnt from the api's deploy.
  const order = fake.calls
    .filter((call) => call[0] === "deploy" || (call[0] === "d1" && call[2] === "apply"))
    .map((call) => (call[0] === "deploy" ? JSON.parse(readFileSync(call[call.indexOf("-c") + 1], "utf8")).name : "migrations"));
  assert.deepEqual(order, [
    "migrations",
    "instagram-pipeline-image-consumer",
    "instagram-pipeline-publish-consumer",
    "instagram-pipeline-api",
    "instagram-pipeline-publish-consumer",
  ]);
  const api = fake.workers["instagram-pipeline-api"];
  const publish = fake.workers["instagram-pipeline-publish-consumer"];
  const image = fake.workers["instagram-pipeline-image-consumer"];
  assert.deepEqual(Object.keys(api.secrets).sort(), ["API_TOKEN", "REVIEWERS", "TOKEN_ENCRYPTION_KEY"]);
  assert.deepEqual(Object.keys(publish.secrets), ["TOKEN_ENCRYPTION_KEY"]);
  assert.equal(publish.secrets.TOKEN_ENCRYPTION_KEY, api.secrets.TOKEN_ENCRYPTION_KEY, "one key on both");
  assert.deepEqual(Object.keys(image.secrets), []);
  assert.deepEqual(publish.deploys.map((d) => d.secretsFile), [true, false], "the secrets go up once");
  assert.equal(publish.deploys.at(-1).vars.PUBLIC_MEDIA_BASE_URL, "https://instagram-pipeline-api.shop-team.workers.dev");
  // The real ids went into the deploy copies; the configs in git keep their placeholders.
  for (const worker of Object.values(fake.workers)) {
    for (const deploy of worker.deploys) {
      for (const binding of deploy.d1) assert.equal(binding.database_id, fake.d1[0].uuid);
      for (const binding of deploy.kv) assert.equal(binding.id, fake.kv[0].id);
    }
  }
  assert.match(readFileSync(join(ROOT, "wrangler", "api.toml"), "utf8"), /id = "00000000000000000000000000000001"/);
  assert.match(first.stdout, /Review page: +https:\/\/instagram-pipeline-api\.shop-team\.workers\.dev\/review\n/);
  assert.match(first.stdout, /OAuth redirect URL for Meta: https:\/\/instagram-pipeline-api\.shop-team\.workers\.dev\/review\/accounts\/callback\n/);
  assert.match(first.stdout, /Not set yet: INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET/);
  for (const secret of [key, "0f3e9a7c5b1d2e4f6a8c0b9d7e5f3a1c", "a3f9c2e17b5d48e6a0c4f1b92d7e5a38c6b0"]) {
    assert.ok(!first.stdout.includes(secret) && !first.stderr.includes(secret), "a secret from the environment is never printed");
  }

  // Again, now with the Instagram app: nothing is created, only the two new secrets go up, on
  // the api alone, and each Worker is deployed once.
  const callsBefore = fake.calls.length;
  const second = await runDeploy([], env({ INSTAGRAM_APP_ID: "990602627938098", INSTAGRAM_APP_SECRET: "4f1e0c8b2a6d9e7f3c5b1a0d8e6f4c2b" }));
  assert.equal(second.code, 0, second.stderr + second.stdout);
  fake = read();
  const calls = fake.calls.slice(callsBefore);
  assert.deepEqual(calls.filter((call) => call.includes("create")), [], "nothing created");
  assert.deepEqual(calls.filter((call) => call[0] === "deploy").length, 3);
  assert.deepEqual(Object.keys(fake.workers["instagram-pipeline-api"].secrets).sort(), [...SECRETS.api].sort());
  assert.equal(fake.workers["instagram-pipeline-publish-consumer"].deploys.at(-1).secretsFile, false);
  assert.equal(fake.workers["instagram-pipeline-publish-consumer"].deploys.at(-1).vars.PUBLIC_MEDIA_BASE_URL, "https://instagram-pipeline-api.shop-team.workers.dev");
  assert.match(second.stdout, /queue image-queue: exists/);
  assert.match(second.stdout, /Secrets to set: INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET\n/);

  // And once more with nothing new: no secret, no creation.
  const third = await runDeploy([], env());
  assert.equal(third.code, 0, third.stderr + third.stdout);
  assert.match(third.stdout, /Secrets: every one is set/);
  const last = read().calls.slice(fake.calls.length);
  assert.deepEqual(last.filter((call) => call.includes("create") || call.includes("--secrets-file")), []);

  // A shared key missing on one Worker only: it goes to that one, and the api's is left alone.
  fake = read();
  delete fake.workers["instagram-pipeline-publish-consumer"].secrets.TOKEN_ENCRYPTION_KEY;
  writeFileSync(state, JSON.stringify(fake));
  const fourth = await runDeploy([], env({ TOKEN_ENCRYPTION_KEY: key }));
  assert.equal(fourth.code, 0, fourth.stderr + fourth.stdout);
  const withSecrets = read()
    .calls.slice(fake.calls.length)
    .filter((call) => call.includes("--secrets-file"))
    .map((call) => JSON.parse(readFileSync(call[call.indexOf("-c") + 1], "utf8")).name);
  assert.deepEqual(withSecrets, ["instagram-pipeline-publish-consumer"]);
  assert.equal(read().workers["instagram-pipeline-publish-consumer"].secrets.TOKEN_ENCRYPTION_KEY, key);
});
