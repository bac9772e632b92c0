//! Results: a check's attempts (observation, assertions, local error), its outcome and
//! verdict reason, and the totals of a run.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::model::observation::Observation;
use crate::model::{Assertion, Failure, Kind, Outcome, Reason, Verdict};

/// The verdict of a set of assertions and its reason: any failure fails (the first failure's
/// reason); else any error errors (the first error's reason); else a pass, carrying the first
/// accepted condition's reason, if any (a `blocked` port seen `tcp.filtered`).
pub fn judge(assertions: &[Assertion]) -> (Verdict, Option<Reason>) {
    if let Some(a) = assertions.iter().find(|a| a.verdict == Verdict::Fail) {
        return (Verdict::Fail, a.reason);
    }
    if let Some(a) = assertions.iter().find(|a| a.verdict == Verdict::Error) {
        return (Verdict::Error, a.reason);
    }
    (Verdict::Pass, assertions.iter().find_map(|a| a.reason))
}

/// One attempt of a check.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Attempt {
    /// What the probe saw.
    pub observation: Observation,
    /// Each expectation's result.
    pub assertions: Vec<Assertion>,
    /// A local problem that kept the check from being evaluated.
    pub error: Option<Failure>,
}

impl Attempt {
    /// The attempt's verdict and reason: a local error first, then the assertions'
    /// ([`judge`]).
    pub fn verdict(&self) -> (Verdict, Option<Reason>) {
        match &self.error {
            Some(e) => (Verdict::Error, Some(e.reason)),
            None => judge(&self.assertions),
        }
    }

    /// Whether the attempt passed.
    pub fn passed(&self) -> bool {
        self.verdict().0 == Verdict::Pass
    }
}

/// Who a check is — everything reports say about it besides what happened: made once when the
/// check is planned and shared (`Arc`) by the planned check and its result, never copied.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckMeta {
    /// Position in plan order (0-based; reports list checks in this order).
    pub index: usize,
    /// `<suite>/<scenario instance>/<check name>`.
    pub id: String,
    /// Suite name.
    pub suite: Arc<str>,
    /// Scenario instance name.
    pub scenario: Arc<str>,
    /// Check name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// What is probed, for people (e.g. `tcp host:443`).
    pub target: String,
    /// Resolver name.
    pub resolver: String,
    /// Troubleshooting hint.
    pub hint: Option<String>,
    /// Tags (scenario's and check's).
    pub tags: Vec<String>,
    /// The matrix values of the scenario instance, as `(name, value)` pairs.
    pub vars: Arc<[(String, String)]>,
    /// TLS certificate verification is off for this check (`insecure: true`); reports flag it.
    pub insecure: bool,
    /// Where the check is defined: the file (as given) and the 1-based line of its `name`.
    pub defined: Option<(Arc<str>, u32)>,
}

/// The result of one check: its identity (shared with the plan) and what happened.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// Who the check is.
    pub meta: Arc<CheckMeta>,
    /// Outcome.
    pub outcome: Outcome,
    /// The attempts kept, in order (the last decides the outcome): at most
    /// `run::MAX_KEPT_ATTEMPTS`, the first and the latest ones.
    pub attempts: Vec<Attempt>,
    /// Attempts made between the first and the ones kept, not kept (a long `--retry-timeout`
    /// window must not hold every attempt).
    pub attempts_omitted: u32,
    /// The path to the destination of the check's connection, traced after the last attempt
    /// (`--path`, docs/path-diagnosis.md); shared with the other checks of the run that have the
    /// same destination.
    pub path: Option<Box<crate::model::trace::PathTrace>>,
    /// Wall time of all attempts.
    pub elapsed: Duration,
}

impl CheckResult {
    /// The assertions of the last attempt that did not hold.
    pub fn failed_assertions(&self) -> Vec<&Assertion> {
        self.attempts.last().map(|a| a.assertions.iter().filter(|x| !x.passed).collect()).unwrap_or_default()
    }

    /// One-line reason: the failed assertions, or the error.
    pub fn reason(&self) -> String {
        match self.outcome {
            Outcome::Cancelled => "cancelled before it finished".into(),
            Outcome::Error => self
                .attempts
                .last()
                .and_then(|a| a.error.as_ref())
                .map(|f| format!("{} [{}]", f.message, f.reason))
                .unwrap_or_else(|| "could not be evaluated".into()),
            _ => self.failed_assertions().iter().map(|a| a.message()).collect::<Vec<_>>().join("; "),
        }
    }

    /// The reason of the last attempt's verdict (e.g. `tcp.filtered`): always one for a failed
    /// or errored check; for a passed one, only where it names the observed condition the
    /// expectation accepted (a `blocked` port seen `tcp.filtered`).
    /// A connection's reason is refined by the path trace when there is one
    /// (`path.dropped_after_hop`, `tcp.reset_by_middlebox`, `tcp.prohibited`, `tcp.unreachable`).
    pub fn verdict_reason(&self) -> Option<Reason> {
        let r = self.attempts.last().and_then(|a| a.verdict().1)?;
        let connection = matches!(r, Reason::TcpFiltered | Reason::TcpClosed | Reason::TcpUnreachable | Reason::TcpProhibited);
        Some(self.path.as_ref().and_then(|p| p.reason()).filter(|_| connection).unwrap_or(r))
    }

    /// The stable code of [`CheckResult::verdict_reason`], e.g. `tcp.filtered`.
    pub fn reason_code(&self) -> Option<&'static str> {
        self.verdict_reason().map(Reason::as_str)
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Totals {
    /// Passed checks.
    pub passed: usize,
    /// Failed checks.
    pub failed: usize,
    /// Errored checks.
    pub errors: usize,
    /// Cancelled checks.
    pub cancelled: usize,
}

impl Totals {
    /// Counts outcomes.
    pub fn of(results: &[CheckResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            t.add(r.outcome);
        }
        t
    }

    /// Counts one more check with `outcome`.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
    }

    /// Checks counted, whatever their outcome.
    pub fn all(&self) -> usize {
        self.passed + self.failed + self.errors + self.cancelled
    }
}
