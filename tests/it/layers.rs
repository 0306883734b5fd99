//! The layer rule of docs/ARCHITECTURE.md, enforced: a module may name only modules of a lower
//! layer (never one of its own layer but itself, never a higher one), and only `src/cli/` (and
//! `src/main.rs`) may name clap or indicatif.

use std::path::{Path, PathBuf};

/// Top-level modules and their layers, lowest first. `progress` is a foundation every layer
/// may use.
const LAYERS: &[(&str, u32)] = &[
    ("progress", 0),
    ("numeric", 0),
    ("screen", 1),
    ("data", 2),
    ("stats", 2),
    ("llm", 3),
    ("predict", 3),
    ("planner", 4),
    ("judge", 4),
    ("audit", 5),
    ("report", 6),
    ("cli", 7),
];

fn rank(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`None` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    if first == "lib.rs" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::NAME` in code (comments left out), with its line.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(k) = rest.find("crate::") {
            let before_ok = k == 0
                || !rest[..k]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
            let after = &rest[k + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if before_ok && !name.is_empty() {
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

/// The violations of the layer rule in a source tree.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Some(m) = module_of(src, f) else {
            continue;
        };
        let Some(r) = rank(&m) else {
            bad.push(format!(
                "{}: module `{m}` has no layer in LAYERS",
                f.display()
            ));
            continue;
        };
        for (line, used) in crate_refs(&text) {
            if used == m {
                continue;
            }
            match rank(&used) {
                None => bad.push(format!(
                    "{}:{line}: `crate::{used}` has no layer",
                    f.display()
                )),
                Some(0) if used == "progress" => {}
                Some(u) if u >= r => bad.push(format!(
                    "{}:{line}: `{m}` (layer {r}) names `crate::{used}` (layer {u})",
                    f.display()
                )),
                _ => {}
            }
        }
        if m != "cli" {
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for edge in ["clap::", "indicatif", "crate::cli"] {
                    if code.contains(edge) {
                        bad.push(format!(
                            "{}:{}: `{edge}` outside src/cli/",
                            f.display(),
                            i + 1
                        ));
                    }
                }
            }
        }
    }
    bad
}

#[test]
fn layers_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "layer rule broken:\n{}", bad.join("\n"));
    // Every top-level module of lib.rs has a layer.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    for d in &declared {
        assert!(rank(d).is_some(), "lib.rs declares `{d}` with no layer");
    }
    assert_eq!(
        declared.len(),
        LAYERS.len(),
        "LAYERS lists a module lib.rs lacks"
    );
}

#[test]
fn the_check_can_fail() {
    // A planted upward edge, a same-layer edge and clap in the core are each caught.
    let d = tempfile::tempdir().unwrap();
    let src = d.path();
    let write = |p: &str, t: &str| {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    };
    write("numeric/mod.rs", "use crate::planner::run; // up\n");
    write("judge/mod.rs", "fn f() { crate::planner::x(); }\n");
    write(
        "data/mod.rs",
        "use clap::Parser;\n// crate::cli in a comment is fine\n",
    );
    write(
        "planner/mod.rs",
        "use crate::progress::Progress; use crate::llm::Client;\n",
    );
    write(
        "cli/mod.rs",
        "use crate::report::x; use indicatif::ProgressBar;\n",
    );
    let bad = violations(src);
    let joined = bad.join("\n");
    assert_eq!(bad.len(), 3, "{joined}");
    assert!(
        joined.contains("`numeric` (layer 0) names `crate::planner`"),
        "{joined}"
    );
    assert!(
        joined.contains("`judge` (layer 4) names `crate::planner` (layer 4)"),
        "{joined}"
    );
    assert!(joined.contains("`clap::` outside src/cli/"), "{joined}");
}
