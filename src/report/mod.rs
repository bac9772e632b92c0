//! Reporters: consume run events and results only; they never touch the network.
//! One task (the console reporter) owns the terminal.
//!
//! Every format is rendered from the same results, in plan order: the console
//! ([`console`]), JUnit XML ([`junit`]), the JSON results document ([`json`], with its schema),
//! a self-contained HTML page ([`html`]), a node_exporter textfile ([`prometheus`]), GitHub
//! Actions annotations and step summary ([`github`]) and Azure Pipelines logging commands
//! ([`azure`]). [`CheckSummary`] is the flat, redacted view of one result that the JSON
//! document carries and that HTML, Prometheus, the CI annotations and `netspec merge` read, so
//! every format agrees on ids, outcomes and reason codes by construction.
//!
//! During a run the results are not kept: the [`spool`] renders what the asked-for reports need
//! of each check as it finishes into a temporary file, and the writers read it back in plan
//! order (JSON and JUnit stream it into their files), so memory does not grow with the results.
//!
//! Regular files are written atomically ([`crate::util::stage`]) with the umask's mode, FIFOs and
//! devices directly; [`Outputs::check_writable`] ([`paths`]) runs before the run so a bad path
//! costs nothing and no input is replaced.

pub mod azure;
pub mod console;
pub mod diff;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod merged;
pub mod paths;
pub mod prometheus;
pub mod sanitize;
pub mod spool;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
pub use summary::{CheckSummary, Unmet, observed_addresses};

use indexmap::IndexMap;

use crate::run::{CheckResult, Outcome};
use crate::suite::template::Secrets;

/// A report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file (or its directory) cannot be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The report's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The report could not be rendered (a serializer's or template engine's message).
    #[error("failed to render the {format} report: {message}")]
    Render {
        /// `json`, `junit`, `html`, `prometheus`, …
        format: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl ReportError {
    /// A rendering error of `format`.
    pub fn render(format: &'static str, message: impl ToString) -> Self {
        ReportError::Render { format, message: message.to_string() }
    }
}

/// Writes `text` to `path` ([`write_streamed`]).
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    write_streamed(path, |w| w.write_all(text.as_bytes()))
}

thread_local! {
    /// Reports written to temporary files and not yet renamed into place, while
    /// [`Outputs::write`] writes a run's reports (`None` otherwise: each is renamed at once).
    static DEFERRED: std::cell::RefCell<Option<Vec<crate::util::Staged>>> = const { std::cell::RefCell::new(None) };
}

/// Writes a report from a writer ([`crate::util::stage`]): a regular file atomically (renamed
/// into place at once, or with the other reports of the run at the end of [`Outputs::write`]),
/// a FIFO or device directly; maps the error to [`ReportError::Write`].
pub(crate) fn write_streamed(path: &Path, fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<(), ReportError> {
    let err = |source| ReportError::Write { path: path.to_owned(), source };
    match crate::util::stage(path, fill).map_err(err)? {
        None => Ok(()),
        Some(staged) => {
            let now = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
                Some(later) => {
                    later.push(staged);
                    None
                }
                None => Some(staged),
            });
            match now {
                Some(s) => s.commit().map_err(err),
                None => Ok(()),
            }
        }
    }
}

/// What a run was: recorded in the JSON document and shown by the HTML page.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// Report name: the suite's name, or `netspec` for several suites.
    pub name: String,
    /// The vantage point (`--vantage`, default the host name).
    pub vantage: String,
    /// Wall-clock start of the run.
    pub started: SystemTime,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Each suite's effective variables (suite name → variable → value); redacted when written.
    pub vars: IndexMap<String, IndexMap<String, serde_json::Value>>,
    /// The comparison with `--baseline`, when one was given.
    pub drift: Option<diff::DiffReport>,
}

impl RunMeta {
    /// `started` as RFC 3339 UTC with milliseconds, e.g. `2026-11-22T03:11:08.123Z`.
    pub fn started_rfc3339(&self) -> String {
        humantime::format_rfc3339_millis(self.started).to_string()
    }
}

/// Which reports to produce, beside the console.
#[derive(Debug, Default, Clone)]
pub struct Outputs {
    /// JUnit XML file.
    pub junit: Option<PathBuf>,
    /// JSON results file (schema: `schemas/results.schema.json`).
    pub json: Option<PathBuf>,
    /// Self-contained HTML page.
    pub html: Option<PathBuf>,
    /// node_exporter textfile-collector file (`*.prom`).
    pub prometheus: Option<PathBuf>,
    /// GitHub Actions annotations on stdout and a Markdown summary appended to
    /// `$GITHUB_STEP_SUMMARY` when that is set.
    pub github: bool,
    /// Azure Pipelines `##vso[task.logissue]` lines on stdout.
    pub azure: bool,
}

impl Outputs {
    /// The report files asked for, in a fixed order.
    pub fn files(&self) -> Vec<&Path> {
        [&self.junit, &self.json, &self.html, &self.prometheus].into_iter().flatten().map(PathBuf::as_path).collect()
    }

    /// Checks before the run that every report file can be written ([`paths::check`]): none is
    /// a directory, read-only or in a missing or unwritable directory, none is the same file as
    /// one of `inputs` (suites, libraries, vars, hosts and CA files) and no two share a file.
    ///
    /// Errors: the first problem, with a hint.
    pub fn check_writable(&self, inputs: &[PathBuf]) -> Result<(), paths::ReportPathError> {
        paths::check(&self.files(), inputs)
    }

    /// What the spool must keep of each check for these reports and the console summary.
    pub fn needs(&self) -> spool::Needs {
        spool::Needs {
            json: self.json.is_some(),
            junit: self.junit.is_some(),
            summary: self.html.is_some() || self.prometheus.is_some() || self.github || self.azure,
            console: true,
        }
    }

    /// Writes every report asked for from the spooled results and prints the CI annotations;
    /// returns the errors (one message each) so the caller can still write the others and pick
    /// the exit code. JSON and JUnit stream from the spool; HTML, Prometheus and the
    /// annotations read every summary back first.
    pub fn write(&self, spool: &spool::Spool, meta: &RunMeta, secrets: &Secrets) -> Vec<ReportError> {
        // Regular files are staged and renamed into place together at the end: a second signal
        // while a report streams into a FIFO leaves no temporary file behind.
        DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
        let mut errors = self.write_each(spool, meta, secrets);
        for staged in DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default() {
            let path = staged.target().to_owned();
            if let Err(source) = staged.commit() {
                errors.push(ReportError::Write { path, source });
            }
        }
        errors
    }

    fn write_each(&self, spool: &spool::Spool, meta: &RunMeta, secrets: &Secrets) -> Vec<ReportError> {
        let mut errors = Vec::new();
        let mut keep = |r: Result<(), ReportError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        if let Some(p) = &self.junit {
            keep(junit::write(p, &meta.name, &meta.vantage, meta.started, spool, secrets));
        }
        if let Some(p) = &self.json {
            keep(json::write(p, meta, spool, secrets));
        }
        let summaries = if self.needs().summary {
            match spool.summaries() {
                Ok(s) => s,
                Err(e) => {
                    keep(Err(ReportError::render("summary", format!("cannot read the results back: {e}"))));
                    return errors;
                }
            }
        } else {
            Vec::new()
        };
        if let Some(p) = &self.html {
            keep(html::write_run(p, meta, &summaries));
        }
        if let Some(p) = &self.prometheus {
            keep(prometheus::write(p, &meta.vantage, meta.started, &summaries));
        }
        if self.github {
            let title = format!("{} ({})", meta.name, meta.vantage);
            keep(github::emit(&title, &summaries.iter().map(|s| (meta.vantage.as_str(), s)).collect::<Vec<_>>()));
        }
        if self.azure {
            azure::emit(&summaries.iter().map(|s| (meta.vantage.as_str(), s)).collect::<Vec<_>>());
        }
        errors
    }
}

/// Whether to emit CI annotations: asked for explicitly, or detected from the environment
/// (`GITHUB_ACTIONS=true`, `TF_BUILD=True`, as the two services set them) unless `no_ci` is set.
/// Returns `(github, azure)`.
pub fn ci_annotations(github: bool, azure: bool, no_ci: bool) -> (bool, bool) {
    let env_is = |k: &str, v: &str| std::env::var(k).is_ok_and(|x| x.eq_ignore_ascii_case(v));
    if no_ci {
        return (github, azure);
    }
    (github || env_is("GITHUB_ACTIONS", "true"), azure || env_is("TF_BUILD", "true"))
}

/// What the reports asked for (`needs`) keep of a finished check, rendered by each writer:
/// its JSON object, its `<testcase>`, its summary and its console explanation (see
/// [`spool::Record`]). The spool calls it for every check ([`new_spool`]).
pub fn record(r: &CheckResult, needs: spool::Needs, vantage: &str, secrets: &Secrets) -> spool::Record {
    let bad = matches!(r.outcome, Outcome::Failed | Outcome::Error);
    // The JSON object carries the summary too: computed once for both.
    let mut summary = (needs.summary || needs.json).then(|| CheckSummary::of(r, secrets));
    let json = match needs.json {
        true if needs.summary => summary.clone(),
        true => summary.take(),
        false => None,
    };
    spool::Record {
        json: json.map(|s| json::check_text(s, r, secrets)),
        junit: needs.junit.then(|| junit::case_xml(r, vantage, secrets)),
        summary,
        console: (needs.console && bad).then(|| console::explain(r, secrets)),
    }
}

/// An empty spool whose records the writers render ([`record`]).
pub fn new_spool(needs: spool::Needs, secrets: Secrets, vantage: impl Into<String>) -> spool::Spool {
    spool::Spool::new(needs, secrets, vantage, record)
}

/// A spool holding `results` (tests and library callers that have a slice).
pub fn spool_of(results: &[CheckResult], needs: spool::Needs, secrets: &Secrets, vantage: &str) -> spool::Spool {
    let mut s = new_spool(needs, secrets.clone(), vantage);
    for r in results {
        s.add(r);
    }
    s
}

/// The label reports use for an outcome: `PASS`, `FAIL`, `ERROR`, `CANCEL`.
pub fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::Error => "ERROR",
        Outcome::Cancelled => "CANCEL",
    }
}

/// The lowercase name of an outcome, as the JSON document spells it (`passed`, `failed`, …).
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Error => "error",
        Outcome::Cancelled => "cancelled",
    }
}

/// Variable names whose values are credentials by convention; reports show them as `***`
/// even when no template marked them secret (defence in depth beside [`Secrets`]).
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "credential", "api_key", "apikey", "private_key"].iter().any(|w| n.contains(w))
}

/// The variables as reports record them: values of credential-like names replaced by `***`,
/// then every secret redacted.
pub fn redacted_vars(
    vars: &IndexMap<String, IndexMap<String, serde_json::Value>>,
    secrets: &Secrets,
) -> IndexMap<String, IndexMap<String, serde_json::Value>> {
    vars.iter()
        .map(|(suite, vs)| {
            let vs = vs
                .iter()
                .map(|(k, v)| {
                    let mut v = if is_secret_name(k) { serde_json::Value::String("***".into()) } else { v.clone() };
                    secrets.redact_value(&mut v);
                    (k.clone(), v)
                })
                .collect();
            (suite.clone(), vs)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::model::Kind;

    /// A summary for unit tests: check `s/sc/<name>`, tcp, 1.5 s.
    pub fn summary(name: &str, outcome: Outcome, code: Option<&str>) -> CheckSummary {
        CheckSummary {
            index: 0,
            id: format!("s/sc/{name}"),
            suite: "s".into(),
            scenario: "sc".into(),
            name: name.into(),
            kind: Kind::Tcp,
            target: "tcp h:1".into(),
            resolver: "system".into(),
            path: None,
            outcome,
            reason_code: code.map(str::to_owned),
            reason: None,
            hint: None,
            unmet: vec![],
            observed: vec![],
            addresses: vec![],
            tags: vec![],
            vars: vec![],
            insecure: false,
            elapsed: 1500.0,
            facts: None,
            file: Some("suites/s.yaml".into()),
            line: Some(7),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_json_valid_and_hides_credential_names() {
        let secrets = Secrets::default();
        secrets.add("s3cr\"et");
        let mut v = serde_json::json!({ "a": ["x s3cr\"et y", { "s3cr\"et": 1 }], "n": 2 });
        secrets.redact_value(&mut v);
        assert_eq!(v, serde_json::json!({ "a": ["x *** y", { "***": 1 }], "n": 2 }));
        let mut vars = IndexMap::new();
        vars.insert(
            "s".to_string(),
            IndexMap::from([("proxy_password".to_string(), serde_json::json!("pw")), ("region".into(), serde_json::json!("eastus"))]),
        );
        let r = redacted_vars(&vars, &secrets);
        assert_eq!(r["s"]["proxy_password"], "***");
        assert_eq!(r["s"]["region"], "eastus");
    }

    #[test]
    fn duplicate_and_unwritable_report_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let o = Outputs { json: Some(p.clone()), html: Some(p), ..Default::default() };
        assert!(o.check_writable(&[]).unwrap_err().to_string().contains("two reports"));
        let o = Outputs { prometheus: Some("/nonexistent-netspec-dir/x.prom".into()), ..Default::default() };
        assert!(o.check_writable(&[]).unwrap_err().to_string().contains("cannot write the report"));
        let o = Outputs { html: Some(dir.path().join("r.html")), ..Default::default() };
        assert!(o.check_writable(&[]).is_ok());
    }

    #[test]
    fn ci_annotations_follow_flags_and_can_be_turned_off() {
        assert_eq!(ci_annotations(true, false, true), (true, false));
        assert_eq!(ci_annotations(false, true, true), (false, true));
    }
}
