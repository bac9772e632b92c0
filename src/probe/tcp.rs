//! The TCP probe: a connect to every address of a host, each classified in nmap's port states
//! (`open`: handshake completed; `closed`: RST / refused; `filtered`: silence until the
//! deadline), with the ICMP answers that are not silence told apart by the kernel's error
//! (`unreachable`: EHOSTUNREACH, ICMP host unreachable; `prohibited`: EACCES/EPERM, ICMP
//! administratively prohibited or a local firewall). Addresses this host has no route for (for
//! example AAAA answers on an IPv4-only machine: ENETUNREACH) are reported as `no_route` and left
//! out of verdicts while another address counts.

pub use crate::model::observation::tcp::{PortState, TcpAttempt, TcpObservation};
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

use super::{Failure, ProbeContext, dns};
use crate::model::Reason;
use crate::model::target::ResolverSpec;

/// Connects to `addr` (through the sandbox when set) before `deadline`; the stream is returned
/// for `open` so TLS can continue on it.
pub async fn connect(ctx: &ProbeContext, addr: SocketAddr, source: Option<IpAddr>, deadline: Instant) -> (TcpAttempt, Option<TcpStream>) {
    let attempt = |state: PortState, detail: std::borrow::Cow<'static, str>| TcpAttempt {
        address: addr,
        state,
        connect_time: None,
        detail,
        reason: state.reason(),
    };
    let local = |reason, detail: String| TcpAttempt {
        address: addr,
        state: PortState::NoRoute,
        connect_time: None,
        detail: detail.into(),
        reason: Some(reason),
    };
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
        Ok(Err(e)) => (attempt(PortState::of_connect_error(&e), super::io_error_text(&e)), None),
        Err(_) => (attempt(PortState::Filtered, format!("no answer within {:.1} s", start.elapsed().as_secs_f64()).into()), None),
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
    // One socket per address, all at once: reserved in the open-file budget first.
    let _fanout = match ctx.reserve_fanout(resolution.addresses.len(), deadline).await {
        Ok(p) => p,
        Err(f) => {
            let attempts = resolution
                .addresses
                .iter()
                .map(|ip| TcpAttempt {
                    address: SocketAddr::new(*ip, port),
                    state: PortState::NoRoute,
                    connect_time: None,
                    detail: f.message.clone().into(),
                    reason: Some(f.reason),
                })
                .collect();
            return TcpObservation { resolution, port, attempts, elapsed: start.elapsed() };
        }
    };
    // Each stream is closed as soon as its connect is judged (not when the last one is).
    let conns = resolution.addresses.iter().map(|ip| async move { connect(ctx, SocketAddr::new(*ip, port), source, deadline).await.0 });
    let attempts = futures_util::future::join_all(conns).await;
    TcpObservation { resolution, port, attempts, elapsed: start.elapsed() }
}
