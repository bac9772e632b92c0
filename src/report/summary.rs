//! The flat, redacted view of one check's result that every report shares ([`CheckSummary`]).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::observation::Observation;
use crate::model::result::CheckResult;
use crate::model::{Kind, Outcome};
use crate::suite::template::Secrets;

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Unmet {
    /// The expectation's key path, e.g. `addresses.all`, `status`.
    pub key: String,
    /// What was expected, for people.
    pub expected: String,
    /// What was observed, for people.
    pub observed: String,
}

/// The flat, redacted view of one check's result that every report shares: identity,
/// outcome, reason code, the unmet expectations, what the last attempt observed and the hint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckSummary {
    /// Position in plan order (0-based); reports list checks in this order.
    pub index: usize,
    /// Stable check id: `<suite>/<scenario instance>/<check name>`.
    pub id: String,
    /// Suite name.
    pub suite: String,
    /// Scenario instance name.
    pub scenario: String,
    /// Check name.
    pub name: String,
    /// The check's kind.
    pub kind: Kind,
    /// What was probed, e.g. `tcp host:443`.
    pub target: String,
    /// Resolver name.
    pub resolver: String,
    /// The outcome (the last attempt decides it).
    pub outcome: Outcome,
    /// Stable reason code of the last attempt's problem, e.g. `tcp.filtered`, `dns.nxdomain`
    /// (present on some passing checks too: a `blocked` port that is `tcp.filtered` passes).
    pub reason_code: Option<String>,
    /// One line saying why the check did not pass; absent when it passed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The suite's troubleshooting hint.
    pub hint: Option<String>,
    /// The expectations of the last attempt that did not hold.
    #[serde(default)]
    pub unmet: Vec<Unmet>,
    /// What the last attempt observed, one line each (as the console and JUnit print it).
    #[serde(default)]
    pub observed: Vec<String>,
    /// The addresses the last attempt resolved the name to (DNS answers, or the resolution
    /// behind a tcp, tls or http check); empty when nothing resolved.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Tags (scenario's and check's).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The matrix values of the scenario instance, as `[name, value]` pairs.
    #[serde(default)]
    pub vars: Vec<(String, String)>,
    /// TLS certificate verification was off (`insecure: true`): a pass proves reachability,
    /// not trust. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The path traced to the check's destination (`--path`), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<crate::path::PathTrace>,
    /// Wall time of all attempts.
    #[schemars(with = "crate::util::Millis")]
    pub elapsed: f64,
    /// What the last attempt saw, reduced to the values `netspec diff` compares (redacted;
    /// absent for a cancelled check and in files older than schema version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<crate::facts::Facts>,
    /// The file that defines the check, as given (absent in results written before netspec
    /// recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line of the check's `name` in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The addresses an observation resolved the checked name to.
pub fn observed_addresses(o: &Observation) -> Vec<IpAddr> {
    match o {
        Observation::Dns(d) => d.addresses.clone(),
        Observation::Tcp(t) => t.resolution.addresses.clone(),
        Observation::Tls(t) => t.resolution.addresses.clone(),
        Observation::Http(h) => h.resolution.as_ref().map(|r| r.addresses.clone()).unwrap_or_default(),
    }
}

impl CheckSummary {
    /// The summary of `r`, with every text field redacted.
    pub fn of(r: &CheckResult, secrets: &Secrets) -> CheckSummary {
        let red = |s: &str| secrets.redact(s);
        let last = r.attempts.last();
        CheckSummary {
            index: r.meta.index,
            id: red(&r.meta.id),
            suite: red(&r.meta.suite),
            scenario: red(&r.meta.scenario),
            name: red(&r.meta.name),
            kind: r.meta.kind,
            target: red(&r.meta.target),
            resolver: r.meta.resolver.clone(),
            outcome: r.outcome,
            reason_code: r.reason_code().map(str::to_owned),
            reason: (r.outcome != Outcome::Passed).then(|| red(&r.reason())),
            hint: r.meta.hint.as_deref().map(red),
            unmet: r
                .failed_assertions()
                .into_iter()
                .map(|a| Unmet { key: a.key.to_string(), expected: red(&a.expected), observed: red(&a.observed) })
                .collect(),
            observed: last.map(|a| a.observation.describe().iter().map(|l| red(l)).collect()).unwrap_or_default(),
            addresses: last.map(|a| observed_addresses(&a.observation)).unwrap_or_default(),
            tags: r.meta.tags.clone(),
            vars: r.meta.vars.iter().map(|(k, v)| (k.clone(), red(v))).collect(),
            insecure: r.meta.insecure,
            path: r.path.as_deref().cloned(),
            elapsed: (r.elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            facts: crate::facts::of_result(r, secrets),
            file: r.meta.defined.as_ref().map(|(f, _)| red(f)),
            line: r.meta.defined.as_ref().map(|(_, l)| *l),
        }
    }
}

/// What a document is: one run's results, or a merge of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// One run at one vantage point (`netspec run`, `netspec demo`).
    #[default]
    Run,
    /// Several runs combined by `netspec merge`.
    Merged,
}
