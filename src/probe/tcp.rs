//! The TCP probe: a connect to every address of a host, each classified in nmap's port states
//! (`open`: handshake completed; `closed`: RST / refused; `filtered`: silence until the
//! deadline), with the ICMP answers that are not silence told apart by the kernel's error
//! (`unreachable`: EHOSTUNREACH, ICMP host unreachable; `prohibited`: EACCES/EPERM, ICMP
//! administratively prohibited or a local firewall). Addresses this host has no route for (for
//! example AAAA answers on an IPv4-only machine: ENETUNREACH) are reported as `no_route` and left
//! out of verdicts while another address counts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

use super::{Failure, ProbeContext, Resolution, dns};
use crate::model::Reason;
use crate::model::target::ResolverSpec;

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

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unreachable => "unreachable",
            PortState::Prohibited => "prohibited",
            PortState::NoRoute => "no_route",
        })
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
    #[schemars(with = "Option<crate::util::Millis>")]
    pub connect_time: Option<Duration>,
    /// The OS error or timeout text.
    pub detail: String,
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
        Some(d) => crate::util::millis::serialize(d, s),
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
    #[serde(with = "crate::util::millis")]
    #[schemars(with = "crate::util::Millis")]
    pub elapsed: Duration,
}

impl TcpObservation {
    /// Attempts that count for verdicts (routable addresses).
    pub fn counted(&self) -> impl Iterator<Item = &TcpAttempt> {
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

/// Connects to `addr` (through the sandbox when set) before `deadline`; the stream is returned
/// for `open` so TLS can continue on it.
pub async fn connect(ctx: &ProbeContext, addr: SocketAddr, source: Option<IpAddr>, deadline: Instant) -> (TcpAttempt, Option<TcpStream>) {
    let attempt =
        |state: PortState, detail: String| TcpAttempt { address: addr, state, connect_time: None, detail, reason: state.reason() };
    let local =
        |reason, detail: String| TcpAttempt { address: addr, state: PortState::NoRoute, connect_time: None, detail, reason: Some(reason) };
    let real = match ctx.route(addr) {
        Ok(r) => r,
        Err(Failure { message, reason }) => return (local(reason, message), None),
    };
    let start = Instant::now();
    let sock = match if real.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() } {
        Ok(s) => s,
        Err(e) => {
            return (local(Reason::TcpSocket, format!("cannot create a socket: {e}")), None);
        }
    };
    if let Some(src) = source
        && let Err(e) = sock.bind(SocketAddr::new(src, 0))
    {
        return (local(Reason::TcpSocket, format!("cannot bind source address {src}: {e}")), None);
    }
    match timeout_at(deadline, sock.connect(real)).await {
        Ok(Ok(stream)) => {
            let t = start.elapsed();
            (
                TcpAttempt {
                    address: addr,
                    state: PortState::Open,
                    connect_time: Some(t),
                    detail: "handshake completed".into(),
                    reason: None,
                },
                Some(stream),
            )
        }
        Ok(Err(e)) => (attempt(PortState::of_connect_error(&e), e.to_string()), None),
        Err(_) => (attempt(PortState::Filtered, format!("no answer within {:.1} s", start.elapsed().as_secs_f64())), None),
    }
}

/// Resolves `host` and connects to every address concurrently, all before `deadline`.
pub async fn probe(
    ctx: &ProbeContext,
    resolver: &ResolverSpec,
    host: &str,
    port: u16,
    source: Option<IpAddr>,
    deadline: Instant,
) -> TcpObservation {
    let start = Instant::now();
    let resolution = dns::resolve(ctx, resolver, host, deadline).await;
    let conns = resolution.addresses.iter().map(|ip| connect(ctx, SocketAddr::new(*ip, port), source, deadline));
    let attempts = futures_util::future::join_all(conns).await.into_iter().map(|(a, _)| a).collect();
    TcpObservation { resolution, port, attempts, elapsed: start.elapsed() }
}
