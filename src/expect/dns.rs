//! DNS expectations and their evaluator: one [`DnsExpectation`] per key, judged against the
//! query's [`DnsEvidence`].
//!
//! Evidence rules (docs/suite-format.md, "Verdict matrix"): an expectation that something
//! resolves, or resolves *to* something, fails on NXDOMAIN, an empty answer or no answer, with
//! that reason; an expectation of absence (`resolves: false`) passes only on an answer that
//! says so (NXDOMAIN, or NOERROR without records of the type) and errors without one; `agree`
//! needs answers to compare.

use std::time::Duration;

use super::matchers::{AddrMatch, StrMatch};
use super::privatelink::Zone;
use super::{addr, in_range, range_text};
use crate::model::rcode::{self, ResponseCode};
use crate::model::{Assertion, Reason, Verdict};
use crate::probe::{DnsEvidence, DnsObservation, join_ips};
use crate::suite::model::{DurRange, Rcode};

/// One compiled dns expectation.
#[derive(Debug, Clone)]
pub enum DnsExpectation {
    /// `rcode`: the response code.
    Rcode(Rcode),
    /// `resolves`: records of the asked type exist (true) or not (false).
    Resolves(bool),
    /// `addresses`: the answer's addresses.
    Addresses(AddrMatch),
    /// `cname`: a name of the CNAME chain.
    Cname(StrMatch),
    /// `ttl`: bounds on every answer record's TTL.
    Ttl(DurRange),
    /// `agree`: the `compare` resolvers give the same answer (true) or another one (false).
    Agree(bool),
    /// `private_endpoint`: through the service's `privatelink.` zone to private addresses
    /// (true), or publicly without it (false).
    PrivateEndpoint(bool, Zone),
}

impl DnsExpectation {
    /// A short description for `netspec plan`, e.g. `rcode NOERROR`.
    pub fn describe(&self) -> String {
        match self {
            DnsExpectation::Rcode(r) => format!("rcode {r}"),
            DnsExpectation::Resolves(b) => format!("resolves {b}"),
            DnsExpectation::Addresses(m) => m.describe("addresses"),
            DnsExpectation::Cname(m) => format!("cname {m}"),
            DnsExpectation::Ttl(r) => format!("ttl {}", range_text(r)),
            DnsExpectation::Agree(b) => format!("agree {b}"),
            DnsExpectation::PrivateEndpoint(b, z) => format!("private_endpoint {b} (zone {})", z.name),
        }
    }
}

/// The hickory response code an expected one names.
fn response_code(r: Rcode) -> ResponseCode {
    match r {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::FormErr => ResponseCode::FormErr,
        Rcode::ServFail => ResponseCode::ServFail,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::NotImp => ResponseCode::NotImp,
        Rcode::Refused => ResponseCode::Refused,
    }
}

/// Why an answer gave nothing to judge, and how to show it: NXDOMAIN, an empty answer, or no
/// answer at all. `None` for an answer with records.
fn missing(d: &DnsObservation, ev: &DnsEvidence) -> Option<(Reason, String)> {
    match ev {
        DnsEvidence::Records { .. } => None,
        DnsEvidence::Empty => Some((Reason::DnsNoAnswer, format!("no {} records (NOERROR)", d.record_type))),
        DnsEvidence::NxDomain => Some((d.nxdomain_reason(), "NXDOMAIN".to_string())),
        DnsEvidence::NoAnswer(reason, message) => Some((*reason, format!("no answer ({reason}: {message})"))),
    }
}

fn chain_text(d: &DnsObservation) -> String {
    if d.cname_chain.is_empty() { "no CNAME".to_string() } else { format!("chain {} -> {}", d.query, d.cname_chain.join(" -> ")) }
}

fn summarize(d: &DnsObservation) -> String {
    let last = d.cname_chain.last().unwrap_or(&d.query);
    let want = d.record_type.as_str();
    d.answers
        .iter()
        .filter(|r| r.record_type == want && r.name.eq_ignore_ascii_case(last))
        .map(|r| r.data.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reason a response code stands for when it is the observed one.
fn rcode_reason(d: &DnsObservation, rc: ResponseCode) -> Reason {
    match rc {
        ResponseCode::NoError => Reason::DnsRcode,
        ResponseCode::NXDomain => d.nxdomain_reason(),
        ResponseCode::ServFail => Reason::DnsServfail,
        ResponseCode::Refused => Reason::DnsRefused,
        _ => Reason::DnsError,
    }
}

/// Judges one expectation against one query, pushing its assertions (one per key; one per
/// operator for `addresses`).
pub fn evaluate(e: &DnsExpectation, d: &DnsObservation, out: &mut Vec<Assertion>) {
    let ev = d.evidence();
    match e {
        DnsExpectation::Rcode(want) => {
            let want_rc = response_code(*want);
            let expected = want.as_str();
            match d.rcode {
                Some(got) if got == want_rc => {
                    // NXDOMAIN (or another error) expected and seen: the accepted condition.
                    let accepted = (got != ResponseCode::NoError).then(|| rcode_reason(d, got));
                    out.push(Assertion::new("rcode", Verdict::Pass, accepted, expected, rcode::name(got)));
                }
                Some(got) => {
                    out.push(Assertion::new("rcode", Verdict::Fail, Some(rcode_reason(d, got)), expected, rcode::name(got)));
                }
                None => {
                    let (reason, observed) = missing(d, &ev).unwrap_or((Reason::DnsTimeout, "no response".into()));
                    out.push(Assertion::new("rcode", Verdict::Fail, Some(reason), expected, observed));
                }
            }
        }
        DnsExpectation::Resolves(want) => {
            let expected = if *want { format!("{} records", d.record_type) } else { format!("no {} records", d.record_type) };
            let (verdict, reason, observed) = match (&ev, *want) {
                (DnsEvidence::Records { .. }, true) => (Verdict::Pass, None, format!("{} record(s): {}", d.record_type, summarize(d))),
                (DnsEvidence::Records { .. }, false) => {
                    (Verdict::Fail, Some(Reason::DnsResolves), format!("{} record(s): {}", d.record_type, summarize(d)))
                }
                (DnsEvidence::Empty, true) => (Verdict::Fail, Some(Reason::DnsNoAnswer), format!("no {} records (NOERROR)", d.record_type)),
                (DnsEvidence::Empty, false) => {
                    (Verdict::Pass, Some(Reason::DnsNoAnswer), format!("no {} records (NOERROR)", d.record_type))
                }
                (DnsEvidence::NxDomain, true) => {
                    (Verdict::Fail, Some(d.nxdomain_reason()), format!("no {} records (NXDOMAIN)", d.record_type))
                }
                (DnsEvidence::NxDomain, false) => {
                    (Verdict::Pass, Some(d.nxdomain_reason()), format!("no {} records (NXDOMAIN)", d.record_type))
                }
                // Not resolving needs an answer that says so: silence proves nothing.
                (DnsEvidence::NoAnswer(r, m), true) => (Verdict::Fail, Some(*r), format!("no answer ({r}: {m})")),
                (DnsEvidence::NoAnswer(r, m), false) => {
                    (Verdict::Error, Some(*r), format!("no answer ({r}: {m}), so no evidence that it does not resolve"))
                }
            };
            out.push(Assertion::new("resolves", verdict, reason, expected, observed));
        }
        DnsExpectation::Addresses(m) => match (&ev, missing(d, &ev)) {
            (DnsEvidence::Records { addresses }, _) if !addresses.is_empty() => {
                let names = || std::iter::once(&d.query).chain(&d.cname_chain).cloned().collect();
                m.check("addresses", addresses, names, out);
            }
            (DnsEvidence::Records { .. }, _) => {
                let observed = format!("a {} answer, which holds no addresses", d.record_type);
                m.no_answer("addresses", Verdict::Fail, Reason::DnsNoAnswer, &observed, out);
            }
            (_, Some((reason, observed))) => m.no_answer("addresses", Verdict::Fail, reason, &observed, out),
            (_, None) => m.no_answer("addresses", Verdict::Fail, Reason::DnsNoAnswer, "no addresses", out),
        },
        DnsExpectation::Cname(m) => {
            let expected = format!("a CNAME {m}");
            if d.cname_chain.is_empty() {
                let (reason, observed) = match missing(d, &ev) {
                    Some((r, text)) => (r, text),
                    None => (Reason::DnsCnameMismatch, format!("no CNAME (NOERROR, {})", join_ips(&d.addresses))),
                };
                out.push(Assertion::new("cname", Verdict::Fail, Some(reason), expected, observed));
            } else {
                let ok = m.any_of(&d.cname_chain);
                let reason = (!ok).then_some(Reason::DnsCnameMismatch);
                out.push(Assertion::new("cname", if ok { Verdict::Pass } else { Verdict::Fail }, reason, expected, chain_text(d)));
            }
        }
        DnsExpectation::Ttl(r) => {
            let expected = format!("every TTL {}", range_text(r));
            match missing(d, &ev) {
                Some((reason, observed)) => out.push(Assertion::new("ttl", Verdict::Fail, Some(reason), expected, observed)),
                None => {
                    let ttls: Vec<u32> = d.answers.iter().map(|a| a.ttl).collect();
                    let ok = ttls.iter().all(|t| in_range(r, Duration::from_secs(*t as u64)));
                    let observed = ttls.iter().map(|t| format!("{t}s")).collect::<Vec<_>>().join(", ");
                    let (verdict, reason) = if ok { (Verdict::Pass, None) } else { (Verdict::Fail, Some(Reason::DnsTtl)) };
                    out.push(Assertion::new("ttl", verdict, reason, expected, observed));
                }
            }
        }
        DnsExpectation::Agree(want) => agree(*want, d, out),
        DnsExpectation::PrivateEndpoint(want, zone) => private_endpoint(*want, zone, d, &ev, out),
    }
}

/// `agree`: the answers (response code and address set) of the main resolver and the `compare`
/// ones. Disagreement needs two answers; agreement needs every resolver to answer.
fn agree(want: bool, d: &DnsObservation, out: &mut Vec<Assertion>) {
    let all: Vec<&DnsObservation> = std::iter::once(d).chain(d.compared.iter()).collect();
    let answer = |o: &DnsObservation| match o.evidence() {
        DnsEvidence::NoAnswer(..) => None,
        DnsEvidence::Records { .. } | DnsEvidence::Empty | DnsEvidence::NxDomain => {
            let mut a = o.addresses.clone();
            a.sort();
            Some((o.rcode, a))
        }
    };
    let answers: Vec<_> = all.iter().map(|o| answer(o)).collect();
    let answered: Vec<_> = answers.iter().flatten().collect();
    let silent_reason = all.iter().find_map(|o| match o.evidence() {
        DnsEvidence::NoAnswer(r, _) => Some(r),
        _ => None,
    });
    let show = |o: &&DnsObservation| match o.evidence() {
        DnsEvidence::NoAnswer(r, m) => format!("{}: no answer ({r}: {m})", o.resolver),
        _ => format!("{}: {} {}", o.resolver, o.rcode_text(), join_ips(&o.addresses)),
    };
    let observed = all.iter().map(show).collect::<Vec<_>>().join("; ");
    let expected = if want { "the same answer from every resolver" } else { "different answers (split horizon)" };
    let differ = answered.windows(2).any(|w| w[0] != w[1]);
    let (verdict, reason) = if want {
        match (answered.len(), silent_reason) {
            (0, r) => (Verdict::Error, Some(r.unwrap_or(Reason::DnsTimeout))),
            // One answers, another does not: they do not agree.
            (_, Some(_)) => (Verdict::Fail, Some(Reason::DnsDisagree)),
            (_, None) if differ => (Verdict::Fail, Some(Reason::DnsDisagree)),
            (_, None) => (Verdict::Pass, None),
        }
    } else if answered.len() < 2 {
        (Verdict::Error, Some(silent_reason.unwrap_or(Reason::DnsTimeout)))
    } else if differ {
        (Verdict::Pass, None)
    } else {
        (Verdict::Fail, Some(Reason::DnsNoSplitHorizon))
    };
    out.push(Assertion::new("agree", verdict, reason, expected, observed));
}

/// `private_endpoint`: a private endpoint's name aliases into the service's `privatelink.` zone
/// and resolves to private addresses; a public one has no such alias and public addresses. A
/// name that is itself inside the zone needs no alias.
fn private_endpoint(want: bool, zone: &Zone, d: &DnsObservation, ev: &DnsEvidence, out: &mut Vec<Assertion>) {
    let inside = zone.matcher.is_match(&d.query);
    let via = inside || d.cname_chain.iter().any(|n| zone.matcher.is_match(n));
    let expected = if want {
        if inside {
            format!("private addresses (the name is in {}, {})", zone.name, zone.service)
        } else {
            format!("a CNAME into {} ({}) and private addresses", zone.name, zone.service)
        }
    } else {
        format!("no CNAME into {} and public addresses", zone.name)
    };
    let addresses = match ev {
        DnsEvidence::Records { addresses } if !addresses.is_empty() => *addresses,
        _ => {
            let (reason, observed) =
                missing(d, ev).unwrap_or((Reason::DnsNoAnswer, format!("a {} answer without addresses", d.record_type)));
            out.push(Assertion::new("private_endpoint", Verdict::Fail, Some(reason), expected, format!("{observed}; {}", chain_text(d))));
            return;
        }
    };
    let observed = format!("{}; addresses {}", chain_text(d), join_ips(addresses));
    let all = |class| addresses.iter().all(|ip| addr::classify(*ip) == Some(class));
    let (private, public) = (all(addr::AddressClass::Private), all(addr::AddressClass::Public));
    let reason = if want {
        if !private {
            // A public answer: the private zone is not consulted (not linked, no forwarder).
            Some(if addresses.iter().any(|ip| addr::classify(*ip) == Some(addr::AddressClass::Public)) {
                Reason::DnsPublicAddress
            } else {
                Reason::DnsAddressMismatch
            })
        } else if !via {
            Some(Reason::DnsNoPrivatelinkAlias)
        } else {
            None
        }
    } else if !public {
        Some(Reason::DnsPrivateAddress)
    } else if via {
        Some(Reason::DnsCnameMismatch)
    } else {
        None
    };
    let verdict = if reason.is_none() { Verdict::Pass } else { Verdict::Fail };
    out.push(Assertion::new("private_endpoint", verdict, reason, expected, observed));
}
