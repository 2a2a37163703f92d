// Every Rust file under crates/ and workers/ is at most 600 lines and every function at most 80,
// or ARCHITECTURE.md's section "Large files and functions" names it with the reason. A failure
// lists every file and function over its limit that is not named there, and every name there
// that is no longer over (so the list only shrinks).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { functions, ROOT, rustSources } from "./rust.mjs";

export const MAX_FILE_LINES = 600;
export const MAX_FN_LINES = 80;
const MAP = "ARCHITECTURE.md";
const HEADING = "### Large files and functions";

/**
 * The allow-list: lines `- \`path\`: reason` (a file) or `- \`path\` \`fn name\`: reason` (a
 * function) under the heading, up to the next heading.
 */
function allowed() {
  const text = readFileSync(join(ROOT, MAP), "utf8");
  const start = text.indexOf(`\n${HEADING}\n`);
  assert.ok(start !== -1, `${MAP} has no section "${HEADING}"`);
  const body = text.slice(start + HEADING.length + 2).split(/\n#{1,3} /)[0];
  const entries = new Map();
  for (const [line, key, reason] of body.matchAll(/^- (`[^`]+`(?: `fn \w+`)?):\s*(.*)$/gm)) {
    assert.ok(reason.trim().length > 0, `${MAP}: "${line}" gives no reason`);
    entries.set(key, line);
  }
  return entries;
}

/** Files and functions over their limits, each as the key its allow-list line would have. */
function oversized() {
  const found = new Map();
  for (const { path, text } of rustSources()) {
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > MAX_FILE_LINES) found.set(`\`${path}\``, `${path}: ${lines} lines (limit ${MAX_FILE_LINES})`);
    for (const fn of functions(text)) {
      if (fn.lines > MAX_FN_LINES) {
        found.set(`\`${path}\` \`fn ${fn.name}\``, `${path}:${fn.line}: fn ${fn.name}: ${fn.lines} lines (limit ${MAX_FN_LINES})`);
      }
    }
  }
  return found;
}

test(`every Rust file is at most ${MAX_FILE_LINES} lines and every function at most ${MAX_FN_LINES}, or ${MAP} says why`, () => {
  const allow = allowed();
  const over = oversized();
  const unexplained = [...over].filter(([key]) => !allow.has(key)).map(([, what]) => `  ${what}`);
  const stale = [...allow].filter(([key]) => !over.has(key)).map(([, line]) => `  ${line}`);
  assert.equal(
    unexplained.length + stale.length,
    0,
    [
      unexplained.length ? `${unexplained.length} over the limit and not in ${MAP} "${HEADING}":\n${unexplained.join("\n")}` : "",
      stale.length ? `${stale.length} in ${MAP} "${HEADING}" that are within the limit now (remove the line):\n${stale.join("\n")}` : "",
    ]
      .filter(Boolean)
      .join("\n"),
  );
});

test("the function scan counts a body from its fn line to its closing brace, braces in strings and comments aside", () => {
  const text = [
    "fn small() {", // 1
    '    let s = "}}}"; // }', // 2
    "    /* { */", // 3
    "}", // 4
    "trait T { fn declared(&self); }", // 5
    "impl X {", // 6
    "    pub fn big<F: Fn() -> u8>(f: F) -> Vec<[u8; 2]>", // 7
    "    where F: Copy {", // 8
    "        let c = '{';", // 9
    "        r#\"{\"#;", // 10
    "    }", // 11
    "}", // 12
  ].join("\n");
  assert.deepEqual(functions(text), [
    { name: "small", line: 1, lines: 4 },
    { name: "big", line: 7, lines: 5 },
  ]);
});
