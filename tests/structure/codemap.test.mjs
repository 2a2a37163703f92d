// ARCHITECTURE.md is a map of the code: every path and Rust name it cites in backticks must
// exist, and every module of a crate or Worker must be on it. Run by scripts/test before the
// builds; it needs nothing but the sources. A failure lists every stale citation at once, by
// line, so a change that moves code can fix the map in one pass.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, repoFiles, rustNames, rustSources } from "./rust.mjs";

const MAP = "ARCHITECTURE.md";
const text = readFileSync(join(ROOT, MAP), "utf8");
const files = repoFiles();
const dirs = new Set(files.flatMap((file) => file.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))));
const sources = rustSources();
const names = rustNames(sources);

/**
 * Each backticked span outside code blocks, with its line and the folders of the codemap
 * section it is in (a `### \`crates/domain\`` heading: `draft.rs` there is
 * crates/domain/src/draft.rs).
 */
function citations() {
  const found = [];
  let fenced = false;
  let folders = [];
  for (const [index, line] of text.split("\n").entries()) {
    if (line.startsWith("```")) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    if (/^#{1,3} /.test(line)) {
      folders = [...line.matchAll(/`([^`]+)`/g)].map(([, span]) => span.replace(/\/$/, "")).filter((span) => dirs.has(span));
      if (line.startsWith("### ")) continue;
    }
    for (const [, span] of line.matchAll(/`([^`\n]+)`/g)) found.push({ line: index + 1, span, folders });
  }
  return found;
}

const EXTENSIONS = /\.(rs|mjs|js|ts|toml|sql|json|md|css|sh|html|lock)$/;

/** A span that names a file or folder of the repository (not a route, URL, MIME type or key pattern). */
function isPath(span) {
  if (/\s|<|>|\{|\*|:|^\/|^\.|^@|^https?|^(application|image|text|multipart)\//.test(span)) return false;
  if (!/^[\w.\-/]+$/.test(span)) return false;
  return span.includes("/") ? /^[\w.-]+(\/[\w.-]+)+\/?$/.test(span) && (EXTENSIONS.test(span) || !/\./.test(span)) : EXTENSIONS.test(span);
}

// Folders the build or the tests make, which a clean clone does not have yet (from .gitignore).
const MADE = readFileSync(join(ROOT, ".gitignore"), "utf8")
  .split("\n")
  .filter((line) => /^\/[\w.-]+\/?$/.test(line.trim()))
  .map((line) => line.trim().replace(/^\/|\/$/g, ""));

function resolvePath(span, folders) {
  const path = span.replace(/\/$/, "");
  if (MADE.includes(path.split("/")[0])) return true;
  const candidates = [path, ...folders.flatMap((folder) => [`${folder}/${path}`, `${folder}/src/${path}`])];
  if (candidates.some((candidate) => existsSync(join(ROOT, candidate)))) return true;
  // Elsewhere in the text a file is named by its place inside its crate's src/ (`review/app.js`).
  return files.some((file) => file.endsWith(`/${path}`)) || [...dirs].some((dir) => dir.endsWith(`/${path}`));
}

/** A segment of a Rust path that exists: a crate, module, item, fn, or enum variant or field. */
function known(segment) {
  return names.modules.has(segment) || names.items.has(segment) || names.fns.has(segment) || names.leading.has(segment);
}

/**
 * The Rust names a span cites, each with what it must be: `a::b::c` (each segment known, the
 * last one a fn if called), `name(...)` (a fn), or a bare CamelCase name (a type or variant).
 */
function rustCitations(span) {
  const path = span.match(/^((?:[A-Za-z_]\w*::)+[A-Za-z_]\w*)(\(.*\))?$/);
  if (path) return [{ segments: path[1].split("::"), call: path[2] !== undefined }];
  const call = span.match(/^([a-z_][a-z0-9_]*)\(.*\)$/);
  if (call) return [{ segments: [call[1]], call: true }];
  if (/^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$/.test(span)) return [{ segments: [span], call: false }];
  return [];
}

test("every path ARCHITECTURE.md cites exists in the repository", () => {
  const missing = citations()
    .filter(({ span }) => isPath(span))
    .filter(({ span, folders }) => !resolvePath(span, folders))
    .map(({ line, span, folders }) => `  ${MAP}:${line}: \`${span}\`${folders.length ? ` (looked in ${folders.join(", ")} and the root)` : ""}`);
  assert.equal(missing.length, 0, `${missing.length} path(s) cited in ${MAP} do not exist:\n${missing.join("\n")}`);
});

test("every Rust name ARCHITECTURE.md cites is defined in crates/ or workers/", () => {
  const missing = [];
  for (const { line, span } of citations()) {
    for (let { segments, call } of rustCitations(span)) {
      // A path through a dependency's name (`ScheduledEvent::schedule()`, `worker::Fetch`) is
      // checked up to that name: what follows is the dependency's.
      const external = segments.findIndex((segment) => !known(segment) && names.imported.has(segment));
      if (external !== -1) segments = segments.slice(0, external + 1);
      const last = segments.at(-1);
      const absent = segments.filter((segment) => !known(segment) && !names.imported.has(segment));
      if (call && external === -1 && !names.fns.has(last) && !absent.includes(last)) absent.push(`${last} (no fn)`);
      if (absent.length > 0) missing.push(`  ${MAP}:${line}: \`${span}\`: ${absent.join(", ")} not found`);
    }
  }
  assert.equal(missing.length, 0, `${missing.length} Rust name(s) cited in ${MAP} are not in the sources:\n${missing.join("\n")}`);
});

test("every module of a crate or Worker is on the codemap", () => {
  // A module file is on the map when its own section (### `crates/x`, ### `workers/x`) names it by file
  // (`ai.rs`, `review/voice.rs`) or by module path (`platform::ai`).
  const sections = new Map();
  let current = null;
  for (const line of text.split("\n")) {
    const heading = line.match(/^### `((?:crates|workers)\/[\w-]+)`/);
    if (heading) current = heading[1];
    else if (/^#{1,3} /.test(line)) current = null;
    if (current) sections.set(current, `${sections.get(current) ?? ""}${line}\n`);
  }
  const missing = [];
  for (const { path } of sources) {
    const match = path.match(/^((?:crates|workers)\/[\w-]+)\/src\/(.+)\.rs$/);
    if (!match) continue;
    const [, owner, module] = match;
    const leaf = module.split("/").at(-1);
    if (["lib", "main", "mod", "tests"].includes(leaf) || module.split("/").includes("tests")) continue;
    const section = sections.get(owner);
    if (section === undefined) {
      missing.push(`  ${owner}: no "### \`${owner}\`" section`);
      continue;
    }
    const crate = owner.split("/")[1].replace(/-/g, "_");
    const cited = [`${module}.rs\``, `${leaf}.rs\``, `\`${module}/`, `${crate}::${module.replace(/\//g, "::")}`, `\`${leaf}::`, `\`${leaf}\``];
    if (!cited.some((form) => section.includes(form))) {
      missing.push(`  ${path}: not named in the section ${owner} (as \`${leaf}.rs\` or \`${crate}::${module.replace(/\//g, "::")}\`)`);
    }
  }
  assert.equal(missing.length, 0, `${missing.length} module(s) missing from the codemap in ${MAP}:\n${[...new Set(missing)].join("\n")}`);
});
