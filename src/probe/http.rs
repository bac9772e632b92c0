//! The HTTP probe: one request with reqwest (rustls), observing status, headers, a capped body
//! and the remote address actually used.
//!
//! Name resolution goes through the check's resolver: the URL's host is resolved here first (the
//! answer is reported) and pinned into the client, and any other name (redirect targets, the
//! proxy's host) goes through the same resolver via reqwest's `dns_resolver` hook. With a proxy
//! the target is resolved by the proxy, as it would be for the real client. Redirects are not
//! followed unless the check asks; the environment's proxy variables are ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use super::{AnswerSource, Failure, ProbeContext, Resolution, dns};
use crate::suite::plan::{HttpTarget, ResolverSpec};

/// What an HTTP check observed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HttpObservation {
    /// Method and URL.
    pub request: String,
    /// How the URL's host became addresses; `None` when a proxy resolves it.
    pub resolution: Option<Resolution>,
    /// The proxy used, by name.
    pub proxy: Option<String>,
    /// Response status.
    pub status: Option<u16>,
    /// Response headers, names lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body's first bytes (lossy UTF-8), at most the run's body cap.
    pub body: String,
    /// Whether the body was cut at the cap.
    pub body_truncated: bool,
    /// The address the response came from (the proxy's, through a proxy).
    pub remote_address: Option<SocketAddr>,
    /// Why there is no response.
    pub failure: Option<Failure>,
    /// Wall time.
    #[serde(with = "crate::util::millis")]
    #[schemars(with = "crate::util::Millis")]
    pub elapsed: Duration,
}

impl HttpObservation {
    /// Values of header `name` (case-insensitive), joined with ", ".
    pub fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<&str> = self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        if vals.is_empty() { None } else { Some(vals.join(", ")) }
    }

    /// Lines for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.resolution {
            out.push(r.describe());
        }
        let via = self.proxy.as_ref().map(|p| format!(" via proxy {p}")).unwrap_or_default();
        match (&self.status, &self.failure) {
            (Some(s), _) => {
                let from = self.remote_address.map(|a| format!(" from {a}")).unwrap_or_default();
                out.push(format!("{}{via}: HTTP {s}{from} in {:.1} ms", self.request, self.elapsed.as_secs_f64() * 1000.0));
                for (k, v) in self.headers.iter().take(12) {
                    out.push(format!("  {k}: {v}"));
                }
                if !self.body.is_empty() {
                    let snippet: String = self.body.chars().take(200).collect();
                    out.push(format!("  body: {}", snippet.replace('\n', " ")));
                }
            }
            (None, Some(f)) => out.push(format!("{}{via}: no response: {} [{}]", self.request, f.message, f.reason)),
            (None, None) => {}
        }
        out
    }
}

/// The error a resolution hook returns, so the probe can report the DNS reason.
#[derive(Debug)]
struct ResolveFailed(Failure);

impl std::fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}", self.0.message)
    }
}

impl std::error::Error for ResolveFailed {}

/// reqwest's resolution hook: the check's resolver, then the sandbox.
struct Hook {
    ctx: Arc<ProbeContext>,
    resolver: Arc<ResolverSpec>,
    deadline: Instant,
}

impl reqwest::dns::Resolve for Hook {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (ctx, resolver, deadline) = (self.ctx.clone(), self.resolver.clone(), self.deadline);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let r = dns::resolve(&ctx, &resolver, &host, deadline).await;
            if let Some(f) = r.failure {
                return Err(Box::new(ResolveFailed(f)) as Box<dyn std::error::Error + Send + Sync>);
            }
            // hyper replaces the port with the URL's, so only the IP matters here. In the lab,
            // a lab address becomes the loopback address playing it (any port): only loopback
            // addresses ever leave this hook.
            let mut out = Vec::new();
            for ip in r.addresses {
                match &ctx.sandbox {
                    None => out.push(SocketAddr::new(ip, 0)),
                    Some(_) if ip.is_loopback() => out.push(SocketAddr::new(ip, 0)),
                    Some(s) => {
                        if let Some(real) = s.map.iter().find(|(k, _)| k.ip() == ip).map(|(_, v)| *v) {
                            out.push(real);
                        }
                    }
                }
            }
            if out.is_empty() {
                return Err(Box::new(ResolveFailed(Failure::new("sandbox.refused", format!("{host} resolves outside the loopback lab"))))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(out.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn failure_from(err: &reqwest::Error) -> Failure {
    let mut chain = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = src {
        if let Some(r) = e.downcast_ref::<ResolveFailed>() {
            return r.0.clone();
        }
        let s = e.to_string();
        if chain.last() != Some(&s) {
            chain.push(s);
        }
        src = e.source();
    }
    let text = chain.join(": ");
    let lower = text.to_ascii_lowercase();
    let reason = if lower.contains("407")
        || lower.contains("proxy authentication")
        || lower.contains("proxy authorization")
        || lower.contains("proxyauthrequired")
    {
        "http.proxy_auth_required"
    } else if lower.contains("expired") && lower.contains("certificate") {
        "tls.expired"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "tls.hostname_mismatch"
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        "tls.untrusted"
    } else if lower.contains("tunnel") || lower.contains("proxy") {
        "http.proxy_connect_failed"
    } else if lower.contains("connection refused") {
        "tcp.closed"
    } else if lower.contains("reset") {
        "http.reset"
    } else if err.is_connect() {
        "http.connect"
    } else {
        "http.error"
    };
    Failure::new(reason, text)
}

/// Sends the request before `deadline` and observes the response.
pub async fn probe(ctx: &Arc<ProbeContext>, resolver: &Arc<ResolverSpec>, t: &HttpTarget, deadline: Instant) -> HttpObservation {
    let start = Instant::now();
    let mut obs = HttpObservation {
        request: format!("{} {}", t.method, t.url),
        resolution: None,
        proxy: t.proxy.as_ref().map(|p| p.name.clone()),
        status: None,
        headers: Vec::new(),
        body: String::new(),
        body_truncated: false,
        remote_address: None,
        failure: None,
        elapsed: Duration::ZERO,
    };
    let finish = |mut o: HttpObservation, f: Failure| {
        o.failure = Some(f);
        o.elapsed = start.elapsed();
        o
    };
    let host = t.url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = t.url.port_or_known_default().unwrap_or(443);
    let mut url = t.url.clone();

    let mut builder = reqwest::Client::builder()
        .redirect(if t.follow_redirects { reqwest::redirect::Policy::limited(10) } else { reqwest::redirect::Policy::none() })
        .pool_max_idle_per_host(0)
        .dns_resolver(Hook { ctx: ctx.clone(), resolver: resolver.clone(), deadline });
    let tls = if t.insecure { Ok(super::tls::insecure_config()) } else { ctx.tls_config(t.ca_file.as_deref()) };
    match tls {
        Ok(cfg) => builder = builder.use_preconfigured_tls((*cfg).clone()),
        Err(msg) => return finish(obs, Failure::new("tls.ca_file", msg)),
    }

    match &t.proxy {
        Some(p) => {
            if let (Some(sb), Some(Ok(ip))) =
                (&ctx.sandbox, p.url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()))
            {
                let pport = p.url.port_or_known_default().unwrap_or(3128);
                match sb.route(SocketAddr::new(ip, pport)) {
                    Ok(real) if real == SocketAddr::new(ip, pport) => {}
                    Ok(_) | Err(_) => {
                        return finish(obs, Failure::new("sandbox.refused", format!("proxy {} is outside the loopback lab", p.url)));
                    }
                }
            }
            let mut proxy = match reqwest::Proxy::all(p.url.clone()) {
                Ok(px) => px,
                Err(e) => {
                    return finish(obs, Failure::new("http.bad_proxy", format!("proxy URL {}: {e}", p.url)));
                }
            };
            if let Some(user) = p.username.as_deref().filter(|u| !u.is_empty()) {
                proxy = proxy.basic_auth(user, p.password.as_deref().unwrap_or(""));
            }
            builder = builder.proxy(proxy);
        }
        None => {
            builder = builder.no_proxy();
            let resolution = match t.connect_to {
                Some(ip) => Resolution::literal(&host, "connect_to", ip),
                None => dns::resolve(ctx, resolver, &host, deadline).await,
            };
            if let Some(f) = resolution.failure.clone() {
                obs.resolution = Some(resolution);
                return finish(obs, f);
            }
            let mut pinned = Vec::new();
            for ip in &resolution.addresses {
                match ctx.route(SocketAddr::new(*ip, port)) {
                    Ok(real) => pinned.push(real),
                    Err(f) => {
                        obs.resolution = Some(resolution);
                        return finish(obs, f);
                    }
                }
            }
            if resolution.source == AnswerSource::Literal && t.connect_to.is_none() {
                // reqwest connects to IP literals itself; only allow that when routing is identity.
                if pinned.iter().zip(&resolution.addresses).any(|(p, ip)| p.ip() != *ip || p.port() != port) {
                    obs.resolution = Some(resolution);
                    return finish(obs, Failure::new("sandbox.refused", "IP-literal URLs must be loopback in the lab"));
                }
            } else {
                // hyper connects to the URL's port whatever the resolver says, so a lab stand-in
                // on another port is reached by moving the URL's port (SNI and Host keep the name).
                if let Some(real) = pinned.first()
                    && real.port() != port
                {
                    let _ = url.set_port(Some(real.port()));
                }
                builder = builder.resolve_to_addrs(&host, &pinned);
            }
            obs.resolution = Some(resolution);
        }
    }

    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            return finish(obs, Failure::new("http.client", format!("cannot build the HTTP client: {e}")));
        }
    };
    let mut req = client.request(t.method.clone(), url.clone());
    for (k, v) in &t.headers {
        req = req.header(k, v);
    }
    if let Some(b) = &t.body {
        req = req.body(b.clone());
    }
    let cap = ctx.body_cap;
    let exchange = async {
        let mut resp = req.send().await?;
        let status = resp.status().as_u16();
        let remote = resp.remote_addr();
        let headers: Vec<(String, String)> =
            resp.headers().iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await? {
            let room = cap.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                truncated = true;
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, remote, headers, body, truncated))
    };
    match timeout_at(deadline, exchange).await {
        Err(_) => {
            let f = Failure::new("http.timeout", "no complete response before the deadline");
            return finish(obs, f);
        }
        Ok(Err(e)) => {
            let mut f = failure_from(&e);
            // In the lab the URL's port was moved to the stand-in's; report the URL as written.
            f.message = f.message.replace(url.as_str(), t.url.as_str());
            // reqwest only says "tunnel error"; ask the proxy itself what it answers to CONNECT.
            if let Some(p) = &t.proxy
                && f.message.contains("tunnel error")
                && let Some((code, line)) = proxy_connect_status(ctx, p, &host, port, deadline).await
            {
                f = match code {
                    // tinyproxy answers 401 rather than 407 (RFC 9110 15.5.8); either way it is
                    // the proxy's demand, not the endpoint's.
                    401 | 407 => {
                        Failure::new("http.proxy_auth_required", format!("the proxy answered CONNECT with {line} (it demands credentials)"))
                    }
                    403 => Failure::new(
                        "http.proxy_denied",
                        format!("the proxy answered CONNECT with {line} (its policy blocks this destination)"),
                    ),
                    _ => Failure::new("http.proxy_connect_failed", format!("the proxy answered CONNECT with {line}")),
                };
            }
            return finish(obs, f);
        }
        Ok(Ok((status, remote, headers, body, truncated))) => {
            obs.status = Some(status);
            obs.remote_address = remote.map(|r| ctx.unroute(r));
            obs.headers = headers;
            obs.body = String::from_utf8_lossy(&body).into_owned();
            obs.body_truncated = truncated;
        }
    }
    obs.elapsed = start.elapsed();
    obs
}

/// Sends `CONNECT host:port` to the proxy (with its credentials) and returns the status code and
/// status line it answers, or `None` when it cannot be reached or answers garbage. Bounded by
/// `deadline` and a 16 KiB response head.
async fn proxy_connect_status(
    ctx: &ProbeContext,
    p: &crate::suite::plan::ProxySpec,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Option<(u16, String)> {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let phost = p.url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let pport = p.url.port_or_known_default().unwrap_or(3128);
    let resolver = ResolverSpec::system();
    let ip = match phost.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => *dns::resolve(ctx, &resolver, &phost, deadline).await.addresses.first()?,
    };
    let (_, stream) = super::tcp::connect(ctx, SocketAddr::new(ip, pport), None, deadline).await;
    let mut stream = stream?;
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(user) = p.username.as_deref().filter(|u| !u.is_empty()) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", p.password.as_deref().unwrap_or("")));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    let exchange = async {
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        while buf.len() < 16 * 1024 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        resp.parse(&buf).ok()?;
        let code = resp.code?;
        let server =
            resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case("server")).map(|h| String::from_utf8_lossy(h.value).into_owned());
        let mut line = format!("{code} {}", resp.reason.unwrap_or(""));
        if let Some(s) = server {
            line.push_str(&format!(" (Server: {s})"));
        }
        Some((code, line.trim().to_owned()))
    };
    timeout_at(deadline, exchange).await.ok().flatten()
}
