//! A comparison of two runs as data (`netspec diff`, `run --baseline`): every check's changed
//! facts, whether each was expected, the totals, and its console text. `crate::drift` builds
//! it; the JSON and HTML writers carry it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Outcome, Reason};

/// One comparable fact of a check. Its name (`addresses`, `issuer`, …) is what expected-change
/// files list, and `drift.<name>` is the reason code of a check failed by `--fail-on-drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The check is in one run only (added or removed).
    Presence,
    /// The outcome (passed, failed, error, cancelled).
    Outcome,
    /// The reason code of the outcome.
    Reason,
    /// The DNS response code.
    Rcode,
    /// The DNS server that answered.
    Server,
    /// The resolved addresses (a set).
    Addresses,
    /// The CNAME chain (a list).
    CnameChain,
    /// The TCP state of an address present in both runs.
    TcpState,
    /// The negotiated TLS version (or whether a handshake completed at all).
    TlsVersion,
    /// The leaf certificate's subject.
    Subject,
    /// The leaf certificate's issuer.
    Issuer,
    /// The leaf certificate's SHA-256 fingerprint (a re-issued certificate).
    Fingerprint,
    /// The leaf certificate's end of validity.
    NotAfter,
    /// The HTTP status (or whether a response arrived at all).
    Status,
    /// The address the HTTP client connected to.
    RemoteAddress,
    /// The proxy used.
    Proxy,
    /// The hash of the body's first KiB.
    Body,
    /// The network path's hops.
    Hops,
    /// The latency, beyond the thresholds.
    Latency,
}

impl Fact {
    /// The fact's name, as expected-change files write it (`cname_chain`).
    pub const fn name(self) -> &'static str {
        match self {
            Fact::Presence => "presence",
            Fact::Outcome => "outcome",
            Fact::Reason => "reason",
            Fact::Rcode => "rcode",
            Fact::Server => "server",
            Fact::Addresses => "addresses",
            Fact::CnameChain => "cname_chain",
            Fact::TcpState => "tcp_state",
            Fact::TlsVersion => "tls_version",
            Fact::Subject => "subject",
            Fact::Issuer => "issuer",
            Fact::Fingerprint => "fingerprint",
            Fact::NotAfter => "not_after",
            Fact::Status => "status",
            Fact::RemoteAddress => "remote_address",
            Fact::Proxy => "proxy",
            Fact::Body => "body",
            Fact::Hops => "hops",
            Fact::Latency => "latency",
        }
    }

    /// The reason of a check failed by this fact's drift, `drift.<name>` (its meaning and
    /// likely cause are in [`Reason`]'s table, docs/reason-codes.md).
    pub const fn reason(self) -> Reason {
        match self {
            Fact::Presence => Reason::DriftPresence,
            Fact::Outcome => Reason::DriftOutcome,
            Fact::Reason => Reason::DriftReason,
            Fact::Rcode => Reason::DriftRcode,
            Fact::Server => Reason::DriftServer,
            Fact::Addresses => Reason::DriftAddresses,
            Fact::CnameChain => Reason::DriftCnameChain,
            Fact::TcpState => Reason::DriftTcpState,
            Fact::TlsVersion => Reason::DriftTlsVersion,
            Fact::Subject => Reason::DriftSubject,
            Fact::Issuer => Reason::DriftIssuer,
            Fact::Fingerprint => Reason::DriftFingerprint,
            Fact::NotAfter => Reason::DriftNotAfter,
            Fact::Status => Reason::DriftStatus,
            Fact::RemoteAddress => Reason::DriftRemoteAddress,
            Fact::Proxy => Reason::DriftProxy,
            Fact::Body => Reason::DriftBody,
            Fact::Hops => Reason::DriftHops,
            Fact::Latency => Reason::DriftLatency,
        }
    }

    /// The reason code, `drift.<name>`.
    pub const fn code(self) -> &'static str {
        self.reason().as_str()
    }
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// When a latency difference counts as a change: the slower is more than `ratio` times the
/// faster *and* slower by at least `min` (both must hold, so 1 ms → 3 ms is not a change).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Thresholds {
    /// Ratio slower / faster beyond which latency changed (default 2).
    pub latency_ratio: f64,
    /// Smallest absolute difference that counts, in milliseconds (default 50).
    pub latency_min_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { latency_ratio: 2.0, latency_min_ms: 50.0 }
    }
}

impl Thresholds {
    /// From the command line's `--latency-ratio` and `--latency-min`.
    pub fn new(ratio: f64, min: Duration) -> Self {
        Thresholds { latency_ratio: ratio, latency_min_ms: min.as_secs_f64() * 1000.0 }
    }

    /// Whether `before` → `after` (ms) is a latency change.
    pub fn latency_changed(&self, before: f64, after: f64) -> bool {
        let (fast, slow) = if before <= after { (before, after) } else { (after, before) };
        slow - fast >= self.latency_min_ms && slow > fast * self.latency_ratio
    }
}

/// One fact that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The fact.
    pub fact: Fact,
    /// Its value before, for people (`none` when absent).
    pub before: String,
    /// Its value after.
    pub after: String,
    /// One line, e.g. `addresses 10.12.4.20 → 20.50.1.20`, `cname_chain gained x.example`.
    pub text: String,
    /// An expected-change file allows it: reported, but it does not count.
    #[serde(default)]
    pub expected: bool,
}

/// How a check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing changed.
    Unchanged,
    /// At least one fact changed.
    Changed,
    /// Only in the after run.
    Added,
    /// Only in the before run.
    Removed,
}

/// One check (at one vantage point) compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckDiff {
    /// The check id.
    pub id: String,
    /// The vantage point, when either side is a merged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vantage: Option<String>,
    /// How it compares.
    pub status: Status,
    /// Its outcome before (absent: not in the before run).
    #[serde(default)]
    pub before: Option<Outcome>,
    /// Its outcome after (absent: not in the after run).
    #[serde(default)]
    pub after: Option<Outcome>,
    /// What changed, fact by fact (empty when unchanged).
    #[serde(default)]
    pub changes: Vec<Change>,
}

impl CheckDiff {
    /// The changes an expected-change file does not allow.
    pub fn unexpected(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.expected)
    }

    /// `id`, or `id @ vantage` in a merged comparison.
    pub fn label(&self) -> String {
        match &self.vantage {
            Some(v) => format!("{} @ {v}", self.id),
            None => self.id.clone(),
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocInfo {
    /// The file, as given.
    pub file: String,
    /// The report's name.
    pub name: String,
    /// Its vantage points (one for a run).
    pub vantages: Vec<String>,
    /// Start of the run, RFC 3339 (empty for a merged report).
    pub started: String,
}

/// Counts of a comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiffTotals {
    /// Checks (× vantage points) compared.
    pub checks: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Changed.
    pub changed: usize,
    /// Only after.
    pub added: usize,
    /// Only before.
    pub removed: usize,
    /// Checks with at least one change the expected-change file does not allow.
    pub unexpected: usize,
}

/// The comparison of two results documents (`netspec diff --json`; the `drift` section of a
/// run with `--baseline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "netspec diff", description = "What changed between two netspec results documents.")]
pub struct DiffReport {
    /// The netspec version that compared.
    pub netspec_version: String,
    /// The before (baseline) document.
    pub before: DocInfo,
    /// The after document.
    pub after: DocInfo,
    /// The latency thresholds used.
    pub thresholds: Thresholds,
    /// The expected-change file used, if any.
    #[serde(default)]
    pub expect_change: Option<String>,
    /// Counts.
    pub totals: DiffTotals,
    /// Every check compared, in the after document's order, removed ones last.
    pub checks: Vec<CheckDiff>,
}

impl DiffReport {
    /// Whether anything changed that the expected-change file does not allow (exit code 1).
    pub fn changed(&self) -> bool {
        self.totals.unexpected > 0
    }

    /// The console text: the changed, added and removed checks with their changes, then counts.
    pub fn console(&self) -> String {
        use std::fmt::Write as _;
        let side = |d: &DocInfo| {
            format!(
                "{} ({}{})",
                d.file,
                d.vantages.join(", "),
                if d.started.is_empty() { String::new() } else { format!(", {}", d.started) }
            )
        };
        let mut out = format!("drift: {} → {}\n", side(&self.before), side(&self.after));
        for c in self.checks.iter().filter(|c| c.status != Status::Unchanged) {
            let mark = match c.status {
                Status::Changed if c.unexpected().next().is_none() => "PLANNED",
                Status::Changed => "CHANGED",
                Status::Added => "ADDED",
                Status::Removed => "REMOVED",
                Status::Unchanged => "SAME",
            };
            let _ = writeln!(out, "\n{mark:8} {}", c.label());
            for ch in &c.changes {
                let _ = writeln!(out, "  {}{}", ch.text, if ch.expected { "  (expected)" } else { "" });
            }
        }
        let t = self.totals;
        let _ = writeln!(
            out,
            "\n{} checks: {} unchanged, {} changed, {} added, {} removed; {} with unexpected changes",
            t.checks, t.unchanged, t.changed, t.added, t.removed, t.unexpected
        );
        out
    }
}
