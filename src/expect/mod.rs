//! Expectations: `(expectations, observation) → assertions`, each "expected X, observed Y".
//! Pure: no I/O except reading a `from_hosts_file` once at compile time.
//!
//! Multi-address semantics: tcp `state` and every tls expectation must hold on *every* address
//! the host resolved to (a multi-zone load balancer with one bad zone fails), counting only
//! addresses this machine has a route for.

pub mod addr;
pub mod privatelink;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use globset::GlobMatcher;
use regex::Regex;
use serde::Serialize;

use crate::probe::{Observation, PortState, hosts::HostsFile, join_ips};
use crate::suite::model::{AddressMatcher, DurRange, Expect, Rcode, StateExpect, StatusSet, StatusTerm, StringMatcher, TlsVersion};
use addr::Term;

/// The kind of a check, for deciding which expectations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// dns
    Dns,
    /// tcp
    Tcp,
    /// tls
    Tls,
    /// http
    Http,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Dns => "dns",
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Http => "http",
        })
    }
}

/// A compiled string matcher (regex and glob built once).
#[derive(Debug, Clone)]
pub struct StrMatch {
    // Boxed: a plan holds one per string expectation of every check (100,000s), mostly unset.
    raw: Box<StringMatcher>,
    regex: Option<Box<Regex>>,
    glob: Option<Box<GlobMatcher>>,
}

impl StrMatch {
    /// Compiles a matcher.
    ///
    /// Errors: an invalid regex or glob, with the parser's reason.
    pub fn compile(raw: &StringMatcher) -> Result<StrMatch, String> {
        let regex = match &raw.matches {
            Some(r) => Some(Regex::new(r).map_err(|e| format!("invalid regex `{r}`: {e}"))?),
            None => None,
        };
        let glob = match &raw.glob {
            Some(g) => Some(globset::Glob::new(g).map_err(|e| format!("invalid glob `{g}`: {e}"))?.compile_matcher()),
            None => None,
        };
        Ok(StrMatch { raw: Box::new(raw.clone()), regex: regex.map(Box::new), glob: glob.map(Box::new) })
    }

    /// Whether `s` satisfies every operator.
    pub fn is_match(&self, s: &str) -> bool {
        self.positive(s) && self.raw.not_contains.as_ref().is_none_or(|n| !s.contains(n.as_str()))
    }

    fn positive(&self, s: &str) -> bool {
        let r = &self.raw;
        r.equals.as_ref().is_none_or(|v| s == v)
            && r.contains.as_ref().is_none_or(|v| s.contains(v.as_str()))
            && r.starts_with.as_ref().is_none_or(|v| s.starts_with(v.as_str()))
            && r.ends_with.as_ref().is_none_or(|v| s.ends_with(v.as_str()))
            && self.regex.as_ref().is_none_or(|re| re.is_match(s))
            && self.glob.as_ref().is_none_or(|g| g.is_match(s))
    }

    /// Over a list (a CNAME chain, a SAN list): the positive operators must hold for one item,
    /// `not_contains` for every item.
    pub fn any_of(&self, items: &[String]) -> bool {
        let has_positive = *self.raw != StringMatcher { not_contains: self.raw.not_contains.clone(), ..Default::default() };
        let pos = !has_positive || items.iter().any(|i| self.positive(i));
        let neg = self.raw.not_contains.as_ref().is_none_or(|n| items.iter().all(|i| !i.contains(n.as_str())));
        pos && neg
    }
}

impl std::fmt::Display for StrMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let r = &self.raw;
        let mut parts = Vec::new();
        let mut push = |op: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{op} \"{v}\""));
            }
        };
        push("equal to", &r.equals);
        push("containing", &r.contains);
        push("not containing", &r.not_contains);
        push("starting with", &r.starts_with);
        push("ending with", &r.ends_with);
        push("matching /", &r.matches.as_ref().map(|m| format!("{m}/")));
        push("matching glob", &r.glob);
        f.write_str(&parts.join(" and ").replace("/ \"", "/").replace("/\"", "/"))
    }
}

/// A compiled address matcher.
#[derive(Debug, Clone, Default)]
pub struct AddrMatch {
    all: Option<Vec<Term>>,
    any: Option<Vec<Term>>,
    none: Option<Vec<Term>>,
    contains: Option<Vec<IpAddr>>,
    equals: Option<Vec<IpAddr>>,
    from_hosts: Option<Box<(String, HostsFile)>>,
}

fn terms(v: &Option<crate::suite::model::Terms>) -> Result<Option<Vec<Term>>, String> {
    v.as_ref().map(|t| t.0.iter().map(|s| Term::parse(s)).collect()).transpose()
}

fn ips(v: &Option<crate::suite::model::Terms>) -> Result<Option<Vec<IpAddr>>, String> {
    v.as_ref()
        .map(|t| t.0.iter().map(|s| s.trim().parse::<IpAddr>().map_err(|_| format!("`{s}` is not an IP address"))).collect())
        .transpose()
}

fn show_terms(t: &[Term]) -> String {
    t.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
}

impl AddrMatch {
    /// Compiles a matcher; `base` is the directory relative hosts-file paths start from.
    ///
    /// Errors: a bad term, a bad IP, an unreadable hosts file.
    pub fn compile(m: &AddressMatcher, base: &Path) -> Result<AddrMatch, String> {
        let from_hosts = match &m.from_hosts_file {
            None => None,
            Some(p) => {
                let path = base.join(p);
                let text = crate::suite::read_text(&path)
                    .map_err(|e| format!("cannot read hosts file {}: {}", path.display(), e.read_reason()))?;
                Some((p.clone(), HostsFile::parse(&text)))
            }
        };
        Ok(AddrMatch {
            all: terms(&m.all)?,
            any: terms(&m.any)?,
            none: terms(&m.none)?,
            contains: ips(&m.contains)?,
            equals: ips(&m.equals)?,
            from_hosts: from_hosts.map(Box::new),
        })
    }

    /// Checks `addrs`; `names` gives the queried name and its chain (for `from_hosts_file`,
    /// the only matcher that reads them).
    fn check(&self, key: &str, addrs: &[IpAddr], names: impl FnOnce() -> Vec<String>, out: &mut Vec<Assertion>) {
        let observed = join_ips(addrs);
        let inside = |ip: &IpAddr, t: &[Term]| t.iter().any(|t| t.contains(*ip));
        if let Some(t) = &self.all {
            let bad: Vec<String> = addrs.iter().filter(|ip| !inside(ip, t)).map(|i| i.to_string()).collect();
            let passed = !addrs.is_empty() && bad.is_empty();
            let obs = if bad.is_empty() { observed.clone() } else { format!("{observed} ({} not {})", bad.join(", "), show_terms(t)) };
            out.push(Assertion::new(format!("{key}.all"), passed, format!("every address {}", show_terms(t)), obs));
        }
        if let Some(t) = &self.any {
            let passed = addrs.iter().any(|ip| inside(ip, t));
            out.push(Assertion::new(format!("{key}.any"), passed, format!("at least one address {}", show_terms(t)), observed.clone()));
        }
        if let Some(t) = &self.none {
            let bad: Vec<String> = addrs.iter().filter(|ip| inside(ip, t)).map(|i| i.to_string()).collect();
            let obs = if bad.is_empty() { observed.clone() } else { format!("{observed} ({} {})", bad.join(", "), show_terms(t)) };
            out.push(Assertion::new(format!("{key}.none"), bad.is_empty(), format!("no address {}", show_terms(t)), obs));
        }
        if let Some(want) = &self.contains {
            let passed = want.iter().all(|w| addrs.contains(w));
            out.push(Assertion::new(
                format!("{key}.contains"),
                passed,
                format!("addresses including {}", join_ips(want)),
                observed.clone(),
            ));
        }
        if let Some(want) = &self.equals {
            let passed = set_eq(want, addrs);
            out.push(Assertion::new(format!("{key}.equals"), passed, format!("exactly {}", join_ips(want)), observed.clone()));
        }
        if let Some((file, hosts)) = self.from_hosts.as_deref() {
            let names = names();
            let listed: Vec<(String, Vec<IpAddr>)> =
                names.iter().map(|n| (n.clone(), hosts.lookup(n).to_vec())).filter(|(_, v)| !v.is_empty()).collect();
            match listed.first() {
                None => out.push(Assertion::new(
                    format!("{key}.from_hosts_file"),
                    false,
                    format!("an entry in {file} for {}", names.join(" or ")),
                    format!("{file} lists none of these names; DNS gave {observed}"),
                )),
                Some((name, want)) => {
                    let passed = set_eq(want, addrs);
                    out.push(Assertion::new(
                        format!("{key}.from_hosts_file"),
                        passed,
                        format!("{} (as {file} lists for {name})", join_ips(want)),
                        observed.clone(),
                    ));
                }
            }
        }
    }
}

fn set_eq(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// One compiled expectation.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// dns rcode.
    Rcode(Rcode),
    /// dns answer holds records of the type.
    Resolves(bool),
    /// dns addresses.
    Addresses(AddrMatch),
    /// dns CNAME chain.
    Cname(StrMatch),
    /// dns TTL bounds.
    Ttl(DurRange),
    /// dns with compare: the resolvers agree (true) or differ (false).
    Agree(bool),
    /// dns: through the service's `privatelink.` zone to private addresses (true), or not (false).
    PrivateEndpoint(bool, privatelink::Zone),
    /// tcp state on every address.
    State(StateExpect),
    /// tls trust verdict on every address.
    Trusted(bool),
    /// tls minimum version.
    MinVersion(TlsVersion),
    /// tls leaf validity left.
    ExpiresIn(DurRange),
    /// tls leaf SANs.
    San(StrMatch),
    /// tls leaf issuer.
    Issuer(StrMatch),
    /// tls: a handshake offering only each of these versions fails on every address.
    RefusesVersions(Vec<TlsVersion>),
    /// http status.
    Status(StatusSet),
    /// http header.
    Header(String, StrMatch),
    /// http body.
    Body(StrMatch),
    /// http remote address.
    RemoteAddress(AddrMatch),
    /// attempt time bounds.
    Time(DurRange),
}

impl Expectation {
    /// A short description for `netspec plan`, e.g. `status 200`, `addresses.all private`.
    pub fn describe(&self) -> String {
        let terms = |t: &[Term]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("|");
        let addr = |key: &str, m: &AddrMatch| {
            let mut parts = Vec::new();
            if let Some(t) = &m.all {
                parts.push(format!("{key}.all {}", terms(t)));
            }
            if let Some(t) = &m.any {
                parts.push(format!("{key}.any {}", terms(t)));
            }
            if let Some(t) = &m.none {
                parts.push(format!("{key}.none {}", terms(t)));
            }
            if let Some(v) = &m.contains {
                parts.push(format!("{key}.contains {}", join_ips(v)));
            }
            if let Some(v) = &m.equals {
                parts.push(format!("{key}.equals {}", join_ips(v)));
            }
            if let Some((f, _)) = m.from_hosts.as_deref() {
                parts.push(format!("{key}.from_hosts_file {f}"));
            }
            parts.join(", ")
        };
        match self {
            Expectation::Rcode(r) => format!("rcode {r}"),
            Expectation::Resolves(b) => format!("resolves {b}"),
            Expectation::Addresses(m) => addr("addresses", m),
            Expectation::Cname(m) => format!("cname {m}"),
            Expectation::Ttl(r) => format!("ttl {}", range_text(r)),
            Expectation::Agree(b) => format!("agree {b}"),
            Expectation::PrivateEndpoint(b, z) => format!("private_endpoint {b} (zone {})", z.name),
            Expectation::State(s) => {
                format!("state {}", serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            }
            Expectation::Trusted(b) => format!("trusted {b}"),
            Expectation::MinVersion(v) => format!("min_version {v}"),
            Expectation::ExpiresIn(r) => format!("expires_in {}", range_text(r)),
            Expectation::San(m) => format!("san {m}"),
            Expectation::Issuer(m) => format!("issuer {m}"),
            Expectation::RefusesVersions(v) => format!("refuses_versions {}", versions_text(v)),
            Expectation::Status(set) => format!("status {}", set.0.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("|")),
            Expectation::Header(n, m) => format!("headers.{n} {m}"),
            Expectation::Body(m) => format!("body {m}"),
            Expectation::RemoteAddress(m) => addr("remote_address", m),
            Expectation::Time(r) => format!("time {}", range_text(r)),
        }
    }
}

/// A check's compiled expectations, in the order written.
#[derive(Debug, Clone, Default)]
pub struct Expectations(pub Vec<Expectation>);

/// The result of one expectation on one observation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Assertion {
    /// The expectation's key path, e.g. `status`, `addresses.all`.
    pub key: String,
    /// Whether it held.
    pub passed: bool,
    /// What was expected, for people.
    pub expected: String,
    /// What was observed, for people.
    pub observed: String,
}

impl Assertion {
    fn new(key: impl Into<String>, passed: bool, expected: impl Into<String>, observed: impl Into<String>) -> Self {
        Assertion { key: key.into(), passed, expected: expected.into(), observed: observed.into() }
    }

    /// `key: expected X, observed Y`.
    pub fn message(&self) -> String {
        format!("{}: expected {}, observed {}", self.key, self.expected, self.observed)
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

/// Compiles an `expect:` block for a check of `kind`; an absent or empty block gives the kind's
/// default (dns: NOERROR and resolves; tcp: open; tls: trusted; http: 2xx or 3xx).
///
/// Errors: a key that does not apply to the kind, a bad term, regex, glob or hosts file.
/// `dns_name` is the queried name of a dns check (for `private_endpoint`).
pub fn compile(e: Option<&Expect>, kind: Kind, base: &Path, dns_name: Option<&str>) -> Result<Expectations, String> {
    let mut out = Vec::new();
    let Some(e) = e.filter(|e| !keys(e).is_empty() && keys(e) != ["time"]) else {
        out.extend(match kind {
            Kind::Dns => vec![Expectation::Rcode(Rcode::NoError), Expectation::Resolves(true)],
            Kind::Tcp => vec![Expectation::State(StateExpect::Open)],
            Kind::Tls => vec![Expectation::Trusted(true)],
            Kind::Http => vec![Expectation::Status(StatusSet(vec![StatusTerm::Class(2), StatusTerm::Class(3)]))],
        });
        if let Some(t) = e.and_then(|e| e.time) {
            out.push(Expectation::Time(t));
        }
        return Ok(Expectations(out));
    };
    for k in keys(e) {
        if !applies(k, kind) {
            let owner = ["dns", "tcp", "tls", "http"].into_iter().find(|o| {
                let kk = match *o {
                    "dns" => Kind::Dns,
                    "tcp" => Kind::Tcp,
                    "tls" => Kind::Tls,
                    _ => Kind::Http,
                };
                applies(k, kk)
            });
            let owner = owner.unwrap_or("?");
            let article = if owner == "http" { "an" } else { "a" };
            return Err(format!("`{k}` does not apply to a {kind} check (it is {article} {owner} expectation)"));
        }
    }
    if let Some(v) = e.rcode {
        out.push(Expectation::Rcode(v));
    }
    if let Some(v) = e.resolves {
        out.push(Expectation::Resolves(v));
    }
    if let Some(v) = &e.addresses {
        out.push(Expectation::Addresses(AddrMatch::compile(v, base)?));
    }
    if let Some(v) = &e.cname {
        out.push(Expectation::Cname(StrMatch::compile(v)?));
    }
    if let Some(v) = e.ttl {
        out.push(Expectation::Ttl(v));
    }
    if let Some(b) = e.agree {
        out.push(Expectation::Agree(b));
    }
    if let Some(b) = e.private_endpoint {
        let name = dns_name.unwrap_or_default();
        let zone = privatelink::zone_for(name).ok_or_else(|| {
            format!("`private_endpoint` needs a name of a private-link service; no zone in the Azure private-link table serves `{name}` (use `cname` and `addresses` instead)")
        })?;
        out.push(Expectation::PrivateEndpoint(b, zone));
    }
    if let Some(v) = e.state {
        out.push(Expectation::State(v));
    }
    if let Some(v) = e.trusted {
        out.push(Expectation::Trusted(v));
    }
    if let Some(v) = e.min_version {
        out.push(Expectation::MinVersion(v));
    }
    if let Some(v) = e.expires_in {
        out.push(Expectation::ExpiresIn(v));
    }
    if let Some(v) = &e.san {
        out.push(Expectation::San(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.issuer {
        out.push(Expectation::Issuer(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.refuses_versions {
        // 1.0 and 1.1 are rejected with their position when the suite is planned.
        let mut vs: Vec<TlsVersion> = v.iter().filter_map(|v| v.value.testable()).collect();
        vs.sort();
        vs.dedup();
        if vs.is_empty() {
            return Err("`refuses_versions` needs at least one TLS version netspec can offer: \"1.2\" or \"1.3\"".into());
        }
        out.push(Expectation::RefusesVersions(vs));
    }
    if let Some(v) = &e.status {
        out.push(Expectation::Status(v.clone()));
    }
    for (name, m) in &e.headers {
        out.push(Expectation::Header(name.to_ascii_lowercase(), StrMatch::compile(m)?));
    }
    if let Some(v) = &e.body {
        out.push(Expectation::Body(StrMatch::compile(v)?));
    }
    if let Some(v) = &e.remote_address {
        out.push(Expectation::RemoteAddress(AddrMatch::compile(v, base)?));
    }
    if let Some(v) = e.time {
        out.push(Expectation::Time(v));
    }
    out.shrink_to_fit();
    Ok(Expectations(out))
}

fn fmt_dur(d: Duration) -> String {
    if d.as_secs() >= 86400 {
        format!("{:.1}d", d.as_secs_f64() / 86400.0)
    } else if d.as_millis() >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    }
}

fn range_text(r: &DurRange) -> String {
    match (r.min, r.max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any".into(),
    }
}

fn in_range(r: &DurRange, d: Duration) -> bool {
    r.min.is_none_or(|m| d >= m.0) && r.max.is_none_or(|m| d <= m.0)
}

fn status_matches(set: &StatusSet, code: u16) -> bool {
    set.0.iter().any(|t| match t {
        StatusTerm::Code(c) => *c == code,
        StatusTerm::Class(c) => code / 100 == *c as u16,
    })
}

/// Evaluates every expectation against one observation, in order.
pub fn evaluate(exps: &Expectations, obs: &Observation) -> Vec<Assertion> {
    let mut out = Vec::new();
    for e in &exps.0 {
        eval_one(e, obs, &mut out);
    }
    out
}

fn eval_one(e: &Expectation, obs: &Observation, out: &mut Vec<Assertion>) {
    use Expectation as E;
    match (e, obs) {
        (E::Time(r), o) => out.push(Assertion::new("time", in_range(r, o.elapsed()), range_text(r), fmt_dur(o.elapsed()))),
        (e, Observation::Dns(d)) => {
            let no_response =
                || d.failure.as_ref().map(|f| format!("no response ({}: {})", f.reason, f.message)).unwrap_or_else(|| "no response".into());
            match e {
                E::Rcode(rc) => {
                    let observed = d.rcode.clone().unwrap_or_else(no_response);
                    let expected = rc.to_string();
                    out.push(Assertion::new("rcode", d.rcode.as_deref() == Some(expected.as_str()), expected, observed));
                }
                E::Resolves(b) => {
                    let r = d.resolves();
                    let observed = match (&d.rcode, r) {
                        (_, true) => format!("{} record(s): {}", d.record_type, summarize(d)),
                        (Some(rc), false) => format!("no {} records ({rc})", d.record_type),
                        (None, false) => no_response(),
                    };
                    let expected = if *b { format!("{} records", d.record_type) } else { format!("no {} records", d.record_type) };
                    out.push(Assertion::new("resolves", r == *b, expected, observed));
                }
                E::Addresses(m) => {
                    if d.rcode.is_none() {
                        out.push(Assertion::new("addresses", false, "an answer", no_response()));
                    } else {
                        let names = || std::iter::once(&d.query).chain(&d.cname_chain).cloned().collect();
                        m.check("addresses", &d.addresses, names, out);
                    }
                }
                E::Cname(m) => {
                    let observed = if d.cname_chain.is_empty() {
                        match &d.rcode {
                            Some(rc) => format!("no CNAME ({rc}, {})", join_ips(&d.addresses)),
                            None => no_response(),
                        }
                    } else {
                        format!("chain {} -> {}", d.query, d.cname_chain.join(" -> "))
                    };
                    out.push(Assertion::new(
                        "cname",
                        !d.cname_chain.is_empty() && m.any_of(&d.cname_chain),
                        format!("a CNAME {m}"),
                        observed,
                    ));
                }
                E::Agree(want) => {
                    let answer = |o: &crate::probe::DnsObservation| {
                        let mut a = o.addresses.clone();
                        a.sort();
                        (o.rcode.clone(), a)
                    };
                    let first = answer(d);
                    let same = d.compared.iter().all(|c| answer(c) == first);
                    let show = |o: &crate::probe::DnsObservation| {
                        format!("{}: {} {}", o.resolver, o.rcode.as_deref().unwrap_or("no response"), join_ips(&o.addresses))
                    };
                    let observed = std::iter::once(d).chain(d.compared.iter()).map(show).collect::<Vec<_>>().join("; ");
                    let expected = if *want { "the same answer from every resolver" } else { "different answers (split horizon)" };
                    out.push(Assertion::new("agree", same == *want && d.rcode.is_some(), expected, observed));
                }
                E::PrivateEndpoint(want, zone) => {
                    let via: Vec<&String> = d.cname_chain.iter().filter(|n| zone.matcher.is_match(n)).collect();
                    let private =
                        !d.addresses.is_empty() && d.addresses.iter().all(|ip| addr::classify(*ip) == Some(addr::AddressClass::Private));
                    let public =
                        !d.addresses.is_empty() && d.addresses.iter().all(|ip| addr::classify(*ip) == Some(addr::AddressClass::Public));
                    let chain = if d.cname_chain.is_empty() {
                        "no CNAME".to_string()
                    } else {
                        format!("chain {} -> {}", d.query, d.cname_chain.join(" -> "))
                    };
                    let observed = match &d.rcode {
                        Some(rc) if rc == "NOERROR" => format!("{chain}; addresses {}", join_ips(&d.addresses)),
                        Some(rc) => format!("{rc}; {chain}"),
                        None => no_response(),
                    };
                    let (passed, expected) = if *want {
                        (!via.is_empty() && private, format!("a CNAME into {} ({}) and private addresses", zone.name, zone.service))
                    } else {
                        (via.is_empty() && public, format!("no CNAME into {} and public addresses", zone.name))
                    };
                    out.push(Assertion::new("private_endpoint", passed, expected, observed));
                }
                E::Ttl(r) => {
                    let ttls: Vec<u32> = d.answers.iter().map(|a| a.ttl).collect();
                    let passed = !ttls.is_empty() && ttls.iter().all(|t| in_range(r, Duration::from_secs(*t as u64)));
                    let observed = if ttls.is_empty() {
                        "no answer records".into()
                    } else {
                        ttls.iter().map(|t| format!("{t}s")).collect::<Vec<_>>().join(", ")
                    };
                    out.push(Assertion::new("ttl", passed, format!("every TTL {}", range_text(r)), observed));
                }
                _ => {}
            }
        }
        (E::State(want), Observation::Tcp(t)) => {
            let expected = match want {
                StateExpect::Open => "open on every address",
                StateExpect::Closed => "closed on every address",
                StateExpect::Filtered => "filtered on every address",
                StateExpect::Blocked => "blocked (closed or filtered) on every address",
            };
            if let Some(f) = &t.resolution.failure {
                out.push(Assertion::new("state", false, expected, format!("no address to connect to ({}: {})", f.reason, f.message)));
                return;
            }
            let counted: Vec<_> = t.counted().collect();
            let ok = |s: PortState| match want {
                StateExpect::Open => s == PortState::Open,
                StateExpect::Closed => s == PortState::Closed,
                StateExpect::Filtered => s == PortState::Filtered,
                StateExpect::Blocked => {
                    matches!(s, PortState::Closed | PortState::Filtered | PortState::Unreachable | PortState::Prohibited)
                }
            };
            let passed = !counted.is_empty() && counted.iter().all(|a| ok(a.state));
            let mut observed = String::new();
            for (i, a) in counted.iter().enumerate() {
                use std::fmt::Write;
                let _ = write!(observed, "{}{} {}", if i > 0 { ", " } else { "" }, a.address, a.state);
            }
            out.push(Assertion::new("state", passed, expected, observed));
        }
        (e, Observation::Tls(t)) => {
            if let Some(f) = &t.resolution.failure {
                out.push(Assertion::new(key_of(e), false, "a TLS handshake", format!("no address ({}: {})", f.reason, f.message)));
                return;
            }
            if t.endpoints.is_empty() {
                out.push(Assertion::new(key_of(e), false, "a TLS handshake", "no routable address"));
                return;
            }
            if let E::RefusesVersions(want) = e {
                // judged by the extra handshakes alone: a server that only speaks TLS 1.0 refuses 1.2
                refuses_versions(want, t, out);
                return;
            }
            for ep in &t.endpoints {
                let Some(h) = &ep.handshake else {
                    let f = ep.failure.as_ref();
                    let observed = format!(
                        "{}: no handshake ({}: {})",
                        ep.address,
                        f.map(|f| f.reason).unwrap_or("?"),
                        f.map(|f| f.message.as_str()).unwrap_or("")
                    );
                    out.push(Assertion::new(key_of(e), false, "a completed TLS handshake", observed));
                    continue;
                };
                let leaf = h.chain.first();
                match e {
                    E::Trusted(b) => {
                        let observed = if h.trusted {
                            format!("{}: trusted", ep.address)
                        } else {
                            let issuer = leaf.map(|l| format!(" (issuer: {})", l.issuer)).unwrap_or_default();
                            let intercepted = crate::probe::tls::interception(&h.chain, h.trusted)
                                .map(|why| format!("; looks intercepted: {why}"))
                                .unwrap_or_default();
                            format!("{}: untrusted: {}{issuer}{intercepted}", ep.address, h.trust_error.as_deref().unwrap_or("?"))
                        };
                        out.push(Assertion::new("trusted", h.trusted == *b, if *b { "trusted" } else { "untrusted" }, observed));
                    }
                    E::MinVersion(v) => {
                        let got = match h.version.as_str() {
                            "1.3" => Some(TlsVersion::V1_3),
                            "1.2" => Some(TlsVersion::V1_2),
                            _ => None,
                        };
                        out.push(Assertion::new(
                            "min_version",
                            got.is_some_and(|g| g >= *v),
                            format!("{v} or newer"),
                            format!("{}: TLS {}", ep.address, h.version),
                        ));
                    }
                    E::ExpiresIn(r) => match leaf {
                        None => out.push(Assertion::new("expires_in", false, range_text(r), "no certificate")),
                        Some(l) => {
                            let left = l.not_after_unix - crate::probe::tls::now_unix();
                            let observed = if left < 0 {
                                format!(
                                    "{}: expired {} ago (not_after {})",
                                    ep.address,
                                    fmt_dur(Duration::from_secs((-left) as u64)),
                                    l.not_after
                                )
                            } else {
                                format!("{}: {} left (not_after {})", ep.address, fmt_dur(Duration::from_secs(left as u64)), l.not_after)
                            };
                            let passed = left >= 0 && in_range(r, Duration::from_secs(left as u64));
                            out.push(Assertion::new("expires_in", passed, format!("validity left {}", range_text(r)), observed));
                        }
                    },
                    E::San(m) => {
                        let sans = leaf.map(|l| l.sans.clone()).unwrap_or_default();
                        out.push(Assertion::new(
                            "san",
                            m.any_of(&sans),
                            format!("a SAN {m}"),
                            format!("{}: {}", ep.address, sans.join(", ")),
                        ));
                    }
                    E::Issuer(m) => {
                        let iss = leaf.map(|l| l.issuer.clone()).unwrap_or_default();
                        out.push(Assertion::new("issuer", m.is_match(&iss), format!("issuer {m}"), format!("{}: {iss}", ep.address)));
                    }
                    _ => {}
                }
            }
        }
        (e, Observation::Http(h)) => {
            let no_response =
                || h.failure.as_ref().map(|f| format!("no response ({}: {})", f.reason, f.message)).unwrap_or_else(|| "no response".into());
            match e {
                E::Status(set) => {
                    let expected = set.0.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ");
                    let (passed, observed) = match h.status {
                        Some(c) => (status_matches(set, c), c.to_string()),
                        None => (false, no_response()),
                    };
                    out.push(Assertion::new("status", passed, expected, observed));
                }
                E::Header(name, m) => {
                    let key = format!("headers.{name}");
                    match (h.status, h.header(name)) {
                        (None, _) => out.push(Assertion::new(key, false, format!("{name} {m}"), no_response())),
                        (Some(_), None) => out.push(Assertion::new(key, m.is_match(""), format!("{name} {m}"), "header absent")),
                        (Some(_), Some(v)) => out.push(Assertion::new(key, m.is_match(&v), format!("{name} {m}"), v)),
                    }
                }
                E::Body(m) => {
                    let observed = if h.status.is_none() { no_response() } else { h.body.chars().take(120).collect::<String>() };
                    out.push(Assertion::new("body", h.status.is_some() && m.is_match(&h.body), format!("a body {m}"), observed));
                }
                E::RemoteAddress(m) => match h.remote_address {
                    None => out.push(Assertion::new("remote_address", false, "a connection", no_response())),
                    Some(a) => m.check("remote_address", &[a.ip()], Vec::new, out),
                },
                _ => {}
            }
        }
        _ => {}
    }
}

fn versions_text(v: &[TlsVersion]) -> String {
    v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

/// `refuses_versions`: on every address with a TCP connection, each version's lone offer was
/// refused. An address without a verdict (no connection, timeout) fails the expectation: no
/// evidence is not a refusal.
fn refuses_versions(want: &[TlsVersion], t: &crate::probe::TlsObservation, out: &mut Vec<Assertion>) {
    use crate::probe::tls::VersionVerdict;
    let expected = format!("{} refused", versions_text(want));
    let mut passed = !t.endpoints.is_empty();
    let mut seen = Vec::new();
    for ep in &t.endpoints {
        for v in want {
            let name = match v {
                TlsVersion::V1_2 => "1.2",
                TlsVersion::V1_3 => "1.3",
            };
            match ep.version_probes.iter().find(|p| p.version == name) {
                Some(p) => {
                    passed &= p.verdict == VersionVerdict::Refused;
                    let verdict = match p.verdict {
                        VersionVerdict::Accepted => "accepted",
                        VersionVerdict::Refused => "refused",
                        VersionVerdict::Untested => "not tested",
                    };
                    seen.push(format!("{}: {v} {verdict} ({})", ep.address, p.detail));
                }
                None => {
                    passed = false;
                    let why =
                        ep.failure.as_ref().map(|f| format!("{}: {}", f.reason, f.message)).unwrap_or_else(|| format!("tcp {}", ep.tcp));
                    seen.push(format!("{}: {v} not tested ({why})", ep.address));
                }
            }
        }
    }
    let observed = if seen.is_empty() { "no routable address".to_string() } else { seen.join("; ") };
    out.push(Assertion::new("refuses_versions", passed, expected, observed));
}

fn summarize(d: &crate::probe::DnsObservation) -> String {
    let last = d.cname_chain.last().unwrap_or(&d.query);
    let want = d.record_type.to_string();
    d.answers
        .iter()
        .filter(|r| r.record_type == want && r.name.eq_ignore_ascii_case(last))
        .map(|r| r.data.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_of(e: &Expectation) -> &'static str {
    match e {
        Expectation::Trusted(_) => "trusted",
        Expectation::MinVersion(_) => "min_version",
        Expectation::ExpiresIn(_) => "expires_in",
        Expectation::San(_) => "san",
        Expectation::Issuer(_) => "issuer",
        Expectation::RefusesVersions(_) => "refuses_versions",
        _ => "tls",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{AnswerSource, DnsObservation, Record};
    use crate::suite::model::RecordType;

    fn sm(contains: Option<&str>, not_contains: Option<&str>) -> StrMatch {
        StrMatch::compile(&StringMatcher {
            contains: contains.map(Into::into),
            not_contains: not_contains.map(Into::into),
            ..Default::default()
        })
        .unwrap()
    }

    fn dns(addrs: &[&str], chain: &[&str], rcode: &str) -> Observation {
        let mut answers = Vec::new();
        let mut owner = "q.example".to_string();
        for c in chain {
            answers.push(Record { name: owner.clone(), record_type: "CNAME".into(), ttl: 60, data: c.to_string() });
            owner = c.to_string();
        }
        for a in addrs {
            answers.push(Record { name: owner.clone(), record_type: "A".into(), ttl: 600, data: a.to_string() });
        }
        Observation::Dns(DnsObservation {
            query: "q.example".into(),
            record_type: RecordType::A,
            resolver: "r".into(),
            source: AnswerSource::Dns,
            servers_tried: vec![],
            server: Some("127.0.0.1:53".into()),
            rcode: Some(rcode.into()),
            answers,
            cname_chain: chain.iter().map(|s| s.to_string()).collect(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            failure: None,
            elapsed: Duration::from_millis(3),
            compared: Vec::new(),
        })
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
        assert!(status_matches(&set, 401));
        assert!(status_matches(&set, 204));
        assert!(!status_matches(&set, 403));
    }

    #[test]
    fn address_all_fails_on_empty_answers_and_names_the_offenders() {
        let m = AddrMatch { all: Some(vec![Term::parse("private").unwrap()]), ..Default::default() };
        let e = Expectations(vec![Expectation::Addresses(m)]);
        let ok = evaluate(&e, &dns(&["10.1.2.3"], &[], "NOERROR"));
        assert!(ok[0].passed);
        let bad = evaluate(&e, &dns(&["10.1.2.3", "52.1.1.1"], &[], "NOERROR"));
        assert!(!bad[0].passed);
        assert_eq!(bad[0].observed, "10.1.2.3, 52.1.1.1 (52.1.1.1 not private)");
        let empty = evaluate(&e, &dns(&[], &[], "NOERROR"));
        assert!(!empty[0].passed);
    }

    #[test]
    fn hosts_file_expectation_follows_the_chain() {
        let hosts = HostsFile::parse("10.12.4.23 x.privatelink.example\n");
        let m = AddrMatch { from_hosts: Some(Box::new(("dns-settings.txt".into(), hosts))), ..Default::default() };
        let e = Expectations(vec![Expectation::Addresses(m)]);
        let same = evaluate(&e, &dns(&["10.12.4.23"], &["x.privatelink.example"], "NOERROR"));
        assert!(same[0].passed, "{:?}", same);
        let differs = evaluate(&e, &dns(&["10.12.4.22"], &["x.privatelink.example"], "NOERROR"));
        assert_eq!(
            differs[0].message(),
            "addresses.from_hosts_file: expected 10.12.4.23 (as dns-settings.txt lists for x.privatelink.example), observed 10.12.4.22"
        );
        let unlisted = evaluate(&e, &dns(&["10.12.4.22"], &[], "NOERROR"));
        assert!(!unlisted[0].passed);
        assert!(unlisted[0].observed.contains("lists none of these names"));
    }

    #[test]
    fn ttl_and_rcode() {
        let e = Expectations(vec![
            Expectation::Rcode(Rcode::NoError),
            Expectation::Ttl(DurRange { min: None, max: Some(crate::suite::model::Dur(Duration::from_secs(300))) }),
        ]);
        let r = evaluate(&e, &dns(&["10.0.0.1"], &["c.example"], "NOERROR"));
        assert!(r[0].passed);
        assert!(!r[1].passed, "600 s exceeds 300 s");
        assert_eq!(r[1].observed, "60s, 600s");
        let nx = evaluate(&e, &dns(&[], &[], "NXDOMAIN"));
        assert_eq!(nx[0].message(), "rcode: expected NOERROR, observed NXDOMAIN");
    }

    #[test]
    fn a_key_of_another_kind_is_rejected_with_its_owner() {
        let e = Expect { status: Some(StatusSet(vec![StatusTerm::Code(200)])), ..Default::default() };
        let err = compile(Some(&e), Kind::Dns, Path::new("."), None).unwrap_err();
        assert_eq!(err, "`status` does not apply to a dns check (it is an http expectation)");
    }

    #[test]
    fn tcp_state_lists_every_counted_address() {
        use crate::probe::tcp::{TcpAttempt, TcpObservation};
        let attempt = |a: &str, state| TcpAttempt { address: a.parse().unwrap(), state, connect_time: None, detail: String::new() };
        let obs = Observation::Tcp(TcpObservation {
            resolution: crate::probe::Resolution::literal("h", "system", "10.0.0.1".parse().unwrap()),
            port: 443,
            attempts: vec![
                attempt("10.0.0.1:443", PortState::Open),
                attempt("[fd00::1]:443", PortState::NoRoute),
                attempt("10.0.0.2:443", PortState::Closed),
            ],
            elapsed: Duration::ZERO,
        });
        let mut out = Vec::new();
        eval_one(&Expectation::State(StateExpect::Open), &obs, &mut out);
        assert_eq!(out.len(), 1);
        assert!(!out[0].passed);
        // The unroutable address does not count while others do.
        assert_eq!(out[0].observed, "10.0.0.1:443 open, 10.0.0.2:443 closed");
        assert_eq!(out[0].expected, "open on every address");
    }

    #[test]
    fn defaults_per_kind() {
        assert!(matches!(compile(None, Kind::Tcp, Path::new("."), None).unwrap().0.as_slice(), [Expectation::State(StateExpect::Open)]));
        assert!(matches!(compile(None, Kind::Tls, Path::new("."), None).unwrap().0.as_slice(), [Expectation::Trusted(true)]));
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
        let expectation = std::mem::size_of::<super::Expectation>();
        assert!(check <= 384, "model::Check grew to {check} bytes: box the new field");
        // Every check holds one (boxed): its matchers are boxed so a `state: open` check does not
        // carry room for six of them (was 1,184 bytes).
        let expect = std::mem::size_of::<crate::suite::model::Expect>();
        assert!(expect <= 320, "model::Expect grew to {expect} bytes: box the new matcher");
        let planned = std::mem::size_of::<crate::suite::plan::PlannedCheck>();
        eprintln!("PlannedCheck {planned} bytes, Target {}", std::mem::size_of::<crate::suite::plan::Target>());
        assert!(expectation <= 160, "Expectation grew to {expectation} bytes: box the new variant's payload");
    }
}
