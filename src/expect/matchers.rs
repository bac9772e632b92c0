//! The compiled matchers expectations share: strings ([`StrMatch`]: equals, contains, regex,
//! glob, …) and address sets ([`AddrMatch`]: classes, networks, exact lists, a hosts file).
//!
//! An address matcher judges addresses only: the caller hands it the addresses of an answer it
//! has (see [`crate::probe::DnsEvidence`]); it is never asked to judge "no answer".

use std::net::IpAddr;
use std::path::Path;

use globset::GlobMatcher;
use regex::Regex;

use super::addr::{self, AddressClass, Term};
use crate::model::{Assertion, Reason, Verdict};
use crate::probe::{hosts::HostsFile, join_ips};
use crate::suite::model::{AddressMatcher, StringMatcher};

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
    pub(super) all: Option<Vec<Term>>,
    pub(super) any: Option<Vec<Term>>,
    pub(super) none: Option<Vec<Term>>,
    pub(super) contains: Option<Vec<IpAddr>>,
    pub(super) equals: Option<Vec<IpAddr>>,
    pub(super) from_hosts: Option<Box<(String, HostsFile)>>,
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

/// The address class a set of terms or addresses stands for, when every one is of one class
/// (`private` alone, `10.0.0.0/8`, a list of RFC 1918 addresses).
fn class_of_terms(t: &[Term]) -> Option<AddressClass> {
    let class = |t: &Term| match t {
        Term::Class(c) => Some(*c),
        Term::Net(n) => addr::classify(n.network()),
        Term::Ip(ip) => addr::classify(*ip),
    };
    let first = class(t.first()?)?;
    t.iter().all(|x| class(x) == Some(first)).then_some(first)
}

fn class_of_ips(ips: &[IpAddr]) -> Option<AddressClass> {
    let first = addr::classify(*ips.first()?)?;
    ips.iter().all(|ip| addr::classify(*ip) == Some(first)).then_some(first)
}

/// `key.op` (`addresses.equals`) as a static name for the keys netspec uses, so judging a check
/// does not allocate it; any other key is formatted.
fn op_key(key: &'static str, op: &'static str) -> std::borrow::Cow<'static, str> {
    let name = match (key, op) {
        ("addresses", "all") => "addresses.all",
        ("addresses", "any") => "addresses.any",
        ("addresses", "none") => "addresses.none",
        ("addresses", "contains") => "addresses.contains",
        ("addresses", "equals") => "addresses.equals",
        ("addresses", "from_hosts_file") => "addresses.from_hosts_file",
        ("remote_address", "all") => "remote_address.all",
        ("remote_address", "any") => "remote_address.any",
        ("remote_address", "none") => "remote_address.none",
        ("remote_address", "contains") => "remote_address.contains",
        ("remote_address", "equals") => "remote_address.equals",
        _ => return format!("{key}.{op}").into(),
    };
    name.into()
}

/// The reason of addresses that are not what was expected: a public answer where private ones
/// are expected is a missing private zone link or forwarder ([`Reason::DnsPublicAddress`]); a
/// private answer where public ones are expected is a private zone shadowing the public name or
/// a conditional forwarder ([`Reason::DnsPrivateAddress`]); anything else a plain mismatch.
fn mismatch_reason(expected: Option<AddressClass>, offenders: &[IpAddr]) -> Reason {
    match (expected, class_of_ips(offenders)) {
        (Some(AddressClass::Private), Some(AddressClass::Public)) => Reason::DnsPublicAddress,
        (Some(AddressClass::Public), Some(AddressClass::Private)) => Reason::DnsPrivateAddress,
        _ => Reason::DnsAddressMismatch,
    }
}

/// The reason of an address inside a `none` set: its own class names what went wrong.
fn forbidden_reason(offenders: &[IpAddr]) -> Reason {
    match class_of_ips(offenders) {
        Some(AddressClass::Public) => Reason::DnsPublicAddress,
        Some(AddressClass::Private) => Reason::DnsPrivateAddress,
        _ => Reason::DnsAddressMismatch,
    }
}

fn set_eq(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
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
                let text = crate::suite::read_regular(&path)
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

    /// The operators present, as `(key suffix, expected text)` in a fixed order: what
    /// [`AddrMatch::check`] and [`AddrMatch::no_answer`] report on.
    pub fn operators(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.all {
            out.push(("all", format!("every address {}", show_terms(t))));
        }
        if let Some(t) = &self.any {
            out.push(("any", format!("at least one address {}", show_terms(t))));
        }
        if let Some(t) = &self.none {
            out.push(("none", format!("no address {}", show_terms(t))));
        }
        if let Some(v) = &self.contains {
            out.push(("contains", format!("addresses including {}", join_ips(v))));
        }
        if let Some(v) = &self.equals {
            out.push(("equals", format!("exactly {}", join_ips(v))));
        }
        if let Some((f, _)) = self.from_hosts.as_deref() {
            out.push(("from_hosts_file", format!("the addresses {f} lists")));
        }
        out
    }

    /// A short description for `netspec plan`, e.g. `addresses.all private`.
    pub fn describe(&self, key: &str) -> String {
        let terms = |t: &[Term]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("|");
        let mut parts = Vec::new();
        if let Some(t) = &self.all {
            parts.push(format!("{key}.all {}", terms(t)));
        }
        if let Some(t) = &self.any {
            parts.push(format!("{key}.any {}", terms(t)));
        }
        if let Some(t) = &self.none {
            parts.push(format!("{key}.none {}", terms(t)));
        }
        if let Some(v) = &self.contains {
            parts.push(format!("{key}.contains {}", join_ips(v)));
        }
        if let Some(v) = &self.equals {
            parts.push(format!("{key}.equals {}", join_ips(v)));
        }
        if let Some((f, _)) = self.from_hosts.as_deref() {
            parts.push(format!("{key}.from_hosts_file {f}"));
        }
        parts.join(", ")
    }

    /// Every operator fails for want of addresses to judge: the answer had none (`reason`
    /// says why: NXDOMAIN, empty answer, no response). No matcher passes vacuously.
    pub fn no_answer(&self, key: &str, verdict: Verdict, reason: Reason, observed: &str, out: &mut Vec<Assertion>) {
        for (op, expected) in self.operators() {
            out.push(Assertion::new(format!("{key}.{op}"), verdict, Some(reason), expected, observed));
        }
    }

    /// Judges the addresses of an answer (at least one); `names` gives the queried name and its
    /// chain (for `from_hosts_file`, the only matcher that reads them).
    pub fn check(&self, key: &'static str, addrs: &[IpAddr], names: impl FnOnce() -> Vec<String>, out: &mut Vec<Assertion>) {
        let observed = join_ips(addrs);
        let inside = |ip: &IpAddr, t: &[Term]| t.iter().any(|t| t.contains(*ip));
        let judge = |ok: bool, reason: Reason| if ok { (Verdict::Pass, None) } else { (Verdict::Fail, Some(reason)) };
        if let Some(t) = &self.all {
            let bad: Vec<IpAddr> = addrs.iter().copied().filter(|ip| !inside(ip, t)).collect();
            let (verdict, reason) = judge(!addrs.is_empty() && bad.is_empty(), mismatch_reason(class_of_terms(t), &bad));
            let obs = if bad.is_empty() { observed.clone() } else { format!("{observed} ({} not {})", join_ips(&bad), show_terms(t)) };
            out.push(Assertion::new(op_key(key, "all"), verdict, reason, format!("every address {}", show_terms(t)), obs));
        }
        if let Some(t) = &self.any {
            let (verdict, reason) = judge(addrs.iter().any(|ip| inside(ip, t)), mismatch_reason(class_of_terms(t), addrs));
            out.push(Assertion::new(
                op_key(key, "any"),
                verdict,
                reason,
                format!("at least one address {}", show_terms(t)),
                observed.clone(),
            ));
        }
        if let Some(t) = &self.none {
            let bad: Vec<IpAddr> = addrs.iter().copied().filter(|ip| inside(ip, t)).collect();
            let (verdict, reason) = judge(bad.is_empty(), forbidden_reason(&bad));
            let obs = if bad.is_empty() { observed.clone() } else { format!("{observed} ({} {})", join_ips(&bad), show_terms(t)) };
            out.push(Assertion::new(op_key(key, "none"), verdict, reason, format!("no address {}", show_terms(t)), obs));
        }
        if let Some(want) = &self.contains {
            let (verdict, reason) = judge(want.iter().all(|w| addrs.contains(w)), mismatch_reason(class_of_ips(want), addrs));
            out.push(Assertion::new(
                op_key(key, "contains"),
                verdict,
                reason,
                format!("addresses including {}", join_ips(want)),
                observed.clone(),
            ));
        }
        if let Some(want) = &self.equals {
            let (verdict, reason) = judge(set_eq(want, addrs), mismatch_reason(class_of_ips(want), addrs));
            out.push(Assertion::new(op_key(key, "equals"), verdict, reason, format!("exactly {}", join_ips(want)), observed.clone()));
        }
        if let Some((file, hosts)) = self.from_hosts.as_deref() {
            let names = names();
            let listed: Vec<(String, Vec<IpAddr>)> =
                names.iter().map(|n| (n.clone(), hosts.lookup(n).to_vec())).filter(|(_, v)| !v.is_empty()).collect();
            match listed.first() {
                None => out.push(Assertion::new(
                    op_key(key, "from_hosts_file"),
                    Verdict::Fail,
                    Some(Reason::DnsAddressMismatch),
                    format!("an entry in {file} for {}", names.join(" or ")),
                    format!("{file} lists none of these names; DNS gave {observed}"),
                )),
                Some((name, want)) => {
                    let (verdict, reason) = judge(set_eq(want, addrs), mismatch_reason(class_of_ips(want), addrs));
                    out.push(Assertion::new(
                        op_key(key, "from_hosts_file"),
                        verdict,
                        reason,
                        format!("{} (as {file} lists for {name})", join_ips(want)),
                        observed.clone(),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_keys_read_as_written_static_or_not() {
        for key in ["addresses", "remote_address", "other"] {
            for op in ["all", "any", "none", "contains", "equals", "from_hosts_file"] {
                let k = op_key(key, op);
                assert_eq!(k, format!("{key}.{op}"));
                // The keys netspec judges are static names (no allocation per check).
                let known = key != "other" && !(key == "remote_address" && op == "from_hosts_file");
                assert_eq!(matches!(k, std::borrow::Cow::Borrowed(_)), known, "{key}.{op}");
            }
        }
    }
}
