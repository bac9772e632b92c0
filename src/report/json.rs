//! The JSON results document: run metadata (netspec version, vantage, start time, duration,
//! the plan's variables) and every check — its [`CheckSummary`] (outcome, reason code, unmet
//! expectations, observation lines, addresses, hint) flattened beside every attempt with its
//! full observation and assertions. Secrets are redacted value by value.
//!
//! The same types describe the document's JSON Schema (`schemas/results.schema.json`,
//! `netspec schema results`) and read it back for `netspec merge` ([`read`]), where the
//! attempts stay opaque JSON values.

pub use super::summary::DocKind;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spool::{Needs, Spool};
use super::{CheckSummary, ReportError, RunMeta, redacted_vars};
use crate::run::{Attempt, CheckResult, Totals};
use crate::suite::template::Secrets;

/// Largest results file `read` accepts, in bytes (a 1,000-check run is a few MB).
pub const MAX_RESULTS_BYTES: u64 = 256 * 1024 * 1024;

/// The version of the results document's shape: 1 (no `schema_version` field) before facts;
/// 2 adds `facts` per check and the optional `drift` section (`--baseline`).
pub const SCHEMA_VERSION: u32 = 2;

fn schema_v1() -> u32 {
    1
}

/// The results of one run. `A` is an attempt: [`Attempt`] when writing (and in the schema),
/// an opaque JSON value when reading.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "NetspecResults", title = "netspec results", description = "The results of one netspec run at one vantage point.")]
pub struct Results<A> {
    /// Always `run` here (`netspec merge` writes `merged` documents, described by
    /// `schemas/merged.schema.json`).
    #[serde(default)]
    pub report: DocKind,
    /// The version of this document's shape ([`SCHEMA_VERSION`]); absent means 1.
    #[serde(default = "schema_v1")]
    pub schema_version: u32,
    /// The netspec version that ran the checks.
    pub netspec_version: String,
    /// Report name: the suite's name, or `netspec` for several suites.
    pub name: String,
    /// The vantage point the checks ran from (`--vantage`, default the host name).
    pub vantage: String,
    /// Start of the run, RFC 3339 in UTC (e.g. `2026-11-22T03:11:08.123Z`).
    #[serde(default)]
    pub started: String,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: f64,
    /// Each suite's effective variables (suite name → variable → value), secrets and
    /// credential-like names (`*password*`, `*token*`, …) shown as `***`.
    #[serde(default)]
    pub vars: IndexMap<String, IndexMap<String, serde_json::Value>>,
    /// Outcome counts.
    pub totals: Totals,
    /// What changed since the baseline (`netspec run --baseline BEFORE.json`): the same report
    /// `netspec diff` writes. Absent without a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<super::diff::DiffReport>,
    /// Every check, in plan order.
    pub checks: Vec<CheckRecord<A>>,
}

/// One check: its summary and every attempt in order (the last decides the outcome).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckRecord<A> {
    /// The flat view every report shares.
    #[serde(flatten)]
    pub summary: CheckSummary,
    /// Every attempt: the observation, each expectation's result, and the local error that
    /// kept the check from being evaluated, if any.
    pub attempts: Vec<A>,
    /// Attempts made between the first and the ones kept, not kept (see `MAX_KEPT_ATTEMPTS`
    /// in docs/resource-limits.md); absent when every attempt is kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts_omitted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One check's object in the document ([`CheckRecord`]: its summary, `CheckSummary::of(r)`,
/// flattened beside its attempts), every string and key redacted.
pub fn check_object(summary: CheckSummary, r: &CheckResult, secrets: &Secrets) -> serde_json::Value {
    let record = CheckRecord { summary, attempts: r.attempts.iter().collect::<Vec<_>>(), attempts_omitted: r.attempts_omitted };
    // Serializing our own types cannot fail (string keys, finite numbers); null if it ever did.
    let mut v = serde_json::to_value(&record).unwrap_or_default();
    secrets.redact_value(&mut v);
    v
}

/// Indentation of a check's object in the pretty-printed document (inside `checks`).
const CHECK_INDENT: &str = "\n    ";

/// [`check_object`] pretty-printed as it appears in the document's `checks` array: every line
/// after the first indented two levels (JSON strings hold no raw line breaks, so this is
/// exact). What the spool keeps for `--json`.
pub fn check_text(summary: CheckSummary, r: &CheckResult, secrets: &Secrets) -> String {
    let text = serde_json::to_string_pretty(&check_object(summary, r, secrets)).unwrap_or_else(|_| "null".into());
    text.replace('\n', CHECK_INDENT)
}

/// Streams the document (pretty-printed, as `serde_json::to_string_pretty` would print it) to
/// `w`: the run's metadata, then each spooled check's text in plan order, so the whole document
/// is never in memory. The fields are those of [`Results`], in its order (its schema describes
/// what this writes).
///
/// Errors: writing, or reading the spool back.
pub fn stream(w: &mut dyn std::io::Write, meta: &RunMeta, spool: &Spool, secrets: &Secrets) -> std::io::Result<()> {
    let head = Results::<Attempt> {
        report: DocKind::Run,
        schema_version: SCHEMA_VERSION,
        netspec_version: env!("CARGO_PKG_VERSION").into(),
        name: secrets.redact(&meta.name),
        vantage: secrets.redact(&meta.vantage),
        started: meta.started_rfc3339(),
        duration_ms: (meta.duration.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        vars: redacted_vars(&meta.vars, secrets),
        totals: spool.totals(),
        drift: meta.drift.clone(),
        checks: Vec::new(),
    };
    let head = serde_json::to_string_pretty(&head).map_err(std::io::Error::other)?;
    // `checks` is the last field: write the head up to its empty array, then the checks.
    let Some(open) = head.strip_suffix("[]\n}") else {
        return Err(std::io::Error::other("unexpected JSON layout of the results head"));
    };
    w.write_all(open.as_bytes())?;
    if spool.is_empty() {
        return w.write_all(b"[]\n}");
    }
    w.write_all(b"[")?;
    for (i, r) in spool.records().enumerate() {
        let (_, rec) = r?;
        let text = rec.json.ok_or_else(|| std::io::Error::other("the spool kept no JSON records"))?;
        w.write_all(if i == 0 { CHECK_INDENT[..].as_bytes() } else { b",\n    " })?;
        w.write_all(text.as_bytes())?;
    }
    w.write_all(b"\n  ]\n}")
}

/// Renders the document (pretty-printed) of `results`, every string redacted.
///
/// Errors: [`ReportError::Render`] from serde_json.
pub fn render(meta: &RunMeta, results: &[CheckResult], secrets: &Secrets) -> Result<String, ReportError> {
    let spool = super::spool_of(results, Needs { json: true, ..Default::default() }, secrets, &meta.vantage);
    let mut out = Vec::new();
    stream(&mut out, meta, &spool, secrets).map_err(|e| ReportError::render("json", e))?;
    String::from_utf8(out).map_err(|e| ReportError::render("json", e))
}

/// Streams the document of the spooled checks to `path`, atomically.
///
/// Errors: rendering or writing failed.
pub fn write(path: &Path, meta: &RunMeta, spool: &Spool, secrets: &Secrets) -> Result<(), ReportError> {
    super::write_streamed(path, |w| stream(w, meta, spool, secrets))
}

/// The JSON Schema of the results document (pretty-printed), as `schemas/results.schema.json`
/// holds it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Results<Attempt>);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// A results file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it, with serde_json's line and column where it has them.
    pub message: String,
}

/// Reads a results document written by `netspec run --json` (attempts kept as JSON values).
///
/// Errors: [`ReadError`] naming the file when it cannot be read, is larger than
/// [`MAX_RESULTS_BYTES`], is not JSON, is a merged report, lacks a required field, has an
/// empty vantage or repeats a check id.
pub fn read(path: &Path) -> Result<Results<serde_json::Value>, ReadError> {
    let err = |message: String| ReadError { path: path.to_owned(), message };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(err("is a directory, not a results file".into()));
    }
    if !meta.is_file() {
        // A FIFO or device would block or never end: results are files `run --json` wrote.
        return Err(err("is not a regular file (a FIFO, device or socket); give the results file `netspec run --json` wrote".into()));
    }
    let too_large = |n: String| err(format!("file is {n} bytes, more than the {MAX_RESULTS_BYTES} allowed"));
    if meta.len() > MAX_RESULTS_BYTES {
        return Err(too_large(meta.len().to_string()));
    }
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        // The cap holds even for a file that grows while it is read.
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_RESULTS_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| err(format!("cannot read: {e}")))?;
    }
    if bytes.len() as u64 > MAX_RESULTS_BYTES {
        return Err(too_large(format!("more than {MAX_RESULTS_BYTES}")));
    }
    let text = String::from_utf8(bytes).map_err(|e| err(format!("cannot read: not UTF-8: {e}")))?;
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        report: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_str(&text).map_err(|e| err(format!("not a netspec JSON results file: {e}")))?;
    if head.report.as_ref().and_then(|v| v.as_str()) == Some("merged") {
        return Err(err("is a merged report; merge the per-vantage results (`netspec run --json`) instead".into()));
    }
    let doc: Results<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| err(format!("not a netspec JSON results file (`netspec run --json`): {e}")))?;
    if doc.vantage.trim().is_empty() {
        return Err(err("has an empty `vantage`".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &doc.checks {
        if !seen.insert(c.summary.id.as_str()) {
            return Err(err(format!("check id `{}` appears twice", c.summary.id)));
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_run_streams_what_serde_json_prints() {
        let meta = RunMeta {
            name: "n".into(),
            vantage: "v".into(),
            started: std::time::SystemTime::UNIX_EPOCH,
            duration: std::time::Duration::ZERO,
            vars: Default::default(),
            drift: None,
        };
        let secrets = Secrets::default();
        let js = render(&meta, &[], &secrets).unwrap();
        let whole = Results::<Attempt> {
            report: DocKind::Run,
            schema_version: SCHEMA_VERSION,
            netspec_version: env!("CARGO_PKG_VERSION").into(),
            name: "n".into(),
            vantage: "v".into(),
            started: meta.started_rfc3339(),
            duration_ms: 0.0,
            vars: Default::default(),
            totals: Totals::default(),
            drift: None,
            checks: vec![],
        };
        assert_eq!(js, serde_json::to_string_pretty(&whole).unwrap());
    }

    #[test]
    fn read_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "{ \"netspec_version\": \"0.1.0\" ").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: not a netspec JSON results file", p.display())), "{e}");
        std::fs::write(&p, r#"{ "netspec_version": "0.1.0", "name": "n", "vantage": "v", "duration_ms": 1 }"#).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("missing field `totals`"), "{e}");
        std::fs::write(&p, r#"{ "report": "merged" }"#).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("is a merged report"));
        assert!(read(&dir.path().join("missing.json")).unwrap_err().to_string().contains("cannot read"));
        assert!(read(dir.path()).unwrap_err().to_string().contains("is a directory"));
    }
}
