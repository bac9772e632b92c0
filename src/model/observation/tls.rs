//! What TLS handshakes observed: version, cipher suite, presented chain, trust verdict.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Resolution;
use super::tcp::PortState;
use crate::model::{Failure, Reason};

/// One certificate of the presented chain.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names (DNS names and IPs).
    pub sans: Vec<String>,
    /// Start of validity, as printed by x509-parser (UTC).
    pub not_before: String,
    /// End of validity (UTC).
    pub not_after: String,
    /// End of validity, seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// SHA-256 of the certificate's DER encoding, lower-case hex (the fingerprint browsers
    /// and `openssl x509 -fingerprint -sha256` show, without colons).
    #[serde(default)]
    pub sha256: String,
}

/// The handshake's outcome on one address.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Handshake {
    /// Negotiated version: `1.2` or `1.3`.
    pub version: String,
    /// Negotiated cipher suite (IANA name).
    pub cipher_suite: String,
    /// Presented chain, leaf first.
    pub chain: Vec<CertInfo>,
    /// Whether the chain verifies for the server name against the trust anchors.
    pub trusted: bool,
    /// The verifier's reason when not trusted.
    pub trust_error: Option<String>,
    /// The verifier's reason as a code (`tls.untrusted`, `tls.expired`,
    /// `tls.hostname_mismatch`), from rustls' `CertificateError`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_reason: Option<Reason>,
}

/// One address' TLS result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TlsEndpoint {
    /// The address.
    pub address: SocketAddr,
    /// TCP state before the handshake.
    pub tcp: PortState,
    /// The handshake, when it completed.
    pub handshake: Option<Handshake>,
    /// Why there is no handshake.
    pub failure: Option<Failure>,
    /// One extra handshake per version of `refuses_versions`, each offering that version alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version_probes: Vec<VersionProbe>,
}

/// What the server did with a handshake that offered one TLS version only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionVerdict {
    /// The handshake completed: the server speaks this version.
    Accepted,
    /// The server ended the handshake on protocol grounds (a fatal alert such as
    /// `protocol_version` or `handshake_failure`, RFC 8446 6.2 / RFC 5246 7.2.2).
    Refused,
    /// No evidence either way: no TCP connection, the deadline passed, or the connection broke.
    Untested,
}

/// The answer to a handshake that offered only `version` (for `refuses_versions`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct VersionProbe {
    /// The version offered: `1.2` or `1.3`.
    pub version: String,
    /// Accepted, refused or untested.
    pub verdict: VersionVerdict,
    /// The negotiated cipher suite, or the error.
    pub detail: String,
}

/// What a TLS check observed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TlsObservation {
    /// How the host became addresses.
    pub resolution: Resolution,
    /// Port.
    pub port: u16,
    /// Server name sent (SNI) and verified.
    pub sni: String,
    /// One entry per routable address.
    pub endpoints: Vec<TlsEndpoint>,
    /// Wall time.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
}

impl TlsObservation {
    /// Lines for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![self.resolution.describe()];
        for e in &self.endpoints {
            match (&e.handshake, &e.failure) {
                (Some(h), _) => {
                    let verdict =
                        if h.trusted { "trusted".to_string() } else { format!("untrusted: {}", h.trust_error.as_deref().unwrap_or("?")) };
                    out.push(format!("  {} TLS {} {} sni={} {}", e.address, h.version, h.cipher_suite, self.sni, verdict));
                    for (i, c) in h.chain.iter().enumerate() {
                        out.push(format!("    [{i}] subject: {}; issuer: {}", c.subject, c.issuer));
                        out.push(format!("        SANs: {}; valid {} .. {}", c.sans.join(", "), c.not_before, c.not_after));
                    }
                    if let Some(why) = interception(&h.chain, h.trusted) {
                        out.push(format!("    looks intercepted: {why}"));
                    }
                }
                (None, Some(f)) => out.push(format!("  {} tcp {}: {} [{}]", e.address, e.tcp, f.message, f.reason)),
                (None, None) => out.push(format!("  {} tcp {}", e.address, e.tcp)),
            }
            for v in &e.version_probes {
                let verdict = serde_json::to_value(v.verdict).ok().and_then(|x| x.as_str().map(str::to_owned)).unwrap_or_default();
                out.push(format!("    offering TLS {} only: {verdict} ({})", v.version, v.detail));
            }
        }
        out
    }
}

/// The table of TLS-inspection products (`data/tls-inspection-issuers.tsv`): `match<TAB>product`
/// lines, `#` comments. `match` is a case-insensitive substring of an issuer or CA subject name.
pub const INSPECTION_ISSUERS_TSV: &str = include_str!("../../../data/tls-inspection-issuers.tsv");

pub(crate) static INSPECTION_ISSUERS: std::sync::LazyLock<Vec<(String, &'static str)>> = std::sync::LazyLock::new(|| {
    INSPECTION_ISSUERS_TSV
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(m, p)| (m.trim().to_lowercase(), p.trim()))
        .filter(|(m, _)| !m.is_empty())
        .collect()
});

/// Whether a presented chain looks intercepted by a TLS-inspecting proxy or firewall, and why.
///
/// `chain` is the presented chain, leaf first (as in [`Handshake::chain`]); `trusted` is the
/// verifier's verdict against the trust anchors in use. A trusted chain is never reported: an
/// inspection CA that the machine trusts (installed, or given with `ca_file`) is the supported
/// set-up. An untrusted chain is reported when the issuer of any certificate in it, or the subject
/// of any CA certificate after the leaf, contains a `match` of [`INSPECTION_ISSUERS_TSV`]
/// (case-insensitive): a known product (Zscaler, Palo Alto Networks, FortiGate, …) or a generic
/// word (`inspection`, `intercept`, `proxy`, `firewall`). The leaf's own subject is never matched
/// (a server may well be called `proxy.example`).
///
/// Returns one line for reports, e.g. ``issuer `CN=Contoso TLS Inspection CA, O=Contoso` names
/// "inspection": a TLS-inspecting middlebox re-signs this connection with a CA this machine does
/// not trust``; `None` when the chain does not look intercepted. Pure: no I/O, no clock.
///
/// A check whose `issuer` expectation fails on an untrusted chain is also reported as intercepted
/// (reason `tls.intercepted`), by the reason mapping, since the expectation names the real issuer.
pub fn interception(chain: &[CertInfo], trusted: bool) -> Option<String> {
    if trusted {
        return None;
    }
    let names = chain.iter().map(|c| ("issuer", c.issuer.as_str())).chain(chain.iter().skip(1).map(|c| ("CA", c.subject.as_str())));
    for (what, name) in names {
        let lower = name.to_lowercase();
        if let Some((m, product)) = INSPECTION_ISSUERS.iter().find(|(m, _)| lower.contains(m.as_str())) {
            return Some(format!(
                "{what} `{name}` names \"{m}\": {product} re-signs this connection with a CA this machine does not trust (TLS inspection)"
            ));
        }
    }
    None
}
