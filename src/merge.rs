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
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::report::json::{self, DocKind, ReadError, Results};
pub use crate::report::merged::{Difference, Merged, MergedCheck, Side, VantageResult, VantageRun, address_class};
use crate::report::{ReportError, mark, write_file};
use crate::run::{Outcome, Totals};

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
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(address_class(&[]), "none");
        assert_eq!(address_class(&[ip("10.12.4.21"), ip("192.168.1.1")]), "private");
        assert_eq!(address_class(&[ip("20.60.1.10")]), "public");
        assert_eq!(address_class(&[ip("10.0.0.1"), ip("20.60.1.10")]), "mixed (private, public)");
        assert_eq!(address_class(&[ip("192.0.2.1")]), "special");
    }
}
