//! The HTTP probe: one HTTP/1.1 exchange per hop on its own connection, observing status,
//! headers, a capped body, the address actually connected, whether the answer came from a
//! proxy, and the time of every phase (dns, connect, tls, first byte, total).
//!
//! The exchange is built from parts rather than a full client, because each part is something
//! a network test must see: the URL's host is resolved through the check's resolver (the answer
//! is reported) and connected address by address (the lab sandbox reroutes before any packet);
//! TLS runs on the run's shared rustls config (one per trust store, session resumption off so
//! every check performs a full handshake and verifies the chain); a proxy's `CONNECT` answer is
//! read here, so its 407, 403 or 502 is reported as the proxy's, never as the endpoint's; the
//! request goes through hyper's HTTP/1.1 connection. Redirects are followed (at most
//! [`MAX_REDIRECTS`]) only when the check asks. The environment's proxy variables are ignored
//! here (the plan resolves `proxy: env`).

pub use crate::model::observation::http::{HttpObservation, HttpTimings};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use super::tcp;
use super::tls::Handshake;
use super::{Failure, ProbeContext, Resolution, dns};
use crate::model::Reason;
use crate::model::target::{HttpTarget, ProxySpec, ResolverSpec};

/// Most redirects followed before `http.too_many_redirects` (curl and browsers use 20–50; a
/// health endpoint needs a few).
pub const MAX_REDIRECTS: usize = 10;

/// Largest response head (status line and headers) read from a proxy's `CONNECT` answer.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Response headers kept in the observation (the rest are counted, not stored).
const MAX_HEADERS: usize = 100;

/// Server header products of forward proxies: an error or block page whose `Server` names one of
/// these came from the proxy, not from the endpoint. Reverse proxies that commonly front an
/// endpoint (envoy, haproxy, nginx) are deliberately absent: their 503 is the endpoint's.
const PROXY_PRODUCTS: &[&str] = &[
    "tinyproxy",
    "squid",
    "zscaler",
    "bluecoat",
    "blue coat",
    "proxysg",
    "mcafee web gateway",
    "forcepoint",
    "websense",
    "netskope",
    "fortigate",
    "fortiproxy",
    "palo alto",
    "pan-os",
    "sophos",
    "checkpoint",
    "check point",
    "privoxy",
    "polipo",
    "ziproxy",
    "cntlm",
    // Generic: "Zscaler Proxy", "ProxySG", a lab's "netspec-loopback-proxy".
    "proxy",
];

fn add(slot: &mut Option<f64>, d: Duration) {
    *slot = Some(slot.unwrap_or(0.0) + d.as_secs_f64() * 1000.0);
}

/// A connection ready for a request: plain TCP or TLS over TCP (directly or through a tunnel).
type Stream = Either<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>;

/// One hop's connection and how to address the request on it.
struct Opened {
    stream: Stream,
    /// Where the bytes go (the proxy's address through a proxy), as reported.
    remote: SocketAddr,
    /// Send the request in absolute form (plain HTTP through a proxy, RFC 9112 3.2.2).
    absolute_form: bool,
}

/// `url` as shown in results: a password in its userinfo (RFC 3986 3.2.1) becomes `***`.
fn shown_url(url: &url::Url) -> std::borrow::Cow<'_, str> {
    if url.password().is_none() {
        return std::borrow::Cow::Borrowed(url.as_str());
    }
    let mut u = url.clone();
    let _ = u.set_password(Some("***"));
    std::borrow::Cow::Owned(u.to_string())
}

/// Sends the request (and follows redirects when asked) before `deadline`.
pub async fn probe(ctx: &Arc<ProbeContext>, resolver: &Arc<ResolverSpec>, t: &HttpTarget, deadline: Instant) -> HttpObservation {
    let start = Instant::now();
    let mut obs = HttpObservation {
        request: format!("{} {}", t.method, shown_url(&t.url)),
        resolution: None,
        proxy: t.proxy.as_ref().map(|p| p.name.clone()),
        status: None,
        headers: Vec::new(),
        body: String::new(),
        body_truncated: false,
        remote_address: None,
        from_proxy: false,
        redirects: Vec::new(),
        tls: None,
        timings: HttpTimings::default(),
        failure: None,
        elapsed: Duration::ZERO,
    };
    let mut url = t.url.clone();
    let mut method = t.method.clone();
    let mut body = t.body.clone();
    let mut hops = 0;
    loop {
        match hop(ctx, resolver, t, &url, &method, body.as_deref(), deadline, &mut obs).await {
            Err(f) => {
                // No complete answer: a head whose body broke off is not a response to judge
                // (a status, header or body expectation fails with the reason it broke off).
                obs.status = None;
                obs.failure = Some(f);
                break;
            }
            Ok(None) => break,
            Ok(Some(next)) => {
                if hops == MAX_REDIRECTS {
                    obs.failure = Some(Failure::new(
                        Reason::HttpTooManyRedirects,
                        format!("more than {MAX_REDIRECTS} redirects (the last one to {next}); the chain loops or is too long"),
                    ));
                    obs.status = None;
                    break;
                }
                hops += 1;
                obs.redirects.push(next.to_string());
                // RFC 9110 15.4: 303 (and, by practice, 301/302 after POST) switch to GET.
                if obs.status == Some(303) || (matches!(obs.status, Some(301 | 302)) && method == http::Method::POST) {
                    method = http::Method::GET;
                    body = None;
                }
                url = next;
            }
        }
    }
    obs.elapsed = start.elapsed();
    obs.timings.total_ms = obs.elapsed.as_secs_f64() * 1000.0;
    obs
}

/// Whether two URLs share scheme, host and port (RFC 6454 origin). Credentials
/// (`Authorization`, `Proxy-Authorization`, `Cookie` and every header in
/// [`crate::model::target::SECRET_HEADERS`]) are sent only to the origin the suite wrote, as curl and
/// browsers do on redirects.
pub fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// `url` without `user:password@`: the absolute-form request line to a proxy never carries
/// them.
pub fn without_userinfo(url: &url::Url) -> std::borrow::Cow<'_, url::Url> {
    if url.username().is_empty() && url.password().is_none() {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    std::borrow::Cow::Owned(u)
}

/// `Basic base64(user:password)` (RFC 7617) from a URL's userinfo, percent-decoded; `None`
/// when the URL has none.
pub fn userinfo_authorization(url: &url::Url) -> Option<String> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let dec = |s: &str| percent_decode(s);
    let pair = format!("{}:{}", dec(url.username()), dec(url.password().unwrap_or_default()));
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request on a fresh connection. `Ok(Some(url))` asks to follow a redirect there.
#[allow(clippy::too_many_arguments)]
async fn hop(
    ctx: &Arc<ProbeContext>,
    resolver: &Arc<ResolverSpec>,
    t: &HttpTarget,
    url: &url::Url,
    method: &http::Method,
    body: Option<&str>,
    deadline: Instant,
    obs: &mut HttpObservation,
) -> Result<Option<url::Url>, Failure> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let https = url.scheme() == "https";
    let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
    let first_hop = obs.redirects.is_empty();
    let opened = open(ctx, resolver, t, &host, port, https, first_hop, deadline, obs).await?;
    obs.remote_address = Some(opened.remote);

    // The request: origin form, or absolute form to a proxy; Host always (RFC 9112 3.2).
    let target = if opened.absolute_form {
        without_userinfo(url).as_str().to_owned()
    } else {
        let mut p = url.path().to_owned();
        if let Some(q) = url.query() {
            p.push('?');
            p.push_str(q);
        }
        p
    };
    let host_header = match (url.port(), host.parse::<IpAddr>()) {
        (Some(p), Ok(IpAddr::V6(_))) => format!("[{host}]:{p}"),
        (None, Ok(IpAddr::V6(_))) => format!("[{host}]"),
        (Some(p), _) => format!("{host}:{p}"),
        (None, _) => host.clone(),
    };
    let mut req = hyper::Request::builder().method(method.clone()).uri(target);
    let has = |name: &str| t.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    req = req.header(http::header::HOST, host_header);
    if !has("user-agent") {
        req = req.header(http::header::USER_AGENT, concat!("netspec/", env!("CARGO_PKG_VERSION")));
    }
    if !has("accept") {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    if opened.absolute_form
        && let Some(auth) = t.proxy.as_deref().and_then(proxy_authorization)
    {
        req = req.header(http::header::PROXY_AUTHORIZATION, auth);
    }
    if !has("authorization")
        && let Some(auth) = userinfo_authorization(url)
    {
        req = req.header(http::header::AUTHORIZATION, auth);
    }
    let cross_origin = !same_origin(url, &t.url);
    for (k, v) in &t.headers {
        if cross_origin && crate::model::target::SECRET_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            continue;
        }
        req = req.header(k.as_str(), v.as_str());
    }
    let req = match req.body(Full::new(Bytes::from(body.unwrap_or_default().to_owned()))) {
        Ok(r) => r,
        Err(e) => return Err(Failure::new(Reason::HttpError, format!("cannot build the request: {e}"))),
    };

    let (mut sender, conn) = match timeout_at(deadline, hyper::client::conn::http1::handshake(TokioIo::new(opened.stream))).await {
        Err(_) => return Err(timeout_failure()),
        Ok(Err(e)) => return Err(hyper_failure(&e, deadline)),
        Ok(Ok(x)) => x,
    };
    // The connection task ends with the exchange, or shortly after the deadline at the latest
    // (after the request's own deadline has fired, so that is what the probe reports).
    tokio::spawn(async move {
        let _ = timeout_at(deadline + Duration::from_secs(1), conn).await;
    });
    let sent = Instant::now();
    let resp = match timeout_at(deadline, sender.send_request(req)).await {
        Err(_) => return Err(timeout_failure()),
        Ok(Err(e)) => return Err(hyper_failure(&e, deadline)),
        Ok(Ok(r)) => r,
    };
    add(&mut obs.timings.first_byte_ms, sent.elapsed());
    let status = resp.status().as_u16();
    obs.status = Some(status);
    obs.headers = resp
        .headers()
        .iter()
        .take(MAX_HEADERS)
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let location = resp.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);

    // The body, up to the cap; the rest is never read (the connection is dropped).
    let cap = ctx.body_cap;
    let mut kept: Vec<u8> = Vec::new();
    let mut truncated = false;
    let mut incoming = resp.into_body();
    let read = async {
        while let Some(frame) = incoming.frame().await {
            let frame = frame?;
            if let Some(chunk) = frame.data_ref() {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    truncated = true;
                    break;
                }
            }
        }
        Ok::<(), hyper::Error>(())
    };
    let body_result = timeout_at(deadline, read).await;
    obs.body = String::from_utf8_lossy(&kept).into_owned();
    obs.body_truncated = truncated;
    match body_result {
        Err(_) => {
            return Err(Failure::new(Reason::HttpTimeout, format!("HTTP {status} arrived, but not the whole body before the deadline")));
        }
        Ok(Err(e)) => {
            let f = hyper_failure(&e, deadline);
            return Err(Failure::new(f.reason, format!("HTTP {status} arrived, but the body broke off: {}", f.message)));
        }
        Ok(Ok(())) => {}
    }

    // A proxy's own answer to a plain-HTTP request is not the endpoint's.
    if opened.absolute_form
        && let Some(f) = proxy_answer(status, &obs.headers)
    {
        obs.from_proxy = true;
        obs.status = None;
        return Err(f);
    }
    if t.follow_redirects
        && (300..400).contains(&status)
        && let Some(loc) = location
    {
        return match url.join(&loc) {
            Ok(next) if matches!(next.scheme(), "http" | "https") => Ok(Some(next)),
            _ => Err(Failure::new(Reason::HttpError, format!("HTTP {status} redirects to `{loc}`, which is not an http(s) URL"))),
        };
    }
    Ok(None)
}

fn timeout_failure() -> Failure {
    Failure::new(Reason::HttpTimeout, "no complete response before the deadline")
}

/// Connects for one hop: resolve (direct), TCP to each address in turn, the proxy's tunnel,
/// TLS. Records the resolution, the timings and, on a refused certificate, the presented chain.
#[allow(clippy::too_many_arguments)]
async fn open(
    ctx: &Arc<ProbeContext>,
    resolver: &Arc<ResolverSpec>,
    t: &HttpTarget,
    host: &str,
    port: u16,
    https: bool,
    first_hop: bool,
    deadline: Instant,
    obs: &mut HttpObservation,
) -> Result<Opened, Failure> {
    // Local problems first: nothing is sent when the trust store or the server name is unusable.
    let tls = if https {
        let cfg = if t.insecure { Ok(super::tls::insecure_config()) } else { ctx.tls_config(t.ca_file.as_deref()) };
        Some((cfg.map_err(|msg| Failure::new(Reason::TlsCaFile, msg))?, server_name(host)?))
    } else {
        None
    };
    let (tcp, remote, absolute_form) = match &t.proxy {
        Some(p) => {
            let (mut stream, remote) = connect_proxy(ctx, resolver, p, deadline, obs).await?;
            if https {
                let t0 = Instant::now();
                let r = tunnel(&mut stream, p, host, port, deadline).await;
                add(&mut obs.timings.connect_ms, t0.elapsed());
                if let Err(f) = r {
                    obs.from_proxy = true;
                    return Err(f);
                }
            }
            (stream, remote, !https)
        }
        None => {
            let t0 = Instant::now();
            let pinned = if first_hop { t.connect_to } else { None };
            let resolution = match pinned {
                Some(ip) => Resolution::literal(host, "connect_to", ip),
                None => dns::resolve(ctx, resolver, host, deadline).await,
            };
            if resolution.source != super::AnswerSource::Literal {
                add(&mut obs.timings.dns_ms, t0.elapsed());
            }
            let failure = resolution.failure.clone();
            let addresses = resolution.addresses.clone();
            if first_hop {
                obs.resolution = Some(resolution);
            }
            if let Some(f) = failure {
                return Err(f);
            }
            let (stream, remote) = connect_any(ctx, &addresses, port, deadline, obs).await?;
            (stream, remote, false)
        }
    };
    let Some((cfg, server_name)) = tls else {
        return Ok(Opened { stream: Either::Left(tcp), remote, absolute_form });
    };
    let t0 = Instant::now();
    let r = timeout_at(deadline, TlsConnector::from(cfg).connect(server_name, tcp)).await;
    add(&mut obs.timings.tls_ms, t0.elapsed());
    match r {
        Err(_) => Err(Failure::new(Reason::TlsHandshakeTimeout, "the TLS handshake did not finish before the deadline")),
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            obs.tls = Some(Box::new(Handshake {
                version: super::tls::version_name(conn.protocol_version()),
                cipher_suite: conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default(),
                chain: Vec::new(),
                trusted: !t.insecure,
                trust_error: None,
                trust_reason: None,
            }));
            Ok(Opened { stream: Either::Right(tls), remote, absolute_form: false })
        }
        Ok(Err(e)) => {
            let mut f = tls_failure(&e, t.proxy.is_some());
            if matches!(f.reason, Reason::TlsUntrusted | Reason::TlsExpired | Reason::TlsHostnameMismatch | Reason::TlsHandshake) {
                // Show what was presented: a second handshake that records instead of refusing;
                // through a proxy, over a new CONNECT tunnel (an inspecting proxy re-signs it).
                if let Ok(roots) = ctx.roots_for(t.ca_file.as_deref()) {
                    match &t.proxy {
                        None => {
                            let ep = super::tls::handshake(ctx, remote, host, roots, deadline).await;
                            obs.tls = ep.handshake.map(Box::new);
                        }
                        Some(p) => {
                            // The recording connection's timings are not the check's.
                            let timings = obs.timings.clone();
                            if let Ok((mut stream, proxy_addr)) = connect_proxy(ctx, resolver, p, deadline, obs).await
                                && tunnel(&mut stream, p, host, port, deadline).await.is_ok()
                            {
                                let state = super::PortState::Open;
                                let ep = super::tls::handshake_over(stream, proxy_addr, state, host, roots, deadline).await;
                                obs.tls = ep.handshake.map(Box::new);
                            }
                            obs.timings = timings;
                        }
                    }
                }
                if f.reason == Reason::TlsUntrusted
                    && let Some(why) = obs.tls.as_ref().and_then(|h| super::tls::interception(&h.chain, h.trusted))
                {
                    f = Failure::new(Reason::TlsIntercepted, format!("{}; {why}", f.message));
                }
            }
            Err(f)
        }
    }
}

fn server_name(host: &str) -> Result<ServerName<'static>, Failure> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|e| Failure::new(Reason::TlsBadSni, format!("`{host}` is not a valid server name: {e}"))),
    }
}

/// TCP to each address in turn until one is open. The failure names the first address' state.
async fn connect_any(
    ctx: &ProbeContext,
    addresses: &[IpAddr],
    port: u16,
    deadline: Instant,
    obs: &mut HttpObservation,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let t0 = Instant::now();
    let mut first: Option<Failure> = None;
    for ip in addresses {
        let addr = SocketAddr::new(*ip, port);
        ctx.route(addr)?;
        let (attempt, stream) = tcp::connect(ctx, addr, None, deadline).await;
        if let Some(s) = stream {
            add(&mut obs.timings.connect_ms, t0.elapsed());
            return Ok((s, addr));
        }
        let reason = attempt.reason.unwrap_or(Reason::TcpNoRoute);
        first.get_or_insert(Failure::new(reason, format!("{addr}: {}", attempt.detail)));
        if Instant::now() >= deadline {
            break;
        }
    }
    add(&mut obs.timings.connect_ms, t0.elapsed());
    Err(first.unwrap_or_else(|| Failure::new(Reason::TcpNoRoute, "no address to connect to")))
}

/// TCP to the proxy: its host through the check's resolver.
async fn connect_proxy(
    ctx: &ProbeContext,
    resolver: &ResolverSpec,
    p: &ProxySpec,
    deadline: Instant,
    obs: &mut HttpObservation,
) -> Result<(TcpStream, SocketAddr), Failure> {
    if p.url.scheme() != "http" {
        return Err(Failure::new(Reason::HttpBadProxy, format!("proxy {}: only http:// proxies are supported", p.url)));
    }
    let phost = p.url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let pport = p.url.port_or_known_default().unwrap_or(3128);
    let addresses = match phost.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let t0 = Instant::now();
            let r = dns::resolve(ctx, resolver, &phost, deadline).await;
            add(&mut obs.timings.dns_ms, t0.elapsed());
            if let Some(f) = r.failure {
                return Err(Failure::new(f.reason, format!("resolving the proxy {phost}: {}", f.message)));
            }
            r.addresses
        }
    };
    connect_any(ctx, &addresses, pport, deadline, obs).await.map_err(|f| {
        let reason = if f.reason == Reason::SandboxRefused { f.reason } else { Reason::HttpProxyConnectFailed };
        Failure::new(reason, format!("cannot reach the proxy {}: {} [{}]", p.url, f.message, f.reason))
    })
}

/// `Basic` credentials for the proxy (RFC 7617), when it has a user.
fn proxy_authorization(p: &ProxySpec) -> Option<String> {
    use base64::Engine;
    let user = p.username.as_deref().filter(|u| !u.is_empty())?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", p.password.as_deref().unwrap_or("")));
    Some(format!("Basic {token}"))
}

/// Asks the proxy for a tunnel (`CONNECT host:port`, RFC 9110 9.3.6) and reads its answer head
/// (at most 16 KiB). A 2xx opens the tunnel; anything else is the proxy's refusal.
async fn tunnel(stream: &mut TcpStream, p: &ProxySpec, host: &str, port: u16, deadline: Instant) -> Result<(), Failure> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy_authorization(p) {
        req.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    req.push_str("\r\n");
    let exchange = async {
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        // Byte-exact: read only up to the end of the head, so no tunnel bytes are consumed.
        while buf.len() < MAX_CONNECT_HEAD && !buf.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut chunk[..1]).await?;
            if n == 0 {
                break;
            }
            buf.push(chunk[0]);
        }
        Ok::<_, std::io::Error>(buf)
    };
    let head = match timeout_at(deadline, exchange).await {
        Err(_) => return Err(Failure::new(Reason::HttpTimeout, format!("the proxy {} did not answer CONNECT before the deadline", p.url))),
        Ok(Err(e)) => return Err(Failure::new(Reason::HttpProxyConnectFailed, format!("the proxy {} dropped the CONNECT: {e}", p.url))),
        Ok(Ok(h)) => h,
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let code = match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => resp.code.unwrap_or(0),
        _ if head.is_empty() => {
            return Err(Failure::new(
                Reason::HttpProxyConnectFailed,
                format!("the proxy {} closed the connection without answering CONNECT", p.url),
            ));
        }
        _ => {
            return Err(Failure::new(
                Reason::HttpProxyConnectFailed,
                format!("the proxy {} answered CONNECT with something that is not HTTP", p.url),
            ));
        }
    };
    if (200..300).contains(&code) {
        return Ok(());
    }
    let server = resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case("server")).map(|h| String::from_utf8_lossy(h.value).into_owned());
    let mut line = format!("{code} {}", resp.reason.unwrap_or("")).trim().to_owned();
    if let Some(s) = server {
        line.push_str(&format!(" (Server: {s})"));
    }
    Err(match code {
        // tinyproxy answers 401 rather than 407 (RFC 9110 15.5.8); either way it is the proxy's
        // demand, not the endpoint's.
        401 | 407 => {
            Failure::new(Reason::HttpProxyAuthRequired, format!("the proxy answered CONNECT with {line} (it demands credentials)"))
        }
        403 => {
            Failure::new(Reason::HttpProxyDenied, format!("the proxy answered CONNECT with {line} (its policy blocks this destination)"))
        }
        _ => Failure::new(Reason::HttpProxyConnectFailed, format!("the proxy answered CONNECT with {line}")),
    })
}

/// Whether a plain-HTTP answer relayed by a proxy is the proxy's own (an error, a block page or
/// a credentials challenge) rather than the endpoint's. `None` when it is the endpoint's answer.
///
/// The proxy's own, whatever its headers: 407 (RFC 9110 15.5.8: only proxies send it), and a
/// 401 that carries `Proxy-Authenticate` or no `WWW-Authenticate` (RFC 9110 11.6.1: a server
/// that sends 401 MUST send `WWW-Authenticate`; tinyproxy answers 401 with `Proxy-Authenticate`).
/// A 401/403/5xx with a `Proxy-Status` (RFC 9209) or `X-Squid-Error` header, or a `Server`
/// header naming a proxy product, is the proxy's too.
pub fn proxy_answer(status: u16, headers: &[(String, String)]) -> Option<Failure> {
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    let auth = |why: String| {
        Failure::new(Reason::HttpProxyAuthRequired, format!("the proxy answered {status} itself ({why}): it demands credentials"))
    };
    if status == 407 {
        return Some(auth("407 comes only from proxies".into()));
    }
    if status == 401 {
        if let Some(v) = get("proxy-authenticate") {
            return Some(auth(format!("Proxy-Authenticate: {v}")));
        }
        if get("www-authenticate").is_none() {
            return Some(auth("a 401 without WWW-Authenticate, which an endpoint must send".into()));
        }
    }
    if !matches!(status, 401 | 403 | 500..=599) {
        return None;
    }
    let server = get("server").unwrap_or("");
    let lower = server.to_ascii_lowercase();
    let marker =
        get("proxy-status").map(|v| format!("Proxy-Status: {v}")).or_else(|| get("x-squid-error").map(|v| format!("X-Squid-Error: {v}")));
    let by_server = PROXY_PRODUCTS.iter().any(|p| lower.contains(p));
    if marker.is_none() && !by_server {
        return None;
    }
    let why = marker.unwrap_or_else(|| format!("Server: {server}"));
    Some(match status {
        401 => auth(why),
        403 => Failure::new(Reason::HttpProxyDenied, format!("the proxy answered 403 itself ({why}): its policy blocks this destination")),
        _ => Failure::new(
            Reason::HttpProxyError,
            format!("the proxy answered {status} itself ({why}): it could not reach or refused the endpoint"),
        ),
    })
}

/// Classifies a failed TLS handshake (rustls errors arrive wrapped in `io::Error`).
fn tls_failure(e: &std::io::Error, tunnelled: bool) -> Failure {
    use rustls::Error as R;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<R>());
    let msg = format!("TLS handshake failed: {e}");
    let reason = match inner {
        Some(c @ R::InvalidCertificate(_)) => super::tls::certificate_reason(c),
        Some(R::AlertReceived(_) | R::PeerIncompatible(_) | R::NoApplicationProtocol) => Reason::TlsProtocol,
        Some(_) => Reason::TlsHandshake,
        None if tunnelled && matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset) => {
            return Failure::new(
                Reason::HttpProxyConnectFailed,
                format!("the proxy accepted CONNECT, then closed the tunnel during the TLS handshake: {e}"),
            );
        }
        None => Reason::TlsHandshake,
    };
    Failure::new(reason, msg)
}

/// Classifies a failed exchange: reset, closed early, not HTTP, out of time.
fn hyper_failure(e: &hyper::Error, deadline: Instant) -> Failure {
    let mut text = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut io_kind = None;
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        text.push_str(&format!(": {s}"));
        src = s.source();
    }
    let reason =
        if matches!(io_kind, Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)) || e.is_incomplete_message() {
            Reason::HttpReset
        } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
            Reason::HttpProtocol
        } else if e.is_timeout() || Instant::now() >= deadline {
            Reason::HttpTimeout
        } else {
            Reason::HttpError
        };
    Failure::new(reason, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_proxy_block_page_is_told_apart_from_the_endpoint() {
        let f = proxy_answer(403, &h(&[("Server", "tinyproxy/1.11.1")])).unwrap();
        assert_eq!(f.reason, Reason::HttpProxyDenied);
        assert!(f.message.contains("tinyproxy/1.11.1"), "{}", f.message);
        assert_eq!(proxy_answer(502, &h(&[("Proxy-Status", "corp; error=dns_timeout")])).unwrap().reason, Reason::HttpProxyError);
        assert_eq!(proxy_answer(407, &h(&[("X-Squid-Error", "ERR_CACHE_ACCESS_DENIED 0")])).unwrap().reason, Reason::HttpProxyAuthRequired);
    }

    #[test]
    fn the_endpoints_own_answers_are_not_the_proxys() {
        // The endpoint's 403 from nginx, a proxy product's 200, and a 404 stay the endpoint's.
        assert!(proxy_answer(403, &h(&[("Server", "nginx")])).is_none());
        assert!(proxy_answer(200, &h(&[("Server", "squid/5.7")])).is_none());
        assert!(proxy_answer(404, &h(&[("Proxy-Status", "corp")])).is_none());
        // An endpoint's 401 carries its challenge (RFC 9110 11.6.1); without one, or with a
        // proxy's, it is the proxy's own.
        assert!(proxy_answer(401, &h(&[("WWW-Authenticate", "Basic realm=\"api\"")])).is_none());
        assert!(proxy_answer(401, &h(&[])).is_some());
    }

    #[test]
    fn tls_errors_get_their_reason() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(
            tls_failure(&wrap(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)), false).reason,
            Reason::TlsExpired
        );
        assert_eq!(
            tls_failure(&wrap(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)), false).reason,
            Reason::TlsUntrusted
        );
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(tls_failure(&eof, true).reason, Reason::HttpProxyConnectFailed);
        assert_eq!(tls_failure(&eof, false).reason, Reason::TlsHandshake);
    }
}
