//! The modules of `src/` import one way: none imports, directly or through
//! others, from a module that imports it back. Read from the source, as a
//! reviewer would: every `crate::<module>` a module's code names outside
//! its tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The modules `text` names after `crate::`, in paths and in
/// `crate::{a, b::c}` groups.
fn named_modules(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => names.extend(group_heads(group)),
            None => names.extend(ident(rest)),
        }
    }
    names
}

/// The first segment of each path in a `{...}` group (its text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let (mut heads, mut depth, mut at_start) = (Vec::new(), 0, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && depth == 0 && !c.is_whitespace() => {
                heads.extend(ident(&group[i..]));
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// Which top-level module imports which, from the `.rs` files under `src`.
fn imports(src: &Path) -> Graph {
    let modules: BTreeSet<String> = fs::read_dir(src)
        .expect("src/ reads")
        .map(|entry| entry.expect("an entry").path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .filter(|name| name != "lib" && name != "main")
        .collect();
    let mut graph = Graph::new();
    for module in &modules {
        let (file, dir) = (src.join(format!("{module}.rs")), src.join(module));
        let mut files = vec![file];
        collect_rs(&dir, &mut files);
        for path in files.iter().filter(|p| p.is_file()) {
            let text = fs::read_to_string(path).expect("a source file reads");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let edges = graph.entry(module.clone()).or_default();
            edges.extend(
                named_modules(code)
                    .into_iter()
                    .filter(|m| m != module && modules.contains(m)),
            );
        }
    }
    graph
}

fn collect_rs(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.map(|e| e.expect("an entry").path()) {
        if path.is_dir() {
            collect_rs(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// A cycle of imports, as the modules along it, if there is one.
fn a_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_from_one_that_imports_it_back() {
    let graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        graph["http"].contains("graphql"),
        "the graph reads: {graph:?}"
    );
    if let Some(cycle) = a_cycle(&graph) {
        panic!("modules import each other: {}", cycle.join(" -> "));
    }
}

#[test]
fn groups_and_paths_name_their_first_segment() {
    let text = "use crate::{audit::{A, B}, db, ledger::x};\nlet y = crate::money::Z;";
    assert_eq!(named_modules(text), ["audit", "db", "ledger", "money"]);
    let graph = Graph::from([
        ("a".into(), BTreeSet::from(["b".into()])),
        ("b".into(), BTreeSet::from(["a".into()])),
    ]);
    assert_eq!(
        a_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
