//! An HTTP forward proxy with optional Basic authentication, like a corporate egress proxy.
//!
//! It handles `CONNECT host:port` (then tunnels bytes) and absolute-form requests
//! (`GET http://host:port/path`, forwarded in origin-form with `Connection: close`, the response
//! relayed as is). Where "host:port" goes is decided by the caller's `route`; the proxy refuses
//! (502) any route that is not a loopback address, so it can never reach a real network.
//! Request heads are read with a 16 KiB bound and parsed by httparse; garbage gets a 400.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{AbortOnDrop, IDLE, spawn_accept_loop};

/// Maps a requested `(host, port)` to the loopback address that plays it; `None` → 502.
pub type Route = Arc<dyn Fn(&str, u16) -> Option<SocketAddr> + Send + Sync>;

const MAX_HEAD: usize = 16 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const BANNER: &str = "Server: netspec-loopback-proxy\r\nVia: 1.1 netspec-loopback-proxy\r\n";

/// What a [`Proxy`] demands and where it forwards.
#[derive(Clone)]
pub struct ProxyConfig {
    /// `(user, password)` required in `Proxy-Authorization: Basic ...`; `None` = open proxy.
    pub credentials: Option<(String, String)>,
    /// Where each requested host and port goes (see [`Route`]).
    pub route: Route,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        let user = self.credentials.as_ref().map(|(u, _)| u.as_str());
        f.debug_struct("ProxyConfig").field("user", &user).finish_non_exhaustive()
    }
}

/// A running forward proxy on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    _task: AbortOnDrop,
}

impl Proxy {
    /// Binds `127.0.0.1:0` and starts proxying. Each connection carries one request (CONNECT
    /// or absolute-form); tunnels close after 30 s idle. Errors: the bind failed.
    pub async fn start(config: ProxyConfig) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let task = spawn_accept_loop(listener, move |stream| serve(stream, config.clone()));
        Ok(Proxy { addr, _task: task })
    }

    /// Where the proxy listens (`127.0.0.1:PORT`); its URL is `http://<addr>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Reads up to the end of the request head. Returns the head and any bytes after it, or
/// `None` on EOF, idle timeout, or a head over 16 KiB.
async fn read_head(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while buf.len() < MAX_HEAD {
        let n = match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[scan_from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(scan_from + i + 4);
            return Some((buf, rest));
        }
    }
    None
}

/// Writes one of the proxy's own responses and closes.
async fn respond(stream: &mut TcpStream, status: &str, extra: &str) {
    let msg = format!("HTTP/1.1 {status}\r\n{extra}{BANNER}Content-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Lingering close: closing with unread input would send RST, which can destroy the
    // response before the client reads it. Drain a bounded amount for a bounded time.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        for _ in 0..256 {
            if !matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {
                break;
            }
        }
    })
    .await;
}

/// True when `value` is `Basic base64(user:password)` for the expected pair.
fn basic_ok(value: &[u8], user: &str, password: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic")
        && base64::engine::general_purpose::STANDARD.decode(token.trim()).is_ok_and(|d| d == format!("{user}:{password}").as_bytes())
}

/// Splits `host:port` (or `[v6]:port`); a missing port is `default`.
fn split_authority(authority: &str, default: Option<u16>) -> Option<(&str, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse().ok()?),
        _ => (authority, default?),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some((host, port))
}

async fn serve(mut client: TcpStream, config: Arc<ProxyConfig>) {
    let Some((head, rest)) = read_head(&mut client).await else {
        respond(&mut client, "400 Bad Request", "").await;
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let (Ok(httparse::Status::Complete(_)), Some(method), Some(target)) = (req.parse(&head), req.method, req.path) else {
        respond(&mut client, "400 Bad Request", "").await;
        return;
    };
    if let Some((user, password)) = &config.credentials {
        let authorized =
            req.headers.iter().any(|h| h.name.eq_ignore_ascii_case("proxy-authorization") && basic_ok(h.value, user, password));
        if !authorized {
            let challenge = "Proxy-Authenticate: Basic realm=\"netspec-lab\"\r\n";
            respond(&mut client, "407 Proxy Authentication Required", challenge).await;
            return;
        }
    }

    // CONNECT names host:port; absolute-form names http://host[:port]/path.
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let (authority, path) = if connect {
        (target, "")
    } else {
        let lower = target.get(..7).map(str::to_ascii_lowercase);
        let Some(after) = target.get(7..).filter(|_| lower.as_deref() == Some("http://")) else {
            respond(&mut client, "400 Bad Request", "").await;
            return;
        };
        after.split_at(after.find('/').unwrap_or(after.len()))
    };
    let Some((host, port)) = split_authority(authority, (!connect).then_some(80)) else {
        respond(&mut client, "400 Bad Request", "").await;
        return;
    };
    let upstream = match (config.route)(host, port) {
        // The safety net: never dial anything but loopback, whatever the route says.
        Some(addr) if addr.ip().is_loopback() => tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await,
        _ => {
            respond(&mut client, "502 Bad Gateway", "").await;
            return;
        }
    };
    let Ok(Ok(mut upstream)) = upstream else {
        respond(&mut client, "502 Bad Gateway", "").await;
        return;
    };

    let preamble = if connect {
        let ok = format!("HTTP/1.1 200 Connection established\r\n{BANNER}\r\n");
        if client.write_all(ok.as_bytes()).await.is_err() {
            return;
        }
        Vec::new()
    } else {
        // Origin-form head without hop-by-hop headers; one request per upstream connection.
        let path = if path.is_empty() { "/" } else { path };
        let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
        let hop = ["proxy-authorization", "proxy-connection", "connection", "keep-alive"];
        for h in req.headers.iter() {
            if !hop.iter().any(|n| h.name.eq_ignore_ascii_case(n)) {
                out.extend_from_slice(format!("{}: ", h.name).as_bytes());
                out.extend_from_slice(h.value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out
    };
    if upstream.write_all(&preamble).await.is_err() || upstream.write_all(&rest).await.is_err() {
        return;
    }
    tunnel(&mut client, &mut upstream).await;
}

/// Copies bytes both ways until both sides are done or nothing moves for 30 s. An EOF on one
/// side is passed on as a half-close to the other.
async fn tunnel(a: &mut TcpStream, b: &mut TcpStream) {
    let (mut ar, mut aw) = a.split();
    let (mut br, mut bw) = b.split();
    let (mut abuf, mut bbuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        tokio::select! {
            r = ar.read(&mut abuf), if a_open => match r {
                Ok(n) if n > 0 => {
                    if bw.write_all(&abuf[..n]).await.is_err() {
                        return;
                    }
                }
                _ => {
                    a_open = false;
                    let _ = bw.shutdown().await;
                }
            },
            r = br.read(&mut bbuf), if b_open => match r {
                Ok(n) if n > 0 => {
                    if aw.write_all(&bbuf[..n]).await.is_err() {
                        return;
                    }
                }
                _ => {
                    b_open = false;
                    let _ = aw.shutdown().await;
                }
            },
            _ = tokio::time::sleep(IDLE) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{HttpServer, Reply};

    async fn exchange(proxy: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn lab() -> (HttpServer, Proxy) {
        let origin = HttpServer::start(None, Reply::new(200, "origin")).await.unwrap();
        let to = origin.addr();
        let route: Route = Arc::new(move |host, port| (host == "svc.example" && port == 80).then_some(to));
        let config = ProxyConfig { credentials: Some(("shir".into(), "s3cret".into())), route };
        (origin, Proxy::start(config).await.unwrap())
    }

    fn auth() -> String {
        let token = base64::engine::general_purpose::STANDARD.encode("shir:s3cret");
        format!("Proxy-Authorization: Basic {token}\r\n")
    }

    #[tokio::test]
    async fn connect_demands_credentials() {
        let (_origin, proxy) = lab().await;
        let resp = exchange(proxy.addr(), "CONNECT svc.example:80 HTTP/1.1\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 407 "), "{resp}");
        assert!(resp.contains("Proxy-Authenticate: Basic realm=\"netspec-lab\"\r\n"));
        let wrong = "Proxy-Authorization: Basic c2hpcjp3cm9uZw==\r\n"; // shir:wrong
        let req = format!("CONNECT svc.example:80 HTTP/1.1\r\n{wrong}\r\n");
        assert!(exchange(proxy.addr(), &req).await.starts_with("HTTP/1.1 407 "));
    }

    #[tokio::test]
    async fn connect_tunnels_with_credentials() {
        let (_origin, proxy) = lab().await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let req = format!(
            "CONNECT svc.example:80 HTTP/1.1\r\nHost: svc.example:80\r\n{}\r\n\
             GET / HTTP/1.1\r\nHost: svc.example\r\nConnection: close\r\n\r\n",
            auth()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 Connection established\r\n"), "{out}");
        assert!(out.contains("\r\n\r\nHTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("origin"), "{out}");
    }

    #[tokio::test]
    async fn absolute_form_unroutable_and_garbage() {
        let (_origin, proxy) = lab().await;
        let req = format!("GET http://svc.example/x HTTP/1.1\r\nHost: svc.example\r\n{}\r\n", auth());
        let resp = exchange(proxy.addr(), &req).await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("origin"), "{resp}");

        let req = format!("CONNECT elsewhere.example:443 HTTP/1.1\r\n{}\r\n", auth());
        let resp = exchange(proxy.addr(), &req).await;
        assert!(resp.starts_with("HTTP/1.1 502 "), "{resp}");
        assert!(resp.contains("Via: 1.1 netspec-loopback-proxy\r\n"));

        let origin_form = format!("GET / HTTP/1.1\r\n{}\r\n", auth());
        for garbage in ["\x00\x01\x02\r\n\r\n", origin_form.as_str()] {
            let resp = exchange(proxy.addr(), garbage).await;
            assert!(resp.starts_with("HTTP/1.1 400 "), "{garbage:?}: {resp}");
        }
        let huge = format!("GET http://svc.example/ HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let resp = exchange(proxy.addr(), &huge).await;
        assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    }
}
