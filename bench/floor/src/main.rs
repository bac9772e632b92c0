//! The floor of netspec's benchmark (`bench/run`): the cheapest correct client loop for each
//! workload, at the same concurrency as netspec, with every answer verified. Every ratio in
//! BENCHMARKS.md is against this program, so it does only the network work and nothing else:
//!
//! - DNS: one UDP socket per slot in flight, bound and connected once and reused for every query
//!   of the run (no socket, bind, connect, epoll_ctl or close per query: a query is one `sendto`
//!   and one `recvfrom`); the A query written as raw RFC 1035 wire format (12-byte header, the
//!   name's labels, QTYPE A, QCLASS IN) into a stack buffer; the answer read in place — id,
//!   QR bit and question section compared byte for byte with what was sent (a datagram that does
//!   not match is skipped), the rcode, then each A record of the answer section (names skipped
//!   through compression pointers, RFC 1035 4.1.4) — and compared with the expected address. An
//!   unanswered query is resent every second, as stub resolvers (and netspec) do.
//! - TCP: a non-blocking connect and its outcome (tokio), nothing written.
//! - HTTPS: a connect, a full TLS 1.3 handshake (rustls with ring, one shared `ClientConfig`,
//!   resumption off), `GET`, the status line read.
//!
//! Scheduling is netspec's (src/run/mod.rs): `-j` checks work at once; a check still running
//! after 50 ms is waiting on the network (a dropped SYN), gives its working slot to the next
//! check and takes one of `--max-waiting` (2,048) waiting slots. Waiting is not work: 1,000
//! dropped endpoints cost one timeout, not four rounds of 256.
//!
//! Input: a TSV file, one check a line (the harness writes it beside the netspec suite):
//! - `dns  NAME  EXPECT` — an A query over UDP to `--dns-server`; EXPECT is the one IPv4 address
//!   the answer must hold (rcode NOERROR), or `NXDOMAIN`.
//! - `tcp  IP  PORT  EXPECT` — a connect; EXPECT is `open`, `closed` (refused) or `filtered`
//!   (no answer before `--timeout-ms`).
//! - `https  HOST  IP  PORT  PATH  EXPECT` — connect, a full TLS handshake (SNI HOST, trust
//!   anchors `--ca`, no resumption), `GET PATH`, read the status line; EXPECT is the status code.
//!
//! Output: one line `checks=N passed=P failed=F elapsed_ms=T` on stdout, and with
//! `--failed-out FILE` the 0-based line numbers of the failed checks, one a line.
//! Exit code 0 whatever the checks gave, 2 on bad input.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

/// Resend interval of an unanswered DNS query.
const RETRANSMIT: Duration = Duration::from_secs(1);

/// How long a check may hold a working slot before it counts as waiting (netspec's PARK_AFTER).
const PARK_AFTER: Duration = Duration::from_millis(50);

/// One check of the input.
enum Check {
    /// An A query: the question section as wire bytes (QNAME, QTYPE A, QCLASS IN), expecting
    /// `Some(address)` or NXDOMAIN (`None`).
    Dns { question: Vec<u8>, expect: Option<Ipv4Addr> },
    /// A connect to `addr`, expecting a state.
    Tcp { addr: SocketAddr, expect: TcpState },
    /// An HTTPS GET, expecting a status code.
    Https {
        host: ServerName<'static>,
        addr: SocketAddr,
        request: Vec<u8>,
        expect: u16,
    },
}

/// The outcome of a connect.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TcpState {
    Open,
    Closed,
    Filtered,
}

/// Everything a check needs besides itself.
struct Ctx {
    dns_server: SocketAddr,
    tls: TlsConnector,
    timeout: Duration,
    /// Idle UDP sockets, each bound (the OS picks a random ephemeral port) and connected to
    /// `dns_server` once, reused by every later query.
    sockets: Mutex<Vec<UdpSocket>>,
    /// xorshift state for query ids.
    ids: AtomicU32,
}

fn usage() -> ! {
    eprintln!(
        "usage: netspec-floor --input FILE [--dns-server IP:PORT] [--ca PEM] [--timeout-ms MS] [-j N] [--max-waiting N] [--threads N] [--failed-out FILE]"
    );
    std::process::exit(2)
}

fn die(msg: String) -> ! {
    eprintln!("netspec-floor: {msg}");
    std::process::exit(2)
}

/// The question section of an A/IN query for `name` (RFC 1035 4.1.2), or None for a bad name.
fn question(name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(name.len() + 6);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    (q.len() <= 255 + 4).then_some(q)
}

fn parse_line(n: usize, line: &str) -> Check {
    let f: Vec<&str> = line.split('\t').collect();
    fn fail<T>(n: usize, line: &str) -> T {
        die(format!("line {}: cannot read {line:?}", n + 1))
    }
    match f.as_slice() {
        ["dns", name, expect] => Check::Dns {
            question: question(name).unwrap_or_else(|| fail(n, line)),
            expect: if *expect == "NXDOMAIN" {
                None
            } else {
                Some(expect.parse().unwrap_or_else(|_| fail(n, line)))
            },
        },
        ["tcp", ip, port, expect] => Check::Tcp {
            addr: SocketAddr::new(
                ip.parse().unwrap_or_else(|_| fail(n, line)),
                port.parse().unwrap_or_else(|_| fail(n, line)),
            ),
            expect: match *expect {
                "open" => TcpState::Open,
                "closed" => TcpState::Closed,
                "filtered" => TcpState::Filtered,
                _ => fail(n, line),
            },
        },
        ["https", host, ip, port, path, expect] => Check::Https {
            host: ServerName::try_from(host.to_string()).unwrap_or_else(|_| fail(n, line)),
            addr: SocketAddr::new(
                ip.parse::<IpAddr>().unwrap_or_else(|_| fail(n, line)),
                port.parse().unwrap_or_else(|_| fail(n, line)),
            ),
            request: format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netspec-floor\r\nConnection: close\r\n\r\n").into_bytes(),
            expect: expect.parse().unwrap_or_else(|_| fail(n, line)),
        },
        _ => fail(n, line),
    }
}

/// Runs one check; true when the observation is what the line expects.
async fn run(ctx: &Ctx, check: &Check) -> bool {
    match check {
        Check::Dns { question, expect } => {
            let idle = ctx.sockets.lock().unwrap().pop();
            let sock = match idle {
                Some(s) => s,
                None => match new_socket(ctx.dns_server).await {
                    Ok(s) => s,
                    Err(_) => return false,
                },
            };
            let id = next_id(&ctx.ids);
            match tokio::time::timeout(ctx.timeout, dns(&sock, id, question)).await {
                Ok(Ok(answer)) => {
                    ctx.sockets.lock().unwrap().push(sock);
                    answer == *expect
                }
                // A socket whose query failed or timed out is closed, not reused.
                _ => false,
            }
        }
        Check::Tcp { addr, expect } => {
            let state = match tokio::time::timeout(ctx.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(_)) => TcpState::Open,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => TcpState::Closed,
                Ok(Err(_)) => return false,
                Err(_) => TcpState::Filtered,
            };
            state == *expect
        }
        Check::Https {
            host,
            addr,
            request,
            expect,
        } => {
            matches!(tokio::time::timeout(ctx.timeout, https(&ctx.tls, host, *addr, request)).await, Ok(Ok(s)) if s == *expect)
        }
    }
}

async fn new_socket(server: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).await?;
    sock.connect(server).await?;
    Ok(sock)
}

/// The next query id (xorshift32: cheap, not predictable from one id to the next without the state).
fn next_id(state: &AtomicU32) -> u16 {
    let mut x = state.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state.store(x, Ordering::Relaxed);
    (x >> 8) as u16
}

/// One A query over a reused, connected UDP socket. `Ok(Some(ip))` when the answer is NOERROR
/// with exactly one A record `ip`, `Ok(None)` for NXDOMAIN, an error for anything else.
async fn dns(sock: &UdpSocket, id: u16, question: &[u8]) -> std::io::Result<Option<Ipv4Addr>> {
    let mut wire = [0u8; 512];
    // Header: id, RD set, QDCOUNT 1 (RFC 1035 4.1.1).
    wire[..12].copy_from_slice(&[(id >> 8) as u8, id as u8, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let qlen = 12 + question.len();
    wire[12..qlen].copy_from_slice(question);
    let mut buf = [0u8; 1500];
    loop {
        sock.send(&wire[..qlen]).await?;
        let answer = tokio::time::timeout(RETRANSMIT, async {
            loop {
                let n = sock.recv(&mut buf).await?;
                let m = &buf[..n];
                // Ours: same id, a response (QR), one question equal to ours.
                if n >= qlen && m[0] == wire[0] && m[1] == wire[1] && m[2] & 0x80 != 0 && m[4..6] == [0, 1] && m[12..qlen] == *question {
                    return Ok::<_, std::io::Error>(read_answer(m, qlen));
                }
            }
        })
        .await;
        if let Ok(r) = answer {
            return r?.ok_or_else(|| std::io::Error::other("unexpected answer"));
        }
    }
}

/// The answer of a matched response: `Some(Some(ip))` for NOERROR with exactly one A record,
/// `Some(None)` for NXDOMAIN, `None` otherwise (or when malformed).
fn read_answer(m: &[u8], mut at: usize) -> Option<Option<Ipv4Addr>> {
    let rcode = m[3] & 0x0f;
    let ancount = u16::from_be_bytes([m[6], m[7]]);
    match rcode {
        3 => return Some(None),
        0 => {}
        _ => return None,
    }
    let mut found = None;
    for _ in 0..ancount {
        // NAME: labels ending in a zero byte or a pointer (two bytes).
        loop {
            let len = *m.get(at)?;
            if len & 0xc0 == 0xc0 {
                at += 2;
                break;
            }
            at += 1 + len as usize;
            if len == 0 {
                break;
            }
        }
        let rr = m.get(at..at + 10)?;
        let (rtype, class, rdlen) = (
            u16::from_be_bytes([rr[0], rr[1]]),
            u16::from_be_bytes([rr[2], rr[3]]),
            u16::from_be_bytes([rr[8], rr[9]]) as usize,
        );
        at += 10;
        let data = m.get(at..at + rdlen)?;
        at += rdlen;
        if rtype == 1 && class == 1 && rdlen == 4 {
            if found.is_some() {
                return None;
            }
            found = Some(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
    }
    found.map(Some)
}

/// Connect, handshake, send the request, read the status line; the status code.
async fn https(tls: &TlsConnector, host: &ServerName<'static>, addr: SocketAddr, request: &[u8]) -> std::io::Result<u16> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut s = tls.connect(host.clone(), tcp).await?;
    s.write_all(request).await?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    loop {
        let n = s.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if buf[..len].windows(2).any(|w| w == b"\r\n") || len == buf.len() {
            break;
        }
    }
    // "HTTP/1.1 200 OK"
    std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|t| t.split(' ').nth(1))
        .and_then(|c| c.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut input, mut dns_server, mut ca, mut timeout_ms, mut jobs, mut max_waiting, mut threads, mut failed_out) =
        (None, "127.0.0.53:53".to_string(), None, 5000u64, 256usize, 2048usize, 0usize, None);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--input" => input = Some(val()),
            "--dns-server" => dns_server = val(),
            "--ca" => ca = Some(val()),
            "--timeout-ms" => timeout_ms = val().parse().unwrap_or_else(|_| usage()),
            "-j" => jobs = val().parse().unwrap_or_else(|_| usage()),
            "--max-waiting" => max_waiting = val().parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = val().parse().unwrap_or_else(|_| usage()),
            "--failed-out" => failed_out = Some(val()),
            _ => usage(),
        }
    }
    let input = input.unwrap_or_else(|| usage());
    let text = std::fs::read_to_string(&input).unwrap_or_else(|e| die(format!("{input}: {e}")));
    let checks: Vec<Check> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| parse_line(n, l))
        .collect();

    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &ca {
        for cert in CertificateDer::pem_file_iter(ca).unwrap_or_else(|e| die(format!("{ca}: {e}"))) {
            roots
                .add(cert.unwrap_or_else(|e| die(format!("{ca}: {e}"))))
                .unwrap_or_else(|e| die(format!("{ca}: {e}")));
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| die(e.to_string()))
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every check is a fresh, full handshake.
    config.resumption = rustls::client::Resumption::disabled();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1)
        | 1;
    let ctx = Arc::new(Ctx {
        dns_server: dns_server.parse().unwrap_or_else(|_| usage()),
        tls: TlsConnector::from(Arc::new(config)),
        timeout: Duration::from_millis(timeout_ms),
        sockets: Mutex::new(Vec::new()),
        ids: AtomicU32::new(seed),
    });

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        rt.worker_threads(threads);
    }
    let rt = rt.enable_all().build().unwrap_or_else(|e| die(e.to_string()));
    let start = Instant::now();
    let checks = Arc::new(checks);
    let failed: Vec<usize> = rt.block_on(async {
        // netspec's scheduling: `jobs` working slots; after PARK_AFTER a check trades its working
        // slot for a waiting one.
        let working = Arc::new(Semaphore::new(jobs.max(1)));
        let waiting = Arc::new(Semaphore::new(max_waiting.max(1)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
        for i in 0..checks.len() {
            let permit = working.clone().acquire_owned().await.unwrap_or_else(|e| die(e.to_string()));
            let (ctx, checks, tx, waiting) = (ctx.clone(), checks.clone(), tx.clone(), waiting.clone());
            tokio::spawn(async move {
                let mut work = std::pin::pin!(run(&ctx, &checks[i]));
                let ok = tokio::select! {
                    ok = &mut work => ok,
                    _ = tokio::time::sleep(PARK_AFTER) => {
                        let parked = waiting.acquire_owned().await;
                        drop(permit);
                        let ok = work.await;
                        drop(parked);
                        ok
                    }
                };
                if !ok {
                    let _ = tx.send(i);
                }
            });
        }
        drop(tx);
        let mut failed = Vec::new();
        while let Some(i) = rx.recv().await {
            failed.push(i);
        }
        failed.sort_unstable();
        failed
    });
    let elapsed = start.elapsed();
    if let Some(path) = failed_out {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap_or_else(|e| die(format!("{path}: {e}"))));
        for i in &failed {
            writeln!(out, "{i}").unwrap_or_else(|e| die(format!("{path}: {e}")));
        }
        out.flush().unwrap_or_else(|e| die(format!("{path}: {e}")));
    }
    println!(
        "checks={} passed={} failed={} elapsed_ms={}",
        checks.len(),
        checks.len() - failed.len(),
        failed.len(),
        elapsed.as_millis()
    );
}
