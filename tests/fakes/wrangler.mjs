#!/usr/bin/env node
// A stand-in for the wrangler CLI, for testing scripts/deploy without Cloudflare: it keeps an
// account's queues, KV namespaces, D1 databases, R2 buckets and Workers (with their secrets
// and the config each was deployed with) in the JSON file FAKE_WRANGLER_STATE, and answers the
// commands scripts/deploy runs as wrangler 4 answers them. Every call is appended to the
// state's `calls`. Anything else exits 2, saying so. Secret values are kept only so a test can
// check what went up; this file exists only for tests.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const statePath = process.env.FAKE_WRANGLER_STATE;
if (!statePath) {
  console.error("fake wrangler: FAKE_WRANGLER_STATE is not set");
  process.exit(2);
}
const state = existsSync(statePath)
  ? JSON.parse(readFileSync(statePath, "utf8"))
  : { calls: [], queues: [], kv: [], d1: [], r2: [], workers: {}, migrations: {} };
const argv = process.argv.slice(2);
state.calls.push(argv);
const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
const out = (text) => process.stdout.write(`${text}\n`);
const refuse = (text, code = 1) => {
  process.stderr.write(`${text}\n`);
  save();
  process.exit(code);
};
const option = (name) => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv[at + 1];
};
// Positional words: flags and the values of the flags that take one left out.
const valued = new Set(["-c", "--config", "--format", "--secrets-file"]);
const command = [];
for (let i = 0; i < argv.length; i += 1) {
  if (valued.has(argv[i])) i += 1;
  else if (!argv[i].startsWith("-")) command.push(argv[i]);
}
const [a, b, c, d] = command;

/** A Worker's name from the config a command names (TOML or JSON). */
function workerName(path) {
  const text = readFileSync(path, "utf8");
  if (path.endsWith(".json")) return JSON.parse(text).name;
  return /^name\s*=\s*"([^"]+)"/m.exec(text)[1];
}

if (process.env.FAKE_WRANGLER_LOGGED_OUT && a !== "whoami") refuse("Not logged in.");
if (a === "whoami") {
  if (process.env.FAKE_WRANGLER_LOGGED_OUT) refuse('{"loggedIn": false}');
  out(JSON.stringify({ loggedIn: true, authType: "OAuth Token", email: "ops@example.com", accounts: [{ id: "0123456789abcdef0123456789abcdef", name: "Shop" }] }));
} else if (a === "queues" && b === "info") {
  if (!state.queues.includes(c)) refuse(`✘ [ERROR] Queue "${c}" does not exist. To create it, run: wrangler queues create ${c}`);
  out(`Queue Name: ${c}`);
} else if (a === "queues" && b === "create") {
  if (state.queues.includes(c)) refuse(`A queue with the name ${c} already exists`);
  state.queues.push(c);
  out(`✅ Created queue ${c}.`);
} else if (a === "kv" && b === "namespace" && c === "list") {
  out(JSON.stringify(state.kv, null, "  "));
} else if (a === "kv" && b === "namespace" && c === "create") {
  if (state.kv.some((ns) => ns.title === d)) refuse(`A KV namespace with the title "${d}" already exists.`);
  state.kv.push({ id: randomUUID().replaceAll("-", ""), title: d });
  out(`🌀 Creating namespace with title "${d}"\n✨ Success!`);
} else if (a === "d1" && b === "list") {
  out(JSON.stringify(state.d1));
} else if (a === "d1" && b === "create") {
  if (state.d1.some((db) => db.name === c)) refuse(`A database with that name already exists [code: 7502]`);
  state.d1.push({ uuid: randomUUID(), name: c });
  out(`✅ Successfully created DB '${c}'`);
} else if (a === "r2" && b === "bucket" && c === "info") {
  if (!state.r2.includes(d)) refuse("✘ [ERROR] The specified bucket does not exist. [code: 10006]");
  out(`name: ${d}`);
} else if (a === "secret" && b === "list") {
  const name = workerName(option("-c"));
  const worker = state.workers[name];
  if (!worker) refuse(`✘ [ERROR] Worker "${name}" not found.\n\nIf this is a new Worker, run \`wrangler deploy\` first to create it.`);
  out(JSON.stringify(Object.keys(worker.secrets).map((secret) => ({ name: secret, type: "secret_text" })), null, "  "));
} else if (a === "d1" && b === "migrations" && c === "apply") {
  const config = JSON.parse(readFileSync(option("-c"), "utf8"));
  const db = config.d1_databases.find((entry) => entry.database_name === d);
  if (!state.d1.some((found) => found.uuid === db?.database_id)) refuse(`Couldn't find DB with id ${db?.database_id}`);
  state.migrations[db.database_id] = [...(state.migrations[db.database_id] ?? []), "applied"];
  out(`Migrations to be applied: ... ✅`);
} else if (a === "deploy") {
  const path = option("-c");
  const config = JSON.parse(readFileSync(path, "utf8"));
  for (const binding of config.kv_namespaces ?? []) {
    if (!state.kv.some((ns) => ns.id === binding.id)) refuse(`KV namespace '${binding.id}' is not valid. [code: 10041]`);
  }
  for (const binding of config.d1_databases ?? []) {
    if (!state.d1.some((db) => db.uuid === binding.database_id)) refuse(`D1 database '${binding.database_id}' not found [code: 7404]`);
  }
  for (const queue of [...(config.queues?.producers ?? []), ...(config.queues?.consumers ?? [])].map((q) => q.queue)) {
    if (!state.queues.includes(queue)) refuse(`Queue "${queue}" does not exist. To create it, run: wrangler queues create ${queue}`);
  }
  // Automatic provisioning: an R2 bucket named in the config is created when missing.
  for (const binding of config.r2_buckets ?? []) if (!state.r2.includes(binding.bucket_name)) state.r2.push(binding.bucket_name);
  const worker = (state.workers[config.name] ??= { secrets: {}, deploys: [] });
  const secretsFile = option("--secrets-file");
  if (secretsFile) Object.assign(worker.secrets, JSON.parse(readFileSync(secretsFile, "utf8")));
  worker.deploys.push({ vars: config.vars ?? {}, kv: config.kv_namespaces ?? [], d1: config.d1_databases ?? [], secretsFile: Boolean(secretsFile) });
  out(`Uploaded ${config.name}`);
  out(config.workers_dev ? `Deployed ${config.name} triggers\n  https://${config.name}.shop-team.workers.dev` : `Deployed ${config.name} triggers`);
} else {
  refuse(`fake wrangler: no answer for \`wrangler ${argv.join(" ")}\``, 2);
}
save();
