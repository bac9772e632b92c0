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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::{Resolution, TcpAttempt, TcpObservation};

    fn tcp(states: &[(&str, PortState)]) -> (Target, Observation) {
        let attempts = states
            .iter()
            .map(|(a, s)| TcpAttempt {
                address: a.parse().unwrap(),
                state: *s,
                connect_time: None,
                detail: String::new(),
                reason: s.reason(),
            })
            .collect();
        let resolution = Resolution::literal("h", "system", "10.0.0.1".parse().unwrap());
        let obs = TcpObservation { resolution, port: 443, attempts, elapsed: Duration::ZERO };
        (Target::Tcp { host: "h".into(), port: 443, source: None }, Observation::Tcp(obs))
    }

    #[test]
    fn auto_traces_the_failed_connection_always_the_first() {
        let (t, o) = tcp(&[("10.0.0.1:443", PortState::Open), ("10.0.0.2:443", PortState::Filtered)]);
        assert_eq!(destination(&t, &o, true, PathMode::Auto), Some("10.0.0.2:443".parse().unwrap()));
        assert_eq!(destination(&t, &o, false, PathMode::Auto), None, "a passing check is not traced in auto");
        assert_eq!(destination(&t, &o, true, PathMode::Always), Some("10.0.0.1:443".parse().unwrap()));
        assert_eq!(destination(&t, &o, true, PathMode::Off), None);
        let (t, o) = tcp(&[("[fd00::1]:443", PortState::NoRoute), ("10.0.0.3:443", PortState::Prohibited)]);
        assert_eq!(destination(&t, &o, true, PathMode::Auto), Some("10.0.0.3:443".parse().unwrap()), "no_route is not a network answer");
    }
}
