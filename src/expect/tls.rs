//! TLS expectations and their evaluator: each expectation is judged on every address's
//! handshake (a multi-zone endpoint with one bad zone fails).
//!
//! Evidence rules: an expectation about the presented chain needs a completed handshake; without
//! one, `trusted: true` and the certificate expectations fail with the reason the handshake did
//! not happen (`tcp.filtered`, `tls.handshake`, …), while `trusted: false` and
//! `refuses_versions` — expectations that something does *not* work — error: no handshake is no
//! evidence of an untrusted chain or of a refused version.

use std::time::Duration;

use super::matchers::StrMatch;
use super::{fmt_dur, in_range, range_text};
use crate::model::{Assertion, Reason, Verdict};
use crate::probe::tls::{Handshake, VersionVerdict, interception, now_unix};
use crate::probe::{TlsEndpoint, TlsObservation};
use crate::suite::model::{DurRange, TlsVersion};

/// One compiled tls expectation.
#[derive(Debug, Clone)]
pub enum TlsExpectation {
    /// `trusted`: the chain verifies for the server name (true) or not (false).
    Trusted(bool),
    /// `min_version`: lowest acceptable negotiated version.
    MinVersion(TlsVersion),
    /// `expires_in`: the leaf's validity left.
    ExpiresIn(DurRange),
    /// `san`: one of the leaf's subject alternative names.
    San(StrMatch),
    /// `issuer`: the leaf's issuer.
    Issuer(StrMatch),
    /// `refuses_versions`: a handshake offering only each of these versions fails everywhere.
    RefusesVersions(Vec<TlsVersion>),
}

impl TlsExpectation {
    /// The expectation's key.
    pub fn key(&self) -> &'static str {
        match self {
            TlsExpectation::Trusted(_) => "trusted",
            TlsExpectation::MinVersion(_) => "min_version",
            TlsExpectation::ExpiresIn(_) => "expires_in",
            TlsExpectation::San(_) => "san",
            TlsExpectation::Issuer(_) => "issuer",
            TlsExpectation::RefusesVersions(_) => "refuses_versions",
        }
    }

    /// Whether it expects something not to work (then no handshake is an error, not a failure).
    fn expects_absence(&self) -> bool {
        match self {
            TlsExpectation::Trusted(b) => !b,
            TlsExpectation::RefusesVersions(_) => true,
            TlsExpectation::MinVersion(_) | TlsExpectation::ExpiresIn(_) | TlsExpectation::San(_) | TlsExpectation::Issuer(_) => false,
        }
    }

    /// A short description for `netspec plan`, e.g. `trusted true`.
    pub fn describe(&self) -> String {
        match self {
            TlsExpectation::Trusted(b) => format!("trusted {b}"),
            TlsExpectation::MinVersion(v) => format!("min_version {v}"),
            TlsExpectation::ExpiresIn(r) => format!("expires_in {}", range_text(r)),
            TlsExpectation::San(m) => format!("san {m}"),
            TlsExpectation::Issuer(m) => format!("issuer {m}"),
            TlsExpectation::RefusesVersions(v) => format!("refuses_versions {}", versions_text(v)),
        }
    }
}

fn versions_text(v: &[TlsVersion]) -> String {
    v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

fn verdict_of(ok: bool, reason: Reason) -> (Verdict, Option<Reason>) {
    if ok { (Verdict::Pass, None) } else { (Verdict::Fail, Some(reason)) }
}

/// Judges every expectation of a tls check against its observation.
pub fn evaluate_all(exps: &[TlsExpectation], t: &TlsObservation, out: &mut Vec<Assertion>) {
    // An `issuer` expectation names the real issuer: an untrusted chain from another issuer was
    // re-signed by someone else (TLS inspection), which is the reason `trusted` reports.
    let issuer_mismatch = exps.iter().any(|e| match e {
        TlsExpectation::Issuer(m) => t
            .endpoints
            .iter()
            .filter_map(|ep| ep.handshake.as_ref())
            .any(|h| !h.trusted && !m.is_match(h.chain.first().map(|l| l.issuer.as_str()).unwrap_or(""))),
        _ => false,
    });
    for e in exps {
        evaluate(e, t, issuer_mismatch, out);
    }
}

fn evaluate(e: &TlsExpectation, t: &TlsObservation, issuer_mismatch: bool, out: &mut Vec<Assertion>) {
    let absent = if e.expects_absence() { Verdict::Error } else { Verdict::Fail };
    if let Some(f) = &t.resolution.failure {
        out.push(Assertion::new(e.key(), absent, Some(f.reason), "a TLS handshake", format!("no address ({}: {})", f.reason, f.message)));
        return;
    }
    if t.endpoints.is_empty() {
        out.push(Assertion::new(e.key(), absent, Some(Reason::TcpNoRoute), "a TLS handshake", "no routable address"));
        return;
    }
    if let TlsExpectation::RefusesVersions(want) = e {
        // Judged by the extra handshakes alone: a server that only speaks TLS 1.0 refuses 1.2.
        refuses_versions(want, t, out);
        return;
    }
    for ep in &t.endpoints {
        match &ep.handshake {
            None => {
                let reason = ep.failure.as_ref().map(|f| f.reason).or(ep.tcp.reason()).unwrap_or(Reason::TlsHandshake);
                let message = ep.failure.as_ref().map(|f| f.message.as_str()).unwrap_or("");
                let observed = format!("{}: no handshake ({reason}: {message})", ep.address);
                out.push(Assertion::new(e.key(), absent, Some(reason), "a completed TLS handshake", observed));
            }
            Some(h) => on_handshake(e, ep, h, issuer_mismatch, out),
        }
    }
}

/// The reason an untrusted chain is untrusted: intercepted (an inspection product's issuer, or
/// not the issuer the check expects), else the verifier's own reason.
fn untrusted_reason(h: &Handshake, issuer_mismatch: bool) -> Reason {
    if issuer_mismatch || interception(&h.chain, h.trusted).is_some() {
        Reason::TlsIntercepted
    } else {
        h.trust_reason.unwrap_or(Reason::TlsUntrusted)
    }
}

fn on_handshake(e: &TlsExpectation, ep: &TlsEndpoint, h: &Handshake, issuer_mismatch: bool, out: &mut Vec<Assertion>) {
    let leaf = h.chain.first();
    match e {
        TlsExpectation::Trusted(want) => {
            let observed = if h.trusted {
                format!("{}: trusted", ep.address)
            } else {
                let issuer = leaf.map(|l| format!(" (issuer: {})", l.issuer)).unwrap_or_default();
                let intercepted = interception(&h.chain, h.trusted).map(|why| format!("; looks intercepted: {why}")).unwrap_or_default();
                format!("{}: untrusted: {}{issuer}{intercepted}", ep.address, h.trust_error.as_deref().unwrap_or("?"))
            };
            let (verdict, reason) = match (*want, h.trusted) {
                (true, true) => (Verdict::Pass, None),
                (true, false) => (Verdict::Fail, Some(untrusted_reason(h, issuer_mismatch))),
                (false, false) => (Verdict::Pass, Some(untrusted_reason(h, issuer_mismatch))),
                (false, true) => (Verdict::Fail, Some(Reason::TlsTrusted)),
            };
            out.push(Assertion::new("trusted", verdict, reason, if *want { "trusted" } else { "untrusted" }, observed));
        }
        TlsExpectation::MinVersion(v) => {
            let got = match h.version.as_str() {
                "1.3" => Some(TlsVersion::V1_3),
                "1.2" => Some(TlsVersion::V1_2),
                _ => None,
            };
            let (verdict, reason) = verdict_of(got.is_some_and(|g| g >= *v), Reason::TlsOldVersion);
            out.push(Assertion::new("min_version", verdict, reason, format!("{v} or newer"), format!("{}: TLS {}", ep.address, h.version)));
        }
        TlsExpectation::ExpiresIn(r) => match leaf {
            None => out.push(Assertion::new("expires_in", Verdict::Fail, Some(Reason::TlsUntrusted), range_text(r), "no certificate")),
            Some(l) => {
                let left = l.not_after_unix - now_unix();
                let (verdict, reason, observed) = if left < 0 {
                    let ago = fmt_dur(Duration::from_secs((-left) as u64));
                    (Verdict::Fail, Some(Reason::TlsExpired), format!("{}: expired {ago} ago (not_after {})", ep.address, l.not_after))
                } else {
                    let (v, r) = verdict_of(in_range(r, Duration::from_secs(left as u64)), Reason::TlsExpiresSoon);
                    (v, r, format!("{}: {} left (not_after {})", ep.address, fmt_dur(Duration::from_secs(left as u64)), l.not_after))
                };
                out.push(Assertion::new("expires_in", verdict, reason, format!("validity left {}", range_text(r)), observed));
            }
        },
        TlsExpectation::San(m) => {
            let sans = leaf.map(|l| l.sans.clone()).unwrap_or_default();
            let (verdict, reason) = verdict_of(m.any_of(&sans), Reason::TlsSan);
            out.push(Assertion::new("san", verdict, reason, format!("a SAN {m}"), format!("{}: {}", ep.address, sans.join(", "))));
        }
        TlsExpectation::Issuer(m) => {
            let iss = leaf.map(|l| l.issuer.clone()).unwrap_or_default();
            let why = if h.trusted { Reason::TlsIssuer } else { Reason::TlsIntercepted };
            let (verdict, reason) = verdict_of(m.is_match(&iss), why);
            out.push(Assertion::new("issuer", verdict, reason, format!("issuer {m}"), format!("{}: {iss}", ep.address)));
        }
        TlsExpectation::RefusesVersions(_) => {}
    }
}

/// `refuses_versions`: on every address with a TCP connection, each version's lone offer was
/// refused. An accepted version fails; an address or version without a verdict (no connection,
/// timeout) errors: no evidence is not a refusal.
fn refuses_versions(want: &[TlsVersion], t: &TlsObservation, out: &mut Vec<Assertion>) {
    let expected = format!("{} refused", versions_text(want));
    let mut accepted = false;
    let mut untested: Option<Reason> = None;
    let mut seen = Vec::new();
    for ep in &t.endpoints {
        for v in want {
            let name = match v {
                TlsVersion::V1_2 => "1.2",
                TlsVersion::V1_3 => "1.3",
            };
            match ep.version_probes.iter().find(|p| p.version == name) {
                Some(p) => {
                    let verdict = match p.verdict {
                        VersionVerdict::Accepted => {
                            accepted = true;
                            "accepted"
                        }
                        VersionVerdict::Refused => "refused",
                        VersionVerdict::Untested => {
                            untested.get_or_insert(Reason::TlsHandshake);
                            "not tested"
                        }
                    };
                    seen.push(format!("{}: {v} {verdict} ({})", ep.address, p.detail));
                }
                None => {
                    let reason = ep.failure.as_ref().map(|f| f.reason).or(ep.tcp.reason()).unwrap_or(Reason::TlsHandshake);
                    untested.get_or_insert(reason);
                    let why =
                        ep.failure.as_ref().map(|f| format!("{}: {}", f.reason, f.message)).unwrap_or_else(|| format!("tcp {}", ep.tcp));
                    seen.push(format!("{}: {v} not tested ({why})", ep.address));
                }
            }
        }
    }
    let (verdict, reason) = match (accepted, untested) {
        (true, _) => (Verdict::Fail, Some(Reason::TlsVersionAccepted)),
        (false, Some(r)) => (Verdict::Error, Some(r)),
        (false, None) => (Verdict::Pass, None),
    };
    out.push(Assertion::new("refuses_versions", verdict, reason, expected, seen.join("; ")));
}
