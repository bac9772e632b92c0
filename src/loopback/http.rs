//! A canned HTTP/1.1 server (plain or HTTPS) that answers every request with one [`Reply`].
//!
//! It plays service endpoints whose only observable behaviour, for netspec, is a status line,
//! a few headers and a certificate. hyper does the HTTP; tokio-rustls does TLS (ALPN
//! `http/1.1`), with the ring provider passed explicitly so no process default is needed.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{AbortOnDrop, IDLE, Identity, spawn_accept_loop};

/// The fixed answer of an [`HttpServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code, 100..=999.
    pub status: u16,
    /// Extra response headers, in order. `Server: netspec-loopback` is added unless a
    /// `Server` header is given here.
    pub headers: Vec<(String, String)>,
    /// Response body (UTF-8); `Content-Length` is set from it.
    pub body: String,
}

impl Reply {
    /// A reply with `status`, `body` and no extra headers.
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, headers: Vec::new(), body: body.into() }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// The reply, validated once at start so a bad header fails `start` rather than each request.
struct Canned {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Canned {
    fn new(reply: Reply) -> io::Result<Canned> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let status = StatusCode::from_u16(reply.status).map_err(|_| invalid("status code"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &reply.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid(value))?;
            headers.append(name, value);
        }
        if !headers.contains_key(SERVER) {
            headers.insert(SERVER, HeaderValue::from_static("netspec-loopback"));
        }
        Ok(Canned { status, headers, body: Bytes::from(reply.body) })
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

/// A running HTTP or HTTPS server on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    _task: AbortOnDrop,
}

/// A rustls server config for `identity` (TLS 1.2 and 1.3, ALPN `http/1.1`).
pub(crate) fn tls_acceptor(identity: Identity) -> io::Result<TlsAcceptor> {
    tls_acceptor_with(identity, rustls::DEFAULT_VERSIONS)
}

/// A rustls server config for `identity` speaking only `versions`, ALPN `http/1.1`.
fn tls_acceptor_with(identity: Identity, versions: &[&'static rustls::SupportedProtocolVersion]) -> io::Result<TlsAcceptor> {
    let invalid = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidInput, e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(invalid)?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(invalid)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl HttpServer {
    /// Binds `127.0.0.1:0` and answers every request with `reply`: over TLS with `identity`
    /// when it is `Some`, plain HTTP otherwise. Connections live at most 60 s and are closed
    /// after 30 s without a request head.
    ///
    /// Errors: the bind failed, `reply` has an invalid status or header
    /// (`InvalidInput`), or rustls rejected the identity (`InvalidInput`).
    pub async fn start(identity: Option<Identity>, reply: Reply) -> io::Result<HttpServer> {
        let tls = identity.map(tls_acceptor).transpose()?;
        HttpServer::start_with(tls, reply).await
    }

    /// Like [`HttpServer::start`] over TLS, but the server speaks TLS 1.2 only (RFC 5246): a
    /// legacy endpoint for `min_version: "1.3"` to fail on.
    ///
    /// Errors: as [`HttpServer::start`].
    pub async fn start_tls12_only(identity: Identity, reply: Reply) -> io::Result<HttpServer> {
        let tls = tls_acceptor_with(identity, &[&rustls::version::TLS12])?;
        HttpServer::start_with(Some(tls), reply).await
    }

    async fn start_with(tls: Option<TlsAcceptor>, reply: Reply) -> io::Result<HttpServer> {
        let canned = Arc::new(Canned::new(reply)?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = spawn_accept_loop(listener, move |stream| {
            let (canned, tls) = (canned.clone(), tls.clone());
            async move {
                match tls {
                    None => serve(stream, canned).await,
                    Some(acceptor) => {
                        if let Ok(Ok(tls)) = tokio::time::timeout(IDLE, acceptor.accept(stream)).await {
                            serve(tls, canned).await;
                        }
                    }
                }
            }
        });
        Ok(HttpServer { addr, _task: task })
    }

    /// Where the server listens (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn serve<S>(io: S, canned: Arc<Canned>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |_req| {
        let resp = canned.response();
        async move { Ok::<_, Infallible>(resp) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(IDLE);
    // Protocol errors from a garbage request end the connection; nothing to report.
    let _ = builder.serve_connection(TokioIo::new(io), svc).await;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::loopback::{Ca, Validity};
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// GETs `/` from `addr` over TLS with SNI `host`, trusting only `root`; returns the raw
    /// response text, or the TLS error.
    pub(crate) async fn https_get(addr: SocketAddr, host: &str, root: CertificateDer<'static>) -> io::Result<String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).unwrap();
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(host.to_string()).unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        tls.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn https_with_lab_ca() {
        let ca = Ca::new("lab").unwrap();
        let id = ca.issue(&["svc.example"], Validity::Current).unwrap();
        let reply = Reply::new(401, "no token").header("WWW-Authenticate", "Bearer");
        let srv = HttpServer::start(Some(id), reply).await.unwrap();
        let resp = https_get(srv.addr(), "svc.example", ca.cert_der()).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{resp}");
        let lower = resp.to_ascii_lowercase();
        assert!(lower.contains("server: netspec-loopback\r\n"), "{resp}");
        assert!(lower.contains("www-authenticate: bearer\r\n"), "{resp}");
        assert!(resp.ends_with("no token"));
    }

    #[tokio::test]
    async fn expired_and_foreign_certs_are_rejected() {
        let ca = Ca::new("lab").unwrap();
        let id = ca.issue(&["old.example"], Validity::Expired).unwrap();
        let srv = HttpServer::start(Some(id), Reply::new(200, "")).await.unwrap();
        let err = https_get(srv.addr(), "old.example", ca.cert_der()).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");

        let other = Ca::new("other").unwrap();
        let id = other.issue(&["x.example"], Validity::Current).unwrap();
        let srv = HttpServer::start(Some(id), Reply::new(200, "")).await.unwrap();
        let err = https_get(srv.addr(), "x.example", ca.cert_der()).await.unwrap_err();
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    }

    #[tokio::test]
    async fn plain_http_and_garbage() {
        let reply = Reply::new(302, "").header("Location", "https://a.example/");
        let srv = HttpServer::start(None, reply).await.unwrap();
        let mut s = TcpStream::connect(srv.addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 302 Found\r\n"), "{out}");
        assert!(out.contains("location: https://a.example/\r\n"), "{out}");

        // Garbage gets an error status or a close, and the server keeps serving.
        let mut s = TcpStream::connect(srv.addr()).await.unwrap();
        s.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(!out.starts_with(b"HTTP/1.1 302"));
        assert!(TcpStream::connect(srv.addr()).await.is_ok());

        assert!(HttpServer::start(None, Reply::new(42, "")).await.is_err());
    }
}
