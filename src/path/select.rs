//! Which destination a check's path trace goes to: the address and port of its failed
//! connection (`--path auto`), or of its first connection, failed or not (`--path always`).

use std::net::SocketAddr;

use super::PathMode;
use crate::model::Reason;
use crate::plan::Target;
use crate::probe::{Observation, PortState};

/// Whether a connection in `state` failed in the network (a trace can say where).
fn failed(state: PortState) -> bool {
    match state {
        PortState::Closed | PortState::Filtered | PortState::Unreachable | PortState::Prohibited => true,
        PortState::Open | PortState::NoRoute => false,
    }
}

fn attempted(state: PortState) -> bool {
    state != PortState::NoRoute
}

/// The destination to trace for a check whose last attempt observed `obs` (`check_failed`:
/// its outcome is a failure), in `mode`; `None` when there is nothing to trace: DNS checks,
/// connections that succeeded (auto), checks through a proxy (the proxy's path is not the
/// destination's), no address.
pub fn destination(target: &Target, obs: &Observation, check_failed: bool, mode: PathMode) -> Option<SocketAddr> {
    let pick: fn(PortState) -> bool = match mode {
        PathMode::Off => return None,
        PathMode::Auto if !check_failed => return None,
        PathMode::Auto => failed,
        PathMode::Always => attempted,
    };
    match obs {
        Observation::Dns(_) => None,
        Observation::Tcp(t) => t.counted().find(|a| pick(a.state)).map(|a| a.address),
        Observation::Tls(t) => t.endpoints.iter().find(|e| pick(e.tcp)).map(|e| e.address),
        Observation::Http(h) => {
            let Target::Http(ht) = target else { return None };
            if h.proxy.is_some() || ht.proxy.is_some() {
                return None;
            }
            let connect_failed = h.failure.as_ref().is_some_and(|f| {
                matches!(f.reason, Reason::TcpClosed | Reason::TcpFiltered | Reason::TcpUnreachable | Reason::TcpProhibited)
            });
            if mode == PathMode::Auto && !connect_failed {
                return None;
            }
            let port = ht.url.port_or_known_default()?;
            let ip = h.remote_address.map(|a| a.ip()).or_else(|| h.resolution.as_ref().and_then(|r| r.addresses.first().copied()))?;
            Some(SocketAddr::new(ip, port))
        }
    }
}
