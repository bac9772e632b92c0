//! `netspec merge`: combines the JSON results of several vantage points (`netspec run --json`
//! at each site, region, cluster node or CI matrix job) into one report whose matrix is
//! check × vantage, and finds the checks that behave differently between vantage points:
//! a different outcome, a different reason code, or different addresses — the same name
//! resolving to private addresses at one site and public ones at another (split-horizon DNS
//! that is not set up everywhere).
//!
//! Boundary: reads results files only (never the network); the reports are rendered by
//! [`crate::report`] (HTML, JUnit) and here (the merged JSON document, whose schema is
//! `schemas/merged.schema.json`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;

use crate::expect::Kind;
use crate::expect::addr::classify;
use crate::report::json::{self, DocKind, ReadError, Results};
use crate::report::{CheckSummary, ReportError, mark, write_file};
use crate::run::{Attempt, Outcome, Totals};

/// One input run, as the merged report records it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VantageRun {
    /// The vantage point's name (unique among the inputs).
    pub vantage: String,
    /// The results file it was read from, as given on the command line.
    pub file: String,
    /// The run's report name.
    pub name: String,
    /// The netspec version that ran it.
    pub netspec_version: String,
    /// Start of the run, RFC 3339 (empty if the file does not say).
    pub started: String,
    /// Wall time of the run, in milliseconds.
    pub duration_ms: f64,
    /// Outcome counts of the run.
    pub totals: Totals,
    /// The run's variables as its file recorded them (already redacted).
    pub vars: IndexMap<String, IndexMap<String, serde_json::Value>>,
}

/// One check's result at one vantage point.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VantageResult {
    /// The vantage point.
    pub vantage: String,
    /// The check's summary there (its target and resolver may differ between vantage points).
    #[serde(flatten)]
    pub summary: CheckSummary,
    /// Every attempt there, as the run recorded it.
    #[schemars(with = "Vec<Attempt>")]
    pub attempts: Vec<serde_json::Value>,
}

/// One check across vantage points.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MergedCheck {
    /// Stable check id: `<suite>/<scenario instance>/<check name>`.
    pub id: String,
    /// Suite name.
    pub suite: String,
    /// Scenario instance.
    pub scenario: String,
    /// Check name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Its result at each vantage point that ran it, in input order.
    pub results: Vec<VantageResult>,
}

/// How one vantage point saw a differing check.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Side {
    /// The vantage point.
    pub vantage: String,
    /// Its outcome there (absent: the check did not run there).
    pub outcome: Option<Outcome>,
    /// Its reason code there.
    pub reason_code: Option<String>,
    /// The addresses it resolved to there.
    pub addresses: Vec<IpAddr>,
    /// The class of those addresses: `private`, `public`, `loopback`, `link_local`, `special`,
    /// `mixed (…)` or `none`.
    pub address_class: String,
    /// One line for people: `FAIL public 20.60.1.10 [dns.…]`.
    pub text: String,
}

/// A check that behaves differently between vantage points.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Difference {
    /// The check id.
    pub id: String,
    /// What differs: `outcome`, `reason`, `address class`, `addresses`, `not run everywhere`.
    pub aspects: Vec<String>,
    /// Each vantage point's side, in input order.
    pub at: Vec<Side>,
}

/// The merged report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(
    title = "netspec merged results",
    description = "The results of several netspec runs from different vantage points, combined by `netspec merge`."
)]
pub struct Merged {
    /// Always `merged`.
    pub report: DocKind,
    /// The netspec version that merged.
    pub netspec_version: String,
    /// Report name: the runs' common name, or `netspec`.
    pub name: String,
    /// The input runs, in the order given.
    pub vantages: Vec<VantageRun>,
    /// Outcome counts over every (check, vantage) pair.
    pub totals: Totals,
    /// Every check, in the order the inputs list them (first input first).
    pub checks: Vec<MergedCheck>,
    /// The checks that behave differently between vantage points.
    pub differences: Vec<Difference>,
}

/// The merge's input could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A results file is unreadable or invalid.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Two inputs name the same vantage point.
    #[error("{second} and {first} are both from vantage `{vantage}`\n  = hint: give each run its own `--vantage NAME`")]
    DuplicateVantage {
        /// The vantage name.
        vantage: String,
        /// The earlier file.
        first: PathBuf,
        /// The later file.
        second: PathBuf,
    },
}

/// The class of a set of addresses: one class name when all share it, `mixed (a, b)` when they
/// do not, `none` for no address.
pub fn address_class(addrs: &[IpAddr]) -> String {
    let classes: BTreeSet<String> =
        addrs.iter().map(|ip| classify(*ip).map(|c| c.to_string()).unwrap_or_else(|| "special".into())).collect();
    match classes.len() {
        0 => "none".into(),
        1 => classes.into_iter().next().unwrap_or_default(),
        _ => format!("mixed ({})", classes.into_iter().collect::<Vec<_>>().join(", ")),
    }
}

/// Expands the inputs: a file as is; a directory's `*.json` files (not recursive), sorted — so
/// a collector without a shell (the container image has none) can name the results volume.
///
/// Errors: [`ReadError`] for a directory that cannot be listed or holds no `*.json` file.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let err = |message: String| ReadError { path: p.clone(), message };
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| err(format!("cannot list the directory: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "json"))
            .collect();
        if found.is_empty() {
            return Err(err("no *.json results in this directory".into()));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// The files a merge reads (directories expanded as [`expand_inputs`] does; the paths as given
/// when one cannot be listed), for the check that no report replaces one of them.
pub fn input_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    expand_inputs(paths).unwrap_or_else(|_| paths.to_vec())
}

/// Reads every results file (directories expanded by [`expand_inputs`]).
///
/// Errors: the first unreadable or invalid file, or two files from the same vantage point.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Results<serde_json::Value>)>, MergeError> {
    let mut out: Vec<(PathBuf, Results<serde_json::Value>)> = Vec::new();
    for p in &expand_inputs(paths)? {
        let doc = json::read(p)?;
        if let Some((first, _)) = out.iter().find(|(_, d)| d.vantage == doc.vantage) {
            return Err(MergeError::DuplicateVantage { vantage: doc.vantage, first: first.clone(), second: p.clone() });
        }
        out.push((p.clone(), doc));
    }
    Ok(out)
}

fn side(vantage: &str, r: Option<&VantageResult>) -> Side {
    match r {
        None => Side {
            vantage: vantage.into(),
            outcome: None,
            reason_code: None,
            addresses: vec![],
            address_class: "none".into(),
            text: "not run".into(),
        },
        Some(r) => {
            let s = &r.summary;
            let class = address_class(&s.addresses);
            let mut text = mark(s.outcome).to_string();
            if !s.addresses.is_empty() {
                let ips: Vec<String> = s.addresses.iter().map(|a| a.to_string()).collect();
                text.push_str(&format!(" {class} {}", ips.join(", ")));
            }
            if let Some(c) = &s.reason_code {
                text.push_str(&format!(" [{c}]"));
            }
            Side {
                vantage: vantage.into(),
                outcome: Some(s.outcome),
                reason_code: s.reason_code.clone(),
                addresses: s.addresses.clone(),
                address_class: class,
                text,
            }
        }
    }
}

fn difference(c: &MergedCheck, vantages: &[String]) -> Option<Difference> {
    if vantages.len() < 2 {
        return None;
    }
    let mut aspects = Vec::new();
    let distinct = |f: &dyn Fn(&VantageResult) -> String| c.results.iter().map(f).collect::<BTreeSet<_>>().len() > 1;
    if distinct(&|r| format!("{:?}", r.summary.outcome)) {
        aspects.push("outcome".to_string());
    }
    if distinct(&|r| r.summary.reason_code.clone().unwrap_or_default()) {
        aspects.push("reason".into());
    }
    if distinct(&|r| address_class(&r.summary.addresses)) {
        aspects.push("address class".into());
    } else if distinct(&|r| {
        let mut a = r.summary.addresses.clone();
        a.sort();
        format!("{a:?}")
    }) {
        aspects.push("addresses".into());
    }
    if c.results.len() < vantages.len() && !c.results.is_empty() {
        aspects.push("not run everywhere".into());
    }
    if aspects.is_empty() {
        return None;
    }
    let at = vantages.iter().map(|v| side(v, c.results.iter().find(|r| &r.vantage == v))).collect();
    Some(Difference { id: c.id.clone(), aspects, at })
}

/// Merges runs (in the order given) into one report.
pub fn merge(inputs: Vec<(PathBuf, Results<serde_json::Value>)>) -> Merged {
    let names: BTreeSet<&str> = inputs.iter().map(|(_, d)| d.name.as_str()).collect();
    let name = if names.len() == 1 { names.into_iter().next().unwrap_or("netspec").to_owned() } else { "netspec".to_owned() };
    let mut vantages = Vec::new();
    let mut checks: IndexMap<String, MergedCheck> = IndexMap::new();
    let mut totals = Totals::default();
    for (path, doc) in inputs {
        vantages.push(VantageRun {
            vantage: doc.vantage.clone(),
            file: path.display().to_string(),
            name: doc.name.clone(),
            netspec_version: doc.netspec_version.clone(),
            started: doc.started.clone(),
            duration_ms: doc.duration_ms,
            totals: doc.totals,
            vars: doc.vars.clone(),
        });
        for rec in doc.checks {
            let s = rec.summary;
            match s.outcome {
                Outcome::Passed => totals.passed += 1,
                Outcome::Failed => totals.failed += 1,
                Outcome::Error => totals.errors += 1,
                Outcome::Cancelled => totals.cancelled += 1,
            }
            let entry = checks.entry(s.id.clone()).or_insert_with(|| MergedCheck {
                id: s.id.clone(),
                suite: s.suite.clone(),
                scenario: s.scenario.clone(),
                name: s.name.clone(),
                kind: s.kind,
                results: Vec::new(),
            });
            entry.results.push(VantageResult { vantage: doc.vantage.clone(), summary: s, attempts: rec.attempts });
        }
    }
    let names: Vec<String> = vantages.iter().map(|v: &VantageRun| v.vantage.clone()).collect();
    let checks: Vec<MergedCheck> = checks.into_values().collect();
    let differences = checks.iter().filter_map(|c| difference(c, &names)).collect();
    Merged { report: DocKind::Merged, netspec_version: env!("CARGO_PKG_VERSION").into(), name, vantages, totals, checks, differences }
}

impl Merged {
    /// Whether every check passed at every vantage point.
    pub fn all_passed(&self) -> bool {
        self.checks.iter().all(|c| c.results.iter().all(|r| r.summary.outcome == Outcome::Passed))
    }

    /// Every (vantage, check) pair, check by check.
    pub fn pairs(&self) -> Vec<(&str, &CheckSummary)> {
        self.checks.iter().flat_map(|c| c.results.iter().map(|r| (r.vantage.as_str(), &r.summary))).collect()
    }

    /// The console text: per-vantage totals, the differences side by side, then every check
    /// that did not pass.
    pub fn console(&self) -> String {
        let mut out = String::new();
        let w = self.vantages.iter().map(|v| v.vantage.len()).max().unwrap_or(0);
        out.push_str(&format!("merged {} vantage points of {}:\n", self.vantages.len(), self.name));
        for v in &self.vantages {
            let t = v.totals;
            out.push_str(&format!(
                "  {:w$}  {} checks: {} passed, {} failed, {} errors  ({})\n",
                v.vantage,
                t.passed + t.failed + t.errors + t.cancelled,
                t.passed,
                t.failed,
                t.errors,
                v.file
            ));
        }
        if !self.differences.is_empty() {
            out.push_str(&format!("\ndifferences between vantage points ({}):\n", self.differences.len()));
            for d in &self.differences {
                out.push_str(&format!("\n  {}  [{}]\n", d.id, d.aspects.join(", ")));
                for s in &d.at {
                    out.push_str(&format!("    {:w$}  {}\n", s.vantage, s.text));
                }
            }
        }
        // Checks that did not pass; vantage points that failed alike share one line.
        let mut header = false;
        for c in &self.checks {
            let mut groups: IndexMap<(&str, Option<&str>), Vec<&str>> = IndexMap::new();
            for r in c.results.iter().filter(|r| r.summary.outcome != Outcome::Passed) {
                groups.entry((mark(r.summary.outcome), r.summary.reason.as_deref())).or_default().push(r.vantage.as_str());
            }
            for ((m, reason), at) in groups {
                if !header {
                    out.push_str("\nfailures:\n");
                    header = true;
                }
                out.push_str(&format!("  {m:6} {} @ {}: {}\n", c.id, at.join(", "), reason.unwrap_or("")));
            }
        }
        let t = self.totals;
        out.push_str(&format!(
            "\n{} results ({} checks × {} vantage points): {} passed, {} failed, {} errors{}\n",
            t.passed + t.failed + t.errors + t.cancelled,
            self.checks.len(),
            self.vantages.len(),
            t.passed,
            t.failed,
            t.errors,
            if t.cancelled > 0 { format!(", {} cancelled", t.cancelled) } else { String::new() }
        ));
        out
    }
}

/// Writes the merged JSON document atomically.
///
/// Errors: serialization or writing failed.
pub fn write_json(path: &Path, m: &Merged) -> Result<(), ReportError> {
    let s = serde_json::to_string_pretty(m).map_err(|e| ReportError::render("json", e))?;
    write_file(path, &s)
}

/// The JSON Schema of the merged document (pretty-printed), as `schemas/merged.schema.json`
/// holds it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Merged);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_class(&[]), "none");
        assert_eq!(address_class(&[ip("10.12.4.21"), ip("192.168.1.1")]), "private");
        assert_eq!(address_class(&[ip("20.60.1.10")]), "public");
        assert_eq!(address_class(&[ip("10.0.0.1"), ip("20.60.1.10")]), "mixed (private, public)");
        assert_eq!(address_class(&[ip("192.0.2.1")]), "special");
    }
}
