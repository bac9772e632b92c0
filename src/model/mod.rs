//! The model: the types every layer shares — check kinds, outcomes and verdicts, assertions,
//! failures and their [`Reason`] codes. This is the bottom layer: it imports nothing of
//! netspec's (a test in `tests/integration/layers.rs` keeps it so; docs/architecture.md gives
//! the layer order).

pub mod observation;
pub mod reason;
pub mod result;
pub mod target;
pub mod trace;

use serde::Serialize;
use std::borrow::Cow;

pub use reason::Reason;

/// The kind of a check: which probe runs and which expectations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// dns
    Dns,
    /// tcp
    Tcp,
    /// tls
    Tls,
    /// http
    Http,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Kind; 4] = [Kind::Dns, Kind::Tcp, Kind::Tls, Kind::Http];

    /// The kind's key in a suite (`dns`, `tcp`, `tls`, `http`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Dns => "dns",
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Http => "http",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of a check, in JUnit's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold (JUnit `<failure>`).
    Failed,
    /// The check could not be evaluated: no evidence to judge it by, or a local problem (JUnit
    /// `<error>`).
    Error,
    /// The run was interrupted before the check finished.
    Cancelled,
}

/// The verdict of one expectation on one observation.
///
/// `Error` is "no evidence": the expectation needs an answer (a response, a handshake) to be
/// judged and there was none — it never counts as a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The evidence satisfies the expectation.
    Pass,
    /// The evidence contradicts the expectation.
    Fail,
    /// There is no evidence to judge the expectation by.
    Error,
}

/// The result of one expectation on one observation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Assertion {
    /// The expectation's key path, e.g. `status`, `addresses.all`.
    pub key: Cow<'static, str>,
    /// Whether it held (`verdict == pass`).
    pub passed: bool,
    /// Pass, fail, or error (no evidence).
    pub verdict: Verdict,
    /// Why it did not hold; on a pass, the observed condition the expectation accepted (a
    /// `blocked` port seen `tcp.filtered`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// What was expected, for people.
    pub expected: Cow<'static, str>,
    /// What was observed, for people.
    pub observed: String,
}

impl Assertion {
    /// An assertion with its verdict and reason.
    pub fn new(
        key: impl Into<Cow<'static, str>>,
        verdict: Verdict,
        reason: Option<Reason>,
        expected: impl Into<Cow<'static, str>>,
        observed: impl Into<String>,
    ) -> Self {
        Assertion {
            key: key.into(),
            passed: verdict == Verdict::Pass,
            verdict,
            reason,
            expected: expected.into(),
            observed: observed.into(),
        }
    }

    /// `key: expected X, observed Y`.
    pub fn message(&self) -> String {
        format!("{}: expected {}, observed {}", self.key, self.expected, self.observed)
    }
}

/// A network or local outcome that is not a clean answer, with its reason.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Failure {
    /// The reason code.
    pub reason: Reason,
    /// What happened, for people.
    pub message: String,
}

impl Failure {
    /// A failure with a reason.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure { reason, message: message.into() }
    }
}

/// DNS response codes as reports write them: hickory's [`ResponseCode`] by its mnemonic from the
/// IANA "DNS RCODEs" registry (RFC 6895 2.3): `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, ….
pub mod rcode {
    pub use hickory_proto::op::ResponseCode;

    /// The registry mnemonic of `rc` (`RCODE<n>` for unassigned codes).
    pub fn name(rc: ResponseCode) -> String {
        match u16::from(rc) {
            0 => "NOERROR".into(),
            1 => "FORMERR".into(),
            2 => "SERVFAIL".into(),
            3 => "NXDOMAIN".into(),
            4 => "NOTIMP".into(),
            5 => "REFUSED".into(),
            6 => "YXDOMAIN".into(),
            7 => "YXRRSET".into(),
            8 => "NXRRSET".into(),
            9 => "NOTAUTH".into(),
            10 => "NOTZONE".into(),
            n => format!("RCODE{n}"),
        }
    }

    /// The code a mnemonic names (the inverse of [`name`]), if any.
    pub fn parse(s: &str) -> Option<ResponseCode> {
        let n = match s {
            "NOERROR" => 0,
            "FORMERR" => 1,
            "SERVFAIL" => 2,
            "NXDOMAIN" => 3,
            "NOTIMP" => 4,
            "REFUSED" => 5,
            "YXDOMAIN" => 6,
            "YXRRSET" => 7,
            "NXRRSET" => 8,
            "NOTAUTH" => 9,
            "NOTZONE" => 10,
            other => other.strip_prefix("RCODE")?.parse().ok()?,
        };
        Some(<ResponseCode as From<u16>>::from(n))
    }

    /// `#[serde(with = "crate::model::rcode::opt")]` for an `Option<ResponseCode>`: the mnemonic
    /// or null.
    pub mod opt {
        use super::ResponseCode;

        /// Writes the mnemonic, or null.
        pub fn serialize<S: serde::Serializer>(rc: &Option<ResponseCode>, s: S) -> Result<S::Ok, S::Error> {
            match rc {
                Some(rc) => s.serialize_some(&super::name(*rc)),
                None => s.serialize_none(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn mnemonics_round_trip() {
            for n in 0..=12u16 {
                let rc = <super::ResponseCode as From<u16>>::from(n);
                assert_eq!(super::parse(&super::name(rc)), Some(rc), "{n}");
            }
            assert_eq!(super::name(super::ResponseCode::NXDomain), "NXDOMAIN");
        }
    }
}

impl Reason {
    /// Whether this reason is a local problem (this machine, the suite, the lab) rather than
    /// the network's answer: the check could not be evaluated (JUnit `<error>`).
    pub const fn is_local(self) -> bool {
        matches!(
            self,
            Reason::SandboxRefused
                | Reason::TlsCaFile
                | Reason::HttpClient
                | Reason::HttpBadProxy
                | Reason::DnsBadName
                | Reason::TlsBadSni
                | Reason::TlsNoRoots
                | Reason::DnsNoServers
                | Reason::TcpSocket
                | Reason::DnsSocket
        )
    }
}

/// Serializes a `Duration` as whole-and-fractional milliseconds (f64), the unit of every
/// `*_ms`-style field in the JSON report.
pub mod millis {
    use std::time::Duration;

    /// Serde `serialize_with` for `Duration` → milliseconds (f64).
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
    }

    /// Serde `deserialize_with` for milliseconds (f64) → `Duration` (negative or non-finite
    /// values are errors).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

/// JSON Schema stand-in for a `Duration` serialized by [`millis`]: used as
/// `#[schemars(with = "crate::model::Millis")]` so the generated schema says the unit.
#[derive(schemars::JsonSchema)]
#[schemars(description = "A duration in milliseconds (fractional, rounded to microseconds).")]
pub struct Millis(pub f64);
