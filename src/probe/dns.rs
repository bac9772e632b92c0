//! The DNS probe: one question to a resolver's servers, observing the real response.
//!
//! Works one layer below hickory-resolver (which hides rcodes, the chain and the server that
//! answered): messages are built and parsed with hickory-proto, and sent by this module over UDP
//! (TCP fallback on the TC bit, RFC 1035 4.2.1 / RFC 7766) or TCP with the 2-byte length prefix
//! (RFC 1035 4.2.2). Servers are tried in order; a timeout, a network error, SERVFAIL or REFUSED
//! moves to the next one (as the stub resolver of glibc does). A CNAME chain that the server left
//! unfinished is followed by asking for the last target (at most 8 hops).

pub use crate::model::observation::dns::{DnsEvidence, DnsObservation, Record, rcode_reason};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::model::rcode::{self, ResponseCode};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RData, RecordType as HRecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{AnswerSource, Failure, ProbeContext, Resolution};
use crate::model::Reason;
use crate::model::target::ResolverSpec;
use crate::model::target::{Protocol, RecordType};

/// Interval after which an unanswered UDP query is sent again (glibc's default is 5 s with 2
/// attempts; a checker under a short deadline resends sooner).
const RETRANSMIT: Duration = Duration::from_millis(1000);

/// Maximum CNAME hops followed by re-querying.
const MAX_HOPS: usize = 8;

/// The `system` resolver's servers: the `nameserver` lines of /etc/resolv.conf, port 53.
pub fn system_servers() -> Vec<SocketAddr> {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok((cfg, _)) => cfg.name_servers().iter().map(|ns| SocketAddr::new(ns.ip, 53)).collect(),
        Err(_) => Vec::new(),
    }
}

fn htype(t: RecordType) -> HRecordType {
    match t {
        RecordType::A => HRecordType::A,
        RecordType::AAAA => HRecordType::AAAA,
        RecordType::CNAME => HRecordType::CNAME,
        RecordType::TXT => HRecordType::TXT,
        RecordType::SRV => HRecordType::SRV,
        RecordType::MX => HRecordType::MX,
        RecordType::PTR => HRecordType::PTR,
        RecordType::NS => HRecordType::NS,
        RecordType::SOA => HRecordType::SOA,
        RecordType::CAA => HRecordType::CAA,
    }
}

fn trim_dot(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_owned()
}

/// Asks `resolver` for `name`/`record_type`, all under `deadline`.
pub async fn query(ctx: &ProbeContext, resolver: &ResolverSpec, name: &str, record_type: RecordType, deadline: Instant) -> DnsObservation {
    let start = Instant::now();
    let mut obs = DnsObservation {
        query: trim_dot(name),
        record_type,
        resolver: resolver.name.clone(),
        source: AnswerSource::Dns,
        servers_tried: Vec::new(),
        server: None,
        rcode: None,
        answers: Vec::new(),
        cname_chain: Vec::new(),
        addresses: Vec::new(),
        failure: None,
        elapsed: Duration::ZERO,
        compared: Vec::new(),
    };
    // The system resolver answers A/AAAA from the hosts file first, as getaddrinfo does.
    if resolver.servers.is_none() && matches!(record_type, RecordType::A | RecordType::AAAA) {
        let ips: Vec<IpAddr> = ctx.hosts.lookup(name).iter().copied().filter(|ip| ip.is_ipv4() == (record_type == RecordType::A)).collect();
        if !ips.is_empty() {
            obs.source = AnswerSource::HostsFile;
            obs.rcode = Some(ResponseCode::NoError);
            obs.answers = ips
                .iter()
                .map(|ip| Record { name: obs.query.clone(), record_type: record_type.as_str().into(), ttl: 0, data: ip_text(ip) })
                .collect();
            obs.addresses = ips;
            obs.elapsed = start.elapsed();
            return obs;
        }
    }
    let servers: &[SocketAddr] = resolver.servers.as_deref().unwrap_or(&ctx.system_servers);
    if servers.is_empty() {
        obs.failure = Some(Failure::new(Reason::DnsNoServers, "the resolver has no servers (is /etc/resolv.conf empty?)"));
        obs.elapsed = start.elapsed();
        return obs;
    }
    let qname = match Name::from_ascii(name).map(|mut n| {
        n.set_fqdn(true);
        n
    }) {
        Ok(n) => n,
        Err(e) => {
            obs.failure = Some(Failure::new(Reason::DnsBadName, format!("`{name}` is not a valid DNS name: {e}")));
            obs.elapsed = start.elapsed();
            return obs;
        }
    };

    let mut chosen: Option<(SocketAddr, Message)> = None;
    let mut last_failure = None;
    for (i, server) in servers.iter().enumerate() {
        // Share what is left of the deadline between the servers still to ask.
        let left = deadline.saturating_duration_since(Instant::now());
        let share = left / (servers.len() - i) as u32;
        let try_deadline = Instant::now() + share;
        let mut tried = crate::model::observation::socket_text(server);
        tried.push_str(if resolver.protocol == Protocol::Tcp { "/tcp" } else { "/udp" });
        obs.servers_tried.push(tried);
        match exchange(ctx, *server, &qname, htype(record_type), resolver.protocol, try_deadline).await {
            Ok(msg) => {
                let code = msg.metadata.response_code;
                let retry_next = matches!(code, ResponseCode::ServFail | ResponseCode::Refused) && i + 1 < servers.len();
                chosen = Some((*server, msg));
                if !retry_next {
                    break;
                }
            }
            Err(f) => last_failure = Some(f),
        }
    }
    let Some((server, msg)) = chosen else {
        obs.failure = last_failure;
        obs.elapsed = start.elapsed();
        return obs;
    };
    obs.server = Some(crate::model::observation::socket_text(&server));
    obs.rcode = Some(msg.metadata.response_code);
    absorb(&mut obs, &msg);

    // Follow a chain the server left unfinished.
    let want = htype(record_type);
    let mut hops = 0;
    while record_type != RecordType::CNAME
        && obs.rcode == Some(ResponseCode::NoError)
        && !obs.cname_chain.is_empty()
        && !obs.resolves()
        && hops < MAX_HOPS
    {
        hops += 1;
        let Some(target) = obs.cname_chain.last().and_then(|t| Name::from_ascii(format!("{t}.")).ok()) else {
            break;
        };
        match exchange(ctx, server, &target, want, resolver.protocol, deadline).await {
            Ok(m) => {
                if m.metadata.response_code != ResponseCode::NoError {
                    obs.rcode = Some(m.metadata.response_code);
                }
                let before = obs.answers.len();
                absorb(&mut obs, &m);
                if obs.answers.len() == before {
                    break;
                }
            }
            Err(f) => {
                obs.failure = Some(f);
                break;
            }
        }
    }
    obs.elapsed = start.elapsed();
    obs
}

/// An address as its `Display` text, without `core::fmt` for IPv4.
fn ip_text(ip: &IpAddr) -> String {
    let mut out = String::with_capacity(15);
    crate::model::observation::push_ip(&mut out, ip);
    out
}

/// Adds a response's answer records to the observation and recomputes chain and addresses.
fn absorb(obs: &mut DnsObservation, msg: &Message) {
    for r in &msg.answers {
        obs.answers.push(Record {
            name: trim_dot(&r.name.to_ascii()),
            record_type: <&'static str>::from(r.record_type()).into(),
            ttl: r.ttl,
            data: match &r.data {
                RData::CNAME(c) => trim_dot(&c.0.to_ascii()),
                RData::A(a) => ip_text(&IpAddr::V4(a.0)),
                RData::AAAA(a) => ip_text(&IpAddr::V6(a.0)),
                d => d.to_string(),
            },
        });
    }
    // Walk the chain from the query name.
    let mut current = obs.query.clone();
    let mut chain = Vec::new();
    while chain.len() <= MAX_HOPS * 2 {
        let next = obs.answers.iter().find(|r| r.record_type == "CNAME" && r.name.eq_ignore_ascii_case(&current)).map(|r| r.data.clone());
        match next {
            Some(t) if !chain.contains(&t) => {
                chain.push(t.clone());
                current = t;
            }
            _ => break,
        }
    }
    obs.cname_chain = chain;
    obs.addresses = obs
        .answers
        .iter()
        .filter(|r| (r.record_type == "A" || r.record_type == "AAAA") && r.name.eq_ignore_ascii_case(&current))
        .filter_map(|r| r.data.parse().ok())
        .collect();
}

/// One query/response exchange with one server, under `deadline`.
async fn exchange(
    ctx: &ProbeContext,
    server: SocketAddr,
    name: &Name,
    rtype: HRecordType,
    protocol: Protocol,
    deadline: Instant,
) -> Result<Message, Failure> {
    let real = ctx.route(server)?;
    let mut msg = Message::query();
    let question = Query::query(name.clone(), rtype);
    msg.add_query(question.clone());
    msg.metadata.recursion_desired = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    let id = msg.metadata.id;
    let wire = msg.to_vec().map_err(|e| Failure::new(Reason::DnsBadName, format!("cannot encode the query: {e}")))?;
    // The decoding error of the last undecodable datagram: a server that only ever answers
    // garbage is reported as such at the deadline, not as silent.
    let mut garbled: Option<String> = None;
    let result = timeout_at(deadline, async {
        if protocol == Protocol::Udp {
            let resp = udp_exchange(ctx, real, &wire, id, &question, &mut garbled).await?;
            if !resp.metadata.truncation {
                return Ok(resp);
            }
        }
        tcp_exchange(real, &wire, id, &question).await
    })
    .await;
    match result {
        Ok(r) => r,
        Err(_) => Err(match garbled {
            Some(e) => {
                Failure::new(Reason::DnsMalformed, format!("{server} answered only with undecodable responses before the deadline: {e}"))
            }
            None => Failure::new(Reason::DnsTimeout, format!("no response from {server} before the deadline")),
        }),
    }
}

/// The reason of an I/O error exchanging a query: running out of descriptors is this
/// machine's problem ([`Reason::DnsSocket`], local), anything else the network's.
fn net_reason(e: &std::io::Error) -> Reason {
    if super::out_of_descriptors(e) { Reason::DnsSocket } else { Reason::DnsNetwork }
}

/// True when `resp` answers `question` (RFC 5452 9.1: an answer is accepted only when its id and
/// its question section match the query; the id is compared by the caller). Names compare
/// case-insensitively (RFC 4343).
fn answers(resp: &Message, question: &Query) -> bool {
    resp.metadata.message_type == hickory_proto::op::MessageType::Response
        && resp.queries.len() == 1
        && resp.queries[0].query_type() == question.query_type()
        && resp.queries[0].query_class() == question.query_class()
        && resp.queries[0].name() == question.name()
}

/// One exchange over a connected UDP socket of the context's pool ([`super::udp_pool`]): the
/// socket goes back to the pool when the answer came, and is closed on any error, timeout or
/// cancellation. Datagrams whose id or question differ are skipped.
async fn udp_exchange(
    ctx: &ProbeContext,
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    question: &Query,
    garbled: &mut Option<String>,
) -> Result<Message, Failure> {
    let net = |e: std::io::Error| Failure::new(net_reason(&e), format!("{server}: {e}"));
    let mut pooled = ctx.udp_pool.take(server).await.map_err(net)?;
    if let Err(e) = pooled.socket.send(wire).await {
        // A reused socket may have gone stale: one more try on a fresh one.
        if !pooled.reused() {
            return Err(net(e));
        }
        pooled = super::udp_pool::UdpPool::open(server).await.map_err(net)?;
        pooled.socket.send(wire).await.map_err(net)?;
    }
    // The socket's own buffer, not zeroed (`recv_buf` writes into the spare capacity): zeroing
    // 4 KiB per query was 3 % of W-dns's instructions; reused, it is not allocated per query.
    let super::udp_pool::PooledSocket { socket: sock, buf, .. } = &mut pooled;
    // Datagrams get lost: resend the same query (same id) every RETRANSMIT until an answer
    // arrives, as stub resolvers do (resolv.conf(5) `timeout`); the caller's deadline bounds it.
    let answer = loop {
        let wait = tokio::time::timeout(RETRANSMIT, async {
            loop {
                buf.clear();
                let n = sock.recv_buf(buf).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::ConnectionRefused {
                        Failure::new(Reason::DnsRefusedPort, format!("{server}: nothing listens on the DNS port (ICMP port unreachable)"))
                    } else {
                        net(e)
                    }
                })?;
                // Skip answers to other queries and garbage (noting it), waiting for the answer.
                match Message::from_vec(&buf[..n]) {
                    Ok(m) if m.metadata.id == id && answers(&m, question) => return Ok(m),
                    Ok(_) => {}
                    Err(e) => *garbled = Some(e.to_string()),
                }
            }
        })
        .await;
        match wait {
            Ok(r) => break r?,
            Err(_) => sock.send(wire).await.map_err(net)?,
        };
    };
    ctx.udp_pool.give_back(server, pooled);
    Ok(answer)
}

async fn tcp_exchange(server: SocketAddr, wire: &[u8], id: u16, question: &Query) -> Result<Message, Failure> {
    let net = |e: std::io::Error| Failure::new(net_reason(&e), format!("{server} over TCP: {e}"));
    let mut s = TcpStream::connect(server).await.map_err(net)?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&(wire.len() as u16).to_be_bytes());
    framed.extend_from_slice(wire);
    s.write_all(&framed).await.map_err(net)?;
    loop {
        let len = s.read_u16().await.map_err(net)? as usize;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).await.map_err(net)?;
        match Message::from_vec(&buf) {
            Ok(m) if m.metadata.id == id && answers(&m, question) => return Ok(m),
            Ok(_) => continue,
            Err(e) => {
                return Err(Failure::new(Reason::DnsMalformed, format!("{server} sent an undecodable response: {e}")));
            }
        }
    }
}

/// Resolves `host` to addresses for a tcp, tls or http probe: an IP literal as is; through the
/// `system` resolver a name the hosts file lists as getaddrinfo does with `hosts: files dns`
/// (nsswitch.conf(5)): the file's addresses of both families, and no DNS query; otherwise A and
/// AAAA queries in parallel through `resolver`.
pub async fn resolve(ctx: &ProbeContext, resolver: &ResolverSpec, host: &str, deadline: Instant) -> Resolution {
    let start = Instant::now();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Resolution::literal(host, &resolver.name, ip);
    }
    if resolver.servers.is_none() {
        let listed = ctx.hosts.lookup(host);
        if !listed.is_empty() {
            // A first, as for DNS answers.
            let mut addresses: Vec<IpAddr> = listed.iter().copied().filter(IpAddr::is_ipv4).collect();
            addresses.extend(listed.iter().copied().filter(IpAddr::is_ipv6));
            return Resolution {
                host: host.to_owned(),
                resolver: resolver.name.clone(),
                source: AnswerSource::HostsFile,
                addresses,
                cname_chain: Vec::new(),
                rcode: Some(ResponseCode::NoError),
                failure: None,
                elapsed: start.elapsed(),
            };
        }
    }
    let (a, aaaa) =
        tokio::join!(query(ctx, resolver, host, RecordType::A, deadline), query(ctx, resolver, host, RecordType::AAAA, deadline));
    let mut addresses = a.addresses.clone();
    addresses.extend(aaaa.addresses.iter().copied());
    let failure = if !addresses.is_empty() {
        None
    } else if let Some(f) = a.failure.clone() {
        Some(f)
    } else {
        match a.rcode {
            Some(ResponseCode::NXDomain) => Some(Failure::new(a.nxdomain_reason(), format!("{host} does not exist (NXDOMAIN)"))),
            Some(ResponseCode::NoError) => {
                Some(Failure::new(Reason::DnsNoAnswer, format!("{host} has no A or AAAA records (NOERROR, empty answer)")))
            }
            Some(rc) => Some(Failure::new(rcode_reason(rc), format!("the resolver answered {} for {host}", rcode::name(rc)))),
            None => Some(Failure::new(Reason::DnsTimeout, format!("no response for {host}"))),
        }
    };
    Resolution {
        host: host.to_owned(),
        resolver: resolver.name.clone(),
        source: a.source,
        addresses,
        cname_chain: a.cname_chain,
        rcode: a.rcode,
        failure,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{ContextOptions, hosts::HostsFile};

    /// A name in the hosts file is answered from it alone, as getaddrinfo does: no AAAA query
    /// goes to DNS because the file lists only an IPv4 address.
    #[tokio::test]
    async fn a_listed_name_is_not_asked_of_dns() {
        let dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        dns.set_nonblocking(true).unwrap();
        let mut ctx = ProbeContext::new(ContextOptions { system_servers: Some(vec![dns.local_addr().unwrap()]), ..Default::default() });
        ctx.hosts = HostsFile::parse("127.0.0.9 www.lab.test\n");
        let system = ResolverSpec::system();
        let r = resolve(&ctx, &system, "www.lab.test", Instant::now() + Duration::from_millis(300)).await;
        assert_eq!(r.addresses, vec!["127.0.0.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.source, AnswerSource::HostsFile);
        assert!(r.failure.is_none());
        let mut buf = [0u8; 512];
        assert!(dns.recv_from(&mut buf).is_err(), "a query was sent for a listed name");
        // A name the file does not list is asked of DNS (and times out here: nobody answers).
        let r = resolve(&ctx, &system, "other.lab.test", Instant::now() + Duration::from_millis(200)).await;
        assert!(r.addresses.is_empty());
        assert!(dns.recv_from(&mut buf).is_ok(), "no query was sent for an unlisted name");
    }
}
