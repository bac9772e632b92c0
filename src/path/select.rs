//! Which destination a check's path trace goes to: the address and port of its failed
//! connection (`--path auto`), or of its first connection, failed or not (`--path always`).

use std::net::{IpAddr, SocketAddr};

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

/// Whether `mode` traces a destination at `ip`: `--path auto` leaves out loopback addresses
/// (127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; RFC 1122 3.2.1.3, RFC 4291 2.5.3): a packet to
/// one never leaves the host, so there is no path, no hop and no middlebox to find, and the
/// connect error already says what the host's own stack answered. `--path always` traces them.
pub fn traced(ip: IpAddr, mode: PathMode) -> bool {
    match mode {
        PathMode::Off => false,
        PathMode::Auto => !ip.to_canonical().is_loopback(),
        PathMode::Always => true,
    }
}

/// The destination to trace for a check whose last attempt observed `obs` (`check_failed`:
/// its outcome is a failure), in `mode`; `None` when there is nothing to trace: DNS checks,
/// connections that succeeded (auto), checks through a proxy (the proxy's path is not the
/// destination's), no address, a loopback address (auto, [`traced`]).
pub fn destination(target: &Target, obs: &Observation, check_failed: bool, mode: PathMode) -> Option<SocketAddr> {
    destination_any(target, obs, check_failed, mode).filter(|d| traced(d.ip(), mode))
}

fn destination_any(target: &Target, obs: &Observation, check_failed: bool, mode: PathMode) -> Option<SocketAddr> {
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

/// The destination whose trace may start while a tcp check's connection is still pending (see
/// `crate::run`: at half the attempt's timeout, ending with the attempt), so that a dropped SYN
/// costs one timeout, not two: the check's host is an address (no name to resolve first) and,
/// with `--path auto`, a dropped SYN (`filtered`) would fail the check — judged by its own
/// expectations on that observation. `None` otherwise: a trace, if any, follows the check.
pub fn ahead(target: &Target, expect: &crate::expect::Expectations, mode: PathMode) -> Option<SocketAddr> {
    use crate::probe::{Resolution, TcpAttempt, TcpObservation};
    let dest = tcp_address(target).filter(|d| traced(d.ip(), mode))?;
    let (Target::Tcp { host, port, .. }, ip) = (target, dest.ip()) else { return None };
    match mode {
        PathMode::Off => None,
        PathMode::Always => Some(dest),
        PathMode::Auto => {
            let dropped = TcpAttempt {
                address: dest,
                state: PortState::Filtered,
                connect_time: None,
                detail: "".into(),
                reason: PortState::Filtered.reason(),
            };
            let obs = TcpObservation {
                resolution: Resolution::literal(host, "", ip),
                port: *port,
                attempts: vec![dropped],
                elapsed: std::time::Duration::ZERO,
            };
            let verdict = crate::model::result::judge(&crate::expect::evaluate(expect, &Observation::Tcp(obs))).0;
            (verdict == crate::model::Verdict::Fail).then_some(dest)
        }
    }
}

/// The address and port of a tcp check whose host is an address (no allocation: cheap enough
/// to ask of every check before [`ahead`] judges its expectations).
pub fn tcp_address(target: &Target) -> Option<SocketAddr> {
    let Target::Tcp { host, port, .. } = target else { return None };
    let ip: std::net::IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    Some(SocketAddr::new(ip, *port))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_trace_starts_ahead_only_where_a_dropped_syn_would_fail_an_address_check() {
        let yaml = "netspec: 1\nname: s\nscenarios:\n  - name: a\n    checks:\n      - { name: open, tcp: { host: 10.0.0.1, port: 443 } }\n      - { name: closed, tcp: { host: 10.0.0.1, port: 444 }, expect: { state: closed } }\n      - { name: blocked, tcp: { host: 10.0.0.1, port: 445 }, expect: { state: filtered } }\n      - { name: named, tcp: { host: db.example.test, port: 443 } }\n      - { name: v6, tcp: { host: \"::1\", port: 80 } }\n      - { name: tls, tls: { host: 10.0.0.1, port: 443 } }\n";
        let loaded = crate::suite::parse(std::path::Path::new("t.yaml"), yaml.into()).unwrap();
        let plan = crate::plan::plan(&[loaded], &Default::default()).unwrap();
        let at = |mode| plan.checks.iter().map(|c| ahead(&c.target, &c.expect, mode).map(|d| d.port())).collect::<Vec<_>>();
        assert_eq!(at(PathMode::Auto), [Some(443), Some(444), None, None, None, None], "::1 is loopback: no path in auto");
        assert_eq!(at(PathMode::Always), [Some(443), Some(444), Some(445), None, Some(80), None]);
        assert_eq!(at(PathMode::Off), [None; 6]);
    }
    use crate::probe::{Resolution, TcpAttempt, TcpObservation};

    fn tcp(states: &[(&str, PortState)]) -> (Target, Observation) {
        let attempts = states
            .iter()
            .map(|(a, s)| TcpAttempt { address: a.parse().unwrap(), state: *s, connect_time: None, detail: "".into(), reason: s.reason() })
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

    #[test]
    fn auto_leaves_out_loopback_destinations() {
        for a in ["127.0.0.1:443", "127.10.3.1:20001", "[::1]:443", "[::ffff:127.0.0.1]:443"] {
            let (t, o) = tcp(&[(a, PortState::Closed)]);
            assert_eq!(destination(&t, &o, true, PathMode::Auto), None, "{a}");
            assert_eq!(destination(&t, &o, true, PathMode::Always), Some(a.parse().unwrap()), "{a}: always traces it");
        }
        for a in ["10.0.0.1:443", "[fd00::1]:443", "[::ffff:10.0.0.1]:443", "128.0.0.1:443"] {
            let (t, o) = tcp(&[(a, PortState::Closed)]);
            assert_eq!(destination(&t, &o, true, PathMode::Auto), Some(a.parse().unwrap()), "{a}");
        }
    }
}
