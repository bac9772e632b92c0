//! What a DNS query observed, and the evidence it gives (answered, or no answer and why).

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::{AnswerSource, join_ips};
use crate::model::rcode::{self, ResponseCode};
use crate::model::target::RecordType;
use crate::model::{Failure, Reason};

/// One resource record of the answer section.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Record {
    /// Owner name, without the trailing dot.
    pub name: String,
    /// Record type, e.g. `A`, `CNAME`.
    #[serde(rename = "type")]
    pub record_type: std::borrow::Cow<'static, str>,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Record data in presentation format.
    pub data: String,
}

/// What a DNS query observed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DnsObservation {
    /// The name asked.
    pub query: String,
    /// The type asked.
    pub record_type: RecordType,
    /// Resolver name.
    pub resolver: String,
    /// DNS, or the hosts file for the `system` resolver.
    pub source: AnswerSource,
    /// Servers asked, in order (`ip:port/udp`).
    pub servers_tried: Vec<String>,
    /// The server whose response is reported.
    pub server: Option<String>,
    /// Response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, …); `None` without a response.
    #[serde(serialize_with = "crate::model::rcode::opt::serialize")]
    #[schemars(with = "Option<String>")]
    pub rcode: Option<ResponseCode>,
    /// Every answer record, in order, including those of re-queries along the chain.
    pub answers: Vec<Record>,
    /// Names the query's CNAME chain led to, in order (not including the query).
    pub cname_chain: Vec<String>,
    /// Addresses (A/AAAA) of the final name of the chain.
    pub addresses: Vec<IpAddr>,
    /// Why there is no response.
    pub failure: Option<Failure>,
    /// Wall time.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
    /// The same question asked of the `compare` resolvers, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compared: Vec<DnsObservation>,
}

/// What a DNS query obtained, as evidence for expectations: an answer (with records of the
/// asked type, without them, or NXDOMAIN) or no usable answer with its reason. A matcher that
/// needs an answer gets one here or nothing: "no addresses" is not seen where there was no
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsEvidence<'a> {
    /// NOERROR with records of the asked type at the end of the chain (`addresses`: the A/AAAA
    /// ones, empty for other types).
    Records {
        /// Addresses of the chain's last name.
        addresses: &'a [IpAddr],
    },
    /// NOERROR without records of the asked type (RFC 2308 NODATA).
    Empty,
    /// NXDOMAIN: the name (or the chain's last name) does not exist.
    NxDomain,
    /// No usable answer: no response, SERVFAIL, REFUSED, another error code, or the chain could
    /// not be followed.
    NoAnswer(Reason, String),
}

impl DnsObservation {
    /// The evidence this query gives (see [`DnsEvidence`]).
    pub fn evidence(&self) -> DnsEvidence<'_> {
        if let Some(f) = &self.failure {
            return DnsEvidence::NoAnswer(f.reason, f.message.clone());
        }
        match self.rcode {
            None => DnsEvidence::NoAnswer(Reason::DnsTimeout, "no response".into()),
            Some(ResponseCode::NoError) if self.resolves() => DnsEvidence::Records { addresses: &self.addresses },
            Some(ResponseCode::NoError) => DnsEvidence::Empty,
            Some(ResponseCode::NXDomain) => DnsEvidence::NxDomain,
            Some(rc) => DnsEvidence::NoAnswer(rcode_reason(rc), format!("the resolver answered {}", rcode::name(rc))),
        }
    }

    /// The reason of an NXDOMAIN answer: [`Reason::DnsPrivateZoneNxdomain`] when the chain
    /// reached a `privatelink.` zone (the private zone lacks the record: another fix).
    pub fn nxdomain_reason(&self) -> Reason {
        if self.cname_chain.last().is_some_and(|n| n.to_ascii_lowercase().contains(".privatelink.")) {
            Reason::DnsPrivateZoneNxdomain
        } else {
            Reason::DnsNxdomain
        }
    }

    /// The response code's mnemonic, or `no response`.
    pub fn rcode_text(&self) -> String {
        self.rcode.map(rcode::name).unwrap_or_else(|| "no response".into())
    }

    /// Records of the queried type owned by the last name of the chain.
    pub fn resolves(&self) -> bool {
        let last = self.cname_chain.last().map(String::as_str).unwrap_or(self.query.as_str());
        let want = self.record_type.as_str();
        self.answers.iter().any(|r| r.record_type == want && r.name.eq_ignore_ascii_case(last))
    }

    /// Lines for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        let from = match (&self.source, &self.server) {
            (AnswerSource::HostsFile, _) => "the hosts file".to_string(),
            (_, Some(s)) => s.clone(),
            _ => "no server".to_string(),
        };
        match (&self.rcode, &self.failure) {
            (_, Some(f)) => out.push(format!(
                "{} {} via {}: {} [{}] (asked {})",
                self.query,
                self.record_type,
                self.resolver,
                f.message,
                f.reason,
                if self.servers_tried.is_empty() { "none".into() } else { self.servers_tried.join(", ") }
            )),
            (Some(rc), None) => {
                out.push(format!("{} {} via {} answered by {}: {}", self.query, self.record_type, self.resolver, from, rcode::name(*rc)))
            }
            (None, None) => {}
        }
        for r in &self.answers {
            out.push(format!("  {} {} {} {}", r.name, r.ttl, r.record_type, r.data));
        }
        if !self.cname_chain.is_empty() {
            out.push(format!("  chain: {} -> {}", self.query, self.cname_chain.join(" -> ")));
        }
        if self.failure.is_none() {
            out.push(format!("  addresses: {}", join_ips(&self.addresses)));
        }
        for c in &self.compared {
            out.extend(c.describe());
        }
        out
    }
}

/// The reason of a response code that is not an answer: SERVFAIL, REFUSED, or another error.
pub fn rcode_reason(rc: ResponseCode) -> Reason {
    match rc {
        ResponseCode::ServFail => Reason::DnsServfail,
        ResponseCode::Refused => Reason::DnsRefused,
        ResponseCode::NXDomain => Reason::DnsNxdomain,
        _ => Reason::DnsError,
    }
}
