//! Address classes and address-set terms.
//!
//! Classes and their sources:
//! - `private`: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared address space
//!   (100.64/10), RFC 4193 unique local addresses (fc00::/7).
//! - `loopback`: 127/8 (RFC 1122 3.2.1.3), ::1 (RFC 4291 2.5.3).
//! - `link_local`: 169.254/16 (RFC 3927), fe80::/10 (RFC 4291 2.5.6).
//! - `public`: globally reachable, i.e. in no block of the IANA special-purpose address registries
//!   (RFC 6890, as updated by RFC 8190) whose "Globally Reachable" is false; for IPv6 also inside
//!   2000::/3 (RFC 4291). Documentation ranges (RFC 5737, RFC 3849), benchmarking (RFC 2544),
//!   multicast and reserved space are not public.
//!
//! IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are classified as their IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A named address class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// RFC 1918, RFC 6598 and RFC 4193 space.
    Private,
    /// Globally reachable (RFC 6890 registries).
    Public,
    /// Loopback.
    Loopback,
    /// Link-local.
    LinkLocal,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Private => "private",
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::LinkLocal => "link_local",
        })
    }
}

/// One term of an address set: a class, a network or a single address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A named class.
    Class(AddressClass),
    /// A CIDR block.
    Net(IpNet),
    /// One address.
    Ip(IpAddr),
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Term::Class(c) => c.fmt(f),
            Term::Net(n) => n.fmt(f),
            Term::Ip(i) => i.fmt(f),
        }
    }
}

impl Term {
    /// Parses `private`, `public`, `loopback`, `link_local`, a CIDR or an IP.
    ///
    /// Errors: a message listing the accepted forms.
    pub fn parse(s: &str) -> Result<Term, String> {
        let t = s.trim();
        Ok(match t {
            "private" => Term::Class(AddressClass::Private),
            "public" => Term::Class(AddressClass::Public),
            "loopback" => Term::Class(AddressClass::Loopback),
            "link_local" | "link-local" => Term::Class(AddressClass::LinkLocal),
            _ if t.contains('/') => Term::Net(t.parse().map_err(|_| format!("`{t}` is not a valid CIDR block (e.g. 10.12.0.0/16)"))?),
            _ => Term::Ip(
                t.parse().map_err(|_| format!("`{t}` is not an address class (private, public, loopback, link_local), a CIDR or an IP"))?,
            ),
        })
    }

    /// Whether `ip` is in this term.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Term::Class(c) => classify(ip) == Some(*c),
            Term::Net(n) => n.contains(&unmap(ip)),
            Term::Ip(i) => unmap(*i) == unmap(ip),
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in4(ip: Ipv4Addr, net: [u8; 4], len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

/// The class of an address, or `None` for special space that is none of them (documentation,
/// multicast, reserved, unspecified, …).
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match unmap(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    if in4(ip, [10, 0, 0, 0], 8) || in4(ip, [172, 16, 0, 0], 12) || in4(ip, [192, 168, 0, 0], 16) || in4(ip, [100, 64, 0, 0], 10) {
        return Some(AddressClass::Private);
    }
    if in4(ip, [127, 0, 0, 0], 8) {
        return Some(AddressClass::Loopback);
    }
    if in4(ip, [169, 254, 0, 0], 16) {
        return Some(AddressClass::LinkLocal);
    }
    // RFC 6890 blocks that are not globally reachable (besides the ones above).
    const SPECIAL: &[([u8; 4], u8)] = &[
        ([0, 0, 0, 0], 8),       // "this network" (RFC 791)
        ([192, 0, 0, 0], 24),    // IETF protocol assignments (RFC 6890)
        ([192, 0, 2, 0], 24),    // TEST-NET-1 (RFC 5737)
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast (RFC 7526)
        ([198, 18, 0, 0], 15),   // benchmarking (RFC 2544)
        ([198, 51, 100, 0], 24), // TEST-NET-2 (RFC 5737)
        ([203, 0, 113, 0], 24),  // TEST-NET-3 (RFC 5737)
        ([224, 0, 0, 0], 4),     // multicast (RFC 5771)
        ([240, 0, 0, 0], 4),     // reserved (RFC 1112), includes broadcast
    ];
    if SPECIAL.iter().any(|(n, l)| in4(ip, *n, *l)) {
        return None;
    }
    Some(AddressClass::Public)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip == Ipv6Addr::LOCALHOST {
        return Some(AddressClass::Loopback);
    }
    if in6(ip, Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7) {
        return Some(AddressClass::Private);
    }
    if in6(ip, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10) {
        return Some(AddressClass::LinkLocal);
    }
    // Global unicast is 2000::/3 (RFC 4291), minus special-purpose blocks (RFC 6890).
    if !in6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return None;
    }
    const SPECIAL: &[(Ipv6Addr, u8)] = &[
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),     // IETF protocol assignments (RFC 2928)
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation (RFC 3849)
        (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),     // 6to4 (RFC 3056), not globally reachable per registry
        (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation (RFC 9637)
    ];
    if SPECIAL.iter().any(|(n, l)| in6(ip, *n, *l)) {
        return None;
    }
    Some(AddressClass::Public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<AddressClass> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classes_follow_the_rfcs() {
        assert_eq!(c("10.12.4.23"), Some(AddressClass::Private));
        assert_eq!(c("172.31.255.255"), Some(AddressClass::Private));
        assert_eq!(c("172.32.0.1"), Some(AddressClass::Public));
        assert_eq!(c("100.64.0.1"), Some(AddressClass::Private));
        assert_eq!(c("100.128.0.1"), Some(AddressClass::Public));
        assert_eq!(c("192.168.1.1"), Some(AddressClass::Private));
        assert_eq!(c("20.42.1.10"), Some(AddressClass::Public));
        assert_eq!(c("127.0.0.53"), Some(AddressClass::Loopback));
        assert_eq!(c("169.254.169.254"), Some(AddressClass::LinkLocal));
        assert_eq!(c("192.0.2.1"), None);
        assert_eq!(c("224.0.0.1"), None);
        assert_eq!(c("fd00::1"), Some(AddressClass::Private));
        assert_eq!(c("fe80::1"), Some(AddressClass::LinkLocal));
        assert_eq!(c("::1"), Some(AddressClass::Loopback));
        assert_eq!(c("2603:1030::1"), Some(AddressClass::Public));
        assert_eq!(c("2001:db8::1"), None);
        assert_eq!(c("::ffff:10.0.0.1"), Some(AddressClass::Private));
    }

    #[test]
    fn terms_parse_and_match() {
        let net = Term::parse("10.12.0.0/16").unwrap();
        assert!(net.contains("10.12.4.20".parse().unwrap()));
        assert!(!net.contains("10.13.0.1".parse().unwrap()));
        assert!(Term::parse("10.12.4.20").unwrap().contains("10.12.4.20".parse().unwrap()));
        assert!(Term::parse("public").unwrap().contains("52.1.2.3".parse().unwrap()));
        assert!(Term::parse("privat").unwrap_err().contains("not an address class"));
        assert!(Term::parse("10.0.0.0/33").unwrap_err().contains("CIDR"));
    }
}
