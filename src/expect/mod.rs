//! Expectations: `(expectations, observation) → assertions`, each "expected X, observed Y" with
//! a verdict (pass, fail, or error for want of evidence) and a reason code.
//! Pure: no I/O except reading a `from_hosts_file` once at compile time.
//!
//! One expectation type per check kind, each with an exhaustive evaluator in its own file
//! ([`dns`], [`tcp`], [`tls`], [`http`]); adding an expectation touches its type and its
//! evaluator, and the compiler lists every place that must handle it. The evidence rules each
//! evaluator follows are in its module doc and in docs/suite-format.md ("Verdict matrix").
//!
//! Multi-address semantics: tcp `state` and every tls expectation must hold on *every* address
//! the host resolved to (a multi-zone load balancer with one bad zone fails), counting only
//! addresses this machine has a route for.

pub mod addr;
pub mod dns;
pub mod http;
mod matchers;
pub mod privatelink;
pub mod tcp;
pub mod tls;

pub use crate::model::result::judge;
use std::path::Path;
use std::time::Duration;

use crate::model::Reason;
pub use crate::model::{Assertion, Kind, Verdict};
use crate::probe::Observation;
use crate::suite::model::{DurRange, Expect, Rcode, StateExpect, StatusSet, StatusTerm, TlsVersion};
pub use dns::DnsExpectation;
pub use http::HttpExpectation;
pub use matchers::{AddrMatch, StrMatch};
pub use tcp::TcpExpectation;
pub use tls::TlsExpectation;

/// A check's compiled expectations of its kind, in the order written.
#[derive(Debug, Clone)]
pub enum KindExpectations {
    /// A dns check's.
    Dns(Vec<DnsExpectation>),
    /// A tcp check's.
    Tcp(Vec<TcpExpectation>),
    /// A tls check's.
    Tls(Vec<TlsExpectation>),
    /// An http check's.
    Http(Vec<HttpExpectation>),
}

/// A check's compiled expectations: those of its kind, and the `time` bounds any kind may have.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The kind's expectations.
    pub by_kind: KindExpectations,
    /// `time`: bounds on the attempt's elapsed time.
    pub time: Option<DurRange>,
}

impl Expectations {
    /// The kind these expectations are for.
    pub fn kind(&self) -> Kind {
        match self.by_kind {
            KindExpectations::Dns(_) => Kind::Dns,
            KindExpectations::Tcp(_) => Kind::Tcp,
            KindExpectations::Tls(_) => Kind::Tls,
            KindExpectations::Http(_) => Kind::Http,
        }
    }

    /// How many expectations there are (`time` included).
    pub fn len(&self) -> usize {
        let n = match &self.by_kind {
            KindExpectations::Dns(v) => v.len(),
            KindExpectations::Tcp(v) => v.len(),
            KindExpectations::Tls(v) => v.len(),
            KindExpectations::Http(v) => v.len(),
        };
        n + usize::from(self.time.is_some())
    }

    /// Whether there are none (never, once compiled: a kind has defaults).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Short descriptions for `netspec plan`, e.g. `status 200`, `addresses.all private`.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.by_kind {
            KindExpectations::Dns(v) => v.iter().map(DnsExpectation::describe).collect(),
            KindExpectations::Tcp(v) => v.iter().map(TcpExpectation::describe).collect(),
            KindExpectations::Tls(v) => v.iter().map(TlsExpectation::describe).collect(),
            KindExpectations::Http(v) => v.iter().map(HttpExpectation::describe).collect(),
        };
        if let Some(r) = &self.time {
            out.push(format!("time {}", range_text(r)));
        }
        out
    }
}

/// The kind's default expectations: dns NOERROR with records, tcp open, tls trusted, http a
/// 2xx or 3xx status.
fn defaults(kind: Kind) -> KindExpectations {
    match kind {
        Kind::Dns => KindExpectations::Dns(vec![DnsExpectation::Rcode(Rcode::NoError), DnsExpectation::Resolves(true)]),
        Kind::Tcp => KindExpectations::Tcp(vec![TcpExpectation::State(StateExpect::Open)]),
        Kind::Tls => KindExpectations::Tls(vec![TlsExpectation::Trusted(true)]),
        Kind::Http => KindExpectations::Http(vec![HttpExpectation::Status(StatusSet(vec![StatusTerm::Class(2), StatusTerm::Class(3)]))]),
    }
}

/// Which expectation keys apply to which kind (for validation with a helpful message).
pub fn applies(key: &str, kind: Kind) -> bool {
    match key {
        "rcode" | "resolves" | "addresses" | "cname" | "ttl" | "private_endpoint" | "agree" => kind == Kind::Dns,
        "state" => kind == Kind::Tcp,
        "trusted" | "min_version" | "expires_in" | "san" | "issuer" | "refuses_versions" => kind == Kind::Tls,
        "status" | "headers" | "body" | "remote_address" => kind == Kind::Http,
        _ => true,
    }
}

/// The keys present in an `expect:` block, in declaration order.
pub fn keys(e: &Expect) -> Vec<&'static str> {
    let mut k = Vec::new();
    macro_rules! has {
        ($($f:ident),*) => { $( if e.$f.is_some() { k.push(stringify!($f)); } )* };
    }
    has!(
        rcode,
        resolves,
        addresses,
        cname,
        ttl,
        private_endpoint,
        agree,
        state,
        trusted,
        min_version,
        expires_in,
        san,
        issuer,
        refuses_versions,
        status,
        body,
        remote_address,
        time
    );
    if !e.headers.is_empty() {
        k.push("headers");
    }
    k
}

/// Compiles an `expect:` block for a check of `kind`; an absent or empty block (or one with only
/// `time`) gives the kind's default (dns: NOERROR and resolves; tcp: open; tls: trusted; http:
/// 2xx or 3xx).
///
/// Errors: a key that does not apply to the kind, a bad term, regex, glob or hosts file.
/// `dns_name` is the queried name of a dns check (for `private_endpoint`).
pub fn compile(e: Option<&Expect>, kind: Kind, base: &Path, dns_name: Option<&str>) -> Result<Expectations, String> {
    let time = e.and_then(|e| e.time);
    // The keys written, read once (a Vec each time: three allocations a check were measurable
    // when planning 3,000 checks).
    let written = e.map(keys).unwrap_or_default();
    let Some(e) = e.filter(|_| !written.is_empty() && written != ["time"]) else {
        return Ok(Expectations { by_kind: defaults(kind), time });
    };
    for k in written {
        if !applies(k, kind) {
            let owner = Kind::ALL.into_iter().find(|o| applies(k, *o)).map(Kind::as_str).unwrap_or("?");
            let article = if owner == "http" { "an" } else { "a" };
            return Err(format!("`{k}` does not apply to a {kind} check (it is {article} {owner} expectation)"));
        }
    }
    let by_kind = match kind {
        Kind::Dns => KindExpectations::Dns(compile_dns(e, base, dns_name)?),
        Kind::Tcp => KindExpectations::Tcp(e.state.map(TcpExpectation::State).into_iter().collect()),
        Kind::Tls => KindExpectations::Tls(compile_tls(e)?),
        Kind::Http => KindExpectations::Http(compile_http(e, base)?),
    };
    Ok(Expectations { by_kind, time })
}

fn compile_dns(e: &Expect, base: &Path, dns_name: Option<&str>) -> Result<Vec<DnsExpectation>, String> {
    let mut out = Vec::new();
    if let Some(v) = e.rcode {
        out.push(DnsExpectation::Rcode(v));
    }
    if let Some(v) = e.resolves {
        out.push(DnsExpectation::Resolves(v));
    }
    if let Some(v) = &e.addresses {
        out.push(DnsExpectation::Addresses(AddrMatch::compile(v, base)?));
    }
    if let Some(v) = &e.cname {
        out.push(DnsExpectation::Cname(StrMatch::compile(v)?));
    }
    if let Some(v) = e.ttl {
        out.push(DnsExpectation::Ttl(v));
    }
    if let Some(b) = e.agree {
        out.push(DnsExpectation::Agree(b));
    }
    if let Some(b) = e.private_endpoint {
        let name = dns_name.unwrap_or_default();
        let zone = privatelink::zone_for(name).ok_or_else(|| {
            format!("`private_endpoint` needs a name of a private-link service; no zone in the Azure private-link table serves `{name}` (use `cname` and `addresses` instead)")
        })?;
        out.push(DnsExpectation::PrivateEndpoint(b, zone));
    }
    out.shrink_to_fit();
    Ok(out)
}

fn compile_tls(e: &Expect) -> Result<Vec<TlsExpectation>, String> {
    let mut out = Vec::new();
    if let Some(v) = e.trusted {
        out.push(TlsExpectation::Trusted(v));
    }
    if let Some(v) = e.min_version {
        out.push(TlsExpectation::MinVersion(v));
    }
    if let Some(v) = e.expires_in {
        out.push(TlsExpectation::ExpiresIn(v));
    }
    if let Some(v) = &e.san {
        out.push(TlsExpectation::San(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.issuer {
        out.push(TlsExpectation::Issuer(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.refuses_versions {
        // 1.0 and 1.1 are rejected with their position when the suite is planned.
        let mut vs: Vec<TlsVersion> = v.iter().filter_map(|v| v.value.testable()).collect();
        vs.sort();
        vs.dedup();
        if vs.is_empty() {
            return Err("`refuses_versions` needs at least one TLS version netspec can offer: \"1.2\" or \"1.3\"".into());
        }
        out.push(TlsExpectation::RefusesVersions(vs));
    }
    out.shrink_to_fit();
    Ok(out)
}

fn compile_http(e: &Expect, base: &Path) -> Result<Vec<HttpExpectation>, String> {
    let mut out = Vec::new();
    if let Some(v) = &e.status {
        out.push(HttpExpectation::Status(v.clone()));
    }
    for (name, m) in &e.headers {
        out.push(HttpExpectation::Header(name.to_ascii_lowercase(), StrMatch::compile(m)?));
    }
    if let Some(v) = &e.body {
        out.push(HttpExpectation::Body(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.remote_address {
        out.push(HttpExpectation::RemoteAddress(AddrMatch::compile(v, base)?));
    }
    out.shrink_to_fit();
    Ok(out)
}

pub(crate) fn fmt_dur(d: Duration) -> String {
    if d.as_secs() >= 86400 {
        format!("{:.1}d", d.as_secs_f64() / 86400.0)
    } else if d.as_millis() >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    }
}

pub(crate) fn range_text(r: &DurRange) -> String {
    match (r.min, r.max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any".into(),
    }
}

pub(crate) fn in_range(r: &DurRange, d: Duration) -> bool {
    r.min.is_none_or(|m| d >= m.0) && r.max.is_none_or(|m| d <= m.0)
}

/// Evaluates every expectation against one observation, in order; `time` last.
pub fn evaluate(exps: &Expectations, obs: &Observation) -> Vec<Assertion> {
    // Most expectations give one assertion: sized for that, the run's `shrink_to_fit` is free.
    let mut out = Vec::with_capacity(exps.len());
    match (&exps.by_kind, obs) {
        (KindExpectations::Dns(es), Observation::Dns(o)) => es.iter().for_each(|e| dns::evaluate(e, o, &mut out)),
        (KindExpectations::Tcp(es), Observation::Tcp(o)) => es.iter().for_each(|e| tcp::evaluate(e, o, &mut out)),
        (KindExpectations::Tls(es), Observation::Tls(o)) => tls::evaluate_all(es, o, &mut out),
        (KindExpectations::Http(es), Observation::Http(o)) => es.iter().for_each(|e| http::evaluate(e, o, &mut out)),
        // The plan builds a check's target and expectations of one kind; another pairing is a
        // netspec bug, reported as an error rather than judged.
        (
            KindExpectations::Dns(_) | KindExpectations::Tcp(_) | KindExpectations::Tls(_) | KindExpectations::Http(_),
            Observation::Dns(_) | Observation::Tcp(_) | Observation::Tls(_) | Observation::Http(_),
        ) => out.push(Assertion::new(
            "kind",
            Verdict::Error,
            None,
            format!("a {} observation", exps.kind()),
            format!("a {} observation (a netspec bug: please report it)", obs.kind()),
        )),
    }
    if let Some(r) = &exps.time {
        let ok = in_range(r, obs.elapsed());
        let (verdict, reason) = if ok { (Verdict::Pass, None) } else { (Verdict::Fail, Some(Reason::TimeOutOfRange)) };
        out.push(Assertion::new("time", verdict, reason, range_text(r), fmt_dur(obs.elapsed())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rcode::ResponseCode;
    use crate::probe::hosts::HostsFile;
    use crate::probe::{AnswerSource, DnsObservation, Failure, PortState, Record};
    use crate::suite::model::{RecordType, StringMatcher};
    use addr::Term;

    fn sm(contains: Option<&str>, not_contains: Option<&str>) -> StrMatch {
        StrMatch::compile(&StringMatcher {
            contains: contains.map(Into::into),
            not_contains: not_contains.map(Into::into),
            ..Default::default()
        })
        .unwrap()
    }

    fn dns_obs(addrs: &[&str], chain: &[&str], rcode: Option<ResponseCode>, failure: Option<Failure>) -> DnsObservation {
        let mut answers = Vec::new();
        let mut owner = "q.example".to_string();
        for c in chain {
            answers.push(Record { name: owner.clone(), record_type: "CNAME".into(), ttl: 60, data: c.to_string() });
            owner = c.to_string();
        }
        for a in addrs {
            answers.push(Record { name: owner.clone(), record_type: "A".into(), ttl: 600, data: a.to_string() });
        }
        DnsObservation {
            query: "q.example".into(),
            record_type: RecordType::A,
            resolver: "r".into(),
            source: AnswerSource::Dns,
            servers_tried: vec![],
            server: Some("127.0.0.1:53".into()),
            rcode,
            answers,
            cname_chain: chain.iter().map(|s| s.to_string()).collect(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            failure,
            elapsed: Duration::from_millis(3),
            compared: Vec::new(),
        }
    }

    fn dns(addrs: &[&str], chain: &[&str], rcode: ResponseCode) -> Observation {
        Observation::Dns(dns_obs(addrs, chain, Some(rcode), None))
    }

    fn timeout() -> Observation {
        Observation::Dns(dns_obs(&[], &[], None, Some(Failure::new(Reason::DnsTimeout, "no response from 127.0.0.1:53"))))
    }

    fn dns_exps(v: Vec<DnsExpectation>) -> Expectations {
        Expectations { by_kind: KindExpectations::Dns(v), time: None }
    }

    fn verdicts(a: &[Assertion]) -> Vec<(Verdict, Option<&'static str>)> {
        a.iter().map(|a| (a.verdict, a.reason.map(Reason::as_str))).collect()
    }

    #[test]
    fn chain_matching_needs_one_positive_and_every_negative() {
        let chain = vec!["a.privatelink.x".to_string(), "b.cloudapp.x".to_string()];
        assert!(sm(Some(".privatelink."), None).any_of(&chain));
        assert!(!sm(Some(".nothere."), None).any_of(&chain));
        assert!(!sm(None, Some("cloudapp")).any_of(&chain));
        assert!(sm(None, Some("zscaler")).any_of(&chain));
    }

    #[test]
    fn status_codes_classes_and_lists() {
        let set = StatusSet(vec![StatusTerm::Code(401), StatusTerm::Class(2)]);
        assert!(http::status_matches(&set, 401));
        assert!(http::status_matches(&set, 204));
        assert!(!http::status_matches(&set, 403));
    }

    #[test]
    fn address_all_fails_on_empty_answers_and_names_the_offenders() {
        let m = AddrMatch { all: Some(vec![Term::parse("private").unwrap()]), ..Default::default() };
        let e = dns_exps(vec![DnsExpectation::Addresses(m)]);
        let ok = evaluate(&e, &dns(&["10.1.2.3"], &[], ResponseCode::NoError));
        assert!(ok[0].passed);
        let bad = evaluate(&e, &dns(&["10.1.2.3", "52.1.1.1"], &[], ResponseCode::NoError));
        assert!(!bad[0].passed);
        assert_eq!(bad[0].observed, "10.1.2.3, 52.1.1.1 (52.1.1.1 not private)");
        // A public answer where a private one is expected: the private zone is not consulted.
        assert_eq!(bad[0].reason, Some(Reason::DnsPublicAddress));
        let empty = evaluate(&e, &dns(&[], &[], ResponseCode::NoError));
        assert_eq!(verdicts(&empty), [(Verdict::Fail, Some("dns.no_answer"))]);
    }

    #[test]
    fn a_private_answer_where_public_is_expected_says_why() {
        // Corp DNS gives 10.20.0.10 where `all: public` is expected: a private zone shadows it.
        let m = AddrMatch { all: Some(vec![Term::parse("public").unwrap()]), ..Default::default() };
        let r = evaluate(&dns_exps(vec![DnsExpectation::Addresses(m)]), &dns(&["10.20.0.10"], &[], ResponseCode::NoError));
        assert_eq!(verdicts(&r), [(Verdict::Fail, Some("dns.private_address"))]);
        assert!(Reason::DnsPrivateAddress.likely().contains("private DNS zone shadows"));
    }

    #[test]
    fn no_address_matcher_passes_without_an_answer() {
        let matchers = [
            AddrMatch { none: Some(vec![Term::parse("public").unwrap()]), ..Default::default() },
            AddrMatch { any: Some(vec![Term::parse("private").unwrap()]), ..Default::default() },
            AddrMatch { contains: Some(vec!["10.0.0.1".parse().unwrap()]), ..Default::default() },
            AddrMatch { equals: Some(vec!["10.0.0.1".parse().unwrap()]), ..Default::default() },
            AddrMatch { from_hosts: Some(Box::new(("h".into(), HostsFile::parse("10.0.0.1 q.example\n")))), ..Default::default() },
        ];
        for m in matchers {
            let e = dns_exps(vec![DnsExpectation::Addresses(m)]);
            let nx = evaluate(&e, &dns(&[], &[], ResponseCode::NXDomain));
            assert_eq!(verdicts(&nx), [(Verdict::Fail, Some("dns.nxdomain"))], "{nx:?}");
            let silent = evaluate(&e, &timeout());
            assert_eq!(verdicts(&silent), [(Verdict::Fail, Some("dns.timeout"))], "{silent:?}");
            let servfail = evaluate(&e, &dns(&[], &[], ResponseCode::ServFail));
            assert_eq!(verdicts(&servfail), [(Verdict::Fail, Some("dns.servfail"))], "{servfail:?}");
        }
    }

    #[test]
    fn not_resolving_needs_an_answer_that_says_so() {
        let e = dns_exps(vec![DnsExpectation::Resolves(false)]);
        assert_eq!(verdicts(&evaluate(&e, &timeout())), [(Verdict::Error, Some("dns.timeout"))]);
        assert_eq!(verdicts(&evaluate(&e, &dns(&[], &[], ResponseCode::ServFail))), [(Verdict::Error, Some("dns.servfail"))]);
        assert_eq!(verdicts(&evaluate(&e, &dns(&[], &[], ResponseCode::NXDomain))), [(Verdict::Pass, Some("dns.nxdomain"))]);
        assert_eq!(verdicts(&evaluate(&e, &dns(&[], &[], ResponseCode::NoError))), [(Verdict::Pass, Some("dns.no_answer"))]);
        assert_eq!(verdicts(&evaluate(&e, &dns(&["10.0.0.1"], &[], ResponseCode::NoError))), [(Verdict::Fail, Some("dns.resolves"))]);
    }

    #[test]
    fn agreement_and_disagreement_need_answers() {
        let with = |main: DnsObservation, others: Vec<DnsObservation>| Observation::Dns(DnsObservation { compared: others, ..main });
        let ok = || dns_obs(&["10.0.0.1"], &[], Some(ResponseCode::NoError), None);
        let other = || dns_obs(&["52.0.0.1"], &[], Some(ResponseCode::NoError), None);
        let dead = || dns_obs(&[], &[], None, Some(Failure::new(Reason::DnsTimeout, "no response")));
        let differ = dns_exps(vec![DnsExpectation::Agree(false)]);
        let same = dns_exps(vec![DnsExpectation::Agree(true)]);
        // A dead compared resolver is no split horizon.
        assert_eq!(verdicts(&evaluate(&differ, &with(ok(), vec![dead()]))), [(Verdict::Error, Some("dns.timeout"))]);
        assert_eq!(verdicts(&evaluate(&differ, &with(ok(), vec![other()]))), [(Verdict::Pass, None)]);
        assert_eq!(verdicts(&evaluate(&differ, &with(ok(), vec![ok()]))), [(Verdict::Fail, Some("dns.no_split_horizon"))]);
        // Every resolver silent: no agreement either.
        assert_eq!(verdicts(&evaluate(&same, &with(dead(), vec![dead()]))), [(Verdict::Error, Some("dns.timeout"))]);
        assert_eq!(verdicts(&evaluate(&same, &with(ok(), vec![dead()]))), [(Verdict::Fail, Some("dns.disagree"))]);
        assert_eq!(verdicts(&evaluate(&same, &with(ok(), vec![ok()]))), [(Verdict::Pass, None)]);
    }

    #[test]
    fn a_name_inside_a_privatelink_zone_is_judged_on_its_answer() {
        let name = "myvault.privatelink.vaultcore.azure.net";
        let zone = privatelink::zone_for(name).expect("the vault zone serves its privatelink names");
        let e = dns_exps(vec![DnsExpectation::PrivateEndpoint(true, zone)]);
        let obs = |ip: &str| {
            Observation::Dns(DnsObservation { query: name.into(), ..dns_obs(&[], &[], Some(ResponseCode::NoError), None) })
                .with_address(name, ip)
        };
        assert_eq!(verdicts(&evaluate(&e, &obs("10.1.2.3"))), [(Verdict::Pass, None)]);
        assert_eq!(verdicts(&evaluate(&e, &obs("52.1.2.3"))), [(Verdict::Fail, Some("dns.public_address"))]);
    }

    impl Observation {
        fn with_address(mut self, owner: &str, ip: &str) -> Observation {
            if let Observation::Dns(d) = &mut self {
                d.answers.push(Record { name: owner.into(), record_type: "A".into(), ttl: 60, data: ip.into() });
                d.addresses.push(ip.parse().unwrap());
            }
            self
        }
    }

    #[test]
    fn hosts_file_expectation_follows_the_chain() {
        let hosts = HostsFile::parse("10.12.4.23 x.privatelink.example\n");
        let m = AddrMatch { from_hosts: Some(Box::new(("dns-settings.txt".into(), hosts))), ..Default::default() };
        let e = dns_exps(vec![DnsExpectation::Addresses(m)]);
        let same = evaluate(&e, &dns(&["10.12.4.23"], &["x.privatelink.example"], ResponseCode::NoError));
        assert!(same[0].passed, "{:?}", same);
        let differs = evaluate(&e, &dns(&["10.12.4.22"], &["x.privatelink.example"], ResponseCode::NoError));
        assert_eq!(
            differs[0].message(),
            "addresses.from_hosts_file: expected 10.12.4.23 (as dns-settings.txt lists for x.privatelink.example), observed 10.12.4.22"
        );
        assert_eq!(differs[0].reason, Some(Reason::DnsAddressMismatch));
        let unlisted = evaluate(&e, &dns(&["10.12.4.22"], &[], ResponseCode::NoError));
        assert!(!unlisted[0].passed);
        assert!(unlisted[0].observed.contains("lists none of these names"));
    }

    #[test]
    fn ttl_and_rcode() {
        let e = dns_exps(vec![
            DnsExpectation::Rcode(Rcode::NoError),
            DnsExpectation::Ttl(DurRange { min: None, max: Some(crate::suite::model::Dur(Duration::from_secs(300))) }),
        ]);
        let r = evaluate(&e, &dns(&["10.0.0.1"], &["c.example"], ResponseCode::NoError));
        assert!(r[0].passed);
        assert!(!r[1].passed, "600 s exceeds 300 s");
        assert_eq!(r[1].observed, "60s, 600s");
        assert_eq!(r[1].reason, Some(Reason::DnsTtl));
        let nx = evaluate(&e, &dns(&[], &[], ResponseCode::NXDomain));
        assert_eq!(nx[0].message(), "rcode: expected NOERROR, observed NXDOMAIN");
        assert_eq!(verdicts(&nx), [(Verdict::Fail, Some("dns.nxdomain")), (Verdict::Fail, Some("dns.nxdomain"))]);
        // NXDOMAIN expected and seen: a pass that names what it accepted.
        let want_nx = dns_exps(vec![DnsExpectation::Rcode(Rcode::NxDomain)]);
        assert_eq!(verdicts(&evaluate(&want_nx, &dns(&[], &[], ResponseCode::NXDomain))), [(Verdict::Pass, Some("dns.nxdomain"))]);
        assert_eq!(verdicts(&evaluate(&want_nx, &timeout())), [(Verdict::Fail, Some("dns.timeout"))]);
    }

    #[test]
    fn a_key_of_another_kind_is_rejected_with_its_owner() {
        let e = Expect { status: Some(StatusSet(vec![StatusTerm::Code(200)])), ..Default::default() };
        let err = compile(Some(&e), Kind::Dns, Path::new("."), None).unwrap_err();
        assert_eq!(err, "`status` does not apply to a dns check (it is an http expectation)");
    }

    fn tcp_obs(states: &[(&str, PortState)]) -> Observation {
        use crate::probe::tcp::{TcpAttempt, TcpObservation};
        let attempt = |a: &str, state: PortState| TcpAttempt {
            address: a.parse().unwrap(),
            state,
            connect_time: None,
            detail: "".into(),
            reason: state.reason(),
        };
        Observation::Tcp(TcpObservation {
            resolution: crate::probe::Resolution::literal("h", "system", "10.0.0.1".parse().unwrap()),
            port: 443,
            attempts: states.iter().map(|(a, s)| attempt(a, *s)).collect(),
            elapsed: Duration::ZERO,
        })
    }

    #[test]
    fn tcp_state_lists_every_counted_address() {
        let obs = tcp_obs(&[("10.0.0.1:443", PortState::Open), ("[fd00::1]:443", PortState::NoRoute), ("10.0.0.2:443", PortState::Closed)]);
        let exps = Expectations { by_kind: KindExpectations::Tcp(vec![TcpExpectation::State(StateExpect::Open)]), time: None };
        let out = evaluate(&exps, &obs);
        assert_eq!(out.len(), 1);
        assert!(!out[0].passed);
        // The unroutable address does not count while others do.
        assert_eq!(out[0].observed, "10.0.0.1:443 open, 10.0.0.2:443 closed");
        assert_eq!(out[0].expected, "open on every address");
        assert_eq!(out[0].reason, Some(Reason::TcpClosed));
    }

    #[test]
    fn a_blocked_port_names_what_it_saw_and_icmp_is_not_silence() {
        let blocked = Expectations { by_kind: KindExpectations::Tcp(vec![TcpExpectation::State(StateExpect::Blocked)]), time: None };
        let filtered = Expectations { by_kind: KindExpectations::Tcp(vec![TcpExpectation::State(StateExpect::Filtered)]), time: None };
        assert_eq!(
            verdicts(&evaluate(&blocked, &tcp_obs(&[("10.0.0.1:8060", PortState::Filtered)]))),
            [(Verdict::Pass, Some("tcp.filtered"))]
        );
        assert_eq!(
            verdicts(&evaluate(&blocked, &tcp_obs(&[("10.0.0.1:8060", PortState::Prohibited)]))),
            [(Verdict::Pass, Some("tcp.prohibited"))]
        );
        assert_eq!(verdicts(&evaluate(&blocked, &tcp_obs(&[("10.0.0.1:8060", PortState::Open)]))), [(Verdict::Fail, Some("tcp.open"))]);
        assert_eq!(
            verdicts(&evaluate(&filtered, &tcp_obs(&[("10.0.0.1:8060", PortState::Unreachable)]))),
            [(Verdict::Fail, Some("tcp.unreachable"))]
        );
        let e = |errno| PortState::of_connect_error(&std::io::Error::from_raw_os_error(errno));
        assert_eq!(e(libc::EHOSTUNREACH), PortState::Unreachable);
        assert_eq!(e(libc::EACCES), PortState::Prohibited);
        assert_eq!(e(libc::EPERM), PortState::Prohibited);
        assert_eq!(e(libc::ENETUNREACH), PortState::NoRoute);
        assert_eq!(e(libc::ECONNREFUSED), PortState::Closed);
    }

    #[test]
    fn a_blocked_port_without_an_address_is_no_evidence() {
        let blocked = Expectations { by_kind: KindExpectations::Tcp(vec![TcpExpectation::State(StateExpect::Blocked)]), time: None };
        let mut obs = tcp_obs(&[]);
        if let Observation::Tcp(t) = &mut obs {
            t.resolution.addresses.clear();
            t.resolution.failure = Some(Failure::new(Reason::DnsNxdomain, "h does not exist (NXDOMAIN)"));
        }
        assert_eq!(verdicts(&evaluate(&blocked, &obs)), [(Verdict::Error, Some("dns.nxdomain"))]);
    }

    fn http_obs(status: u16, headers: &[(&str, &str)], body: &str) -> crate::probe::HttpObservation {
        crate::probe::HttpObservation {
            request: "GET http://h/".into(),
            resolution: None,
            proxy: None,
            status: Some(status),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.into(),
            body_truncated: false,
            remote_address: Some("10.0.0.1:80".parse().unwrap()),
            from_proxy: false,
            redirects: vec![],
            tls: None,
            timings: Default::default(),
            failure: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn http_body_and_header_mismatches_have_their_own_codes() {
        let body = Expectations { by_kind: KindExpectations::Http(vec![HttpExpectation::Body(sm(Some("healthy"), None))]), time: None };
        let header = Expectations {
            by_kind: KindExpectations::Http(vec![HttpExpectation::Header("server".into(), sm(Some("nginx"), None))]),
            time: None,
        };
        let status = Expectations {
            by_kind: KindExpectations::Http(vec![HttpExpectation::Status(StatusSet(vec![StatusTerm::Code(401)]))]),
            time: None,
        };
        let o = Observation::Http(http_obs(401, &[("server", "iis"), ("www-authenticate", "Bearer")], "denied"));
        assert_eq!(verdicts(&evaluate(&body, &o)), [(Verdict::Fail, Some("http.body"))]);
        assert_eq!(verdicts(&evaluate(&header, &o)), [(Verdict::Fail, Some("http.header"))]);
        // A passing status carries no reason.
        assert_eq!(verdicts(&evaluate(&status, &o)), [(Verdict::Pass, None)]);
        // A body that broke off is no response: nothing is judged on a part of it.
        let mut cut = http_obs(200, &[], "heal");
        cut.status = None;
        cut.failure = Some(Failure::new(Reason::HttpReset, "HTTP 200 arrived, but the body broke off"));
        assert_eq!(verdicts(&evaluate(&body, &Observation::Http(cut.clone()))), [(Verdict::Fail, Some("http.reset"))]);
        assert_eq!(verdicts(&evaluate(&status, &Observation::Http(cut))), [(Verdict::Fail, Some("http.reset"))]);
    }

    #[test]
    fn a_proxys_own_answer_is_never_the_endpoints() {
        use crate::probe::http::proxy_answer;
        let h = |v: &[(&str, &str)]| v.iter().map(|(k, x)| (k.to_string(), x.to_string())).collect::<Vec<_>>();
        assert_eq!(proxy_answer(407, &[]).map(|f| f.reason), Some(Reason::HttpProxyAuthRequired));
        assert_eq!(proxy_answer(401, &h(&[("Proxy-Authenticate", "Basic")])).map(|f| f.reason), Some(Reason::HttpProxyAuthRequired));
        assert_eq!(proxy_answer(401, &[]).map(|f| f.reason), Some(Reason::HttpProxyAuthRequired));
        // The endpoint's own 401 carries its challenge.
        assert_eq!(proxy_answer(401, &h(&[("WWW-Authenticate", "Bearer")])), None);
        assert_eq!(proxy_answer(200, &[]), None);
    }

    #[test]
    fn defaults_per_kind() {
        let tcp = compile(None, Kind::Tcp, Path::new("."), None).unwrap();
        assert!(matches!(tcp.by_kind, KindExpectations::Tcp(ref v) if matches!(v.as_slice(), [TcpExpectation::State(StateExpect::Open)])));
        let tls = compile(None, Kind::Tls, Path::new("."), None).unwrap();
        assert!(matches!(tls.by_kind, KindExpectations::Tls(ref v) if matches!(v.as_slice(), [TlsExpectation::Trusted(true)])));
    }

    #[test]
    fn judging_prefers_failures_then_errors_then_accepted_reasons() {
        let a = |v, r| Assertion::new("k", v, r, "e", "o");
        assert_eq!(
            judge(&[a(Verdict::Error, Some(Reason::DnsTimeout)), a(Verdict::Fail, Some(Reason::DnsNxdomain))]),
            (Verdict::Fail, Some(Reason::DnsNxdomain))
        );
        assert_eq!(
            judge(&[a(Verdict::Pass, None), a(Verdict::Error, Some(Reason::DnsTimeout))]),
            (Verdict::Error, Some(Reason::DnsTimeout))
        );
        assert_eq!(
            judge(&[a(Verdict::Pass, None), a(Verdict::Pass, Some(Reason::TcpFiltered))]),
            (Verdict::Pass, Some(Reason::TcpFiltered))
        );
    }
}

#[cfg(test)]
mod size_guard {
    /// Suites hold one `model::Check` per written check and plans several `Expectation`s per
    /// check, 100,000s of them: the large, mostly-unset parts are boxed (unboxed they were 2,048
    /// and 320 bytes; a 10,000-check suite took 33 MiB more to parse). This keeps it that way.
    #[test]
    fn per_check_types_stay_small() {
        let check = std::mem::size_of::<crate::suite::model::Check>();
        let expectation = std::mem::size_of::<super::DnsExpectation>()
            .max(std::mem::size_of::<super::TlsExpectation>())
            .max(std::mem::size_of::<super::HttpExpectation>());
        assert!(check <= 384, "model::Check grew to {check} bytes: box the new field");
        // Every check holds one (boxed): its matchers are boxed so a `state: open` check does not
        // carry room for six of them (was 1,184 bytes).
        let expect = std::mem::size_of::<crate::suite::model::Expect>();
        assert!(expect <= 320, "model::Expect grew to {expect} bytes: box the new matcher");
        let planned = std::mem::size_of::<crate::plan::PlannedCheck>();
        eprintln!("PlannedCheck {planned} bytes, Target {}", std::mem::size_of::<crate::plan::Target>());
        assert!(expectation <= 160, "Expectation grew to {expectation} bytes: box the new variant's payload");
    }
}
