//! Hostile servers for the fault lab (docs/faults.md): endpoints that misbehave the way broken
//! networks and broken services do, so tests can prove that every check still finishes on
//! time, with the right reason code, bounded memory and no panic.
//!
//! [`FaultServer`] plays TCP/HTTP/TLS/proxy faults ([`TcpFault`]); [`FaultyDns`] plays resolver
//! faults ([`DnsBehaviour`]) around a [`DnsZone`] that gives the right answers when the fault
//! lets any through. Like the rest of [`crate::loopback`], everything binds `127.0.0.1:0`,
//! never dials out, bounds every connection in time (the shared accept loop caps each at 60 s)
//! and stops when its handle is dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, rdata::A};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::{AbortOnDrop, DnsZone, IDLE, spawn_accept_loop};

/// How a [`FaultServer`] mistreats each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFault {
    /// Accepts, reads whatever comes, never writes a byte.
    Silent,
    /// Answers an HTTP request with a valid head, one byte per second.
    SlowHeaders,
    /// Answers `200` with `Content-Length: 10 GB` and streams zeros until the client leaves.
    EndlessBody,
    /// Answers every request with `302 Found` pointing back at the same path.
    RedirectLoop,
    /// Sends a response head promising 1 MiB and 1 KiB of it, then resets the connection (RST).
    ResetMidResponse,
    /// Reads the TLS ClientHello, then stalls: no ServerHello, no close.
    TlsStallAfterClientHello,
    /// Reads the TLS ClientHello, then resets the connection.
    TlsResetAfterClientHello,
    /// An HTTP proxy that answers `CONNECT` with `200 Connection established`, then drops the
    /// tunnel (closes without relaying a byte).
    ConnectThenDrop,
    /// Answers `200` with `Content-Length: 1000` and the 16 bytes `partial body ...`, then
    /// closes cleanly (FIN): a body cut short without a reset, as when a middlebox or a crashed
    /// backend ends the connection early.
    PartialBody,
    /// A forward proxy that answers every request itself with `status` (plain `http://`
    /// absolute-form and `CONNECT` alike) and never contacts the endpoint. With `product`, its
    /// answer names the proxy (`Proxy-Agent: netspec-loopback-proxy`, `Via: 1.1
    /// netspec-loopback-proxy`, `Server: netspec-loopback-proxy`), as squid's or tinyproxy's
    /// error pages do; without, it carries no header naming anything. A 407 always carries
    /// `Proxy-Authenticate` (RFC 9110 §11.7.1 requires it).
    ProxyAnswers {
        /// The status line's code (100..=999).
        status: u16,
        /// Whether the answer carries headers naming the proxy.
        product: bool,
    },
}

/// A loopback TCP server playing one [`TcpFault`] on every connection. Stops when dropped.
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    _task: AbortOnDrop,
}

/// The 10 GB the endless body announces.
const TEN_GB: u64 = 10_000_000_000;

impl FaultServer {
    /// Binds `127.0.0.1:0` and plays `fault` on every connection (each at most 60 s).
    ///
    /// Errors: the bind failed.
    pub async fn start(fault: TcpFault) -> io::Result<FaultServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let task = spawn_accept_loop(listener, move |stream| serve(stream, fault, counter.clone()));
        Ok(FaultServer { addr, sent, _task: task })
    }

    /// Where the server listens (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes written to clients so far, over all connections (for [`TcpFault::EndlessBody`]:
    /// proof that the client stopped reading instead of buffering 10 GB).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// Reads until the end of an HTTP request head (or 16 KiB, EOF, or 30 s idle).
async fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while buf.len() < 16 * 1024 {
        match tokio::time::timeout(IDLE, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(buf);
        }
    }
    None
}

/// Reads one TLS record (the ClientHello): the 5-byte header and its body.
async fn read_tls_record(s: &mut TcpStream) -> Option<()> {
    let mut head = [0u8; 5];
    tokio::time::timeout(IDLE, s.read_exact(&mut head)).await.ok()?.ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[3], head[4]]))];
    tokio::time::timeout(IDLE, s.read_exact(&mut body)).await.ok()?.ok()?;
    Some(())
}

/// Holds the connection open, discarding input, until the client leaves or 30 s pass idle.
async fn hold(s: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(IDLE, s.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
    }
}

/// Closes with RST instead of FIN (SO_LINGER 0), as a resetting firewall or a crashed peer.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

async fn serve(mut s: TcpStream, fault: TcpFault, sent: Arc<AtomicU64>) {
    let count = |n: usize| {
        sent.fetch_add(n as u64, Ordering::Relaxed);
    };
    match fault {
        TcpFault::Silent => hold(&mut s).await,
        TcpFault::SlowHeaders => {
            if read_head(&mut s).await.is_none() {
                return;
            }
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                count(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        TcpFault::EndlessBody => {
            if read_head(&mut s).await.is_none() {
                return;
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {TEN_GB}\r\n\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let zeros = vec![0u8; 64 * 1024];
            let mut left = TEN_GB;
            while left > 0 {
                let n = zeros.len().min(usize::try_from(left).unwrap_or(zeros.len()));
                // A client that stops reading leaves the write pending: give up after 30 s.
                match tokio::time::timeout(IDLE, s.write_all(&zeros[..n])).await {
                    Ok(Ok(())) => count(n),
                    _ => return,
                }
                left -= n as u64;
            }
        }
        TcpFault::RedirectLoop => {
            // Keep-alive: answer every request on the connection the same way.
            for _ in 0..100 {
                let Some(head) = read_head(&mut s).await else { return };
                let path = String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or("/").to_owned();
                let resp = format!("HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n");
                if s.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
                count(resp.len());
            }
        }
        TcpFault::ResetMidResponse => {
            if read_head(&mut s).await.is_none() {
                return;
            }
            let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
            resp.extend_from_slice(&[b'x'; 1024]);
            if s.write_all(&resp).await.is_ok() {
                count(resp.len());
                // Let the head reach the client before the reset.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            reset(s);
        }
        TcpFault::TlsStallAfterClientHello => {
            if read_tls_record(&mut s).await.is_some() {
                hold(&mut s).await;
            }
        }
        TcpFault::TlsResetAfterClientHello => {
            if read_tls_record(&mut s).await.is_some() {
                reset(s);
            }
        }
        TcpFault::ConnectThenDrop => {
            let Some(head) = read_head(&mut s).await else { return };
            if head.starts_with(b"CONNECT ") {
                let resp = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if s.write_all(resp).await.is_ok() {
                    count(resp.len());
                }
            }
            // Close the tunnel (FIN) before it carried anything; drain what the client still
            // sends so the close stays a clean EOF rather than a reset.
            let _ = s.shutdown().await;
            hold(&mut s).await;
        }
        TcpFault::PartialBody => {
            if read_head(&mut s).await.is_none() {
                return;
            }
            let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial body ...";
            if s.write_all(resp).await.is_ok() {
                count(resp.len());
            }
            // FIN, not RST: drain what the client still sends so the close stays clean.
            let _ = s.shutdown().await;
            hold(&mut s).await;
        }
        TcpFault::ProxyAnswers { status, product } => {
            if read_head(&mut s).await.is_none() {
                return;
            }
            let mut resp = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
            if status == 407 {
                resp.push_str("Proxy-Authenticate: Basic realm=\"netspec-lab\"\r\n");
            }
            if product {
                resp.push_str(
                    "Proxy-Agent: netspec-loopback-proxy\r\nVia: 1.1 netspec-loopback-proxy\r\nServer: netspec-loopback-proxy\r\n",
                );
            }
            resp.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
            if s.write_all(resp.as_bytes()).await.is_ok() {
                count(resp.len());
            }
            let _ = s.shutdown().await;
            hold(&mut s).await;
        }
    }
}

/// The RFC 9110 reason phrase of the statuses a [`TcpFault::ProxyAnswers`] proxy is made to
/// give (anything else gets `Status`; clients must ignore the phrase anyway).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// How a [`FaultyDns`] misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsBehaviour {
    /// Reads every query (UDP and TCP), never answers.
    Silent,
    /// Answers every query with bytes that are not a DNS message (the query's id, then junk),
    /// over UDP and TCP.
    Garbage,
    /// Over UDP, answers with the TC bit set and a decoy A record ([`DECOY`]); over TCP, answers
    /// right from the zone (RFC 7766: the client must retry over TCP).
    Truncate,
    /// Over UDP, first answers from another source port with a decoy A record ([`DECOY`]) — a
    /// spoofing attempt the client must ignore — and 300 ms later answers right from the port
    /// that was asked.
    WrongSourcePort,
    /// Over UDP, first answers from the right port with the query's id but another question
    /// (`decoy.` + the name asked) and a decoy A record ([`DECOY`]) — a forged answer the client
    /// must ignore (RFC 5452 9.1) — and 300 ms later answers right.
    WrongQuestion,
    /// Answers right from the zone (UDP and TCP) for the first `n` queries, then dies: both
    /// sockets close, so the port refuses (ICMP port unreachable).
    DiesAfter(u64),
}

/// The address decoy answers carry (TEST-NET-1, RFC 5737): a client that reports it was fooled.
pub const DECOY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);

/// A misbehaving lab resolver on one `127.0.0.1` port (UDP and TCP). Stops when dropped.
#[derive(Debug)]
pub struct FaultyDns {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    _udp: AbortOnDrop,
    _tcp: AbortOnDrop,
}

impl FaultyDns {
    /// Binds UDP and TCP on one ephemeral `127.0.0.1` port and serves `zone` through `behaviour`.
    ///
    /// Errors: the bind failed, or no free UDP+TCP port pair was found.
    pub async fn start(zone: DnsZone, behaviour: DnsBehaviour) -> io::Result<FaultyDns> {
        let (udp, tcp) = super::dns::bind_pair().await?;
        let addr = udp.local_addr()?;
        let zone = Arc::new(zone);
        let queries = Arc::new(AtomicU64::new(0));
        let (z, q) = (zone.clone(), queries.clone());
        let udp_task = AbortOnDrop(tokio::spawn(serve_udp(udp, z, q, behaviour)));
        let (z, q) = (zone, queries.clone());
        let tcp_task = AbortOnDrop(tokio::spawn(async move {
            let limit = match behaviour {
                DnsBehaviour::DiesAfter(n) => Some(n),
                _ => None,
            };
            let q2 = q.clone();
            let accept = spawn_accept_loop(tcp, move |stream| serve_tcp(stream, z.clone(), q2.clone(), behaviour));
            // A dying server takes its TCP listener down with it.
            while limit.is_none_or(|n| q.load(Ordering::Relaxed) < n) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(accept);
        }));
        Ok(FaultyDns { addr, queries, _udp: udp_task, _tcp: tcp_task })
    }

    /// Where the server listens (`127.0.0.1:PORT`, UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries arrived (UDP datagrams and TCP messages).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

/// Bytes that keep the query's id but do not decode as a DNS message (a header that announces
/// one question, then a truncated name).
fn garbage(packet: &[u8]) -> Vec<u8> {
    let mut out = packet.get(..2).unwrap_or(&[0, 0]).to_vec();
    out.extend_from_slice(&[0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x3f, b'g', b'a', b'r']);
    out
}

/// The zone's answer (same id) with its question renamed to `decoy.` + the name asked and one
/// decoy A record for that name.
fn other_question(zone: &DnsZone, packet: &[u8]) -> Option<Vec<u8>> {
    let mut m = Message::from_vec(&zone.handle(packet, false)?).ok()?;
    let q = m.queries.first_mut()?;
    let owner = Name::from_ascii("decoy").ok()?.append_domain(q.name()).ok()?;
    q.set_name(owner.clone());
    m.answers.clear();
    m.add_answer(Record::from_rdata(owner, 60, RData::A(A(DECOY))));
    m.to_vec().ok()
}

/// The zone's answer with its answers replaced by one decoy A record for the question.
fn decoy(zone: &DnsZone, packet: &[u8], truncated: bool) -> Option<Vec<u8>> {
    let mut m = Message::from_vec(&zone.handle(packet, false)?).ok()?;
    let owner: Name = m.queries.first()?.name().clone();
    m.answers.clear();
    m.add_answer(Record::from_rdata(owner, 60, RData::A(A(DECOY))));
    m.metadata.truncation = truncated;
    m.to_vec().ok()
}

async fn serve_udp(udp: UdpSocket, zone: Arc<DnsZone>, queries: Arc<AtomicU64>, behaviour: DnsBehaviour) {
    let spoofer = UdpSocket::bind("127.0.0.1:0").await.ok();
    let mut buf = vec![0u8; 65535];
    loop {
        if let DnsBehaviour::DiesAfter(n) = behaviour
            && queries.load(Ordering::Relaxed) >= n
        {
            // Returning drops the socket: the port is closed from now on.
            return;
        }
        let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        queries.fetch_add(1, Ordering::Relaxed);
        let packet = &buf[..n];
        match behaviour {
            DnsBehaviour::Silent => {}
            DnsBehaviour::Garbage => {
                let _ = udp.send_to(&garbage(packet), peer).await;
            }
            DnsBehaviour::Truncate => {
                if let Some(out) = decoy(&zone, packet, true) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
            DnsBehaviour::WrongSourcePort => {
                if let (Some(sp), Some(out)) = (&spoofer, decoy(&zone, packet, false)) {
                    let _ = sp.send_to(&out, peer).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Some(out) = zone.handle(packet, true) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
            DnsBehaviour::WrongQuestion => {
                if let Some(out) = other_question(&zone, packet) {
                    let _ = udp.send_to(&out, peer).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Some(out) = zone.handle(packet, true) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
            DnsBehaviour::DiesAfter(_) => {
                if let Some(out) = zone.handle(packet, true) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
        }
    }
}

async fn serve_tcp(mut s: TcpStream, zone: Arc<DnsZone>, queries: Arc<AtomicU64>, behaviour: DnsBehaviour) {
    for _ in 0..100 {
        let Some(msg) = super::dns::read_tcp_message(&mut s).await else { return };
        queries.fetch_add(1, Ordering::Relaxed);
        let out = match behaviour {
            DnsBehaviour::Silent => continue,
            DnsBehaviour::Garbage => garbage(&msg),
            _ => match zone.handle(&msg, false) {
                Some(o) => o,
                None => continue,
            },
        };
        let Ok(n) = u16::try_from(out.len()) else { continue };
        let mut framed = n.to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if s.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RecordType;

    #[test]
    fn garbage_keeps_the_id_and_does_not_decode() {
        let g = garbage(&[0xab, 0xcd, 1, 0]);
        assert_eq!(&g[..2], &[0xab, 0xcd]);
        assert!(Message::from_vec(&g).is_err());
    }

    #[tokio::test]
    async fn truncating_server_sets_tc_over_udp_and_answers_over_tcp() {
        let mut z = DnsZone::new();
        z.add_a("a.example.test", Ipv4Addr::new(10, 0, 0, 1));
        let srv = FaultyDns::start(z, DnsBehaviour::Truncate).await.unwrap();
        let tcp = super::super::dns::tests::query(srv.addr(), "a.example.test", RecordType::A, true).await.unwrap();
        assert_eq!(tcp.answers[0].data, RData::A(A::new(10, 0, 0, 1)));
        assert!(!tcp.metadata.truncation);
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn partial_body_ends_before_its_length() {
        let srv = FaultServer::start(TcpFault::PartialBody).await.unwrap();
        let resp = exchange(srv.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), "{resp}");
        assert!(resp.ends_with("partial body ..."), "{resp}");
    }

    #[tokio::test]
    async fn proxy_answers_itself_with_or_without_naming_itself() {
        let named = FaultServer::start(TcpFault::ProxyAnswers { status: 401, product: true }).await.unwrap();
        let resp = exchange(named.addr(), b"GET http://svc.example/ HTTP/1.1\r\nHost: svc.example\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 401 Unauthorized\r\n") && resp.contains("Proxy-Agent: netspec-loopback-proxy\r\n"), "{resp}");
        let bare = FaultServer::start(TcpFault::ProxyAnswers { status: 407, product: false }).await.unwrap();
        let resp = exchange(bare.addr(), b"CONNECT svc.example:443 HTTP/1.1\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic"), "{resp}");
        assert!(!resp.contains("Via") && !resp.contains("Server") && !resp.contains("Proxy-Agent"), "{resp}");
    }
}
