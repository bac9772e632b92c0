//! A merged report as data: every check's result at every vantage point, the differences
//! between vantage points, and its console text. `crate::merge` builds it from JSON results;
//! the JUnit and HTML writers render it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;

use super::summary::DocKind;
use super::{CheckSummary, mark};
use crate::expect::Kind;
use crate::expect::addr::classify;
use crate::model::Outcome;
use crate::model::result::{Attempt, Totals};

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
                t.all(),
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
            t.all(),
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
