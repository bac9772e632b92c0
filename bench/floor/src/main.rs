//! The floor of netspec's benchmark (`bench/run`): the client-side network work of a workload and
//! nothing else, at a fixed number of checks in flight, with every answer verified.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

/// Resend interval of an unanswered DNS query.
const RETRANSMIT: Duration = Duration::from_secs(1);

/// One check of the input.
enum Check {
    /// A query for `name`, expecting `Some(address)` or NXDOMAIN (`None`).
    Dns { name: Name, expect: Option<Ipv4Addr> },
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
}

fn usage() -> ! {
    eprintln!("usage: netspec-floor --input FILE [--dns-server IP:PORT] [--ca PEM] [--timeout-ms MS] [-j N] [--failed-out FILE]");
    std::process::exit(2)
}

fn die(msg: String) -> ! {
    eprintln!("netspec-floor: {msg}");
    std::process::exit(2)
}

fn parse_line(n: usize, line: &str) -> Check {
    let f: Vec<&str> = line.split('\t').collect();
    fn fail<T>(n: usize, line: &str) -> T {
        die(format!("line {}: cannot read {line:?}", n + 1))
    }
    match f.as_slice() {
        ["dns", name, expect] => Check::Dns {
            name: Name::from_ascii(format!("{name}.")).unwrap_or_else(|_| fail(n, line)),
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
        Check::Dns { name, expect } => match tokio::time::timeout(ctx.timeout, dns(ctx.dns_server, name)).await {
            Ok(Ok((rcode, addrs))) => match expect {
                None => rcode == ResponseCode::NXDomain,
                Some(ip) => rcode == ResponseCode::NoError && addrs == [*ip],
            },
            _ => false,
        },
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

/// One A query over its own UDP socket; the response's rcode and A addresses.
async fn dns(server: SocketAddr, name: &Name) -> std::io::Result<(ResponseCode, Vec<Ipv4Addr>)> {
    let mut msg = Message::query();
    msg.add_query(Query::query(name.clone(), RecordType::A));
    msg.metadata.recursion_desired = true;
    let id = msg.metadata.id;
    let wire = msg.to_vec().map_err(std::io::Error::other)?;
    let sock = UdpSocket::bind("0.0.0.0:0").await?;
    sock.connect(server).await?;
    let mut buf = [0u8; 1500];
    // Datagrams get lost: resend the same query every second, as stub resolvers (and netspec) do;
    // the caller's timeout bounds the whole exchange.
    loop {
        sock.send(&wire).await?;
        let answer = tokio::time::timeout(RETRANSMIT, async {
            loop {
                let n = sock.recv(&mut buf).await?;
                if let Ok(m) = Message::from_vec(&buf[..n])
                    && m.metadata.id == id
                {
                    let addrs = m
                        .answers
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(a.0),
                            _ => None,
                        })
                        .collect();
                    return Ok::<_, std::io::Error>((m.metadata.response_code, addrs));
                }
            }
        })
        .await;
        if let Ok(r) = answer {
            return r;
        }
    }
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
    let (mut input, mut dns_server, mut ca, mut timeout_ms, mut jobs, mut failed_out) =
        (None, "127.0.0.53:53".to_string(), None, 5000u64, 256usize, None);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--input" => input = Some(val()),
            "--dns-server" => dns_server = val(),
            "--ca" => ca = Some(val()),
            "--timeout-ms" => timeout_ms = val().parse().unwrap_or_else(|_| usage()),
            "-j" => jobs = val().parse().unwrap_or_else(|_| usage()),
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
    let ctx = Arc::new(Ctx {
        dns_server: dns_server.parse().unwrap_or_else(|_| usage()),
        tls: TlsConnector::from(Arc::new(config)),
        timeout: Duration::from_millis(timeout_ms),
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(e.to_string()));
    let start = Instant::now();
    let checks = Arc::new(checks);
    let next = Arc::new(AtomicUsize::new(0));
    let failed: Vec<usize> = rt.block_on(async {
        // `jobs` workers, each taking the next check until none is left: exactly `jobs` in flight.
        let workers: Vec<_> = (0..jobs.max(1).min(checks.len().max(1)))
            .map(|_| {
                let (ctx, checks, next) = (ctx.clone(), checks.clone(), next.clone());
                tokio::spawn(async move {
                    let mut failed = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(check) = checks.get(i) else { break };
                        if !run(&ctx, check).await {
                            failed.push(i);
                        }
                    }
                    failed
                })
            })
            .collect();
        let mut failed = Vec::new();
        for w in workers {
            failed.extend(w.await.unwrap_or_default());
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
