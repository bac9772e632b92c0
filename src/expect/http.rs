//! HTTP expectations and their evaluator.
//!
//! Evidence rules: a status, header or body counts only when it came from the endpoint — a
//! forward proxy's own answer (its 407, its 401 challenge, its block or error page) is reported
//! with the proxy's reason (`http.proxy_*`), never judged as the endpoint's. Without a response,
//! every expectation fails with the reason there was none; a head whose body broke off is no
//! response either (`http.reset`, `http.timeout`): nothing is judged on a part of an answer.

use super::matchers::{AddrMatch, StrMatch};
use crate::model::{Assertion, Reason, Verdict};
use crate::probe::HttpObservation;
use crate::suite::model::{StatusSet, StatusTerm};

/// One compiled http expectation.
#[derive(Debug, Clone)]
pub enum HttpExpectation {
    /// `status`: codes and classes.
    Status(StatusSet),
    /// `headers.<name>` (lower case).
    Header(String, StrMatch),
    /// `body`.
    Body(StrMatch),
    /// `remote_address`: the address connected to.
    RemoteAddress(AddrMatch),
}

impl HttpExpectation {
    /// A short description for `netspec plan`, e.g. `status 200|401`.
    pub fn describe(&self) -> String {
        match self {
            HttpExpectation::Status(set) => format!("status {}", set.0.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("|")),
            HttpExpectation::Header(n, m) => format!("headers.{n} {m}"),
            HttpExpectation::Body(m) => format!("body {m}"),
            HttpExpectation::RemoteAddress(m) => m.describe("remote_address"),
        }
    }
}

/// Whether `code` is in the set (a code, or a class such as `2xx`).
pub fn status_matches(set: &StatusSet, code: u16) -> bool {
    set.0.iter().any(|t| match t {
        StatusTerm::Code(c) => *c == code,
        StatusTerm::Class(c) => code / 100 == *c as u16,
    })
}

/// The reason and text of a missing response (the proxy answered, or nothing did).
fn no_response(h: &HttpObservation) -> (Reason, String) {
    match &h.failure {
        Some(f) => (f.reason, format!("no response ({}: {})", f.reason, f.message)),
        None => (Reason::HttpError, "no response".into()),
    }
}

fn judged(ok: bool, reason: Reason) -> (Verdict, Option<Reason>) {
    if ok { (Verdict::Pass, None) } else { (Verdict::Fail, Some(reason)) }
}

/// Judges one expectation against one exchange.
pub fn evaluate(e: &HttpExpectation, h: &HttpObservation, out: &mut Vec<Assertion>) {
    // The endpoint's head, when there is one: a proxy's own answer leaves `status` empty.
    let head = h.status.filter(|_| !h.from_proxy);
    match e {
        HttpExpectation::Status(set) => {
            let expected = set.0.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ");
            match head {
                Some(c) => {
                    let (verdict, reason) = judged(status_matches(set, c), Reason::HttpStatus);
                    out.push(Assertion::new("status", verdict, reason, expected, c.to_string()));
                }
                None => {
                    let (reason, observed) = no_response(h);
                    out.push(Assertion::new("status", Verdict::Fail, Some(reason), expected, observed));
                }
            }
        }
        HttpExpectation::Header(name, m) => {
            let key = format!("headers.{name}");
            let expected = format!("{name} {m}");
            match (head, h.header(name)) {
                (None, _) => {
                    let (reason, observed) = no_response(h);
                    out.push(Assertion::new(key, Verdict::Fail, Some(reason), expected, observed));
                }
                (Some(_), None) => {
                    let (verdict, reason) = judged(m.is_match(""), Reason::HttpHeader);
                    out.push(Assertion::new(key, verdict, reason, expected, "header absent"));
                }
                (Some(_), Some(v)) => {
                    let (verdict, reason) = judged(m.is_match(&v), Reason::HttpHeader);
                    out.push(Assertion::new(key, verdict, reason, expected, v));
                }
            }
        }
        HttpExpectation::Body(m) => {
            let expected = format!("a body {m}");
            let snippet = || h.body.chars().take(120).collect::<String>();
            if head.is_none() {
                let (reason, observed) = no_response(h);
                out.push(Assertion::new("body", Verdict::Fail, Some(reason), expected, observed));
            } else {
                let (verdict, reason) = judged(m.is_match(&h.body), Reason::HttpBody);
                out.push(Assertion::new("body", verdict, reason, expected, snippet()));
            }
        }
        HttpExpectation::RemoteAddress(m) => match h.remote_address {
            None => {
                let (reason, observed) = no_response(h);
                m.no_answer("remote_address", Verdict::Fail, reason, &observed, out);
            }
            Some(a) => {
                let from = out.len();
                m.check("remote_address", &[a.ip()], Vec::new, out);
                // The address matchers name DNS reasons; here the connection went elsewhere.
                for x in &mut out[from..] {
                    if x.verdict == Verdict::Fail {
                        x.reason = Some(Reason::HttpRemoteAddress);
                    }
                }
            }
        },
    }
}
