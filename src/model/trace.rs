//! A path trace as data: the hops that answered, what ended the path and what it means
//! (`--path`, docs/path-diagnosis.md). The tracer is `crate::path`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Reason;

/// How a trace was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// TCP SYN probes on a raw socket (CAP_NET_RAW): hops and the TCP verdict.
    TcpSyn,
    /// UDP probes to the same address and port with `IP_RECVERR` (no privileges): hop
    /// addresses only; a firewall may treat UDP differently from the TCP the check uses.
    Udp,
    /// No method worked here (no CAP_NET_RAW, and UDP probes could not be sent).
    Unavailable,
}

impl Method {
    /// `tcp_syn`, `udp`, `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::TcpSyn => "tcp_syn",
            Method::Udp => "udp",
            Method::Unavailable => "unavailable",
        }
    }
}

/// One hop that answered ICMP Time Exceeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Hop {
    /// Hop number: the probe's TTL (1 = the first router).
    pub hop: u8,
    /// The router's address (the source of its ICMP Time Exceeded).
    pub address: IpAddr,
    /// Round-trip time of the probe, ms.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub rtt: Duration,
}

/// ICMP Destination Unreachable codes, as RFC 792 (IPv4; RFC 1812 5.2.7.1 for 9, 10, 13) and
/// RFC 4443 3.1 (IPv6) define them, folded to what they mean for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// Net unreachable (v4 code 0) or no route to destination (v6 code 0, reject route 6).
    Net,
    /// Host unreachable (v4 code 1) or address unreachable (v6 code 3).
    Host,
    /// Protocol unreachable (v4 code 2).
    Protocol,
    /// Port unreachable (v4 code 3, v6 code 4): nothing listens (UDP probes).
    Port,
    /// Communication administratively prohibited (v4 codes 9, 10, 13; v6 codes 1 and 5): a
    /// firewall rejects the flow.
    AdminProhibited,
    /// Another code.
    Other,
}

impl Unreachable {
    /// The meaning of ICMPv4 Destination Unreachable code `code`.
    pub fn from_v4(code: u8) -> Self {
        match code {
            0 | 6 => Unreachable::Net,
            1 | 7 => Unreachable::Host,
            2 => Unreachable::Protocol,
            3 => Unreachable::Port,
            9 | 10 | 13 => Unreachable::AdminProhibited,
            _ => Unreachable::Other,
        }
    }

    /// The meaning of ICMPv6 Destination Unreachable code `code`.
    pub fn from_v6(code: u8) -> Self {
        match code {
            0 | 6 => Unreachable::Net,
            3 => Unreachable::Host,
            4 => Unreachable::Port,
            1 | 5 => Unreachable::AdminProhibited,
            _ => Unreachable::Other,
        }
    }

    /// The code's meaning for people, e.g. `administratively prohibited`.
    pub fn text(self) -> &'static str {
        match self {
            Unreachable::Net => "net unreachable",
            Unreachable::Host => "host unreachable",
            Unreachable::Protocol => "protocol unreachable",
            Unreachable::Port => "port unreachable",
            Unreachable::AdminProhibited => "administratively prohibited",
            Unreachable::Other => "unreachable",
        }
    }
}

/// What ended the path: the first (lowest-TTL) probe that was not expired on the way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// SYN-ACK: something accepts the connection.
    SynAck {
        /// Source of the answer.
        from: IpAddr,
        /// TTL of the probe it answered.
        probe_ttl: u8,
        /// TTL (hop limit) the answer arrived with.
        reply_ttl: Option<u8>,
        /// Round-trip time, ms.
        #[serde(with = "crate::model::millis")]
        #[schemars(with = "crate::model::Millis")]
        rtt: Duration,
    },
    /// RST: the connection is refused (by the server, or by a middlebox in its name).
    Reset {
        /// Source of the answer (a middlebox resetting in the server's name uses the server's).
        from: IpAddr,
        /// TTL of the probe it answered.
        probe_ttl: u8,
        /// TTL (hop limit) the RST arrived with.
        reply_ttl: Option<u8>,
        /// Round-trip time, ms.
        #[serde(with = "crate::model::millis")]
        #[schemars(with = "crate::model::Millis")]
        rtt: Duration,
    },
    /// ICMP Destination Unreachable.
    Unreachable {
        /// The router (or host) that sent it.
        from: IpAddr,
        /// TTL of the probe it answered.
        probe_ttl: u8,
        /// What the code means.
        meaning: Unreachable,
        /// The ICMP code as received.
        code: u8,
        /// Round-trip time, ms.
        #[serde(with = "crate::model::millis")]
        #[schemars(with = "crate::model::Millis")]
        rtt: Duration,
    },
}

impl Answer {
    /// The TTL of the probe this answers.
    pub fn probe_ttl(&self) -> u8 {
        match self {
            Answer::SynAck { probe_ttl, .. } | Answer::Reset { probe_ttl, .. } | Answer::Unreachable { probe_ttl, .. } => *probe_ttl,
        }
    }
}

/// The initial TTL a sender most likely used, given the TTL its packet arrived with: the
/// smallest of the common defaults (32, 64 — Linux, macOS —, 128 — Windows —, 255) at or above
/// it. Returns how many hops away the sender is (1 = the first router).
pub fn origin_hops(arrived_ttl: u8) -> u8 {
    let initial: u16 = [32u16, 64, 128, 255].into_iter().find(|i| *i >= u16::from(arrived_ttl)).unwrap_or(255);
    (initial - u16::from(arrived_ttl) + 1).min(255) as u8
}

/// What the trace says about the failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// The SYN reached something that accepts it, `hops` away.
    Reached {
        /// Hop number of the answer.
        hops: u8,
    },
    /// No final answer: the SYN dies after the last hop that answered.
    DroppedAfterHop {
        /// That hop's number.
        hop: u8,
        /// Its address.
        address: IpAddr,
    },
    /// No hop and no end answered at all (the first hop drops the SYN, or every router on the
    /// path drops or does not send ICMP).
    Silent,
    /// The RST came from closer than the server: a middlebox reset the connection.
    ResetByMiddlebox {
        /// How far the RST's sender is, from its TTL.
        hop: u8,
        /// The address that answered Time Exceeded at that hop, if any.
        address: Option<IpAddr>,
        /// The lowest probe TTL that got the RST: the server is at least this far.
        server_at_least: u8,
    },
    /// The RST came from as far as the end of the path: the server itself refused.
    ResetByServer {
        /// Hops to the server.
        hops: u8,
    },
    /// A router or host answered ICMP Destination Unreachable.
    Unreachable {
        /// Hop number of the probe it answered.
        hop: u8,
        /// Its address.
        address: IpAddr,
        /// What the code means.
        meaning: Unreachable,
        /// The ICMP code.
        code: u8,
    },
    /// UDP fallback: the hops that answered and how far the probes got; the TCP verdict needs
    /// CAP_NET_RAW.
    HopsOnly {
        /// The last hop that answered, if any.
        last_hop: Option<u8>,
        /// The destination answered the UDP probes (port unreachable) at this hop.
        destination_at: Option<u8>,
    },
    /// No trace could be taken.
    NotTraced,
}

/// The trace of one destination, shared by every check that failed on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathTrace {
    /// The destination traced (address and the check's port).
    pub destination: SocketAddr,
    /// Number of this trace in the run (1-based): checks that share a destination share it.
    pub trace: usize,
    /// How it was taken.
    pub method: Method,
    /// The hops that answered Time Exceeded, by hop number.
    pub hops: Vec<Hop>,
    /// What ended the path, if anything did.
    pub answer: Option<Answer>,
    /// What it means.
    pub verdict: Verdict,
    /// One sentence for people, e.g. `the SYN dies after hop 2 (10.16.2.2)`.
    pub summary: String,
    /// Why the trace is partial or missing (no CAP_NET_RAW, a socket error), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Wall time of the trace, ms.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
}

impl PathTrace {
    /// The reason code this trace gives a failed connection, if it refines the probe's:
    /// `path.dropped_after_hop`, `tcp.reset_by_middlebox`, `tcp.prohibited`, `tcp.unreachable`.
    pub fn reason(&self) -> Option<Reason> {
        match &self.verdict {
            Verdict::DroppedAfterHop { .. } => Some(Reason::PathDroppedAfterHop),
            Verdict::ResetByMiddlebox { .. } => Some(Reason::TcpResetByMiddlebox),
            Verdict::ResetByServer { .. } => Some(Reason::TcpClosed),
            Verdict::Unreachable { meaning: Unreachable::AdminProhibited, .. } => Some(Reason::TcpProhibited),
            Verdict::Unreachable { .. } => Some(Reason::TcpUnreachable),
            Verdict::Reached { .. } | Verdict::Silent | Verdict::HopsOnly { .. } | Verdict::NotTraced => None,
        }
    }

    /// Lines for reports: the summary, then one line per hop and the answer.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("path to {} ({}): {}", self.destination, self.method.as_str(), self.summary)];
        for h in &self.hops {
            out.push(format!("  hop {:>2}  {:<39} {:.2} ms", h.hop, h.address, ms(h.rtt)));
        }
        match &self.answer {
            Some(Answer::SynAck { from, probe_ttl, reply_ttl, rtt }) => {
                out.push(format!("  end     {from:<39} {:.2} ms  SYN-ACK to the TTL {probe_ttl} probe{}", ms(*rtt), ttl_text(*reply_ttl)))
            }
            Some(Answer::Reset { from, probe_ttl, reply_ttl, rtt }) => {
                out.push(format!("  end     {from:<39} {:.2} ms  RST to the TTL {probe_ttl} probe{}", ms(*rtt), ttl_text(*reply_ttl)))
            }
            Some(Answer::Unreachable { from, probe_ttl, meaning, code, rtt }) => out.push(format!(
                "  end     {from:<39} {:.2} ms  ICMP unreachable to the TTL {probe_ttl} probe: {} (code {code})",
                ms(*rtt),
                meaning.text()
            )),
            None => {}
        }
        if let Some(n) = &self.note {
            out.push(format!("  note: {n}"));
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ttl_text(t: Option<u8>) -> String {
    t.map(|t| format!(" (arrived with TTL {t}: sent {} away)", hops(origin_hops(t)))).unwrap_or_default()
}

/// `1 hop`, `N hops`.
pub fn hops(n: u8) -> String {
    if n == 1 { "1 hop".into() } else { format!("{n} hops") }
}
