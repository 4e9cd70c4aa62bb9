//! The layering rules of `src/`, checked by reading the source tree: which top-level module may
//! use which, no import cycle between top-level modules, and no god files.
//!
//! The module graph has an edge `a -> b` when non-test code under `src/a` (or `src/a.rs`)
//! mentions `crate::b` (a `use crate::b...`, `use crate::{b, ...}` or a path `crate::b::x`).
//! Test code does not count: `tests.rs` files, `src/testing*`, and items under `#[cfg(test)]`.
//! Comments do not count either (doc links name modules without depending on them).
//!
//! The layers, lowest first, are [`LAYERS`]: a module may use modules of lower layers and of its
//! own layer (as long as no cycle forms); `commands` sits on top and may use everything.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules of `src/` in layers, lowest first. Modules in one layer do not depend
/// on each other in a cycle (checked by [`no_import_cycle_between_top_level_modules`]).
const LAYERS: &[&[&str]] = &[
    // Leaves: no `crate::` imports of their own.
    &[
        "exit_code",
        "diagnostic",
        "synthetic",
        "calendar",
        "pool",
        "http",
        "policy",
        "model",
    ],
    // msctl's own records (the ledger: ownership, applies, the run lock), plain data on the model.
    &["ledger"],
    // Desired state and what it means.
    &["config", "access"],
    // Live state into config files (`msctl import`).
    &["import"],
    // git2 at the edge (reads config files at any revision).
    &["git"],
    // What the backends and the emulator share: ACS3 signing, verification and encodings; the
    // platform store.
    &["acs", "store"],
    // Backends (local SQLite, aliyun) and the emulator of the cloud APIs.
    &["backend"],
    &["emulator"],
    // Planning, ordering, applying.
    &["plan"],
    &["graph"],
    &["apply"],
    // Output of plans, drift, access, history.
    &["render"],
    // The command line and the commands: on top.
    &["cli"],
    &["commands"],
];

/// The largest a source file may be, `tests.rs` files aside.
const MAX_LINES: usize = 800;

/// The widest a line may be, in characters: rustfmt's `max_width`. A statement with a longer line
/// (a long string literal, say) is one rustfmt gives up on and leaves unformatted.
const MAX_COLUMNS: usize = 100;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The numbers (from 1) of the lines of `source` wider than [`MAX_COLUMNS`], except lines that
/// start inside a raw string literal: verbatim data such as an inline snapshot, which a split
/// would change. Long strings split with `\` continuations or `concat!`; long comments wrap.
fn long_lines(source: &str) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Str,
        Raw(usize),
    }
    let mut state = State::Code;
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        if line.chars().count() > MAX_COLUMNS && !matches!(state, State::Raw(_)) {
            found.push(n + 1);
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match state {
                State::Code => {
                    let rest: String = chars[i..].iter().take(3).collect();
                    let ident_before =
                        i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
                    if rest.starts_with("//") {
                        break;
                    } else if chars[i] == '"' {
                        state = State::Str;
                    } else if chars[i] == '\'' {
                        // A char literal (`'"'`, `'\''`) or a lifetime: skip the literal whole.
                        if chars.get(i + 1) == Some(&'\\') {
                            i += 3;
                            while i < chars.len() && chars[i] != '\'' {
                                i += 1;
                            }
                        } else if chars.get(i + 2) == Some(&'\'') {
                            i += 2;
                        }
                    } else if (chars[i] == 'r' || rest.starts_with("br")) && !ident_before {
                        let start = if chars[i] == 'b' { i + 2 } else { i + 1 };
                        let hashes = chars[start..].iter().take_while(|c| **c == '#').count();
                        if chars.get(start + hashes) == Some(&'"') {
                            state = State::Raw(hashes);
                            i = start + hashes;
                        }
                    }
                }
                State::Str => match chars[i] {
                    '\\' => i += 1,
                    '"' => state = State::Code,
                    _ => {}
                },
                State::Raw(hashes) => {
                    if chars[i] == '"'
                        && chars[i + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|c| **c == '#')
                            .count()
                            == hashes
                    {
                        state = State::Code;
                        i += hashes;
                    }
                }
            }
            i += 1;
        }
    }
    found
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The path of `file` relative to `src/`, with `/` separators.
fn rel(file: &Path) -> String {
    file.strip_prefix(src())
        .expect("under src")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The top-level module a file belongs to (`backend` for `backend/aliyun/client.rs`), or
/// `None` for the crate roots.
fn top_module(rel: &str) -> Option<String> {
    let first = rel.split('/').next().expect("non-empty");
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Whether a file holds only test code.
fn is_test_file(rel: &str) -> bool {
    rel.ends_with("/tests.rs")
        || rel.contains("/tests/")
        || rel == "testing.rs"
        || rel.starts_with("testing/")
}

/// The source with comments and `#[cfg(test)]` items removed (string literals are kept: a
/// `"crate::x"` in a string is rare enough and would only add an edge).
fn non_test_code(source: &str) -> String {
    let mut out = String::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the attributed item: one line ending in `;`, or a braced block.
            let mut depth: i64 = 0;
            let mut opened = false;
            for item in lines.by_ref() {
                let code = strip_comment(item);
                depth += code.matches('{').count() as i64;
                depth -= code.matches('}').count() as i64;
                opened |= code.contains('{');
                if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(strip_comment(line));
        out.push('\n');
    }
    out
}

/// A line without its `//` comment (a `//` inside a string literal is rare in code that
/// mentions `crate::`, and cutting it short only drops text after it).
fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The top-level modules `code` mentions as `crate::NAME` or `crate::{NAME, ...}`.
fn mentions(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `$crate::` (macros) names this crate too.
        let after = &rest[i + "crate::".len()..];
        let preceded_by_ident = rest[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !preceded_by_ident {
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a::b, c};`: the first segment of each top-level item.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            push_first_segment(&item, &mut found);
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                push_first_segment(&item, &mut found);
            } else {
                push_first_segment(after, &mut found);
            }
        }
        rest = after;
    }
    found
}

fn push_first_segment(path: &str, found: &mut BTreeSet<String>) {
    let path = path.trim_start();
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // `crate::path!` is an exported macro at the crate root, not a module.
    let is_macro = path[name.len()..].trim_start().starts_with('!');
    if !name.is_empty() && name != "self" && !is_macro {
        found.insert(name);
    }
}

/// The non-test code of every file under `src/`, by path relative to `src/`.
fn sources() -> BTreeMap<String, String> {
    rust_files(&src())
        .into_iter()
        .map(|f| {
            let text =
                fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            (rel(&f), text)
        })
        .collect()
}

/// The top-level module graph of non-test code: `a -> {b, ...}`. Names under `crate::` that
/// are not top-level modules (exported macros such as `crate::path!`) are left out.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().filter_map(|r| top_module(r)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in sources {
        if is_test_file(&rel) {
            continue;
        }
        let Some(module) = top_module(&rel) else {
            continue;
        };
        let deps = graph.entry(module.clone()).or_default();
        for m in mentions(&non_test_code(&text)) {
            if m != module && modules.contains(&m) {
                deps.insert(m);
            }
        }
    }
    graph
}

/// Which code of a file a check reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Code {
    /// Non-test code only (the module graph's view).
    NonTest,
    /// Test code too: `tests.rs` files and `#[cfg(test)]` items.
    WithTests,
}

/// Files under `src/<dir>` whose code mentions `crate::<path>`, with the line.
fn offenders(dir: &str, paths: &[&str], code: Code) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if !rel.starts_with(&format!("{dir}/")) || (code == Code::NonTest && is_test_file(&rel)) {
            continue;
        }
        let read = match code {
            Code::NonTest => non_test_code(&text),
            Code::WithTests => text
                .lines()
                .map(|l| format!("{}\n", strip_comment(l)))
                .collect(),
        };
        for line in read.lines() {
            let flat: String = line.split_whitespace().collect();
            for path in paths {
                let (group, leaf) = match path.rsplit_once("::") {
                    Some((parent, leaf)) => (format!("crate::{parent}::{{"), leaf),
                    None => ("crate::{".to_string(), *path),
                };
                let direct = flat.contains(&format!("crate::{path}::"))
                    || flat.contains(&format!("crate::{path};"))
                    || flat.contains(&format!("crate::{path},"))
                    || flat.contains(&format!("crate::{path}}}"));
                // `use crate::backend::{aliyun, ...}` names the module inside a group.
                let grouped = flat.split(&group).skip(1).any(|g| {
                    g.split(['}', ','])
                        .any(|item| item == leaf || item.starts_with(&format!("{leaf}::")))
                });
                if direct || grouped {
                    found.push(format!("src/{rel}: {}", line.trim()));
                }
            }
        }
    }
    found
}

/// The cycles of `graph` (each as the modules of one strongly connected component).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm; the graph has a few dozen nodes, so recursion depth is no concern.
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.graph.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The edges of the graph that go up the layers (or touch a module [`LAYERS`] does not list).
fn upward_edges(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, deps) in graph {
        for to in deps {
            match (layer_of(from), layer_of(to)) {
                (Some(a), Some(b)) if b <= a => {}
                (None, _) => bad.push(format!("`{from}` is not in LAYERS")),
                (_, None) => bad.push(format!("`{to}` (used by `{from}`) is not in LAYERS")),
                _ => bad.push(format!("{from} -> {to}")),
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

fn show(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(m, deps)| {
            format!(
                "  {m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The scanner itself: a check that cannot see an import cannot fail.
    let code = non_test_code(
        "use crate::plan::Plan;\nuse crate::{model::State, policy};\n// crate::git in a comment\n\
         #[cfg(test)]\nmod tests {\n    use crate::render;\n}\n#[cfg(test)]\nuse crate::apply;\n\
         fn f() { $crate::commands::x(); crate::graph::link(); crate::path![\"a\"]; }\n",
    );
    let found = mentions(&code);
    let expected: BTreeSet<String> = ["plan", "model", "policy", "commands", "graph"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);

    let wide = "x".repeat(MAX_COLUMNS);
    let source = [
        format!("let a = \"{wide}\";"),
        format!("// {wide}"),
        "let b = r#\"".to_string(),
        format!("{wide}{wide}"),
        "\"#;".to_string(),
        format!("let c = '\"'; // {wide}"),
        "let d = \"\\\"".to_string(),
        format!("{wide}\";"),
        "let e = br\"".to_string(),
        format!("{wide}\";"),
    ]
    .join("\n");
    // Long code, long comments and long lines of normal strings count; raw string data does not.
    assert_eq!(long_lines(&source), vec![1, 2, 6, 8]);
}

#[test]
fn backends_do_not_import_the_plan_layer() {
    let found = offenders("backend", &["plan"], Code::WithTests);
    assert!(
        found.is_empty(),
        "the backend layer sits below planning; move what it needs down (model, policy):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_emulator_does_not_import_the_backends() {
    // Its tests neither: a test that needs a client of the emulator lives in tests/emulator.rs.
    let found = offenders(
        "emulator",
        &["backend::aliyun", "backend::local"],
        Code::WithTests,
    );
    assert!(
        found.is_empty(),
        "the emulator shares `acs` and `store` with the backends and imports neither backend, \
         not even in tests:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?}\nthe graph:\n{}",
        show(&graph)
    );
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let graph = module_graph();
    let bad = upward_edges(&graph);
    assert!(
        bad.is_empty(),
        "edges against the layers (see LAYERS in tests/architecture.rs):\n{}\nthe graph:\n{}",
        bad.join("\n"),
        show(&graph)
    );
}

#[test]
fn no_source_file_over_800_lines() {
    let mut big: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, _)| !rel.ends_with("tests.rs"))
        .filter_map(|(rel, text)| {
            let n = text.lines().count();
            (n > MAX_LINES).then(|| format!("src/{rel}: {n} lines"))
        })
        .collect();
    big.sort();
    assert!(
        big.is_empty(),
        "split these along their seams (tests go to a sibling `tests.rs`):\n{}",
        big.join("\n")
    );
}

#[test]
fn no_line_wider_than_rustfmt_formats() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wide = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for file in rust_files(&root.join(dir)) {
            let text = fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            let name = file
                .strip_prefix(root)
                .expect("under the root")
                .display()
                .to_string();
            wide.extend(long_lines(&text).into_iter().map(|n| format!("{name}:{n}")));
        }
    }
    assert!(
        wide.is_empty(),
        "lines over {MAX_COLUMNS} characters (split strings with `\\` continuations or `concat!`, \
         wrap comments):\n{}",
        wide.join("\n")
    );
}
