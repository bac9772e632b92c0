//! Path diagnosis: when a tcp, tls or http check fails at the connection stage, trace the path
//! to the same destination address **and port** and say where the flow dies and who answered.
//!
//! Method (tcptraceroute's, with Paris traceroute's constant flow): TCP SYN probes with TTL
//! (IPv6: hop limit) 1..=[`MAX_HOPS`], all sent at once from one source port, so every probe has
//! the same 5-tuple and per-flow load balancing (ECMP) keeps them on one path; a probe is told
//! apart by its sequence number, which ICMP errors quote (RFC 792 quotes the first 8 bytes of
//! the transport header, which hold the ports and the sequence number; RFC 4443 quotes as much
//! as fits). Routers answer ICMP Time Exceeded (the hop's address and RTT); the end of the path
//! answers SYN-ACK, RST (its TTL tells how far away its sender is) or ICMP Destination
//! Unreachable (the router and the code). See docs/path-diagnosis.md.
//!
//! Sending raw TCP needs CAP_NET_RAW ([`tcp_syn`]). Without it the tracer falls back to UDP
//! probes on an ordinary socket with `IP_RECVERR` ([`udp`]), which Linux allows unprivileged:
//! it gives the hop addresses, not the TCP verdict. Which method was used is in every trace.
//!
//! One trace per distinct destination address:port per run ([`Traces`]): checks that fail on
//! the same destination (26 regions behind one blackhole) share the trace and its result.
//! Packet parsing is etherparse's; this module is the scheduling, the evidence and the verdict.

pub mod select;
mod sys;
pub mod tcp_syn;
pub mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

pub use crate::model::trace::{Answer, Hop, Method, PathTrace, Unreachable, Verdict, hops, origin_hops};

/// Highest TTL probed: the path must end within this many hops (traceroute's default is 30).
pub const MAX_HOPS: u8 = 30;

/// Most traces running at once in one run (each holds two or three sockets).
pub const MAX_CONCURRENT_TRACES: usize = 64;

/// Most distinct destinations one run traces. Each trace is kept for the run (checks of the
/// same destination share it) and sends up to [`MAX_HOPS`] probes: a run where tens of
/// thousands of endpoints fail would otherwise send millions of probes and hold every trace.
/// The failures past it are not traced, and the run says so once.
pub const MAX_TRACED_DESTINATIONS: usize = 1024;

/// A trace ends early once some hop answered and nothing new arrived for this long (or 10×
/// the slowest RTT seen, if longer): probes past a drop never answer, so waiting for the whole
/// deadline tells nothing more.
pub const QUIET_END: Duration = Duration::from_secs(1);

/// When to trace the path (`--path`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PathMode {
    /// Trace the connections of tcp, tls and http checks that failed at the connection stage
    /// (filtered, closed, unreachable), with the best method available.
    #[default]
    Auto,
    /// Never trace.
    Off,
    /// Trace every tcp, tls and http check's destination, passing or not (a path baseline).
    Always,
}

/// What a tracer collected, before interpretation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Time Exceeded answers: (probe TTL, router, RTT), any order, duplicates allowed.
    pub expired: Vec<(u8, IpAddr, Duration)>,
    /// Final answers, any order.
    pub answers: Vec<Answer>,
}

/// Interprets the evidence of a trace to `destination` taken with `method`: the hops (one per
/// TTL, below the end of the path), the end (the lowest-TTL final answer), the verdict.
pub fn analyze(destination: SocketAddr, trace: usize, method: Method, ev: &Evidence, elapsed: Duration) -> PathTrace {
    let answer = ev.answers.iter().min_by_key(|a| a.probe_ttl()).cloned();
    let end = answer.as_ref().map(Answer::probe_ttl).unwrap_or(u8::MAX);
    let mut by_hop: std::collections::BTreeMap<u8, Hop> = std::collections::BTreeMap::new();
    for (ttl, address, rtt) in &ev.expired {
        if *ttl < end {
            by_hop.entry(*ttl).or_insert(Hop { hop: *ttl, address: *address, rtt: *rtt });
        }
    }
    let hops: Vec<Hop> = by_hop.into_values().collect();
    let addr_at = |hop: u8| hops.iter().find(|h| h.hop == hop).map(|h| h.address);
    let verdict = match (method, &answer) {
        (Method::Unavailable, _) => Verdict::NotTraced,
        (Method::Udp, a) => Verdict::HopsOnly {
            last_hop: hops.last().map(|h| h.hop),
            destination_at: match a {
                Some(Answer::Unreachable { meaning: Unreachable::Port, probe_ttl, .. }) => Some(*probe_ttl),
                _ => None,
            },
        },
        (Method::TcpSyn, None) => match hops.last() {
            Some(h) => Verdict::DroppedAfterHop { hop: h.hop, address: h.address },
            None => Verdict::Silent,
        },
        (Method::TcpSyn, Some(Answer::SynAck { probe_ttl, .. })) => Verdict::Reached { hops: *probe_ttl },
        // A RST from `from` hops away to a probe that went further: a middlebox at hop `from`
        // resets every probe that passes it, so the lowest reset probe is the first to pass it
        // (TTL from + 1), or a router answered Time Exceeded at hop `from` itself. Otherwise the
        // lower probes were lost, not stopped (seen on a loaded loopback: TTL 1-8 lost, the TTL 9
        // probe reset from 1 hop away), and the sender is the server `from` hops away.
        (Method::TcpSyn, Some(Answer::Reset { probe_ttl, reply_ttl, .. })) => match reply_ttl.map(origin_hops) {
            Some(from) if from < *probe_ttl && (*probe_ttl == from + 1 || addr_at(from).is_some()) => {
                Verdict::ResetByMiddlebox { hop: from, address: addr_at(from), server_at_least: *probe_ttl }
            }
            Some(from) if from < *probe_ttl => Verdict::ResetByServer { hops: from.max(1) },
            _ => Verdict::ResetByServer { hops: *probe_ttl },
        },
        (Method::TcpSyn, Some(Answer::Unreachable { from, probe_ttl, meaning, code, .. })) => {
            // The router's own hop: where it answered Time Exceeded, else the probe's TTL.
            let hop = hops.iter().find(|h| h.address == *from).map(|h| h.hop).unwrap_or(*probe_ttl);
            Verdict::Unreachable { hop, address: *from, meaning: *meaning, code: *code }
        }
    };
    let summary = summary(&verdict);
    PathTrace { destination, trace, method, hops, answer, verdict, summary, note: None, elapsed }
}

fn summary(v: &Verdict) -> String {
    match v {
        Verdict::Reached { hops: n } => format!("the SYN reaches the server {} away (SYN-ACK)", hops(*n)),
        Verdict::DroppedAfterHop { hop, address } => format!("the SYN dies after hop {hop} ({address})"),
        Verdict::Silent => "no hop answered and nothing answered the SYN: the first hop drops it, or the path sends no ICMP".into(),
        Verdict::ResetByMiddlebox { hop, address, server_at_least } => {
            let at = address.map(|a| format!(" ({a})")).unwrap_or_default();
            format!(
                "RST from {} away; the server is at least {} away: a middlebox at hop {hop}{at} reset it",
                hops(*hop),
                hops(*server_at_least)
            )
        }
        Verdict::ResetByServer { hops: n } => format!("reset by the server itself ({} away)", hops(*n)),
        Verdict::Unreachable { hop, address, meaning, code } => {
            format!("the router at hop {hop} ({address}) answered ICMP destination unreachable: {} (code {code})", meaning.text())
        }
        Verdict::HopsOnly { last_hop, destination_at } => {
            let reach = match (destination_at, last_hop) {
                (Some(d), _) => format!("UDP probes reach the destination at hop {d}"),
                (None, Some(h)) => format!("UDP probes die after hop {h}"),
                (None, None) => "no hop answered the UDP probes".into(),
            };
            format!("{reach}; where the TCP SYN dies needs CAP_NET_RAW (TCP SYN probes)")
        }
        Verdict::NotTraced => NEEDS_CAP_NET_RAW.into(),
    }
}

/// The once-per-run notice when no method works.
pub const NEEDS_CAP_NET_RAW: &str =
    "path diagnosis needs CAP_NET_RAW (run as root, or give the container NET_RAW), or unprivileged UDP probes; neither works here";

/// The once-per-run notice when UDP probes stood in for TCP SYN probes.
pub const UDP_ONLY: &str = "path traces used UDP probes (no CAP_NET_RAW): they show the hops, not where the TCP SYN dies or who reset it; give netspec CAP_NET_RAW (a container's NET_RAW) for that";

/// Which method this process can use, found by the first trace of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capability {
    Raw,
    Udp,
    None,
}

/// The run's traces: one per distinct destination address:port, shared by every check that
/// asks for it (the first asker runs it, the others wait for its result), at most
/// [`MAX_CONCURRENT_TRACES`] at once.
#[derive(Debug)]
pub struct Traces {
    mode: PathMode,
    cells: Mutex<HashMap<SocketAddr, Arc<OnceCell<Arc<PathTrace>>>>>,
    next: AtomicUsize,
    /// Traces asked for a destination past [`MAX_TRACED_DESTINATIONS`].
    refused: AtomicUsize,
    slots: Semaphore,
    capability: std::sync::OnceLock<Capability>,
}

impl Traces {
    /// An empty set of traces for a run in `mode`.
    pub fn new(mode: PathMode) -> Self {
        Traces {
            mode,
            cells: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(1),
            refused: AtomicUsize::new(0),
            slots: Semaphore::new(MAX_CONCURRENT_TRACES),
            capability: std::sync::OnceLock::new(),
        }
    }

    /// The run's mode.
    pub fn mode(&self) -> PathMode {
        self.mode
    }

    /// Number of distinct traces taken (or started) so far.
    pub fn count(&self) -> usize {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// What the run says once about its traces' method, when it is not TCP SYN probes:
    /// [`NEEDS_CAP_NET_RAW`] when no method worked, [`UDP_ONLY`] when UDP probes stood in.
    /// `None` when no trace was taken or TCP SYN probes worked.
    pub fn notice(&self) -> Option<&'static str> {
        match self.capability.get()? {
            Capability::Raw => None,
            Capability::Udp => Some(UDP_ONLY),
            Capability::None => Some(NEEDS_CAP_NET_RAW),
        }
    }

    /// The once-per-run notice when traces were refused past [`MAX_TRACED_DESTINATIONS`].
    pub fn capped(&self) -> Option<String> {
        match self.refused.load(Ordering::Relaxed) {
            0 => None,
            n => Some(format!(
                "path traces stopped at {MAX_TRACED_DESTINATIONS} destinations: {n} more failed check(s) were not traced (select them with --check or --scenario to trace them)"
            )),
        }
    }

    /// The trace of `dest`, taken now (finishing by `deadline`) unless another check of this
    /// run took or is taking it; `None` when the run already traced
    /// [`MAX_TRACED_DESTINATIONS`] other destinations.
    pub async fn trace(&self, dest: SocketAddr, deadline: Instant) -> Option<Arc<PathTrace>> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            let full = cells.len() >= MAX_TRACED_DESTINATIONS;
            match cells.get(&dest) {
                Some(c) => c.clone(),
                None if full => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                None => cells.entry(dest).or_default().clone(),
            }
        };
        cell.get_or_init(|| async {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let _slot = self.slots.acquire().await;
            Arc::new(self.take(dest, n, deadline).await)
        })
        .await
        .clone()
        .into()
    }

    async fn take(&self, dest: SocketAddr, n: usize, deadline: Instant) -> PathTrace {
        let start = Instant::now();
        let cap = *self.capability.get_or_init(|| match (tcp_syn::available(dest.is_ipv4()), udp::available(dest.is_ipv4())) {
            (true, _) => Capability::Raw,
            (false, true) => Capability::Udp,
            (false, false) => Capability::None,
        });
        let (method, ev, note) = match cap {
            Capability::Raw => match tcp_syn::trace(dest, deadline).await {
                Ok(ev) => (Method::TcpSyn, ev, None),
                Err(e) => match udp::trace(dest, deadline).await {
                    Ok(ev) => (Method::Udp, ev, Some(format!("TCP SYN probes failed ({e}); UDP probes instead"))),
                    Err(e2) => (Method::Unavailable, Evidence::default(), Some(format!("TCP SYN probes: {e}; UDP probes: {e2}"))),
                },
            },
            Capability::Udp => match udp::trace(dest, deadline).await {
                Ok(ev) => (Method::Udp, ev, Some("no CAP_NET_RAW: UDP probes (hop addresses only)".into())),
                Err(e) => (Method::Unavailable, Evidence::default(), Some(format!("UDP probes: {e}"))),
            },
            Capability::None => (Method::Unavailable, Evidence::default(), Some(NEEDS_CAP_NET_RAW.into())),
        };
        let mut t = analyze(dest, n, method, &ev, start.elapsed());
        t.note = note;
        t
    }
}

/// A tracer's error: a socket it could not open or use.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Opening or configuring a socket failed (EPERM without CAP_NET_RAW).
    #[error("cannot open a {what} socket: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Sending a probe failed.
    #[error("cannot send a probe: {0}")]
    Send(std::io::Error),
}

/// Whether the end of the path was found or every TTL got its answer (the trace can stop).
fn complete(ev: &Evidence, sent: u8) -> bool {
    let end = ev.answers.iter().map(Answer::probe_ttl).min();
    match end {
        Some(end) => (1..end).all(|t| ev.expired.iter().any(|(x, _, _)| *x == t)),
        None => (1..=sent).all(|t| ev.expired.iter().any(|(x, _, _)| *x == t)),
    }
}

/// How long a trace waits after the last new answer before it stops early ([`QUIET_END`]).
fn quiet_period(ev: &Evidence) -> Duration {
    let slowest = ev.expired.iter().map(|(_, _, r)| *r).max().unwrap_or_default();
    QUIET_END.max(slowest * 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const MS: Duration = Duration::from_millis(1);
    fn dest() -> SocketAddr {
        "10.16.3.2:8001".parse().unwrap()
    }

    #[test]
    fn origin_hops_from_common_initial_ttls() {
        assert_eq!(origin_hops(64), 1);
        assert_eq!(origin_hops(63), 2);
        assert_eq!(origin_hops(62), 3);
        assert_eq!(origin_hops(107), 22);
        assert_eq!(origin_hops(255), 1);
        assert_eq!(origin_hops(0), 33);
    }

    #[test]
    fn silence_after_hop_two_is_dropped_after_hop_two() {
        let ev = Evidence { expired: vec![(2, ip("10.16.2.2"), MS), (1, ip("10.16.1.1"), MS), (1, ip("10.16.1.1"), MS)], answers: vec![] };
        let t = analyze(dest(), 1, Method::TcpSyn, &ev, MS);
        assert_eq!(t.verdict, Verdict::DroppedAfterHop { hop: 2, address: ip("10.16.2.2") });
        assert_eq!(t.hops.len(), 2);
        assert_eq!(t.summary, "the SYN dies after hop 2 (10.16.2.2)");
        assert_eq!(t.reason(), Some(Reason::PathDroppedAfterHop));
    }

    #[test]
    fn a_close_rst_is_a_middlebox_and_a_far_one_the_server() {
        let expired = vec![(1, ip("10.16.1.1"), MS), (2, ip("10.16.2.2"), MS)];
        let rst = |probe_ttl, reply_ttl| Answer::Reset { from: ip("10.16.3.2"), probe_ttl, reply_ttl: Some(reply_ttl), rtt: MS };
        // TTL 63 = 64 - 1 router: sent 2 hops away, but only probes with TTL 3 got it.
        let ev = Evidence { expired: expired.clone(), answers: vec![rst(4, 63), rst(3, 63)] };
        let t = analyze(dest(), 1, Method::TcpSyn, &ev, MS);
        assert_eq!(t.verdict, Verdict::ResetByMiddlebox { hop: 2, address: Some(ip("10.16.2.2")), server_at_least: 3 });
        assert_eq!(t.reason(), Some(Reason::TcpResetByMiddlebox));
        assert!(t.summary.contains("a middlebox at hop 2 (10.16.2.2) reset it"), "{}", t.summary);
        // A RST from 1 hop away to the TTL 9 probe, nothing to TTL 1-8 and no router seen: the
        // lower probes were lost (a middlebox at hop 1 would have reset TTL 2 already).
        let lost = Evidence { expired: vec![], answers: vec![rst(9, 64), rst(10, 64)] };
        let t = analyze(dest(), 1, Method::TcpSyn, &lost, MS);
        assert_eq!(t.verdict, Verdict::ResetByServer { hops: 1 });
        // A silent firewall at hop 2 (no Time Exceeded) that resets what passes it: TTL 3 is the
        // first probe reset, from 2 hops away.
        let silent = Evidence { expired: vec![(1, ip("10.16.1.1"), MS)], answers: vec![rst(3, 63), rst(4, 63)] };
        let t = analyze(dest(), 1, Method::TcpSyn, &silent, MS);
        assert_eq!(t.verdict, Verdict::ResetByMiddlebox { hop: 2, address: None, server_at_least: 3 });
        // TTL 62: sent 3 hops away, where the path ends: the server.
        let ev = Evidence { expired, answers: vec![rst(3, 62)] };
        let t = analyze(dest(), 1, Method::TcpSyn, &ev, MS);
        assert_eq!(t.verdict, Verdict::ResetByServer { hops: 3 });
        assert_eq!(t.reason(), Some(Reason::TcpClosed));
    }

    #[test]
    fn unreachable_names_the_router_and_the_code() {
        let ev = Evidence {
            expired: vec![(1, ip("10.16.1.1"), MS), (2, ip("10.16.2.2"), MS), (3, ip("10.16.9.9"), MS)],
            answers: vec![Answer::Unreachable {
                from: ip("10.16.2.2"),
                probe_ttl: 3,
                meaning: Unreachable::from_v4(13),
                code: 13,
                rtt: MS,
            }],
        };
        let t = analyze(dest(), 1, Method::TcpSyn, &ev, MS);
        assert_eq!(t.reason(), Some(Reason::TcpProhibited));
        assert_eq!(t.hops.len(), 2, "hops at or past the end are not path hops");
        assert_eq!(
            t.summary,
            "the router at hop 2 (10.16.2.2) answered ICMP destination unreachable: administratively prohibited (code 13)"
        );
        assert_eq!(Unreachable::from_v6(1), Unreachable::AdminProhibited);
        assert_eq!(Unreachable::from_v4(1), Unreachable::Host);
    }

    #[test]
    fn udp_traces_give_hops_but_no_tcp_verdict() {
        let ev = Evidence {
            expired: vec![(1, ip("10.16.1.1"), MS), (2, ip("10.16.2.2"), MS)],
            answers: vec![Answer::Unreachable { from: dest().ip(), probe_ttl: 3, meaning: Unreachable::Port, code: 3, rtt: MS }],
        };
        let t = analyze(dest(), 1, Method::Udp, &ev, MS);
        assert_eq!(t.verdict, Verdict::HopsOnly { last_hop: Some(2), destination_at: Some(3) });
        assert_eq!(t.reason(), None);
        assert!(t.summary.contains("CAP_NET_RAW"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_run_traces_at_most_its_cap_of_destinations() {
        let t = Traces::new(PathMode::Auto);
        let done = |d: SocketAddr| {
            let cell = Arc::new(OnceCell::new());
            let _ = cell.set(Arc::new(analyze(d, 1, Method::Unavailable, &Evidence::default(), Duration::ZERO)));
            cell
        };
        {
            let mut cells = t.cells.lock().unwrap();
            for i in 0..MAX_TRACED_DESTINATIONS {
                let d = SocketAddr::new(ip("127.0.0.1"), 10_000 + i as u16);
                cells.insert(d, done(d));
            }
        }
        assert!(t.capped().is_none());
        // A destination already traced is shared; a new one past the cap is not traced (no
        // probe is sent: this test has no network).
        let known = SocketAddr::new(ip("127.0.0.1"), 10_000);
        assert!(t.trace(known, Instant::now()).await.is_some());
        let new = SocketAddr::new(ip("127.0.0.1"), 9);
        assert!(t.trace(new, Instant::now()).await.is_none());
        assert!(t.trace(new, Instant::now()).await.is_none());
        let note = t.capped().expect("the run says that it stopped tracing");
        assert!(note.contains("2 more failed check(s)"), "{note}");
        assert_eq!(t.cells.lock().unwrap().len(), MAX_TRACED_DESTINATIONS);
    }

    #[test]
    fn completeness() {
        let mut ev = Evidence::default();
        assert!(!complete(&ev, 3));
        ev.expired.push((1, ip("10.0.0.1"), MS));
        ev.answers.push(Answer::SynAck { from: ip("10.0.0.2"), probe_ttl: 3, reply_ttl: Some(63), rtt: MS });
        assert!(!complete(&ev, 30), "hop 2 is missing");
        ev.expired.push((2, ip("10.0.0.3"), MS));
        assert!(complete(&ev, 30));
    }
}
