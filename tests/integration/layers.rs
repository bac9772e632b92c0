//! The layer order of docs/architecture.md, enforced: a module may import (`crate::X`) only
//! modules at or below its own layer. Test code (after `#[cfg(test)]`) and comments are not
//! counted. Every module of the crate is in the order (a new one must be placed).

use std::path::Path;

/// Bottom first. Each module may use those before it.
const ORDER: &[&str] = &[
    "model", "util", "loopback", "suite", "probe", "expect", "plan", "path", "run", "facts", "report", "drift", "merge", "import", "app",
    "cli",
];

/// The `crate::X` modules the non-test code of `module` (a file or a directory) names.
fn imports(src: &Path, module: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let re = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in re.captures_iter(line) {
                out.push((f.display().to_string(), c[1].to_string()));
            }
        }
    }
    out
}

#[test]
fn lower_layers_never_import_upper_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for (i, module) in ORDER.iter().enumerate() {
        let allowed = &ORDER[..=i];
        let found = imports(&src, module);
        assert!(
            module == &"loopback" || module == &"model" || module == &"util" || !found.is_empty(),
            "{module}: no imports found (wrong path?)"
        );
        for (file, used) in found {
            if !allowed.contains(&used.as_str()) {
                problems.push(format!("{file}: `{module}` imports `crate::{used}`, a layer above it"));
            }
        }
    }
    assert!(problems.is_empty(), "layer order broken (docs/architecture.md):\n{}", problems.join("\n"));
}

#[test]
fn the_model_imports_nothing_of_ours() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<_> = imports(&src, "model").into_iter().filter(|(_, m)| m != "model").collect();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(declared.len() >= ORDER.len(), "{declared:?}");
    for m in &declared {
        assert!(ORDER.contains(m), "module `{m}` has no place in the layer order (ORDER here, docs/architecture.md)");
    }
}

/// Inside `report`, the spool stores what the writers render; it never calls them (the
/// writers stream from it), and the data modules below the writers import none of them.
#[test]
fn the_spool_and_the_report_data_never_call_the_writers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report");
    let writers = ["console", "json", "junit", "html", "prometheus", "github", "azure"];
    let re = regex::Regex::new(r"(?:super|crate::report)::([a-z_]+)").unwrap();
    for file in ["spool", "summary", "diff", "merged", "sanitize", "paths"] {
        let text = std::fs::read_to_string(src.join(format!("{file}.rs"))).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in re.captures_iter(line) {
                assert!(!writers.contains(&&c[1]), "report/{file}.rs uses the writer `{}`: {line}", &c[1]);
            }
        }
    }
}
