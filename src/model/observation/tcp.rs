//! What TCP connects observed: one nmap port state per address.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Resolution;
use crate::model::Reason;

/// Port state of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    /// The three-way handshake completed.
    Open,
    /// The connection was actively refused (RST).
    Closed,
    /// No answer before the deadline (silence).
    Filtered,
    /// A router answered ICMP destination unreachable (host or network; EHOSTUNREACH).
    Unreachable,
    /// The connection was administratively prohibited: ICMP admin-prohibited from a router, or
    /// this machine's own firewall (EACCES, EPERM).
    Prohibited,
    /// This host has no route to the address' family or network; not counted in verdicts.
    NoRoute,
}

impl PortState {
    /// The state's name as reports write it (nmap's terms, plus `unreachable`, `prohibited` and
    /// `no_route`).
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unreachable => "unreachable",
            PortState::Prohibited => "prohibited",
            PortState::NoRoute => "no_route",
        }
    }
}

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address' connect.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TcpAttempt {
    /// The address (as resolved; never the sandbox's loopback stand-in).
    pub address: SocketAddr,
    /// Its state.
    pub state: PortState,
    /// Time to complete the handshake, for `open`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_millis")]
    #[schemars(with = "Option<crate::model::Millis>")]
    pub connect_time: Option<Duration>,
    /// The OS error or timeout text.
    pub detail: std::borrow::Cow<'static, str>,
    /// Why it is not open: the state's reason, or a local one ([`Reason::TcpSocket`],
    /// [`Reason::SandboxRefused`]) for a connect that was never tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

impl PortState {
    /// The reason code of a state that is not `open` (`None` for `open`).
    pub const fn reason(self) -> Option<Reason> {
        match self {
            PortState::Open => None,
            PortState::Closed => Some(Reason::TcpClosed),
            PortState::Filtered => Some(Reason::TcpFiltered),
            PortState::Unreachable => Some(Reason::TcpUnreachable),
            PortState::Prohibited => Some(Reason::TcpProhibited),
            PortState::NoRoute => Some(Reason::TcpNoRoute),
        }
    }

    /// The state a failed `connect(2)` means, from its error: the raw OS error first (the
    /// kernel's translation of ICMP, RFC 1122 4.2.3.9 / RFC 792), then the portable kind.
    pub fn of_connect_error(e: &std::io::Error) -> PortState {
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET) => PortState::Closed,
            Some(libc::EHOSTUNREACH) => PortState::Unreachable,
            Some(libc::EACCES) | Some(libc::EPERM) => PortState::Prohibited,
            Some(libc::ENETUNREACH) | Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT) => PortState::NoRoute,
            Some(libc::ETIMEDOUT) => PortState::Filtered,
            _ => {
                use std::io::ErrorKind as K;
                match e.kind() {
                    K::ConnectionRefused | K::ConnectionReset => PortState::Closed,
                    K::HostUnreachable => PortState::Unreachable,
                    K::PermissionDenied => PortState::Prohibited,
                    K::NetworkUnreachable | K::AddrNotAvailable => PortState::NoRoute,
                    // Anything else ends the attempt without an answer from the network.
                    _ => PortState::Filtered,
                }
            }
        }
    }
}

fn opt_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => crate::model::millis::serialize(d, s),
        None => s.serialize_none(),
    }
}

/// What a TCP check observed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TcpObservation {
    /// How the host became addresses.
    pub resolution: Resolution,
    /// The port.
    pub port: u16,
    /// One entry per address, in resolution order.
    pub attempts: Vec<TcpAttempt>,
    /// Wall time.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
}

impl TcpObservation {
    /// Attempts that count for verdicts (routable addresses).
    pub fn counted(&self) -> impl Iterator<Item = &TcpAttempt> + Clone {
        let all_unroutable = self.attempts.iter().all(|a| a.state == PortState::NoRoute);
        self.attempts.iter().filter(move |a| all_unroutable || a.state != PortState::NoRoute)
    }

    /// Lines for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![self.resolution.describe()];
        for a in &self.attempts {
            match a.connect_time {
                Some(t) => out.push(format!("  {} {} ({:.1} ms)", a.address, a.state, t.as_secs_f64() * 1000.0)),
                None => out.push(format!("  {} {} ({})", a.address, a.state, a.detail)),
            }
        }
        out
    }
}
