// No crate's modules use each other in a loop: a module (a file or folder directly under a
// crate's src/) that uses another through `crate::` is never used back by it, directly or
// through others. Read from the sources of every crate and Worker; comments and the insides of
// string literals do not count.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rustSources, stripRust } from "./rust.mjs";

/** The first segments of the `crate::` paths in `code` (comments and strings already out). */
export function usedModules(code) {
  const used = new Set();
  for (const match of code.matchAll(/crate::/g)) {
    const before = code[match.index - 1];
    if (before !== undefined && /[\w$]/.test(before)) continue; // `$crate::`, `my_crate::`
    const rest = code.slice(match.index + "crate::".length);
    if (rest.startsWith("{")) {
      // A group, maybe nested and over lines: the first segment of each top-level item.
      let depth = 0;
      let item = "";
      for (const c of rest) {
        if (c === "{") depth += 1;
        else if (c === "}") depth -= 1;
        if (depth === 0) break;
        if (depth === 1 && c === ",") {
          used.add(firstSegment(item));
          item = "";
        } else if (!(depth === 1 && c === "{")) {
          item += c;
        }
      }
      used.add(firstSegment(item));
    } else {
      used.add(firstSegment(rest));
    }
  }
  used.delete("");
  used.delete("self");
  return used;
}

const firstSegment = (path) => path.trim().match(/^\w*/)[0];

/** Module to the modules it uses, from `files`: [module, code] pairs of one crate. */
export function graphOf(files) {
  const names = new Set(files.map(([module]) => module));
  const graph = new Map();
  for (const [module, code] of files) {
    const edges = graph.get(module) ?? new Set();
    for (const used of usedModules(code)) if (used !== module && names.has(used)) edges.add(used);
    graph.set(module, edges);
  }
  return graph;
}

/** A loop in `graph`, as the modules along it (the first repeated at the end), or null. */
export function findLoop(graph) {
  const done = new Set();
  const visit = (node, path) => {
    const at = path.indexOf(node);
    if (at !== -1) return [...path.slice(at), node];
    if (done.has(node)) return null;
    path.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      const cycle = visit(next, path);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return null;
}

test("a loop is found through use lines, nested groups over lines and inline paths", () => {
  const looped = [
    ["a", "use crate::b::Thing;\n"],
    ["b", "use crate::{\n    c::{More, Less},\n    d,\n};\n"],
    ["c", "fn f() { crate::a::g() }\n"],
    ["d", stripRust("// use crate::a;\npub(crate) fn h() { let _ = \"crate::a\"; }\n")],
  ];
  assert.deepEqual(findLoop(graphOf(looped)), ["a", "b", "c", "a"]);
  const layered = [
    ["a", "use crate::b::Thing;\n"],
    ["b", "use crate::{c::More, d};\n"],
    ["c", "use super::x; fn f() { crate::d::g(); $crate::a::h(); other_crate::a::i() }\n"],
    ["d", stripRust("// use crate::a;\n")],
  ];
  assert.equal(findLoop(graphOf(layered)), null);
});

test("no crate of the workspace has a module loop", () => {
  const crates = new Map();
  for (const { path, text } of rustSources()) {
    const [group, name, src, first] = path.split("/");
    if (src !== "src" || first === undefined) continue;
    const module = first.replace(/\.rs$/, "");
    if (module === "lib" || module === "main") continue;
    const files = crates.get(`${group}/${name}`) ?? [];
    files.push([module, stripRust(text)]);
    crates.set(`${group}/${name}`, files);
  }
  // Every crate and Worker was read.
  assert.ok(crates.size >= 9, `only ${crates.size} crates read`);
  for (const [crate, files] of crates) {
    const cycle = findLoop(graphOf(files));
    assert.equal(cycle, null, `${crate}: its modules use each other in a loop: ${cycle?.join(" -> ")}`);
  }
});
