//! Observations: what one attempt of a check saw, as data (no I/O). The probes (`crate::probe`)
//! produce them; the evaluators (`crate::expect`) judge them; the reports print them.

pub mod dns;
pub mod http;
pub mod tcp;
pub mod tls;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::model::Failure;

pub use dns::{DnsEvidence, DnsObservation, Record};
pub use http::{HttpObservation, HttpTimings};
pub use tcp::{PortState, TcpAttempt, TcpObservation};
pub use tls::{CertInfo, Handshake, TlsEndpoint, TlsObservation, VersionProbe, VersionVerdict};

/// What one attempt of a check saw.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Observation {
    /// A DNS query's response.
    Dns(DnsObservation),
    /// TCP connects to every address.
    Tcp(TcpObservation),
    /// TLS handshakes to every address.
    Tls(TlsObservation),
    /// An HTTP exchange.
    Http(HttpObservation),
}

impl Observation {
    /// The kind of check that made it.
    pub fn kind(&self) -> crate::model::Kind {
        match self {
            Observation::Dns(_) => crate::model::Kind::Dns,
            Observation::Tcp(_) => crate::model::Kind::Tcp,
            Observation::Tls(_) => crate::model::Kind::Tls,
            Observation::Http(_) => crate::model::Kind::Http,
        }
    }

    /// Wall time of the attempt.
    pub fn elapsed(&self) -> Duration {
        match self {
            Observation::Dns(o) => o.elapsed,
            Observation::Tcp(o) => o.elapsed,
            Observation::Tls(o) => o.elapsed,
            Observation::Http(o) => o.elapsed,
        }
    }

    /// Human-readable lines describing what was observed (for JUnit system-out and the console).
    pub fn describe(&self) -> Vec<String> {
        match self {
            Observation::Dns(o) => o.describe(),
            Observation::Tcp(o) => o.describe(),
            Observation::Tls(o) => o.describe(),
            Observation::Http(o) => o.describe(),
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// A DNS server's response.
    Dns,
    /// The hosts file (system resolver only).
    HostsFile,
    /// The host was an IP literal; nothing was resolved.
    Literal,
}

/// How a host name became addresses for a tcp, tls or http probe.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Resolution {
    /// The host as written.
    pub host: String,
    /// Resolver name.
    pub resolver: String,
    /// Where the addresses came from.
    pub source: AnswerSource,
    /// A and AAAA addresses, A first.
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain followed, in order (names after the host).
    pub cname_chain: Vec<String>,
    /// Response code of the A query (`None` for literals and failures without a response).
    #[serde(serialize_with = "crate::model::rcode::opt::serialize")]
    #[schemars(with = "Option<String>")]
    pub rcode: Option<crate::model::rcode::ResponseCode>,
    /// Why there are no addresses, when there are none.
    pub failure: Option<Failure>,
    /// Time spent resolving.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
}

impl Resolution {
    /// A host that is an IP literal (or pinned to one): nothing is resolved.
    pub fn literal(host: &str, resolver: &str, ip: IpAddr) -> Self {
        Resolution {
            host: host.to_owned(),
            resolver: resolver.to_owned(),
            source: AnswerSource::Literal,
            addresses: vec![ip],
            cname_chain: Vec::new(),
            rcode: None,
            failure: None,
            elapsed: Duration::ZERO,
        }
    }

    /// One line for reports: how the host became addresses.
    pub fn describe(&self) -> String {
        match (&self.source, &self.failure) {
            (AnswerSource::Literal, _) => format!("{} is an IP literal (not resolved)", self.host),
            (_, Some(f)) => format!("resolving {} via {}: {} [{}]", self.host, self.resolver, f.message, f.reason),
            (src, None) => {
                let chain =
                    if self.cname_chain.is_empty() { String::new() } else { format!(" via CNAME {}", self.cname_chain.join(" -> ")) };
                let from = if *src == AnswerSource::HostsFile { " (hosts file)" } else { "" };
                format!("resolved {} via {}{from}{chain}: {}", self.host, self.resolver, join_ips(&self.addresses))
            }
        }
    }
}

/// `a, b, c` (or `no addresses`), written into one string.
pub fn join_ips(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        return "no addresses".into();
    }
    let mut out = String::with_capacity(ips.len() * 17);
    for (i, ip) in ips.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_ip(&mut out, ip);
    }
    out
}

/// Appends `ip` as its `Display` text (RFC 4001's dotted decimal for IPv4, RFC 5952 for IPv6),
/// IPv4 written directly: formatting addresses through `core::fmt` was ~5 % of a DNS check's
/// instructions (every observation and assertion names its addresses).
pub fn push_ip(out: &mut String, ip: &IpAddr) {
    use std::fmt::Write;
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The text of `addr` as `SocketAddr`'s `Display` writes it (`1.2.3.4:53`, `[::1]:53`).
pub fn socket_text(addr: &std::net::SocketAddr) -> String {
    let mut out = String::with_capacity(24);
    push_socket(&mut out, addr);
    out
}

/// Appends `addr` as `SocketAddr`'s `Display` writes it (`1.2.3.4:53`, `[::1]:53`), without
/// `core::fmt` for IPv4.
pub fn push_socket(out: &mut String, addr: &std::net::SocketAddr) {
    match addr {
        std::net::SocketAddr::V4(a) => push_ip(out, &IpAddr::V4(*a.ip())),
        std::net::SocketAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{addr}");
            return;
        }
    }
    out.push(':');
    out.push_str(itoa::Buffer::new().format(addr.port()));
}
