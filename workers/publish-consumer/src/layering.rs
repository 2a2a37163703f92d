//! The module graph of every crate in the workspace has no loop: a module (a file or a
//! folder directly under a crate's `src/`) that uses another through `crate::` never is used
//! back by it, directly or through others. Read from the sources, so it holds for every
//! crate and Worker, this one included. And this Worker's files stay readable: none over
//! [`MAX_FILE_LINES`] lines, no function over [`MAX_FN_LINES`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Module name to the modules it uses, for one crate.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The `crate::` paths' first segments in `source`, comments left out.
fn used_modules(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in source.lines() {
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let preceded = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    used.insert(first_segment(item.trim()));
                }
            } else {
                used.insert(first_segment(rest));
            }
        }
    }
    // `use crate::{` spread over lines: the names follow on the next lines.
    let mut in_group = false;
    for line in source.lines().map(str::trim) {
        if in_group {
            if line.starts_with('}') {
                in_group = false;
                continue;
            }
            for item in line.split(',') {
                used.insert(first_segment(item.trim()));
            }
        } else if line.ends_with("crate::{") {
            in_group = true;
        }
    }
    used.retain(|name| !name.is_empty() && name != "self");
    used
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module graph of the crate whose sources are under `src`.
fn crate_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: Vec<(String, String)> = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let first = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_owned();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        modules.push((module, fs::read_to_string(&file).unwrap_or_default()));
    }
    graph_of(&modules)
}

/// The graph of `(module, source)` pairs: an edge for each `crate::` use of another module.
fn graph_of(files: &[(String, String)]) -> Graph {
    let names: BTreeSet<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
    let mut graph = Graph::new();
    for (module, source) in files {
        let edges = graph.entry(module.clone()).or_default();
        for used in used_modules(source) {
            if used != *module && names.contains(used.as_str()) {
                edges.insert(used);
            }
        }
    }
    graph
}

/// A loop in `graph`, as the modules along it (the first repeated at the end), if any.
fn find_loop(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

fn files(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(m, s)| ((*m).to_owned(), (*s).to_owned()))
        .collect()
}

#[test]
fn a_loop_is_found_through_use_lines_groups_and_inline_paths() {
    let looped = files(&[
        ("a", "use crate::b::Thing;\n"),
        ("b", "use crate::{\n    c::More,\n    d,\n};\n"),
        ("c", "fn f() { crate::a::g() }\n"),
        ("d", "// use crate::a;\npub(crate) fn h() {}\n"),
    ]);
    assert_eq!(
        find_loop(&graph_of(&looped)),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let layered = files(&[
        ("a", "use crate::b::Thing;\n"),
        ("b", "use crate::{c::More, d};\n"),
        ("c", "use super::x; fn f() { crate::d::g() }\n"),
        ("d", "// use crate::a;\n"),
    ]);
    assert_eq!(find_loop(&graph_of(&layered)), None);
}

#[test]
fn no_crate_of_the_workspace_has_a_module_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for group in ["crates", "workers"] {
        let Ok(entries) = fs::read_dir(root.join(group)) else {
            panic!("{group}/ is not readable from {}", root.display());
        };
        for entry in entries.flatten() {
            let src = entry.path().join("src");
            if !src.is_dir() {
                continue;
            }
            checked += 1;
            if let Some(cycle) = find_loop(&crate_graph(&src)) {
                panic!(
                    "{}: its modules use each other in a loop: {}",
                    entry.path().display(),
                    cycle.join(" -> ")
                );
            }
        }
    }
    // Every crate and Worker was read, this one among them.
    assert!(checked >= 9, "only {checked} crates read");
}

/// The functions in `source` longer than `max` lines, with their lengths: from the line that
/// opens one (`fn`, with its visibility and `async`) to the brace at its indentation that
/// closes it.
fn long_functions(source: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        let mut rest = code;
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(name) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name = first_segment(name);
        let Some(open) = (start..lines.len()).find(|&i| {
            let end = lines[i].trim_end();
            end.ends_with('{') || end.ends_with(';')
        }) else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        let end = (open + 1..lines.len())
            .find(|&i| lines[i] == close)
            .unwrap_or(lines.len() - 1);
        if end - start + 1 > max {
            long.push((name, end - start + 1));
        }
    }
    long
}

#[test]
fn a_long_function_is_measured_from_its_signature_to_its_closing_brace() {
    let body = "    let x = 1;\n".repeat(5);
    let source = format!(
        "pub async fn long(\n    a: u32,\n) -> u32 {{\n{body}}}\n\nfn short() {{}}\nfn decl();\n"
    );
    assert_eq!(long_functions(&source, 8), vec![("long".to_owned(), 9)]);
    assert!(long_functions(&source, 9).is_empty());
}

#[test]
fn this_workers_files_and_functions_stay_small() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "only {} files read", files.len());
    for file in files {
        let source = fs::read_to_string(&file).unwrap_or_default();
        let lines = source.lines().count();
        assert!(lines <= MAX_FILE_LINES, "{}: {lines} lines", file.display());
        let long = long_functions(&source, MAX_FN_LINES);
        assert!(long.is_empty(), "{}: {long:?}", file.display());
    }
}
