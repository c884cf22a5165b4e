//! The crate's top-level modules depend on each other without a cycle
//! (DESIGN §2: dependencies point one way), read from the `crate::NAME`
//! paths in `src/`. In particular the daemon and the command-line modes
//! share the lock wait (`journal`) and the hub-blocked flag (`hub`) instead
//! of importing each other.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn collect(dir: &Path, src: &Path, graph: &mut Graph) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, src, graph);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            for name in top_level_names(&text[at + "crate::".len()..]) {
                if name != module {
                    deps.insert(name);
                }
            }
        }
    }
}

fn leading_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a path names after `crate::`: `a::b` names `a`,
/// and a group `{a::b, c, d::{e, f}}` names `a`, `c` and `d`.
fn top_level_names(after: &str) -> Vec<String> {
    let Some(group) = after.strip_prefix('{') else {
        let name = leading_ident(after);
        return if name.is_empty() { vec![] } else { vec![name] };
    };
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut item_start = true;
    for (i, c) in group.char_indices() {
        if item_start && depth == 0 {
            let name = leading_ident(&group[i..]);
            if !name.is_empty() && name != "self" {
                names.push(name);
            }
            item_start = false;
        }
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            _ => {}
        }
    }
    names
}

#[test]
fn grouped_paths_name_every_module_they_import() {
    assert_eq!(top_level_names("journal::Journal;"), ["journal"]);
    assert_eq!(
        top_level_names("{journal, modes::pass, hub::{a, b}, self};"),
        ["journal", "modes", "hub"]
    );
    assert_eq!(
        top_level_names("{\n    hub::{blocked, client},\n    time,\n}"),
        ["hub", "time"]
    );
    assert!(top_level_names("{}").is_empty());
}

/// A cycle through `node`, if any (depth-first search).
fn cycle(
    graph: &Graph,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut c = path[at..].to_vec();
        c.push(node.to_string());
        return Some(c);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(node.to_string());
    None
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    collect(&src, &src, &mut graph);
    assert!(graph.len() > 10, "{graph:?}");
    assert!(!graph["daemon"].contains("modes"), "daemon imports modes");
    assert!(graph["modes"].contains("daemon"));
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = cycle(&graph, node, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}
