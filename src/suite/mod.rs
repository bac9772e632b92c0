//! Suites: the serde model, loading, templating, validation and planning. Sync and pure: no
//! tokio, no sockets. Layers: parse (serde-saphyr, located errors) → template (minijinja) →
//! validate → plan (expanded checks with stable ids).

pub mod error;
pub mod model;
pub mod plan;
pub mod template;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

pub use error::LoadError;
use model::SuiteFile;

/// Largest suite or vars file read, in bytes; larger inputs are rejected before parsing.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A parsed suite file with its source text (kept for error snippets).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// The parsed model.
    pub suite: SuiteFile,
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError::input(
            format!("{}: file is {} bytes, more than the {} allowed", path.display(), meta.len(), MAX_FILE_BYTES),
            None,
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(upto);
        let line = text.matches('\n').count() as u32 + 1;
        let col = text.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) as u32 + 1;
        LoadError::at(path, None, line, col, "the file is not valid UTF-8").with_hint("save the suite as UTF-8")
    })
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::Options::default()
}

fn yaml_error(path: &Path, source: &str, e: serde_saphyr::Error) -> LoadError {
    let (mut line, mut col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
    let text = e.without_snippet().to_string();
    // The library's message may repeat the position; keep what says what is wrong.
    let first = text.lines().next().unwrap_or("invalid YAML");
    let msg = match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    };
    // For an unknown key the library points at the enclosing mapping; point at the key itself.
    if let Some(key) = msg.strip_prefix("unknown field `").and_then(|r| r.split('`').next())
        && line > 0
    {
        let pat = format!("{key}:");
        if let Some((i, c)) = source.lines().enumerate().skip(line as usize - 1).find_map(|(i, l)| l.find(&pat).map(|c| (i, c))) {
            line = i as u32 + 1;
            col = source.lines().nth(i).map(|l| l[..c].chars().count()).unwrap_or(c) as u32 + 1;
        }
    }
    let hint = if msg.contains("unknown field") {
        Some("check the key's spelling against docs or `netspec schema`")
    } else if msg.contains("tab") {
        Some("YAML indentation must use spaces, not tabs")
    } else {
        None
    };
    let e = LoadError::at(path, Some(source), line, col, msg);
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// Parses suite text.
///
/// Errors: YAML or shape problems with file, line and column; an unsupported `netspec` version.
pub fn parse(path: &Path, source: String) -> Result<Loaded, LoadError> {
    let suite: SuiteFile = serde_saphyr::from_str_with_options(&source, yaml_options()).map_err(|e| yaml_error(path, &source, e))?;
    if suite.netspec != 1 {
        let (line, col) =
            source.lines().enumerate().find(|(_, l)| l.starts_with("netspec:")).map(|(i, _)| (i as u32 + 1, 10)).unwrap_or((1, 1));
        return Err(LoadError::at(path, Some(&source), line, col, format!("unsupported format version {}", suite.netspec))
            .with_hint("this netspec reads `netspec: 1`"));
    }
    Ok(Loaded { path: path.to_owned(), source, suite })
}

/// Reads and parses one suite file.
///
/// Errors: unreadable, too large, not UTF-8, or invalid (see [`parse`]).
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = read_text(path)?;
    parse(path, text)
}

/// Expands PATHs: a file as is; a directory's `*.yaml`/`*.yml` files (not recursive), sorted.
///
/// Errors: a missing path, or a directory without suites.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| LoadError::Read { path: p.clone(), source })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .filter(|f| !f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".vars.")))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(LoadError::input(format!("{}: no *.yaml suite files in this directory", p.display()), None));
            }
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(LoadError::input(
                format!("{}: no such file or directory", p.display()),
                Some("give a suite file or a directory of suites"),
            ));
        }
    }
    Ok(out)
}

/// Loads every suite under `paths`, collecting all errors.
///
/// Errors: every file's problems.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Loaded>, LoadError> {
    let files = expand_paths(paths)?;
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        match load_file(&f) {
            Ok(l) => ok.push(l),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(ok) } else { Err(LoadError::many(errs)) }
}

/// Reads a vars file: a YAML mapping of names to strings, numbers, booleans or lists.
///
/// Errors: unreadable or not such a mapping, located.
pub fn parse_vars_file(path: &Path) -> Result<IndexMap<String, serde_json::Value>, LoadError> {
    let text = read_text(path)?;
    if text.trim().is_empty() {
        return Ok(IndexMap::new());
    }
    let v: IndexMap<String, serde_json::Value> =
        serde_saphyr::from_str_with_options(&text, yaml_options()).map_err(|e| yaml_error(path, &text, e))?;
    Ok(v)
}

/// The JSON Schema of the suite format, generated from the model (pretty-printed).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(SuiteFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Loaded, LoadError> {
        parse(Path::new("t.yaml"), s.to_owned())
    }

    #[test]
    fn unknown_key_is_located() {
        let e = parse_str("netspec: 1\nname: x\nscenarios:\n  - name: a\n    chekcs: []\n").unwrap_err().to_string();
        assert!(e.contains("t.yaml:5:"), "{e}");
        assert!(e.contains("chekcs"), "{e}");
    }

    #[test]
    fn bad_duration_is_located() {
        let e = parse_str("netspec: 1\nname: x\ndefaults: { timeout: 5 parsecs }\nscenarios: []\n").unwrap_err().to_string();
        assert!(e.contains("a duration such as"), "{e}");
        assert!(e.contains("t.yaml:3:"), "{e}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let e = parse_str("netspec: 2\nname: x\nscenarios: []\n").unwrap_err().to_string();
        assert!(e.contains("unsupported format version 2"), "{e}");
    }

    #[test]
    fn port_out_of_range_is_rejected() {
        let e = parse_str(
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        tcp: { host: h, port: 70000 }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("out of range"), "{e}");
    }
}
