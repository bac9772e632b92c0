//! The verdict matrix (issue #13, "Proof"): every expectation key of every check kind against
//! every failure mode that applies to it, each row one real netspec suite run through the same
//! plan → run path the CLI uses, against real loopback servers from `netspec::loopback`.
//!
//! [`ROWS`] is the single source. `verdict_matrix` runs every row and fails listing each row
//! whose outcome (pass / fail / error) or reason code differs from the table; the semantics are
//! those of the lead's verdict design (a positive expectation that meets no answer fails; an
//! expectation of absence or difference that gets no evidence is an error; a pass never rests on
//! no answer; a passing check carries a code only when the code names the condition the
//! expectation accepted). docs/suite-format.md carries the table between the
//! `verdict-matrix` markers; `verdict_matrix_doc_is_current` fails when it is stale, and
//! `NETSPEC_WRITE_DOCS=1 cargo test --test integration verdicts::verdict_matrix_doc_is_current`
//! rewrites it.
//!
//! Network safety: every server binds 127.0.0.1, and the probe context carries a sandbox that
//! refuses any destination off loopback. The ICMP rows (`unreachable`, `prohibited`) run in a
//! thread that moved itself into a fresh network namespace (`unshare(CLONE_NEWNET)`) holding only
//! `lo` and two local routes of type `unreachable` and `prohibit` for TEST-NET-1 addresses
//! (RFC 5737): the kernel answers the connect itself, nothing leaves the namespace. Without the
//! privilege to do that, those rows are skipped with the reason printed, unless `CI` is set
//! (then they fail), as the lab tests do.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use netspec::loopback::{
    Ca, DnsFault, DnsServer, DnsZone, FaultServer, FilteredPort, HttpServer, OpenPort, Proxy, ProxyConfig, Reply, Route, TcpFault,
    Validity, closed_port,
};
use netspec::plan::{self, Inputs};
use netspec::probe::{ContextOptions, ProbeContext, Sandbox};
use netspec::run::{self, CheckResult, Outcome, RunOptions};

/// Every check's timeout in the matrix.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Rows run at once (each row has its own servers; the timeout rows mostly wait).
const PARALLEL: usize = 8;

/// The name every dns row asks: a Key Vault name, so that `private_endpoint` applies
/// (`vault.azure.net` → `privatelink.vaultcore.azure.net` in data/privatelink-zones.tsv).
const QNAME: &str = "kv.vault.azure.net";
/// The privatelink alias a private endpoint gives [`QNAME`].
const PRIVATELINK: &str = "kv.privatelink.vaultcore.azure.net";
/// The name tls and http rows use (the lab resolver answers 127.0.0.1 for it).
const HOST: &str = "svc.example.test";
/// Where the ICMP rows connect, inside their namespace: a route of type `unreachable` (the
/// kernel's EHOSTUNREACH, as after an ICMP host-unreachable).
const UNREACHABLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// A route of type `prohibit` (EACCES, as after an ICMP administratively-prohibited).
const PROHIBITED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// What the check's resolver does with the question for [`QNAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dns {
    /// Never answers (the query times out).
    Timeout,
    /// Answers SERVFAIL.
    ServFail,
    /// Answers REFUSED (the name is outside what it serves).
    Refused,
    /// Answers NXDOMAIN (authoritative for the zone, no such name).
    NxDomain,
    /// Answers NOERROR with no record of the type (the name has only a TXT record).
    NoData,
    /// Answers NOERROR: an optional CNAME to [`PRIVATELINK`], then these A records (TTL 300 s).
    Answer { privatelink: bool, a: &'static [[u8; 4]] },
    /// The CNAME to [`PRIVATELINK`], whose zone has no record for it: NXDOMAIN at the end of
    /// the chain (a private endpoint's missing zone record).
    PrivateZoneNx,
}

/// What one resolver of an `agree` row does with [`QNAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Answers this A record.
    A([u8; 4]),
    /// Never answers.
    Silent,
    /// Answers SERVFAIL.
    ServFail,
}

/// The TCP port a tcp row connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// A listener that accepts (`OpenPort`).
    Open,
    /// A listener whose accept queue is full: SYNs are dropped (`FilteredPort`).
    Filtered,
    /// No listener: the kernel answers RST (`closed_port`).
    Closed,
    /// [`UNREACHABLE`] in an isolated namespace (EHOSTUNREACH).
    Unreachable,
    /// [`PROHIBITED`] in an isolated namespace (EACCES).
    Prohibited,
    /// A host name the resolver answers NXDOMAIN for: no address to connect to.
    NoName,
}

/// The TLS endpoint a tls row handshakes with (the check trusts the lab's "matrix root" CA and
/// its "second root", nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// A current certificate for the host from the trusted root.
    Good,
    /// A current certificate for the host from the second trusted root (another issuer).
    OtherIssuer,
    /// A current certificate for the host from a root the check does not trust.
    Untrusted,
    /// A certificate for the host from the trusted root that expired a year ago.
    Expired,
    /// A current certificate from the trusted root for another name.
    WrongName,
    /// A good certificate, but the server speaks TLS 1.2 only.
    Tls12Only,
    /// Reads the ClientHello, then resets the connection (`TcpFault::TlsResetAfterClientHello`).
    Reset,
    /// Nothing listens (RST).
    Closed,
}

/// The HTTP endpoint (or proxy) an http row talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Http {
    /// The endpoint answers `status` with `body` and `X-Env: env`.
    Reply { status: u16, body: &'static str, env: &'static str },
    /// The endpoint accepts and never answers (`TcpFault::Silent`).
    Silent,
    /// `200` promising 1000 bytes, 16 sent, then FIN (`TcpFault::PartialBody`).
    Partial,
    /// Nothing listens (RST).
    Closed,
    /// [`UNREACHABLE`] in an isolated namespace (EHOSTUNREACH).
    Unreachable,
    /// `https://` to an endpoint whose certificate comes from an untrusted root.
    Untrusted,
    /// Plain `http://` through a forward proxy that answers `status` itself
    /// (`TcpFault::ProxyAnswers`), naming itself (`product`) or not.
    ProxyOwn { status: u16, product: bool },
    /// Plain `http://` through a forward proxy (`loopback::Proxy`) that forwards the request to
    /// an endpoint answering `status`.
    ProxyForwards { status: u16 },
}

/// The failure mode (or healthy behaviour) a row meets; it decides the check's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dns(Dns),
    /// `compare: [other]`: the check's own resolver and the compared one.
    Agree(Side, Side),
    Tcp(Port),
    Tls(Tls),
    Http(Http),
}

/// One row: an expectation, the failure mode it meets, and the verdict netspec must give.
#[derive(Debug)]
struct Row {
    /// The `expect` mapping's content (YAML flow), e.g. `resolves: false`. `HOSTS` stands for
    /// the path of a hosts file listing `10.0.0.1 kv.vault.azure.net`.
    expect: &'static str,
    /// What the servers do.
    mode: Mode,
    /// Expected outcome.
    outcome: Outcome,
    /// Expected reason code; `None`: the check must carry none.
    reason: Option<&'static str>,
}

const fn row(expect: &'static str, mode: Mode, outcome: Outcome, reason: Option<&'static str>) -> Row {
    Row { expect, mode, outcome, reason }
}

use Outcome::{Error as E, Failed as F, Passed as P};

const PRIV: Dns = Dns::Answer { privatelink: false, a: &[[10, 0, 0, 1]] };
const PUB: Dns = Dns::Answer { privatelink: false, a: &[[20, 0, 0, 1]] };
const PRIV2: Dns = Dns::Answer { privatelink: false, a: &[[10, 0, 0, 2]] };
const PL_PRIV: Dns = Dns::Answer { privatelink: true, a: &[[10, 0, 0, 1]] };
const PL_PUB: Dns = Dns::Answer { privatelink: true, a: &[[20, 0, 0, 1]] };
const GOOD: Http = Http::Reply { status: 200, body: "hello world", env: "prod" };

/// A private and a public address.
const PRIV_IP: [u8; 4] = [10, 0, 0, 1];
const PUB_IP: [u8; 4] = [20, 0, 0, 1];

/// The matrix. Grouped by kind and expectation key; within a key, the failure modes first.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // dns: resolves
    row("resolves: true", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("resolves: true", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("resolves: true", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("resolves: true", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("resolves: true", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("resolves: true", Mode::Dns(PRIV), P, None),
    row("resolves: false", Mode::Dns(Dns::Timeout), E, Some("dns.timeout")),
    row("resolves: false", Mode::Dns(Dns::ServFail), E, Some("dns.servfail")),
    row("resolves: false", Mode::Dns(Dns::Refused), E, Some("dns.refused")),
    row("resolves: false", Mode::Dns(Dns::NxDomain), P, Some("dns.nxdomain")),
    row("resolves: false", Mode::Dns(Dns::NoData), P, Some("dns.no_answer")),
    row("resolves: false", Mode::Dns(PRIV), F, Some("dns.resolves")),
    // dns: rcode
    row("rcode: NOERROR", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("rcode: NOERROR", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("rcode: NOERROR", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("rcode: NOERROR", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("rcode: NOERROR", Mode::Dns(Dns::NoData), P, None),
    row("rcode: NOERROR", Mode::Dns(PRIV), P, None),
    row("rcode: NXDOMAIN", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("rcode: NXDOMAIN", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("rcode: NXDOMAIN", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("rcode: NXDOMAIN", Mode::Dns(Dns::NxDomain), P, Some("dns.nxdomain")),
    row("rcode: NXDOMAIN", Mode::Dns(Dns::NoData), F, Some("dns.rcode")),
    row("rcode: NXDOMAIN", Mode::Dns(PRIV), F, Some("dns.rcode")),
    // dns: addresses (every matcher needs an answer to judge)
    row("addresses: { all: private }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { all: private }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { all: private }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { all: private }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { all: private }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { all: private }", Mode::Dns(PRIV), P, None),
    row("addresses: { all: private }", Mode::Dns(PUB), F, Some("dns.public_address")),
    row("addresses: { all: public }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { all: public }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { all: public }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { all: public }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { all: public }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { all: public }", Mode::Dns(PUB), P, None),
    row("addresses: { all: public }", Mode::Dns(PRIV), F, Some("dns.private_address")),
    row("addresses: { any: private }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { any: private }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { any: private }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { any: private }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { any: private }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { any: private }", Mode::Dns(PRIV), P, None),
    row("addresses: { any: private }", Mode::Dns(PUB), F, Some("dns.public_address")),
    row("addresses: { none: public }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { none: public }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { none: public }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { none: public }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { none: public }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { none: public }", Mode::Dns(PRIV), P, None),
    row("addresses: { none: public }", Mode::Dns(PUB), F, Some("dns.public_address")),
    row("addresses: { none: private }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { none: private }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { none: private }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { none: private }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { none: private }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { none: private }", Mode::Dns(PUB), P, None),
    row("addresses: { none: private }", Mode::Dns(PRIV), F, Some("dns.private_address")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(PRIV), P, None),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(PRIV2), F, Some("dns.address_mismatch")),
    row("addresses: { equals: [10.0.0.1] }", Mode::Dns(PUB), F, Some("dns.public_address")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(PRIV), P, None),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(PRIV2), F, Some("dns.address_mismatch")),
    row("addresses: { contains: [10.0.0.1] }", Mode::Dns(PUB), F, Some("dns.public_address")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(PRIV), P, None),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(PRIV2), F, Some("dns.address_mismatch")),
    row("addresses: { from_hosts_file: HOSTS }", Mode::Dns(PUB), F, Some("dns.public_address")),
    // dns: cname, ttl
    row("cname: { contains: privatelink }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("cname: { contains: privatelink }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("cname: { contains: privatelink }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("cname: { contains: privatelink }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("cname: { contains: privatelink }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("cname: { contains: privatelink }", Mode::Dns(PL_PRIV), P, None),
    row("cname: { contains: privatelink }", Mode::Dns(PRIV), F, Some("dns.cname_mismatch")),
    row("ttl: { max: 1h }", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("ttl: { max: 1h }", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("ttl: { max: 1h }", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("ttl: { max: 1h }", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("ttl: { max: 1h }", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("ttl: { max: 1h }", Mode::Dns(PRIV), P, None),
    row("ttl: { min: 1h }", Mode::Dns(PRIV), F, Some("dns.ttl")),
    // dns: private_endpoint
    row("private_endpoint: true", Mode::Dns(Dns::Timeout), F, Some("dns.timeout")),
    row("private_endpoint: true", Mode::Dns(Dns::ServFail), F, Some("dns.servfail")),
    row("private_endpoint: true", Mode::Dns(Dns::Refused), F, Some("dns.refused")),
    row("private_endpoint: true", Mode::Dns(Dns::NxDomain), F, Some("dns.nxdomain")),
    row("private_endpoint: true", Mode::Dns(Dns::NoData), F, Some("dns.no_answer")),
    row("private_endpoint: true", Mode::Dns(Dns::PrivateZoneNx), F, Some("dns.private_zone_nxdomain")),
    row("private_endpoint: true", Mode::Dns(PL_PRIV), P, None),
    row("private_endpoint: true", Mode::Dns(PL_PUB), F, Some("dns.public_address")),
    row("private_endpoint: true", Mode::Dns(PRIV), F, Some("dns.no_privatelink_alias")),
    // dns: agree (the check's own resolver, then the compared one)
    row("agree: true", Mode::Agree(Side::A(PRIV_IP), Side::A(PRIV_IP)), P, None),
    row("agree: true", Mode::Agree(Side::A(PRIV_IP), Side::A(PUB_IP)), F, Some("dns.disagree")),
    row("agree: true", Mode::Agree(Side::A(PRIV_IP), Side::Silent), F, Some("dns.disagree")),
    row("agree: true", Mode::Agree(Side::A(PRIV_IP), Side::ServFail), F, Some("dns.disagree")),
    row("agree: true", Mode::Agree(Side::Silent, Side::Silent), E, Some("dns.timeout")),
    row("agree: true", Mode::Agree(Side::ServFail, Side::ServFail), E, Some("dns.servfail")),
    row("agree: false", Mode::Agree(Side::A(PRIV_IP), Side::A(PUB_IP)), P, None),
    row("agree: false", Mode::Agree(Side::A(PRIV_IP), Side::A(PRIV_IP)), F, Some("dns.no_split_horizon")),
    row("agree: false", Mode::Agree(Side::A(PRIV_IP), Side::Silent), E, Some("dns.timeout")),
    row("agree: false", Mode::Agree(Side::A(PRIV_IP), Side::ServFail), E, Some("dns.servfail")),
    row("agree: false", Mode::Agree(Side::Silent, Side::Silent), E, Some("dns.timeout")),
    // tcp: state (open, filtered, closed, ICMP unreachable, admin-prohibited, no address)
    row("state: open", Mode::Tcp(Port::Open), P, None),
    row("state: open", Mode::Tcp(Port::Filtered), F, Some("tcp.filtered")),
    row("state: open", Mode::Tcp(Port::Closed), F, Some("tcp.closed")),
    row("state: open", Mode::Tcp(Port::Unreachable), F, Some("tcp.unreachable")),
    row("state: open", Mode::Tcp(Port::Prohibited), F, Some("tcp.prohibited")),
    row("state: open", Mode::Tcp(Port::NoName), F, Some("dns.nxdomain")),
    row("state: blocked", Mode::Tcp(Port::Open), F, Some("tcp.open")),
    row("state: blocked", Mode::Tcp(Port::Filtered), P, Some("tcp.filtered")),
    row("state: blocked", Mode::Tcp(Port::Closed), P, Some("tcp.closed")),
    row("state: blocked", Mode::Tcp(Port::Unreachable), P, Some("tcp.unreachable")),
    row("state: blocked", Mode::Tcp(Port::Prohibited), P, Some("tcp.prohibited")),
    row("state: blocked", Mode::Tcp(Port::NoName), E, Some("dns.nxdomain")),
    row("state: filtered", Mode::Tcp(Port::Open), F, Some("tcp.open")),
    row("state: filtered", Mode::Tcp(Port::Filtered), P, Some("tcp.filtered")),
    row("state: filtered", Mode::Tcp(Port::Closed), F, Some("tcp.closed")),
    row("state: filtered", Mode::Tcp(Port::Unreachable), F, Some("tcp.unreachable")),
    row("state: filtered", Mode::Tcp(Port::Prohibited), F, Some("tcp.prohibited")),
    row("state: filtered", Mode::Tcp(Port::NoName), E, Some("dns.nxdomain")),
    row("state: closed", Mode::Tcp(Port::Open), F, Some("tcp.open")),
    row("state: closed", Mode::Tcp(Port::Filtered), F, Some("tcp.filtered")),
    row("state: closed", Mode::Tcp(Port::Closed), P, Some("tcp.closed")),
    row("state: closed", Mode::Tcp(Port::Unreachable), F, Some("tcp.unreachable")),
    row("state: closed", Mode::Tcp(Port::Prohibited), F, Some("tcp.prohibited")),
    row("state: closed", Mode::Tcp(Port::NoName), E, Some("dns.nxdomain")),
    // tls
    row("trusted: true", Mode::Tls(Tls::Good), P, None),
    row("trusted: true", Mode::Tls(Tls::Untrusted), F, Some("tls.untrusted")),
    row("trusted: true", Mode::Tls(Tls::Expired), F, Some("tls.expired")),
    row("trusted: true", Mode::Tls(Tls::WrongName), F, Some("tls.hostname_mismatch")),
    row("trusted: true", Mode::Tls(Tls::Reset), F, Some("tls.handshake")),
    row("trusted: true", Mode::Tls(Tls::Closed), F, Some("tcp.closed")),
    row("trusted: false", Mode::Tls(Tls::Good), F, Some("tls.trusted")),
    row("trusted: false", Mode::Tls(Tls::Untrusted), P, Some("tls.untrusted")),
    row("trusted: false", Mode::Tls(Tls::Expired), P, Some("tls.expired")),
    row("trusted: false", Mode::Tls(Tls::WrongName), P, Some("tls.hostname_mismatch")),
    row("trusted: false", Mode::Tls(Tls::Reset), E, Some("tls.handshake")),
    row("trusted: false", Mode::Tls(Tls::Closed), E, Some("tcp.closed")),
    row("issuer: { contains: matrix root }", Mode::Tls(Tls::Good), P, None),
    row("issuer: { contains: matrix root }", Mode::Tls(Tls::OtherIssuer), F, Some("tls.issuer")),
    row("issuer: { contains: matrix root }", Mode::Tls(Tls::Reset), F, Some("tls.handshake")),
    row("issuer: { contains: matrix root }", Mode::Tls(Tls::Closed), F, Some("tcp.closed")),
    row("san: { contains: svc.example.test }", Mode::Tls(Tls::Good), P, None),
    row("san: { contains: api.example.test }", Mode::Tls(Tls::Good), F, Some("tls.san")),
    row("san: { contains: svc.example.test }", Mode::Tls(Tls::Reset), F, Some("tls.handshake")),
    row("san: { contains: svc.example.test }", Mode::Tls(Tls::Closed), F, Some("tcp.closed")),
    row("expires_in: { min: 14d }", Mode::Tls(Tls::Good), P, None),
    row("expires_in: { min: 14d }", Mode::Tls(Tls::Expired), F, Some("tls.expired")),
    row("expires_in: { min: 14d }", Mode::Tls(Tls::Reset), F, Some("tls.handshake")),
    row("expires_in: { min: 14d }", Mode::Tls(Tls::Closed), F, Some("tcp.closed")),
    row("min_version: \"1.3\"", Mode::Tls(Tls::Good), P, None),
    row("min_version: \"1.3\"", Mode::Tls(Tls::Tls12Only), F, Some("tls.old_version")),
    row("min_version: \"1.3\"", Mode::Tls(Tls::Reset), F, Some("tls.handshake")),
    row("min_version: \"1.3\"", Mode::Tls(Tls::Closed), F, Some("tcp.closed")),
    row("expires_in: { min: 365d }", Mode::Tls(Tls::Good), F, Some("tls.expires_soon")),
    row("refuses_versions: [\"1.2\"]", Mode::Tls(Tls::Good), F, Some("tls.version_accepted")),
    row("refuses_versions: [\"1.3\"]", Mode::Tls(Tls::Tls12Only), P, None),
    row("refuses_versions: [\"1.2\"]", Mode::Tls(Tls::Reset), E, Some("tls.handshake")),
    row("refuses_versions: [\"1.2\"]", Mode::Tls(Tls::Closed), E, Some("tcp.closed")),
    // http
    row("status: 200", Mode::Http(GOOD), P, None),
    row("status: 200", Mode::Http(Http::Reply { status: 503, body: "hello world", env: "prod" }), F, Some("http.status")),
    row("status: 200", Mode::Http(Http::Partial), F, Some("http.error")),
    row("status: 200", Mode::Http(Http::Silent), F, Some("http.timeout")),
    row("status: 200", Mode::Http(Http::Closed), F, Some("tcp.closed")),
    row("status: 200", Mode::Http(Http::Unreachable), F, Some("tcp.unreachable")),
    row("status: 200", Mode::Http(Http::Untrusted), F, Some("tls.untrusted")),
    row("status: 200", Mode::Http(Http::ProxyOwn { status: 403, product: true }), F, Some("http.proxy_denied")),
    row("status: 200", Mode::Http(Http::ProxyOwn { status: 502, product: true }), F, Some("http.proxy_error")),
    row("status: 200", Mode::Http(Http::ProxyForwards { status: 200 }), P, None),
    row("status: 401", Mode::Http(Http::Reply { status: 401, body: "hello world", env: "prod" }), P, None),
    row("status: 401", Mode::Http(GOOD), F, Some("http.status")),
    row("status: 401", Mode::Http(Http::ProxyForwards { status: 401 }), P, None),
    row("status: 401", Mode::Http(Http::ProxyOwn { status: 401, product: true }), F, Some("http.proxy_auth_required")),
    row("status: 401", Mode::Http(Http::ProxyOwn { status: 407, product: true }), F, Some("http.proxy_auth_required")),
    row("status: 407", Mode::Http(Http::ProxyOwn { status: 407, product: false }), F, Some("http.proxy_auth_required")),
    row("status: 403", Mode::Http(Http::ProxyOwn { status: 403, product: true }), F, Some("http.proxy_denied")),
    row("body: { contains: hello }", Mode::Http(GOOD), P, None),
    row("body: { contains: hello }", Mode::Http(Http::Reply { status: 200, body: "goodbye world", env: "prod" }), F, Some("http.body")),
    row("body: { contains: hello }", Mode::Http(Http::Partial), F, Some("http.error")),
    row("body: { contains: hello }", Mode::Http(Http::Silent), F, Some("http.timeout")),
    row("body: { contains: hello }", Mode::Http(Http::Closed), F, Some("tcp.closed")),
    row("body: { contains: hello }", Mode::Http(Http::ProxyOwn { status: 403, product: true }), F, Some("http.proxy_denied")),
    row("headers: { x-env: prod }", Mode::Http(GOOD), P, None),
    row("headers: { x-env: prod }", Mode::Http(Http::Reply { status: 200, body: "hello world", env: "staging" }), F, Some("http.header")),
    row("headers: { x-env: prod }", Mode::Http(Http::Partial), F, Some("http.error")),
    row("headers: { x-env: prod }", Mode::Http(Http::Silent), F, Some("http.timeout")),
    row("headers: { x-env: prod }", Mode::Http(Http::Closed), F, Some("tcp.closed")),
    row("headers: { x-env: prod }", Mode::Http(Http::ProxyOwn { status: 403, product: true }), F, Some("http.proxy_denied")),
    row("remote_address: { equals: [127.0.0.1] }", Mode::Http(GOOD), P, None),
    row("remote_address: { equals: [127.0.0.1] }", Mode::Http(Http::Silent), F, Some("http.timeout")),
    row("remote_address: { equals: [127.0.0.1] }", Mode::Http(Http::Closed), F, Some("tcp.closed")),
    row("remote_address: { equals: [127.0.0.1] }", Mode::Http(Http::Unreachable), F, Some("tcp.unreachable")),
    row("remote_address: { equals: [10.9.9.9] }", Mode::Http(GOOD), F, Some("http.remote_address")),
];

/// The kind of check a mode is met by.
fn kind(mode: Mode) -> &'static str {
    match mode {
        Mode::Dns(_) | Mode::Agree(..) => "dns",
        Mode::Tcp(_) => "tcp",
        Mode::Tls(_) => "tls",
        Mode::Http(_) => "http",
    }
}

fn ip(a: [u8; 4]) -> String {
    Ipv4Addr::from(a).to_string()
}

fn ips(a: &[[u8; 4]]) -> String {
    a.iter().map(|x| ip(*x)).collect::<Vec<_>>().join(", ")
}

/// What the servers do, in the matrix's words (the "failure mode" column of the document).
fn describe(mode: Mode) -> String {
    let side = |s: Side| match s {
        Side::A(a) => format!("answers {}", ip(a)),
        Side::Silent => "silent (timeout)".to_string(),
        Side::ServFail => "SERVFAIL".to_string(),
    };
    match mode {
        Mode::Dns(d) => match d {
            Dns::Timeout => "resolver never answers (timeout)".into(),
            Dns::ServFail => "SERVFAIL".into(),
            Dns::Refused => "REFUSED".into(),
            Dns::NxDomain => "NXDOMAIN".into(),
            Dns::NoData => "empty NOERROR (no record of the type)".into(),
            Dns::Answer { privatelink: false, a } => format!("answer {}", ips(a)),
            Dns::Answer { privatelink: true, a } => format!("CNAME to the privatelink zone, then {}", ips(a)),
            Dns::PrivateZoneNx => "CNAME to the privatelink zone, NXDOMAIN there".into(),
        },
        Mode::Agree(own, other) => format!("own resolver {}; compared resolver {}", side(own), side(other)),
        Mode::Tcp(p) => match p {
            Port::Open => "open (accepts)".into(),
            Port::Filtered => "filtered (SYN dropped)".into(),
            Port::Closed => "closed (RST)".into(),
            Port::Unreachable => "ICMP host unreachable (EHOSTUNREACH)".into(),
            Port::Prohibited => "ICMP administratively prohibited (EACCES)".into(),
            Port::NoName => "host name does not resolve (NXDOMAIN)".into(),
        },
        Mode::Tls(t) => match t {
            Tls::Good => "trusted certificate for the name (TLS 1.2/1.3)".into(),
            Tls::OtherIssuer => "trusted certificate from another issuer".into(),
            Tls::Untrusted => "certificate from an untrusted root".into(),
            Tls::Expired => "certificate expired a year ago".into(),
            Tls::WrongName => "certificate for another name".into(),
            Tls::Tls12Only => "trusted certificate, server speaks TLS 1.2 only".into(),
            Tls::Reset => "reset after the ClientHello (handshake failure)".into(),
            Tls::Closed => "closed (RST)".into(),
        },
        Mode::Http(h) => match h {
            Http::Reply { status, body, env } => {
                let challenge = if status == 401 { ", `WWW-Authenticate`" } else { "" };
                format!("endpoint answers {status}, body `{body}`, `X-Env: {env}`{challenge}")
            }
            Http::Silent => "endpoint accepts, never answers (timeout)".into(),
            Http::Partial => "200, body closed (FIN) after 16 of 1000 bytes (partial body)".into(),
            Http::Closed => "closed (RST)".into(),
            Http::Unreachable => "ICMP host unreachable (EHOSTUNREACH)".into(),
            Http::Untrusted => "`https://`, certificate from an untrusted root".into(),
            Http::ProxyOwn { status, product: true } => {
                format!("plain `http://` via a forward proxy answering {status} itself (`Proxy-Agent`, `Via`)")
            }
            Http::ProxyOwn { status, product: false } => {
                format!("plain `http://` via a forward proxy answering {status} itself, no header naming it")
            }
            Http::ProxyForwards { status } => {
                let challenge = if status == 401 { " with `WWW-Authenticate`" } else { "" };
                format!("plain `http://` via a forward proxy; the endpoint answers {status}{challenge}")
            }
        },
    }
}

/// What one row observed.
#[derive(Debug)]
struct Observed {
    outcome: Outcome,
    reason: Option<String>,
    /// The reason text and the observation, for the failure message.
    detail: String,
}

/// The reason code of a result as a string (the one place that knows how results carry it).
fn code_of(r: &CheckResult) -> Option<String> {
    r.reason_code().map(str::to_owned)
}

fn observed(results: Vec<CheckResult>) -> Observed {
    let Some(r) = results.into_iter().next() else {
        return Observed { outcome: Outcome::Cancelled, reason: None, detail: "no result came back".into() };
    };
    let obs = r.attempts.last().map(|a| a.observation.describe().join(" / ")).unwrap_or_default();
    Observed { outcome: r.outcome, reason: code_of(&r), detail: format!("{} | {obs}", r.reason()) }
}

/// Options of the probe context: the lab roots only, no system resolver or hosts file, and
/// (outside the isolated namespace) a sandbox that refuses anything but loopback.
fn context(roots: &[rustls::pki_types::CertificateDer<'static>], sandboxed: bool) -> ContextOptions {
    ContextOptions {
        extra_roots: roots.to_vec(),
        no_system_roots: true,
        system_servers: Some(Vec::new()),
        sandbox: sandboxed.then(Sandbox::default),
    }
}

async fn run_suite(yaml: &str, ctx: ContextOptions) -> Vec<CheckResult> {
    let loaded = netspec::suite::parse(Path::new("matrix.yaml"), yaml.to_owned()).unwrap_or_else(|e| panic!("suite parses: {e}\n{yaml}"));
    let plan = plan::plan(&[loaded], &Inputs::default()).unwrap_or_else(|e| panic!("plan: {e}\n{yaml}"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    run::run(plan, Arc::new(ProbeContext::new(ctx)), RunOptions::default(), Default::default(), tx)
        .await
        .unwrap_or_else(|e| panic!("run: {e}"))
}

/// A one-check suite: `head` (resolvers, proxies), the check's kind mapping, its expectation.
fn suite(head: &str, check: &str, expect: &str) -> String {
    format!(
        "netspec: 1\nname: matrix\ndefaults: {{ timeout: {}ms }}\n{head}scenarios:\n  - name: s\n    checks:\n      - {{ name: c, {check}, expect: {{ {expect} }} }}\n",
        TIMEOUT.as_millis()
    )
}

fn resolvers(lab: SocketAddr, other: Option<SocketAddr>) -> String {
    match other {
        Some(o) => format!("resolvers: {{ lab: {{ servers: [\"{lab}\"] }}, other: {{ servers: [\"{o}\"] }} }}\n"),
        None => format!("resolvers: {{ lab: {{ servers: [\"{lab}\"] }} }}\n"),
    }
}

/// The lab resolver's zone for a dns row.
fn dns_zone(d: Dns) -> DnsZone {
    let mut z = DnsZone::new();
    match d {
        Dns::Timeout => {
            z.fault(QNAME, DnsFault::Drop);
        }
        Dns::ServFail => {
            z.fault(QNAME, DnsFault::ServFail);
        }
        // A zone that serves nothing refuses every query.
        Dns::Refused => {}
        Dns::NxDomain => {
            z.authoritative_for("vault.azure.net");
        }
        Dns::NoData => {
            z.authoritative_for("vault.azure.net").add_txt(QNAME, "v=1");
        }
        Dns::Answer { privatelink, a } => {
            let owner = if privatelink {
                z.add_cname(QNAME, PRIVATELINK);
                PRIVATELINK
            } else {
                QNAME
            };
            for x in a {
                z.add_a(owner, Ipv4Addr::from(*x));
            }
        }
        Dns::PrivateZoneNx => {
            z.add_cname(QNAME, PRIVATELINK).authoritative_for("privatelink.vaultcore.azure.net");
        }
    }
    z
}

fn side_zone(s: Side) -> DnsZone {
    let mut z = DnsZone::new();
    match s {
        Side::A(a) => {
            z.add_a(QNAME, Ipv4Addr::from(a));
        }
        Side::Silent => {
            z.fault(QNAME, DnsFault::Drop);
        }
        Side::ServFail => {
            z.fault(QNAME, DnsFault::ServFail);
        }
    }
    z
}

/// A lab resolver answering `127.0.0.1` for [`HOST`] and NXDOMAIN for other names of its zone.
async fn host_dns() -> DnsServer {
    let mut z = DnsZone::new();
    z.authoritative_for("example.test").add_a(HOST, Ipv4Addr::LOCALHOST);
    DnsServer::start(z).await.unwrap()
}

/// An endpoint's answer: `status`, `body`, `X-Env: env`; a 401 carries the challenge every
/// endpoint must send with it (`WWW-Authenticate`, RFC 9110 §15.5.2).
fn endpoint_reply(status: u16, body: &str, env: &str) -> Reply {
    let reply = Reply::new(status, body).header("X-Env", env);
    if status == 401 { reply.header("WWW-Authenticate", "Bearer realm=\"matrix\"") } else { reply }
}

/// The lab's certificate authorities: the check trusts `root` and `second`, not `rogue`.
struct Cas {
    root: Ca,
    second: Ca,
    rogue: Ca,
}

impl Cas {
    fn new() -> Cas {
        Cas { root: Ca::new("matrix root").unwrap(), second: Ca::new("second root").unwrap(), rogue: Ca::new("unknown lab root").unwrap() }
    }

    fn trusted(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        vec![self.root.cert_der(), self.second.cert_der()]
    }
}

/// Servers kept alive until the row's run is over.
#[derive(Default)]
struct Keep {
    dns: Vec<DnsServer>,
    http: Vec<HttpServer>,
    faults: Vec<FaultServer>,
    open: Option<OpenPort>,
    filtered: Option<FilteredPort>,
    proxy: Option<Proxy>,
}

/// A row's outcome, or why it could not run here.
enum Ran {
    Observed(Observed),
    Skipped(String),
}

/// Runs `row`. `hosts` is the hosts file that stands for `HOSTS` in expectations.
async fn observe(row: &Row, hosts: &Path) -> Ran {
    let expect = row.expect.replace("HOSTS", &hosts.display().to_string());
    let mut keep = Keep::default();
    let cas = Cas::new();
    let (yaml, roots) = match row.mode {
        Mode::Dns(d) => {
            let srv = DnsServer::start(dns_zone(d)).await.unwrap();
            let yaml = suite(&resolvers(srv.addr(), None), &format!("dns: {{ name: {QNAME}, resolver: lab }}"), &expect);
            keep.dns.push(srv);
            (yaml, Vec::new())
        }
        Mode::Agree(own, other) => {
            let a = DnsServer::start(side_zone(own)).await.unwrap();
            let b = DnsServer::start(side_zone(other)).await.unwrap();
            let yaml =
                suite(&resolvers(a.addr(), Some(b.addr())), &format!("dns: {{ name: {QNAME}, resolver: lab, compare: [other] }}"), &expect);
            keep.dns.extend([a, b]);
            (yaml, Vec::new())
        }
        Mode::Tcp(p) => {
            let target = match p {
                Port::Open => {
                    let o = OpenPort::start().await.unwrap();
                    let a = o.addr();
                    keep.open = Some(o);
                    a
                }
                Port::Filtered => {
                    let f = FilteredPort::start().await.unwrap();
                    let a = f.addr();
                    keep.filtered = Some(f);
                    a
                }
                Port::Closed => closed_port().unwrap(),
                Port::Unreachable | Port::Prohibited => {
                    let to = if matches!(p, Port::Unreachable) { UNREACHABLE } else { PROHIBITED };
                    let yaml = suite("", &format!("tcp: {{ host: {to}, port: 443 }}"), &expect);
                    return isolated(yaml).await;
                }
                Port::NoName => {
                    let d = host_dns().await;
                    let yaml = suite(&resolvers(d.addr(), None), "tcp: { host: nowhere.example.test, port: 443, resolver: lab }", &expect);
                    keep.dns.push(d);
                    return Ran::Observed(observed(run_suite(&yaml, context(&[], true)).await));
                }
            };
            (suite("", &format!("tcp: {{ host: {}, port: {} }}", target.ip(), target.port()), &expect), Vec::new())
        }
        Mode::Tls(t) => {
            let port = match t {
                Tls::Reset => {
                    let f = FaultServer::start(TcpFault::TlsResetAfterClientHello).await.unwrap();
                    let p = f.addr().port();
                    keep.faults.push(f);
                    p
                }
                Tls::Closed => closed_port().unwrap().port(),
                Tls::Good | Tls::OtherIssuer | Tls::Untrusted | Tls::Expired | Tls::WrongName | Tls::Tls12Only => {
                    let (ca, name, validity) = match t {
                        Tls::OtherIssuer => (&cas.second, HOST, Validity::Current),
                        Tls::Untrusted => (&cas.rogue, HOST, Validity::Current),
                        Tls::Expired => (&cas.root, HOST, Validity::Expired),
                        Tls::WrongName => (&cas.root, "other.example.test", Validity::Current),
                        _ => (&cas.root, HOST, Validity::Current),
                    };
                    let id = ca.issue(&[name], validity).unwrap();
                    let reply = Reply::new(200, "ok");
                    let s = if matches!(t, Tls::Tls12Only) {
                        HttpServer::start_tls12_only(id, reply).await
                    } else {
                        HttpServer::start(Some(id), reply).await
                    };
                    let s = s.unwrap();
                    let p = s.addr().port();
                    keep.http.push(s);
                    p
                }
            };
            let d = host_dns().await;
            let yaml = suite(&resolvers(d.addr(), None), &format!("tls: {{ host: {HOST}, port: {port}, resolver: lab }}"), &expect);
            keep.dns.push(d);
            (yaml, cas.trusted())
        }
        Mode::Http(h) => {
            let d = host_dns().await;
            let head = resolvers(d.addr(), None);
            keep.dns.push(d);
            let plain = |port: u16| format!("http: {{ url: \"http://{HOST}:{port}/\", resolver: lab }}");
            let via = |proxy: SocketAddr| {
                (
                    format!("{head}proxies: {{ px: {{ url: \"http://{proxy}\" }} }}\n"),
                    format!("http: {{ url: \"http://{HOST}/\", proxy: px, resolver: lab }}"),
                )
            };
            let (head, check) = match h {
                Http::Reply { status, body, env } => {
                    let s = HttpServer::start(None, endpoint_reply(status, body, env)).await.unwrap();
                    let c = plain(s.addr().port());
                    keep.http.push(s);
                    (head.clone(), c)
                }
                Http::Silent | Http::Partial => {
                    let fault = if matches!(h, Http::Silent) { TcpFault::Silent } else { TcpFault::PartialBody };
                    let f = FaultServer::start(fault).await.unwrap();
                    let c = plain(f.addr().port());
                    keep.faults.push(f);
                    (head.clone(), c)
                }
                Http::Closed => (head.clone(), plain(closed_port().unwrap().port())),
                Http::Unreachable => {
                    return isolated(suite("", &format!("http: {{ url: \"http://{UNREACHABLE}/\" }}"), &expect)).await;
                }
                Http::Untrusted => {
                    let id = cas.rogue.issue(&[HOST], Validity::Current).unwrap();
                    let s = HttpServer::start(Some(id), Reply::new(200, "hello world").header("X-Env", "prod")).await.unwrap();
                    let c = format!("http: {{ url: \"https://{HOST}:{}/\", resolver: lab }}", s.addr().port());
                    keep.http.push(s);
                    (head.clone(), c)
                }
                Http::ProxyOwn { status, product } => {
                    let f = FaultServer::start(TcpFault::ProxyAnswers { status, product }).await.unwrap();
                    let hc = via(f.addr());
                    keep.faults.push(f);
                    hc
                }
                Http::ProxyForwards { status } => {
                    let s = HttpServer::start(None, endpoint_reply(status, "hello world", "prod")).await.unwrap();
                    let to = s.addr();
                    let route: Route = Arc::new(move |host, port| (host == HOST && port == 80).then_some(to));
                    let p = Proxy::start(ProxyConfig { credentials: None, route }).await.unwrap();
                    let hc = via(p.addr());
                    keep.http.push(s);
                    keep.proxy = Some(p);
                    hc
                }
            };
            (suite(&head, &check, &expect), cas.trusted())
        }
    };
    let results = run_suite(&yaml, context(&roots, true)).await;
    drop(keep);
    Ran::Observed(observed(results))
}

/// Runs `yaml` in a thread that moved itself into a fresh network namespace with only `lo`
/// up and two routes: `unreachable` [`UNREACHABLE`] and `prohibit` [`PROHIBITED`]. Nothing can
/// leave that namespace (it has no other interface). `Skipped` when the namespace cannot be
/// made (no CAP_SYS_ADMIN, or no `ip`).
async fn isolated(yaml: String) -> Ran {
    let job = std::thread::spawn(move || -> Result<Vec<CheckResult>, String> {
        // SAFETY: unshare(2) with CLONE_NEWNET only changes this thread's network namespace;
        // no memory is shared or invalidated.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
        }
        let unreachable = format!("{UNREACHABLE}/32");
        let prohibited = format!("{PROHIBITED}/32");
        for args in
            [&["link", "set", "lo", "up"][..], &["route", "add", "unreachable", &unreachable], &["route", "add", "prohibit", &prohibited]]
        {
            // `ip` forked from this thread inherits its namespace.
            let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
            if !out.status.success() {
                return Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        // No sandbox: the namespace is the confinement (TEST-NET addresses, no way out).
        Ok(rt.block_on(run_suite(&yaml, context(&[], false))))
    });
    match tokio::task::spawn_blocking(move || job.join()).await {
        Ok(Ok(Ok(results))) => Ran::Observed(observed(results)),
        Ok(Ok(Err(why))) => Ran::Skipped(why),
        Ok(Err(_)) | Err(_) => panic!("the isolated-namespace run panicked"),
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "pass",
        Outcome::Failed => "fail",
        Outcome::Error => "error",
        Outcome::Cancelled => "cancelled",
    }
}

fn verdict(outcome: Outcome, reason: Option<&str>) -> String {
    match reason {
        Some(code) => format!("{} `{code}`", outcome_word(outcome)),
        None => format!("{} (no code)", outcome_word(outcome)),
    }
}

/// Every row, run `PARALLEL` at a time: the rows whose observed outcome or reason code differs
/// from the table make the test fail, each named with what it observed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdict_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, format!("# the matrix's hosts file\n10.0.0.1 {QNAME}\n")).unwrap();
    let hosts = &hosts;
    let mut ran: Vec<(usize, Ran)> = futures_util::stream::iter(ROWS.iter().enumerate())
        .map(|(i, row)| async move { (i, observe(row, hosts).await) })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    ran.sort_by_key(|(i, _)| *i);
    let (mut wrong, mut skipped) = (Vec::new(), Vec::new());
    for (i, r) in &ran {
        let row = &ROWS[*i];
        let name = format!("#{i} {} `{}` × {}", kind(row.mode), row.expect, describe(row.mode));
        match r {
            Ran::Skipped(why) => skipped.push(format!("{name}: {why}")),
            Ran::Observed(o) if o.outcome != row.outcome || o.reason.as_deref() != row.reason => wrong.push(format!(
                "{name}: expected {}, observed {}\n      {}",
                verdict(row.outcome, row.reason),
                verdict(o.outcome, o.reason.as_deref()),
                o.detail
            )),
            Ran::Observed(_) => {}
        }
    }
    if !skipped.is_empty() {
        if std::env::var_os("CI").is_some() {
            panic!("the isolated network namespace is unavailable and CI is set:\n{}", skipped.join("\n"));
        }
        eprintln!("skipping {} ICMP rows (set CI to make this a failure):\n{}", skipped.len(), skipped.join("\n"));
    }
    assert!(wrong.is_empty(), "{} of {} rows differ from the verdict matrix:\n{}", wrong.len(), ROWS.len(), wrong.join("\n"));
}

/// The markers around the generated section of docs/suite-format.md.
const DOC_START: &str = "<!-- verdict-matrix: generated from ROWS in tests/integration/verdicts.rs; do not edit by hand -->";
const DOC_END: &str = "<!-- /verdict-matrix -->";

/// The "Verdict matrix" section, from [`ROWS`] alone (what netspec must answer, not what a
/// build observed: the document is the specification the test holds the build to).
fn render() -> String {
    let mut out = format!(
        "{DOC_START}\n## Verdict matrix\n\n\
         What netspec answers for each expectation key meeting each failure mode, proved row by row by\n\
         `verdicts::verdict_matrix` (`cargo test --test integration verdicts::`) against loopback servers\n\
         (`src/loopback`): a resolver that never answers, answers SERVFAIL, REFUSED, NXDOMAIN or an\n\
         empty NOERROR; ports that are filtered (SYN dropped) or closed (RST); ICMP host-unreachable and\n\
         administratively-prohibited (routes of type `unreachable` and `prohibit` inside a network\n\
         namespace the test creates, with nothing but `lo`); refused certificates and a failed\n\
         handshake; a forward proxy answering a plain `http://` request itself; a body cut short (no\n\
         response: the status line alone is not judged).\n\n\
         - **fail**: evidence was obtained and contradicts the expectation, or a positive expectation\n  \
         (it must answer, connect, resolve, give a status) met no answer: that is the network failing.\n\
         - **error**: the check cannot be judged: an expectation of absence or difference (`resolves:\n  \
         false`, `agree`, `blocked` on a name that does not resolve, `trusted: false` without a\n  \
         handshake) got no evidence.\n\
         - **pass**: evidence was obtained and satisfies the expectation, never on no answer. No address\n  \
         matcher is vacuous: `all`, `any`, `none`, `equals`, `contains` and `from_hosts_file` fail\n  \
         when there is no answer to judge.\n\
         - A failing or erroring check always carries a reason code (docs/reason-codes.md); a passing\n  \
         one only when the code names the observed condition the expectation accepted (a `blocked`\n  \
         port seen `tcp.filtered`); \"no code\" means the check must carry none.\n\n\
         Every check has a {} s timeout. The dns rows ask `{QNAME}` (a Key Vault name, so that\n\
         `private_endpoint` applies); `hosts.txt` lists `10.0.0.1 {QNAME}`. The tls and http rows\n\
         trust the lab roots \"matrix root\" and \"second root\" only.\n\n\
         | kind | expectation | failure mode | verdict | reason code |\n|---|---|---|---|---|\n",
        TIMEOUT.as_secs()
    );
    for row in ROWS {
        let code = row.reason.map_or_else(|| "no code".to_string(), |c| format!("`{c}`"));
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {code} |\n",
            kind(row.mode),
            row.expect.replace("HOSTS", "hosts.txt"),
            describe(row.mode),
            outcome_word(row.outcome)
        ));
    }
    out.push_str(DOC_END);
    out
}

/// `doc` with its verdict-matrix section replaced by `section` (appended when it has none).
fn splice(doc: &str, section: &str) -> String {
    match (doc.find(DOC_START), doc.find(DOC_END)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &doc[..a], &doc[b + DOC_END.len()..]),
        _ => format!("{}\n\n{section}\n", doc.trim_end()),
    }
}

#[test]
fn verdict_matrix_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/suite-format.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let text = splice(&doc, &render());
    if text != doc {
        if std::env::var_os("NETSPEC_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        } else {
            panic!(
                "docs/suite-format.md's verdict matrix differs from ROWS in tests/integration/verdicts.rs: run \
                 `NETSPEC_WRITE_DOCS=1 cargo test --test integration verdicts::verdict_matrix_doc_is_current`"
            );
        }
    }
}

/// The table keeps covering every expectation key and every failure mode of issue #13: a
/// key or mode left without a row fails here.
#[test]
fn every_expectation_key_and_failure_mode_has_rows() {
    let keys = [
        "resolves: true",
        "resolves: false",
        "rcode:",
        "addresses: { all:",
        "addresses: { any:",
        "addresses: { none:",
        "addresses: { equals:",
        "addresses: { contains:",
        "addresses: { from_hosts_file:",
        "cname:",
        "ttl:",
        "private_endpoint:",
        "agree: true",
        "agree: false",
        "state: open",
        "state: blocked",
        "state: filtered",
        "state: closed",
        "trusted: true",
        "trusted: false",
        "issuer:",
        "san:",
        "expires_in:",
        "min_version:",
        "refuses_versions:",
        "status:",
        "body:",
        "headers:",
        "remote_address:",
    ];
    let missing: Vec<&str> = keys.iter().copied().filter(|k| !ROWS.iter().any(|r| r.expect.starts_with(k))).collect();
    assert!(missing.is_empty(), "expectation keys without a row: {missing:?}");
    let modes = [
        Mode::Dns(Dns::Timeout),
        Mode::Dns(Dns::ServFail),
        Mode::Dns(Dns::Refused),
        Mode::Dns(Dns::NxDomain),
        Mode::Dns(Dns::NoData),
        Mode::Agree(Side::A(PRIV_IP), Side::Silent),
        Mode::Tcp(Port::Filtered),
        Mode::Tcp(Port::Closed),
        Mode::Tcp(Port::Unreachable),
        Mode::Tcp(Port::Prohibited),
        Mode::Tls(Tls::Untrusted),
        Mode::Tls(Tls::Expired),
        Mode::Tls(Tls::WrongName),
        Mode::Tls(Tls::Reset),
        Mode::Http(Http::Partial),
        Mode::Http(Http::Silent),
        Mode::Http(Http::ProxyOwn { status: 401, product: true }),
        Mode::Http(Http::ProxyOwn { status: 407, product: false }),
    ];
    let missing: Vec<String> = modes.iter().filter(|m| !ROWS.iter().any(|r| r.mode == **m)).map(|m| describe(*m)).collect();
    assert!(missing.is_empty(), "failure modes without a row: {missing:?}");
}
