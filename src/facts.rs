//! Facts: what a check saw of the network, reduced to the values that matter when comparing
//! two runs (`netspec diff`, `netspec run --baseline`): the resolved addresses and CNAME chain
//! with the response code and the server that answered; the TCP state per address; the TLS
//! version, leaf subject, issuer, SHA-256 fingerprint and end of validity; the HTTP status, the
//! address connected, the proxy used and a hash of the body's first KiB (never the body); the
//! path's hops (when path diagnosis ran); and the latency.
//!
//! Boundary: pure. Facts are derived from a finished [`CheckResult`]'s last attempt; probes are
//! not asked for anything new. Every observation field is read through one small accessor
//! below (`dns_*`, `tls_*`, `http_*`), so a rename in [`crate::probe`] touches one place.
//! Secrets never enter facts: every string is redacted with the run's [`Secrets`] (the same
//! redaction the reports use), and proxies are recorded by name, never with credentials.
//!
//! Facts are recorded per check in the JSON results (`facts`, schema version
//! [`crate::report::json::SCHEMA_VERSION`] and later) and read back by [`crate::drift`].

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Reason;
use crate::model::result::CheckResult;
use crate::probe::dns::DnsObservation;
use crate::probe::http::HttpObservation;
use crate::probe::tls::{CertInfo, Handshake, TlsObservation};
use crate::probe::{AnswerSource, Observation, PortState, Resolution, TcpObservation};
use crate::suite::template::Secrets;

/// The facts of one check (its last attempt). Parts that do not apply to the check's kind, or
/// that the attempt did not reach (no handshake, no response), are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Facts {
    /// How the checked name resolved (DNS checks, and the resolution behind tcp, tls and http).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsFacts>,
    /// TCP state per address (tcp and tls checks), sorted by address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpFact>,
    /// The TLS handshake (tls checks, https requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// The HTTP exchange (http checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFacts>,
    /// The network path, when path diagnosis ran (filled by the path probe; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathFacts>,
    /// Wall time of the last attempt, in milliseconds.
    pub latency_ms: f64,
}

/// How a name resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DnsFacts {
    /// The resolver's name in the suite (`system`, `corp`, …).
    pub resolver: String,
    /// Where the answer came from: `dns`, `hosts_file` or `literal`.
    pub source: Source,
    /// The server that answered (`ip:port`); absent without a DNS response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …, RFC 1035 §4.1.1 / RFC 6895); absent
    /// without a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// The addresses, sorted and without duplicates (a set: record order is not a fact).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain followed, in order, names lower case without the trailing dot.
    #[serde(default)]
    pub cname_chain: Vec<String>,
    /// Reason code when there is no answer (`dns.timeout`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Reason>,
}

/// Where addresses came from (mirrors the probe's answer source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A DNS server's response.
    #[default]
    Dns,
    /// The hosts file.
    HostsFile,
    /// An IP literal; nothing was resolved.
    Literal,
}

/// TCP state of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TcpFact {
    /// The address and port.
    pub address: SocketAddr,
    /// Its state.
    pub state: PortState,
}

/// The TLS handshake's facts: of the first address (in address order) whose handshake
/// completed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TlsFacts {
    /// Negotiated version: `1.2` or `1.3`.
    pub version: String,
    /// The leaf certificate's subject distinguished name.
    pub subject: String,
    /// The leaf certificate's issuer distinguished name.
    pub issuer: String,
    /// SHA-256 of the leaf certificate's DER, lower-case hex (empty when not recorded).
    #[serde(default)]
    pub sha256: String,
    /// End of the leaf's validity (UTC, as x509-parser prints it).
    pub not_after: String,
}

/// The HTTP exchange's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HttpFacts {
    /// Response status; absent without a response from the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The address connected for the last hop (the proxy's, through a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<SocketAddr>,
    /// The proxy used, by name (never its credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The answer came from the proxy itself.
    #[serde(default)]
    pub from_proxy: bool,
    /// SHA-256 of the body's first KiB ([`BODY_HASH_BYTES`]), lower-case hex; absent without
    /// a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Reason code when there is no response (`http.timeout`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Reason>,
}

/// Bytes of the body's start hashed into [`HttpFacts::body_sha256`] (1 KiB). The results keep
/// at least the body's first 2 KiB (`crate::run::REPORTED_BODY`), so the hash is of the body as
/// received (decoded as lossy UTF-8, as the observation records it).
pub const BODY_HASH_BYTES: usize = 1024;

/// The network path to the target (an optional slot for path diagnosis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PathFacts {
    /// Each hop's address in order; `null` for a hop that did not answer.
    pub hops: Vec<Option<IpAddr>>,
}

// --- accessors: the only code here that names observation fields -------------------------

fn dns_rcode(o: &DnsObservation) -> Option<String> {
    o.rcode.map(crate::model::rcode::name)
}

fn dns_server(o: &DnsObservation) -> Option<&str> {
    o.server.as_deref()
}

fn dns_failure(o: &DnsObservation) -> Option<Reason> {
    o.failure.as_ref().map(|f| f.reason)
}

fn resolution_failure(r: &Resolution) -> Option<Reason> {
    r.failure.as_ref().map(|f| f.reason)
}

fn resolution_rcode(r: &Resolution) -> Option<String> {
    r.rcode.map(crate::model::rcode::name)
}

fn source_of(s: AnswerSource) -> Source {
    match s {
        AnswerSource::Dns => Source::Dns,
        AnswerSource::HostsFile => Source::HostsFile,
        AnswerSource::Literal => Source::Literal,
    }
}

fn tcp_states(o: &TcpObservation) -> Vec<TcpFact> {
    o.attempts.iter().map(|a| TcpFact { address: a.address, state: a.state }).collect()
}

fn tls_states(o: &TlsObservation) -> Vec<TcpFact> {
    o.endpoints.iter().map(|e| TcpFact { address: e.address, state: e.tcp }).collect()
}

fn tls_handshakes(o: &TlsObservation) -> Vec<(SocketAddr, &Handshake)> {
    o.endpoints.iter().filter_map(|e| e.handshake.as_ref().map(|h| (e.address, h))).collect()
}

fn handshake_version(h: &Handshake) -> &str {
    &h.version
}

fn handshake_leaf(h: &Handshake) -> Option<&CertInfo> {
    h.chain.first()
}

fn http_handshake(o: &HttpObservation) -> Option<&Handshake> {
    o.tls.as_deref()
}

fn http_facts(o: &HttpObservation) -> HttpFacts {
    HttpFacts {
        status: o.status,
        remote_address: o.remote_address,
        proxy: o.proxy.clone(),
        from_proxy: o.from_proxy,
        body_sha256: o.status.map(|_| crate::util::sha256_hex(&o.body.as_bytes()[..o.body.len().min(BODY_HASH_BYTES)])),
        failure: o.failure.as_ref().map(|f| f.reason),
    }
}

// --- derivation ------------------------------------------------------------------------------

/// Addresses as a set: sorted, duplicates removed.
fn address_set(ips: &[IpAddr]) -> Vec<IpAddr> {
    ips.iter().copied().collect::<BTreeSet<_>>().into_iter().collect()
}

/// A DNS name as compared: lower case, without the root's trailing dot.
fn name(n: &str) -> String {
    n.trim_end_matches('.').to_ascii_lowercase()
}

fn from_resolution(r: &Resolution) -> DnsFacts {
    DnsFacts {
        resolver: r.resolver.clone(),
        source: source_of(r.source),
        server: None,
        rcode: resolution_rcode(r),
        addresses: address_set(&r.addresses),
        cname_chain: r.cname_chain.iter().map(|n| name(n)).collect(),
        failure: resolution_failure(r),
    }
}

fn tls_of(h: &Handshake) -> TlsFacts {
    let leaf = handshake_leaf(h);
    TlsFacts {
        version: handshake_version(h).to_owned(),
        subject: leaf.map(|c| c.subject.clone()).unwrap_or_default(),
        issuer: leaf.map(|c| c.issuer.clone()).unwrap_or_default(),
        sha256: leaf.map(|c| c.sha256.clone()).unwrap_or_default(),
        not_after: leaf.map(|c| c.not_after.clone()).unwrap_or_default(),
    }
}

/// The facts of one observation (unredacted; see [`of_result`]).
pub fn of_observation(o: &Observation) -> Facts {
    let latency_ms = (o.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let mut f = Facts { latency_ms, ..Default::default() };
    match o {
        Observation::Dns(d) => {
            f.dns = Some(DnsFacts {
                resolver: d.resolver.clone(),
                source: source_of(d.source),
                server: dns_server(d).map(str::to_owned),
                rcode: dns_rcode(d),
                addresses: address_set(&d.addresses),
                cname_chain: d.cname_chain.iter().map(|n| name(n)).collect(),
                failure: dns_failure(d),
            });
        }
        Observation::Tcp(t) => {
            f.dns = Some(from_resolution(&t.resolution));
            f.tcp = tcp_states(t);
        }
        Observation::Tls(t) => {
            f.dns = Some(from_resolution(&t.resolution));
            f.tcp = tls_states(t);
            let mut hs = tls_handshakes(t);
            hs.sort_by_key(|(a, _)| *a);
            f.tls = hs.first().map(|(_, h)| tls_of(h));
        }
        Observation::Http(h) => {
            f.dns = h.resolution.as_ref().map(from_resolution);
            f.tls = http_handshake(h).map(tls_of);
            f.http = Some(http_facts(h));
        }
    }
    f.tcp.sort_by_key(|t| t.address);
    f
}

/// The facts of a finished check (its last attempt), every string redacted with `secrets`;
/// `None` when no attempt ran (a cancelled check).
pub fn of_result(r: &CheckResult, secrets: &Secrets) -> Option<Facts> {
    let facts = of_observation(&r.attempts.last()?.observation);
    if secrets.is_empty() {
        return Some(facts);
    }
    // Redacted value by value, as the reports do, so a secret anywhere never survives.
    let mut v = serde_json::to_value(&facts).ok()?;
    secrets.redact_value(&mut v);
    serde_json::from_value(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a_set_and_names_compare_without_case_or_root_dot() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_set(&[ip("10.0.0.2"), ip("10.0.0.1"), ip("10.0.0.2")]), vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        assert_eq!(name("Data-Prod.VaultCore.Azure.NET."), "data-prod.vaultcore.azure.net");
    }

    #[test]
    fn a_secret_in_an_observation_never_reaches_the_facts() {
        let secrets = Secrets::default();
        secrets.add("hunter2");
        let r = Resolution {
            host: "h".into(),
            resolver: "corp-hunter2".into(),
            source: AnswerSource::Dns,
            addresses: vec!["10.0.0.1".parse().unwrap()],
            cname_chain: vec!["hunter2.example.".into()],
            rcode: crate::model::rcode::parse("NOERROR"),
            failure: None,
            elapsed: std::time::Duration::ZERO,
        };
        let obs = Observation::Tcp(TcpObservation { resolution: r, port: 1, attempts: vec![], elapsed: std::time::Duration::ZERO });
        let check = CheckResult {
            meta: std::sync::Arc::new(crate::model::result::CheckMeta {
                index: 0,
                id: "s/sc/c".into(),
                suite: "s".into(),
                scenario: "sc".into(),
                name: "c".into(),
                kind: crate::expect::Kind::Tcp,
                target: "tcp h:1".into(),
                resolver: "corp".into(),
                hint: None,
                tags: vec![],
                vars: vec![].into(),
                insecure: false,
                defined: None,
            }),
            outcome: crate::model::Outcome::Passed,
            attempts: vec![crate::model::result::Attempt { observation: obs, assertions: vec![], error: None }],
            attempts_omitted: 0,
            elapsed: std::time::Duration::ZERO,
            path: None,
        };
        let f = of_result(&check, &secrets).unwrap();
        let text = serde_json::to_string(&f).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(f.dns.unwrap().cname_chain, vec!["***.example"]);
    }
}
