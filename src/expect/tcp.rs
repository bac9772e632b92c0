//! TCP expectations and their evaluator: the port state on every counted address
//! ([`crate::probe::TcpObservation::counted`]), in nmap's terms.
//!
//! A `blocked` (or `closed`, `filtered`) expectation needs evidence too: a name that did not
//! resolve gives no address to be blocked on, so it errors rather than passes.

use crate::model::{Assertion, Reason, Verdict};
use crate::probe::{PortState, TcpObservation};
use crate::suite::model::StateExpect;

/// One compiled tcp expectation.
#[derive(Debug, Clone)]
pub enum TcpExpectation {
    /// `state`: the port state on every address.
    State(StateExpect),
}

impl TcpExpectation {
    /// A short description for `netspec plan`, e.g. `state open`.
    pub fn describe(&self) -> String {
        match self {
            TcpExpectation::State(s) => format!("state {}", state_name(*s)),
        }
    }
}

fn state_name(s: StateExpect) -> &'static str {
    match s {
        StateExpect::Open => "open",
        StateExpect::Closed => "closed",
        StateExpect::Filtered => "filtered",
        StateExpect::Blocked => "blocked",
    }
}

/// Whether `state` satisfies `want`. `blocked` is anything that does not connect: closed,
/// filtered, or refused by ICMP (unreachable, prohibited).
pub fn accepts(want: StateExpect, state: PortState) -> bool {
    match want {
        StateExpect::Open => state == PortState::Open,
        StateExpect::Closed => state == PortState::Closed,
        StateExpect::Filtered => state == PortState::Filtered,
        StateExpect::Blocked => match state {
            PortState::Closed | PortState::Filtered | PortState::Unreachable | PortState::Prohibited => true,
            PortState::Open | PortState::NoRoute => false,
        },
    }
}

/// Judges one expectation against one observation.
pub fn evaluate(e: &TcpExpectation, t: &TcpObservation, out: &mut Vec<Assertion>) {
    match e {
        TcpExpectation::State(want) => state(*want, t, out),
    }
}

fn state(want: StateExpect, t: &TcpObservation, out: &mut Vec<Assertion>) {
    let expected = match want {
        StateExpect::Open => "open on every address",
        StateExpect::Closed => "closed on every address",
        StateExpect::Filtered => "filtered on every address",
        StateExpect::Blocked => "blocked (closed or filtered) on every address",
    };
    if let Some(f) = &t.resolution.failure {
        // Nothing to connect to: `open` fails (the name must resolve for it to be reachable); a
        // port that must not connect has not been shown to be blocked.
        let verdict = if want == StateExpect::Open { Verdict::Fail } else { Verdict::Error };
        out.push(Assertion::new(
            "state",
            verdict,
            Some(f.reason),
            expected,
            format!("no address to connect to ({}: {})", f.reason, f.message),
        ));
        return;
    }
    // `203.0.113.7:443 open`: one allocation for a check's usual one or two addresses.
    let counted = t.counted();
    let mut observed = String::with_capacity(32 * t.attempts.len());
    for (i, a) in counted.clone().enumerate() {
        if i > 0 {
            observed.push_str(", ");
        }
        crate::model::observation::push_socket(&mut observed, &a.address);
        observed.push(' ');
        observed.push_str(a.state.as_str());
    }
    if counted.clone().next().is_none() {
        out.push(Assertion::new("state", Verdict::Error, Some(Reason::TcpNoRoute), expected, "no address to connect to"));
        return;
    }
    // A local reason (no socket, outside the lab) means the connect was never tried.
    if let Some(local) = counted.clone().find_map(|a| a.reason.filter(|r| r.is_local())) {
        out.push(Assertion::new("state", Verdict::Error, Some(local), expected, observed));
        return;
    }
    let bad = counted.clone().find(|a| !accepts(want, a.state));
    let (verdict, reason) = match bad {
        // The first address that does not satisfy it names the reason: its own state.
        Some(a) => (Verdict::Fail, Some(a.reason.or(a.state.reason()).unwrap_or(Reason::TcpOpen))),
        // Passing `blocked`/`filtered`/`closed`: the state seen is the accepted condition.
        None => (Verdict::Pass, counted.clone().next().and_then(|a| a.state.reason())),
    };
    out.push(Assertion::new("state", verdict, reason, expected, observed));
}
