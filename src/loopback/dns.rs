//! An in-memory DNS zone served over UDP and TCP on one loopback port.
//!
//! It answers like a recursive resolver would (the client sees CNAME chains already followed,
//! `RA` set), which is what netspec's DNS checks expect from a corporate resolver. Messages are
//! encoded and decoded with hickory-proto; there is no hickory-server. Malformed packets get
//! `FORMERR` when their id is readable and are ignored otherwise.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::{AbortOnDrop, IDLE, spawn_accept_loop};

/// Longest CNAME chain the zone follows before answering `SERVFAIL` (it is a loop by then).
const MAX_HOPS: usize = 8;

/// A fault planted on one query name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFault {
    /// Answer `SERVFAIL`.
    ServFail,
    /// Never answer (the client times out).
    Drop,
}

#[derive(Debug, Clone)]
enum Rec {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Txt(String),
}

impl Rec {
    fn matches(&self, qtype: RecordType) -> bool {
        matches!(
            (self, qtype),
            (_, RecordType::ANY)
                | (Rec::A(_), RecordType::A)
                | (Rec::Aaaa(_), RecordType::AAAA)
                | (Rec::Cname(_), RecordType::CNAME)
                | (Rec::Txt(_), RecordType::TXT)
        )
    }
}

/// Names compare case-insensitively and with or without the trailing dot.
fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(name: &str) -> Result<Name, ResponseCode> {
    Name::from_ascii(format!("{}.", norm(name))).map_err(|_| ResponseCode::ServFail)
}

/// The records, faults and authority of the lab resolver. Build it, then hand it to
/// [`DnsServer::start`]. All names are case-insensitive, with or without a trailing dot.
#[derive(Debug, Clone)]
pub struct DnsZone {
    records: HashMap<String, Vec<Rec>>,
    authoritative: Vec<String>,
    faults: HashMap<String, DnsFault>,
    ttl: u32,
}

impl Default for DnsZone {
    fn default() -> Self {
        DnsZone { records: HashMap::new(), authoritative: Vec::new(), faults: HashMap::new(), ttl: 300 }
    }
}

impl DnsZone {
    /// An empty zone: every query is `REFUSED` until records or authority are added.
    pub fn new() -> DnsZone {
        DnsZone::default()
    }

    fn add(&mut self, name: &str, rec: Rec) -> &mut Self {
        self.records.entry(norm(name)).or_default().push(rec);
        self
    }

    /// Adds an A record.
    pub fn add_a(&mut self, name: &str, addr: Ipv4Addr) -> &mut Self {
        self.add(name, Rec::A(addr))
    }

    /// Adds an AAAA record.
    pub fn add_aaaa(&mut self, name: &str, addr: Ipv6Addr) -> &mut Self {
        self.add(name, Rec::Aaaa(addr))
    }

    /// Adds a CNAME from `name` to `target` (give a name one CNAME and nothing else).
    pub fn add_cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(name, Rec::Cname(norm(target)))
    }

    /// Adds a TXT record (split into 255-byte character-strings as needed).
    pub fn add_txt(&mut self, name: &str, text: &str) -> &mut Self {
        self.add(name, Rec::Txt(text.to_string()))
    }

    /// Sets the TTL in seconds of every answer (default 300).
    pub fn set_ttl(&mut self, secs: u32) -> &mut Self {
        self.ttl = secs;
        self
    }

    /// Makes the zone authoritative for `suffix` and the names under it: an unknown name
    /// there gets `NXDOMAIN` (with an SOA in authority) instead of `REFUSED`.
    pub fn authoritative_for(&mut self, suffix: &str) -> &mut Self {
        self.authoritative.push(norm(suffix));
        self
    }

    /// Plants a fault on queries for exactly `name` (any type).
    pub fn fault(&mut self, name: &str, fault: DnsFault) -> &mut Self {
        self.faults.insert(norm(name), fault);
        self
    }

    fn recs(&self, name: &str) -> &[Rec] {
        self.records.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The normalised names along `name`'s CNAME chain, `name` first and the end of the chain
    /// last; `None` for a chain longer than 8 hops (a loop, in practice).
    fn chain(&self, name: &str) -> Option<Vec<String>> {
        let mut names = vec![norm(name)];
        while let Some(target) = names.last().and_then(|n| {
            self.recs(n).iter().find_map(|r| match r {
                Rec::Cname(t) => Some(t.clone()),
                _ => None,
            })
        }) {
            if names.len() > MAX_HOPS {
                return None;
            }
            names.push(target);
        }
        Some(names)
    }

    /// The addresses (A then AAAA) `name` resolves to in this zone, following CNAMEs (at most
    /// 8 hops). Empty when the name is unknown. Faults are not applied.
    pub fn resolve(&self, name: &str) -> Vec<IpAddr> {
        let chain = self.chain(name).unwrap_or_default();
        let mut ips: Vec<IpAddr> = chain
            .last()
            .map_or(&[][..], |n| self.recs(n))
            .iter()
            .filter_map(|r| match r {
                Rec::A(a) => Some(IpAddr::V4(*a)),
                Rec::Aaaa(a) => Some(IpAddr::V6(*a)),
                _ => None,
            })
            .collect();
        ips.sort_by_key(IpAddr::is_ipv6); // stable: keeps zone order within a family
        ips
    }

    /// The authoritative suffix covering `name`, if any (longest match).
    fn authority(&self, name: &str) -> Option<&str> {
        self.authoritative
            .iter()
            .filter(|s| name == s.as_str() || name.ends_with(&format!(".{s}")))
            .max_by_key(|s| s.len())
            .map(String::as_str)
    }

    fn soa(&self, suffix: &str) -> Result<Record, ResponseCode> {
        let soa = SOA::new(fqdn(&format!("ns1.{suffix}"))?, fqdn(&format!("hostmaster.{suffix}"))?, 1, 3600, 600, 86400, self.ttl);
        Ok(Record::from_rdata(fqdn(suffix)?, self.ttl, RData::SOA(soa)))
    }

    fn record(&self, owner: &Name, rec: &Rec) -> Result<Record, ResponseCode> {
        let data = match rec {
            Rec::A(a) => RData::A(A(*a)),
            Rec::Aaaa(a) => RData::AAAA(AAAA(*a)),
            Rec::Cname(t) => RData::CNAME(CNAME(fqdn(t)?)),
            Rec::Txt(t) => RData::TXT(TXT::from_bytes(t.as_bytes().chunks(255).collect())),
        };
        Ok(Record::from_rdata(owner.clone(), self.ttl, data))
    }

    /// Fills `resp` (already carrying the question) for a query of `qtype` on `qname`.
    fn fill(&self, resp: &mut Message, qname: &Name, qtype: RecordType) -> Result<(), ResponseCode> {
        // CNAME and ANY questions are about the name itself; others follow the chain.
        let qnorm = norm(&qname.to_ascii());
        let chain = match qtype {
            RecordType::CNAME | RecordType::ANY => vec![qnorm],
            _ => self.chain(&qnorm).ok_or(ResponseCode::ServFail)?,
        };
        // The first owner echoes the question's spelling (clients may randomise case).
        let mut owner = qname.clone();
        for target in &chain[1..] {
            resp.add_answer(self.record(&owner, &Rec::Cname(target.clone()))?);
            owner = fqdn(target)?;
        }
        let name = chain.last().map_or("", String::as_str);
        let recs = self.recs(name);
        let mut found = false;
        for rec in recs.iter().filter(|r| r.matches(qtype)) {
            resp.add_answer(self.record(&owner, rec)?);
            found = true;
        }
        let authority = self.authority(name);
        resp.metadata.response_code = match (recs.is_empty(), authority) {
            (false, _) => ResponseCode::NoError,
            (true, Some(_)) => ResponseCode::NXDomain,
            // A chain leaving the zone: answer what we know, as a forwarder would.
            (true, None) if !resp.answers.is_empty() => ResponseCode::NoError,
            (true, None) => ResponseCode::Refused,
        };
        // Negative answers (NXDOMAIN, or NODATA) carry the SOA of their zone.
        if let (false, Some(suffix)) = (found, authority) {
            resp.add_authority(self.soa(suffix)?);
        }
        Ok(())
    }

    /// The response to `req`, or `None` when the question is planted with [`DnsFault::Drop`].
    fn answer(&self, req: &Message) -> Option<Message> {
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.recursion_available = true;
        resp.queries = req.queries.clone();
        if req.edns.is_some() {
            resp.edns = Some(Edns::new());
        }
        let code = match (req.metadata.op_code, req.queries.as_slice()) {
            (OpCode::Query, [q]) => match self.faults.get(&norm(&q.name.to_ascii())) {
                Some(DnsFault::Drop) => return None,
                Some(DnsFault::ServFail) => Err(ResponseCode::ServFail),
                None => self.fill(&mut resp, &q.name, q.query_type),
            },
            (OpCode::Query, _) => Err(ResponseCode::FormErr),
            _ => Err(ResponseCode::NotImp),
        };
        if let Err(code) = code {
            resp.answers.clear();
            resp.authorities.clear();
            resp.metadata.response_code = code;
        }
        Some(resp)
    }

    /// Wire bytes answering `packet`, or `None` to stay silent. `udp` limits the size to what
    /// the client advertised (512 without EDNS) and sets TC beyond it.
    pub(crate) fn handle(&self, packet: &[u8], udp: bool) -> Option<Vec<u8>> {
        let (resp, limit) = match Message::from_vec(packet) {
            Ok(req) if req.metadata.message_type == MessageType::Query => {
                let limit = match (&req.edns, udp) {
                    (_, false) => usize::from(u16::MAX),
                    (Some(e), true) => usize::from(e.max_payload().max(512)),
                    (None, true) => 512,
                };
                (self.answer(&req)?, limit)
            }
            Ok(_) => return None, // a response sent to us: never answer answers
            Err(_) if packet.len() >= 2 => {
                let id = u16::from_be_bytes([packet[0], packet[1]]);
                let resp = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                (resp, 512)
            }
            Err(_) => return None,
        };
        let bytes = resp.to_vec().ok()?;
        if bytes.len() <= limit { Some(bytes) } else { resp.truncate().to_vec().ok() }
    }
}

/// A running lab resolver: UDP and TCP on the same `127.0.0.1` port. Stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    _udp: AbortOnDrop,
    _tcp: AbortOnDrop,
}

impl DnsServer {
    /// Binds UDP and TCP on one ephemeral `127.0.0.1` port and serves `zone`.
    ///
    /// Errors: the bind failed, or 20 attempts found the TCP twin of the UDP port taken.
    pub async fn start(zone: DnsZone) -> io::Result<DnsServer> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let zone = Arc::new(zone);
        let queries = Arc::new(AtomicU64::new(0));

        let (z, q) = (zone.clone(), queries.clone());
        let udp_task = AbortOnDrop(tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    // recv errors are transient (e.g. ICMP echoes); avoid a hot loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(out) = z.handle(&buf[..n], true) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
        }));

        let (z, q) = (zone, queries.clone());
        let tcp_task = spawn_accept_loop(tcp, move |stream| serve_tcp(stream, z.clone(), q.clone()));
        Ok(DnsServer { addr, queries, _udp: udp_task, _tcp: tcp_task })
    }

    /// Where the server listens (`127.0.0.1:PORT`, UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many DNS messages (UDP datagrams and TCP messages, well-formed or not) arrived.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

pub(crate) async fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no free UDP+TCP port pair on 127.0.0.1"))
}

/// Reads one DNS message over TCP: a 2-byte length, then that many bytes (RFC 1035 4.2.2), each
/// read within the idle time. `None` at EOF, on an error or when idle.
pub(crate) async fn read_tcp_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    tokio::time::timeout(IDLE, stream.read_exact(&mut len)).await.ok()?.ok()?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tokio::time::timeout(IDLE, stream.read_exact(&mut msg)).await.ok()?.ok()?;
    Some(msg)
}

/// One TCP client: 2-byte length-prefixed messages (RFC 1035 4.2.2) until EOF or idle.
async fn serve_tcp(mut stream: TcpStream, zone: Arc<DnsZone>, queries: Arc<AtomicU64>) {
    for _ in 0..1000 {
        let Some(msg) = read_tcp_message(&mut stream).await else { return };
        queries.fetch_add(1, Ordering::Relaxed);
        let Some(out) = zone.handle(&msg, false) else {
            continue;
        };
        let Ok(n) = u16::try_from(out.len()) else {
            continue;
        };
        let mut framed = n.to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::op::Query;

    /// Sends one query for `name`/`rtype` to `addr` (UDP, or TCP when `tcp`) and waits at
    /// most 300 ms for the answer; `None` when none came.
    pub(crate) async fn query(addr: SocketAddr, name: &str, rtype: RecordType, tcp: bool) -> Option<Message> {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).unwrap();
        q.add_query(Query::query(fqdn, rtype));
        let bytes = q.to_vec().unwrap();
        let exchange = async {
            let reply = if tcp {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                s.write_all(&framed).await.unwrap();
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.unwrap();
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut buf).await.unwrap();
                buf
            } else {
                let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                s.send_to(&bytes, addr).await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.recv(&mut buf).await.unwrap();
                buf.truncate(n);
                buf
            };
            Message::from_vec(&reply).unwrap()
        };
        let m = tokio::time::timeout(Duration::from_millis(300), exchange).await.ok()?;
        assert_eq!(m.metadata.id, q.metadata.id);
        assert_eq!(m.queries, q.queries);
        assert!(m.metadata.recursion_available);
        Some(m)
    }

    fn lab_zone() -> DnsZone {
        let mut z = DnsZone::new();
        z.add_cname("Www.Example.test.", "edge.example.test")
            .add_cname("edge.example.test", "origin.cdn.test")
            .add_a("origin.cdn.test", Ipv4Addr::new(20, 1, 2, 3))
            .add_a("origin.cdn.test", Ipv4Addr::new(20, 1, 2, 4))
            .add_aaaa("origin.cdn.test", "2001:db8::1".parse().unwrap())
            .add_txt("example.test", &"x".repeat(300))
            .add_cname("loop1.example.test", "loop2.example.test")
            .add_cname("loop2.example.test", "loop1.example.test")
            .add_cname("away.example.test", "somewhere.else.test")
            .authoritative_for("example.test")
            .fault("broken.example.test", DnsFault::ServFail)
            .fault("silent.example.test", DnsFault::Drop)
            .set_ttl(60);
        z
    }

    fn names(m: &Message) -> Vec<String> {
        m.answers.iter().map(|r| r.name.to_ascii()).collect()
    }

    #[tokio::test]
    async fn answers_follow_cname_chains_over_udp_and_tcp() {
        let srv = DnsServer::start(lab_zone()).await.unwrap();
        for tcp in [false, true] {
            let m = query(srv.addr(), "WWW.example.TEST", RecordType::A, tcp).await.unwrap();
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert_eq!(names(&m), ["WWW.example.TEST.", "edge.example.test.", "origin.cdn.test.", "origin.cdn.test."]);
            assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
            assert_eq!(m.answers[1].record_type(), RecordType::CNAME);
            assert_eq!(m.answers[2].data, RData::A(A::new(20, 1, 2, 3)));
            assert!(m.answers.iter().all(|r| r.ttl == 60));
        }
        let m = query(srv.addr(), "www.example.test", RecordType::AAAA, false).await.unwrap();
        assert_eq!(m.answers.len(), 3);
        let m = query(srv.addr(), "www.example.test", RecordType::CNAME, false).await.unwrap();
        assert_eq!(m.answers.len(), 1);
        let m = query(srv.addr(), "example.test", RecordType::TXT, true).await.unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(srv.queries(), 5);
    }

    #[tokio::test]
    async fn negative_answers_and_faults() {
        let srv = DnsServer::start(lab_zone()).await.unwrap();
        let rcode = |m: Option<Message>| m.unwrap().metadata.response_code;
        let m = query(srv.addr(), "nope.example.test", RecordType::A, false).await.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        // NODATA: the name exists without that type.
        let m = query(srv.addr(), "example.test", RecordType::A, false).await.unwrap();
        assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 0));
        let m = query(srv.addr(), "unknown.org", RecordType::A, false).await;
        assert_eq!(rcode(m), ResponseCode::Refused);
        let m = query(srv.addr(), "broken.example.test", RecordType::A, false).await;
        assert_eq!(rcode(m), ResponseCode::ServFail);
        let m = query(srv.addr(), "loop1.example.test", RecordType::A, false).await;
        assert_eq!(rcode(m), ResponseCode::ServFail);
        let m = query(srv.addr(), "away.example.test", RecordType::A, false).await.unwrap();
        assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 1));
        assert!(query(srv.addr(), "silent.example.test", RecordType::A, false).await.is_none());
        assert!(query(srv.addr(), "silent.example.test", RecordType::A, true).await.is_none());
        assert_eq!(srv.queries(), 8);
    }

    #[tokio::test]
    async fn malformed_packets_do_not_kill_the_server() {
        let srv = DnsServer::start(lab_zone()).await.unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&[0xab, 0xcd, 0xff, 0xff, 0x00], srv.addr()).await.unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_millis(300), s.recv(&mut buf)).await.unwrap().unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!((m.metadata.id, m.metadata.response_code), (0xabcd, ResponseCode::FormErr));
        s.send_to(&[0x01], srv.addr()).await.unwrap();
        // A short TCP frame then EOF.
        let mut t = TcpStream::connect(srv.addr()).await.unwrap();
        t.write_all(&[0x00, 0x10, 0x01]).await.unwrap();
        drop(t);
        assert!(query(srv.addr(), "www.example.test", RecordType::A, false).await.is_some());
        assert_eq!(
            lab_zone().resolve("www.example.test"),
            [IpAddr::from([20, 1, 2, 3]), IpAddr::from([20, 1, 2, 4]), "2001:db8::1".parse().unwrap()]
        );
    }
}
