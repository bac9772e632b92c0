//! Suites: the serde model, loading, templating, validation and planning. Sync and pure: no
//! tokio, no sockets. Layers: parse (serde-saphyr, located errors) → template (minijinja) →
//! validate → plan (expanded checks with stable ids).

pub mod check;
pub mod error;
pub mod model;
pub mod split;
pub mod template;
pub mod yaml;

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

thread_local! {
    /// The files [`read_text`] read while [`recording`] runs on this thread, in reading order,
    /// each with the digest of its first read (none when it could not be read).
    static READ: std::cell::RefCell<Option<indexmap::IndexMap<PathBuf, Option<u64>>>> = const { std::cell::RefCell::new(None) };
    /// While [`verifying`] runs on this thread: the digests every file read must still have.
    static EXPECTED: std::cell::RefCell<Option<std::sync::Arc<Digests>>> = const { std::cell::RefCell::new(None) };
}

/// The content of every input file, as a keyed 64-bit digest (SipHash-1-3 with this process's
/// random key, [`std::hash::RandomState`]: a file cannot be crafted to collide) per path as read.
pub type Digests = std::collections::HashMap<PathBuf, u64>;

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::hash::RandomState::new).hash_one(bytes)
}

/// Like [`recording`], and also the digest of each file read (see [`verifying`]).
pub fn recording_digests<T>(f: impl FnOnce() -> T) -> (T, Vec<PathBuf>, Digests) {
    let outer = READ.with(|r| r.borrow_mut().replace(Default::default()));
    let out = f();
    let read = READ.with(|r| std::mem::replace(&mut *r.borrow_mut(), outer)).unwrap_or_default();
    let digests = read.iter().filter_map(|(p, d)| Some((p.clone(), (*d)?))).collect();
    (out, read.into_keys().collect(), digests)
}

/// Runs `f` (on this thread) so that every file it reads must be one of `expected`, with the
/// same content: a plan that is made a second time while the run consumes it (a large plan,
/// [`crate::plan::Keep::UpTo`]) is then the plan that was validated, or an error.
pub fn verifying<T>(expected: std::sync::Arc<Digests>, f: impl FnOnce() -> T) -> T {
    let outer = EXPECTED.with(|e| e.borrow_mut().replace(expected));
    let out = f();
    EXPECTED.with(|e| *e.borrow_mut() = outer);
    out
}

/// Records (or, while [`verifying`], checks) the digest of a file just read.
///
/// Errors: while verifying, a file that was not read the first time or whose content differs.
fn note_content(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let d = digest(bytes);
    READ.with(|r| {
        if let Some(m) = r.borrow_mut().as_mut() {
            m.entry(path.to_owned()).or_default().get_or_insert(d);
        }
    });
    let same = EXPECTED.with(|e| e.borrow().as_ref().map(|m| m.get(path) == Some(&d)));
    match same {
        None | Some(true) => Ok(()),
        Some(false) => {
            Err(LoadError::at(path, None, 0, 0, "the file changed while netspec ran its checks (it was read again to plan them)")
                .with_hint("do not change suites, libraries, vars, matrix or hosts files during a run; run again"))
        }
    }
}

/// Runs `f` and returns its result with every file [`read_text`] read meanwhile on this thread
/// (suites, libraries, vars, matrix and hosts files), in reading order, each once. Reports are
/// compared with them so that none replaces an input.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<PathBuf>) {
    let (out, files, _) = recording_digests(f);
    (out, files)
}

fn note_read(path: &Path) {
    READ.with(|r| {
        if let Some(m) = r.borrow_mut().as_mut() {
            m.entry(path.to_owned()).or_default();
        }
    });
}

/// Reads a suite, library or vars file as UTF-8 text, at most [`MAX_FILE_BYTES`] (also for
/// files whose size is not known beforehand: `/dev/zero`, a pipe).
///
/// Errors: unreadable, too large, or not UTF-8 (located at the first bad byte).
pub(crate) fn read_text(path: &Path) -> Result<String, LoadError> {
    note_read(path);
    let file = std::fs::File::open(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
    read_open(path, file)
}

/// Filesystems whose "regular files" are kernel state, not documents: procfs, sysfs, debugfs,
/// securityfs, cgroup and cgroup2, configfs, tracefs, efivarfs (statfs(2) `f_type` magics).
const KERNEL_FS_MAGICS: &[i64] =
    &[0x9fa0, 0x6265_6572, 0x6462_6720, 0x7363_6673, 0x0027_e0eb, 0x6367_7270, 0x6265_6570, 0x7472_6163, 0xde5e_81e4];

/// Reads a file a suite names (an `include:` library, a matrix file, a hosts file) like
/// [`read_text`], but only a regular file on a regular filesystem: a FIFO (which would block),
/// a device, a directory, a socket or a `/proc`/`/sys` entry (kernel state such as
/// `/proc/self/environ`) is refused before anything is read. The file is opened without
/// blocking and checked through its descriptor (no race with a rename).
///
/// Errors: as [`read_text`]; a [`LoadError::Read`] of kind `InvalidInput` for a file that is not
/// a regular file.
pub(crate) fn read_regular(path: &Path) -> Result<String, LoadError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let read_err = |source| LoadError::Read { path: path.to_owned(), source };
    let refuse = |what: &str| read_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it is {what}, not a regular file")));
    note_read(path);
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(read_err)?;
    let ft = file.metadata().map_err(read_err)?.file_type();
    if !ft.is_file() {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "a special file"
        };
        return Err(refuse(what));
    }
    let fs = rustix::fs::fstatfs(&file).map_err(|e| read_err(e.into()))?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let magic = fs.f_type as i64;
    if KERNEL_FS_MAGICS.contains(&magic) {
        return Err(refuse("kernel state (a /proc or /sys entry)"));
    }
    // Reads block again: the file is regular.
    let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| read_err(e.into()))?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK).map_err(|e| read_err(e.into()))?;
    read_open(path, file)
}

/// Reads an open file as UTF-8 text, at most [`MAX_FILE_BYTES`].
fn read_open(path: &Path, file: std::fs::File) -> Result<String, LoadError> {
    use std::io::Read;
    let read_err = |source| LoadError::Read { path: path.to_owned(), source };
    let too_large = |size: Option<u64>| {
        let size = size.map(|n| format!("{n} bytes, ")).unwrap_or_default();
        LoadError::at(
            path,
            None,
            0,
            0,
            format!("the file is {size}more than the {} MiB a suite or vars file may have", MAX_FILE_BYTES >> 20),
        )
        .with_hint("split it into several suites: `netspec validate DIR` reads every suite in a directory")
    };
    let meta = file.metadata().map_err(read_err)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(Some(meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(None));
    }
    note_content(path, &bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(upto);
        let line = text.matches('\n').count() as u32 + 1;
        let col = text.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) as u32 + 1;
        let shown = String::from_utf8_lossy(e.as_bytes());
        LoadError::at(path, Some(&shown), line, col, "the file is not valid UTF-8").with_hint("save the suite as UTF-8")
    })
}

fn yaml_options() -> serde_saphyr::Options {
    yaml::options()
}

fn yaml_error(path: &Path, source: &str, e: serde_saphyr::Error) -> LoadError {
    yaml::error(path, source, e)
}

/// Parses suite text.
///
/// Errors: YAML or shape problems with file, line and column; an unsupported `netspec` version.
pub fn parse(path: &Path, source: String) -> Result<Loaded, LoadError> {
    let suite: SuiteFile = match split::parse(&source) {
        Some(suite) => suite,
        None => serde_saphyr::from_str_with_options(&source, yaml_options()).map_err(|e| yaml_error(path, &source, e))?,
    };
    if suite.netspec != 1 {
        let (line, col) =
            source.lines().enumerate().find(|(_, l)| l.starts_with("netspec:")).map(|(i, _)| (i as u32 + 1, 10)).unwrap_or((1, 1));
        return Err(LoadError::at(path, Some(&source), line, col, format!("unsupported format version {}", suite.netspec))
            .with_hint("this netspec reads `netspec: 1`"));
    }
    not_empty(path, &source, &suite)?;
    Ok(Loaded { path: path.to_owned(), source, suite })
}

/// An empty `scenarios` or `checks` list is an error: such a suite would pass without testing
/// anything, which is never what its author meant.
fn not_empty(path: &Path, source: &str, suite: &SuiteFile) -> Result<(), LoadError> {
    if suite.scenarios.is_empty() {
        let line = source.lines().position(|l| l.starts_with("scenarios:")).map_or(0, |i| i as u32 + 1);
        return Err(LoadError::at(path, Some(source), line, 1, "the suite has no scenarios")
            .with_hint("add a scenario with at least one check: an empty suite would pass without testing anything"));
    }
    let errs: Vec<LoadError> = suite
        .scenarios
        .iter()
        .filter(|sc| sc.checks.is_empty())
        .map(|sc| {
            LoadError::at(path, Some(source), sc.name.line, sc.name.column, format!("scenario `{}` has no checks", sc.name.value))
                .with_hint("add a check or remove the scenario: an empty scenario would pass without testing anything")
        })
        .collect();
    if errs.is_empty() { Ok(()) } else { Err(LoadError::many(errs)) }
}

impl LoadError {
    /// Why a file could not be read, without the path (for messages that name the file already).
    pub fn read_reason(&self) -> String {
        match self {
            LoadError::Read { source, .. } => source.to_string(),
            other => other.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned(),
        }
    }
}

/// Reads and parses one suite file.
///
/// Errors: unreadable, too large, not UTF-8, or invalid (see [`parse`]).
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = read_text(path)?;
    parse(path, text)
}

/// Reads and parses a library file (`include:`): returns it with its text.
///
/// Errors: unreadable, too large, not UTF-8, invalid, or an unsupported `netspec` version.
pub fn load_library(path: &Path) -> Result<(model::Library, String), LoadError> {
    let source = read_regular(path)?;
    let lib: model::Library = serde_saphyr::from_str_with_options(&source, yaml_options()).map_err(|e| yaml_error(path, &source, e))?;
    if lib.netspec != 1 {
        return Err(LoadError::at(path, Some(&source), 1, 1, format!("unsupported format version {}", lib.netspec))
            .with_hint("this netspec reads `netspec: 1`"));
    }
    Ok((lib, source))
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

/// The JSON Schema of library files (`include:`), generated from the model (pretty-printed).
pub fn library_schema_json() -> String {
    let schema = schemars::schema_for!(model::Library);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// The JSON Schema of the suite format, generated from the model (pretty-printed).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(SuiteFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

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
    fn refused_versions_accept_every_spelling_and_reject_what_rustls_cannot_offer() {
        let suite = |versions: &str| {
            format!(
                "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        tls: {{ host: h.example }}\n        expect: {{ refuses_versions: {versions} }}\n"
            )
        };
        let loaded = parse_str(&suite(r#"[tls1.3, "TLSv1.2", 1.2, "TLS 1.2"]"#)).unwrap();
        let planned = plan::plan(&[loaded], &plan::Inputs::default()).unwrap();
        match &planned.checks[0].target {
            plan::Target::Tls { refuse_versions, .. } => {
                assert_eq!(refuse_versions, &[model::TlsVersion::V1_2, model::TlsVersion::V1_3])
            }
            other => panic!("{other:?}"),
        }
        for old in ["tls1.1", "1.0", "1"] {
            let loaded = parse_str(&suite(&format!("[{old}]"))).unwrap();
            let e = plan::plan(&[loaded], &plan::Inputs::default()).unwrap_err().to_string();
            assert!(e.contains("cannot be tested") && e.contains("t.yaml:8:") && e.contains("hint:"), "{old}: {e}");
        }
        let e = parse_str(&suite("[tls1.4]")).unwrap_err().to_string();
        assert!(e.contains("a TLS version"), "{e}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let e = parse_str("netspec: 2\nname: x\nscenarios: []\n").unwrap_err().to_string();
        assert!(e.contains("unsupported format version 2"), "{e}");
    }

    #[test]
    fn port_out_of_range_is_rejected() {
        // Read as a possibly templated value, a bad port is reported (located) by planning.
        let loaded = parse_str(
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        tcp: { host: h, port: 70000 }\n",
        )
        .unwrap();
        let e = plan::plan(&[loaded], &plan::Inputs::default()).unwrap_err().to_string();
        assert!(e.contains("t.yaml:7:31"), "{e}");
        assert!(e.contains("out of range"), "{e}");
    }
}
