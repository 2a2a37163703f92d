// What the structure tests read from the Rust sources: every .rs file under crates/ and
// workers/, and the names they define.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Every file git knows (tracked or new, not ignored), relative to the root. */
export function repoFiles() {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
}

/** The Rust sources of the crates and Workers: `{ path, text }`. */
export function rustSources() {
  return repoFiles()
    .filter((path) => /^(crates|workers)\/.*\.rs$/.test(path))
    .map((path) => {
      try {
        return { path, text: readFileSync(join(ROOT, path), "utf8") };
      } catch {
        return null; // deleted in the work tree, not yet in the index
      }
    })
    .filter(Boolean);
}

/** `text` without comments and the contents of string and char literals (braces in them do not count). */
export function stripRust(text) {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i += 1;
    } else if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text[i] === "/" && text[i + 1] === "*") (depth += 1), (i += 2);
        else if (text[i] === "*" && text[i + 1] === "/") (depth -= 1), (i += 2);
        else {
          if (text[i] === "\n") out += "\n";
          i += 1;
        }
      }
    } else if (c === "r" && /^r#*"/.test(text.slice(i, i + 10)) && !/\w/.test(text[i - 1] ?? "")) {
      const hashes = text.slice(i + 1).match(/^#*/)[0];
      const end = `"${hashes}`;
      const close = text.indexOf(end, i + 2 + hashes.length);
      const body = text.slice(i, close === -1 ? text.length : close + end.length);
      out += '""' + "\n".repeat((body.match(/\n/g) ?? []).length);
      i += body.length;
    } else if (c === '"') {
      i += 1;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") i += 1;
        else if (text[i] === "\n") out += "\n";
        i += 1;
      }
      i += 1;
      out += '""';
    } else if (c === "'" && /^'(\\.[^']*|[^\\'])'/.test(text.slice(i, i + 12))) {
      const literal = text.slice(i).match(/^'(\\.[^']*|[^\\'])'/)[0];
      out += "' '";
      i += literal.length;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/**
 * The names the Rust sources define: items (`fn`, `struct`, `enum`, `trait`, `type`, `const`,
 * `static`, `mod`, `macro_rules!`), enum variants and fields (a name first on its line), modules
 * by file and folder, and the crates; `imported`: every name a `use` brings in (a dependency's
 * type such as `worker::ScheduledEvent` among them).
 */
export function rustNames(sources = rustSources()) {
  const fns = new Set();
  const items = new Set();
  const leading = new Set();
  const modules = new Set();
  const imported = new Set();
  for (const { path, text } of sources) {
    const parts = path.split("/");
    modules.add(parts[1].replace(/-/g, "_"));
    for (const part of parts.slice(3)) modules.add(part.replace(/\.rs$/, ""));
    const code = stripRust(text);
    for (const [, name] of code.matchAll(/\bfn\s+([A-Za-z_]\w*)/g)) fns.add(name);
    for (const [, , name] of code.matchAll(/\b(struct|enum|trait|type|const|static|mod|union)\s+([A-Za-z_]\w*)/g)) items.add(name);
    for (const [, tree] of code.matchAll(/\buse\s+([^;]+);/g)) {
      for (const [name] of tree.matchAll(/[A-Za-z_]\w*/g)) if (name !== "as" && name !== "self") imported.add(name);
    }
    for (const [, name] of code.matchAll(/\bmacro_rules!\s*([A-Za-z_]\w*)/g)) items.add(name);
    for (const [, name] of code.matchAll(/^\s*(?:pub(?:\([^)]*\))?\s+)?([A-Za-z_]\w*)\s*[,({:=]/gm)) leading.add(name);
  }
  return { fns, items, leading, modules, imported };
}

/**
 * Every `fn` with a body in `text`, with its first line (1-based) and length in lines, from
 * the line of `fn` to the line of its closing brace, by counting braces outside comments and
 * literals.
 */
export function functions(text) {
  const code = stripRust(text);
  const lineOf = (index) => code.slice(0, index).split("\n").length;
  const found = [];
  for (const match of code.matchAll(/\bfn\s+([A-Za-z_]\w*)/g)) {
    let i = match.index + match[0].length;
    // The signature ends at the body's `{` or at `;` (a declaration without a body), outside
    // any parentheses, brackets or angle brackets of generics and `where` clauses.
    let depth = 0;
    while (i < code.length) {
      const c = code[i];
      if (c === "(" || c === "[") depth += 1;
      else if (c === ")" || c === "]") depth -= 1;
      else if (depth === 0 && (c === "{" || c === ";")) break;
      i += 1;
    }
    if (code[i] !== "{") continue;
    let braces = 0;
    let j = i;
    for (; j < code.length; j += 1) {
      if (code[j] === "{") braces += 1;
      else if (code[j] === "}" && --braces === 0) break;
    }
    const first = lineOf(match.index);
    found.push({ name: match[1], line: first, lines: lineOf(j) - first + 1 });
  }
  return found;
}
