//! The TLS probe: a rustls handshake (with SNI) to every address of a host, reporting the
//! negotiated version and cipher suite, the presented chain (subject, issuer, SANs, validity)
//! and the trust verdict with the verifier's reason.
//!
//! To report the facts of an untrusted server too, the handshake runs with a recording verifier:
//! it asks rustls' WebPKI verifier (RFC 5280 path validation, RFC 6125 name checks) for the
//! verdict, records it, and lets the handshake finish. No application data is ever sent on such
//! a connection; it is closed right after the handshake. HTTP checks use the normal, enforcing
//! verifier.

pub use crate::model::observation::tls::{
    CertInfo, Handshake, INSPECTION_ISSUERS_TSV, TlsEndpoint, TlsObservation, VersionProbe, VersionVerdict, interception,
};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use super::tcp::{self, PortState};
use super::{Failure, ProbeContext, dns};
use crate::model::Reason;
use crate::model::target::ResolverSpec;
use crate::model::target::TlsVersion;

/// Reads a PEM file of trust anchors.
///
/// Errors: unreadable file, or no certificate in it.
pub fn load_ca_file(path: &Path) -> Result<rustls::RootCertStore, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!("CA file {} holds no PEM certificate", path.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(certs);
    Ok(roots)
}

/// Facts of one DER certificate; `None` when it does not parse.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string())
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        not_after_unix: cert.validity().not_after.timestamp(),
        sha256: crate::util::sha256_hex(der),
    })
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.map(|_| ()));
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Resolves `host` and runs a handshake on every routable address, all before `deadline`; on
/// every address that accepts TCP, one more handshake per version of `refuse_versions` offers
/// that version alone ([`TlsEndpoint::version_probes`]).
#[allow(clippy::too_many_arguments)]
pub async fn probe(
    ctx: &ProbeContext,
    resolver: &ResolverSpec,
    host: &str,
    port: u16,
    sni: &str,
    ca_file: Option<&Path>,
    refuse_versions: &[TlsVersion],
    deadline: Instant,
) -> TlsObservation {
    let start = Instant::now();
    let resolution = dns::resolve(ctx, resolver, host, deadline).await;
    // Per address, a handshake and one connection per refused version, all at once.
    let sockets = resolution.addresses.len().saturating_mul(1 + refuse_versions.len());
    let (_fanout, roots) = match ctx.reserve_fanout(sockets, deadline).await {
        Ok(p) => (p, ctx.roots_for(ca_file).map_err(|m| Failure::new(Reason::TlsCaFile, m))),
        Err(f) => (None, Err(f)),
    };
    let endpoints = match roots {
        Err(failure) => resolution
            .addresses
            .iter()
            .map(|ip| TlsEndpoint {
                address: SocketAddr::new(*ip, port),
                tcp: PortState::NoRoute,
                handshake: None,
                failure: Some(failure.clone()),
                version_probes: Vec::new(),
            })
            .collect(),
        Ok(roots) => {
            let hs = resolution.addresses.iter().map(|ip| async {
                let addr = SocketAddr::new(*ip, port);
                let mut ep = handshake(ctx, addr, sni, roots.clone(), deadline).await;
                if ep.tcp == PortState::Open {
                    let probes = refuse_versions.iter().map(|v| offer_only(ctx, addr, sni, *v, deadline));
                    for (mut p, closed) in futures_util::future::join_all(probes).await {
                        // Some servers close the connection instead of sending an alert; when the
                        // same server completes a handshake offering every version, that is a refusal.
                        if closed && ep.handshake.is_some() {
                            p.verdict = VersionVerdict::Refused;
                            p.detail.push_str(" (it completes a handshake that offers every version)");
                        }
                        ep.version_probes.push(p);
                    }
                }
                ep
            });
            let all: Vec<TlsEndpoint> = futures_util::future::join_all(hs).await;
            let routable = all.iter().any(|e| e.tcp != PortState::NoRoute);
            all.into_iter().filter(|e| !routable || e.tcp != PortState::NoRoute).collect()
        }
    };
    TlsObservation { resolution, port, sni: sni.to_owned(), endpoints, elapsed: start.elapsed() }
}

/// A recording handshake with `addr` (reports the chain and the verdict, sends no data).
pub(crate) async fn handshake(
    ctx: &ProbeContext,
    addr: SocketAddr,
    sni: &str,
    roots: Arc<rustls::RootCertStore>,
    deadline: Instant,
) -> TlsEndpoint {
    let (attempt, stream) = tcp::connect(ctx, addr, None, deadline).await;
    let Some(stream) = stream else {
        let mut ep = TlsEndpoint { address: addr, tcp: attempt.state, handshake: None, failure: None, version_probes: Vec::new() };
        let reason = attempt.reason.unwrap_or(Reason::TcpNoRoute);
        ep.failure = Some(Failure::new(reason, format!("no TCP connection: {}", attempt.detail)));
        return ep;
    };
    handshake_over(stream, addr, attempt.state, sni, roots, deadline).await
}

/// A recording handshake over a connected stream (`addr` and `tcp` describe it: the server,
/// or the proxy whose `CONNECT` tunnel the stream is).
pub(crate) async fn handshake_over(
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    tcp: PortState,
    sni: &str,
    roots: Arc<rustls::RootCertStore>,
    deadline: Instant,
) -> TlsEndpoint {
    let mut ep = TlsEndpoint { address: addr, tcp, handshake: None, failure: None, version_probes: Vec::new() };
    let server_name = match ServerName::try_from(sni.to_owned()) {
        Ok(n) => n,
        Err(e) => {
            ep.failure = Some(Failure::new(Reason::TlsBadSni, format!("`{sni}` is not a valid server name: {e}")));
            return ep;
        }
    };
    let inner = match WebPkiServerVerifier::builder(roots).build() {
        Ok(v) => v,
        Err(e) => {
            ep.failure = Some(Failure::new(Reason::TlsNoRoots, format!("no usable trust anchors: {e}")));
            return ep;
        }
    };
    let recorder = Arc::new(Recording { inner, verdict: Mutex::new(None) });
    let mut cfg = rustls::ClientConfig::builder().dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(cfg));
    match timeout_at(deadline, connector.connect(server_name, stream)).await {
        Err(_) => ep.failure = Some(Failure::new(Reason::TlsHandshakeTimeout, "the TLS handshake did not finish before the deadline")),
        Ok(Err(e)) => {
            let reason = if e.kind() == std::io::ErrorKind::InvalidData { Reason::TlsProtocol } else { Reason::TlsHandshake };
            ep.failure = Some(Failure::new(reason, format!("handshake failed: {e}")));
        }
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            let version = version_name(conn.protocol_version());
            let cipher_suite = conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
            let chain = conn.peer_certificates().unwrap_or(&[]).iter().filter_map(|c| cert_info(c)).collect();
            let verdict = recorder.verdict.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (trusted, trust_error, trust_reason) = match verdict {
                Some(Ok(())) => (true, None, None),
                Some(Err(e)) => (false, Some(e.to_string()), Some(certificate_reason(&e))),
                None => (false, Some("the server presented no certificate".into()), Some(Reason::TlsUntrusted)),
            };
            ep.handshake = Some(Handshake { version, cipher_suite, chain, trusted, trust_error, trust_reason });
        }
    }
    ep
}

/// The reason code of a refused certificate, from rustls' error (RFC 5280 6.1.3 validity,
/// RFC 6125 name matching): `tls.expired` for a validity failure, `tls.hostname_mismatch` for a
/// name mismatch, `tls.untrusted` for every other verification failure.
pub fn certificate_reason(e: &rustls::Error) -> Reason {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. }) => {
            Reason::TlsExpired
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => Reason::TlsHostnameMismatch,
        _ => Reason::TlsUntrusted,
    }
}

/// A negotiated version as reports write it: `1.2`, `1.3`.
pub fn version_name(v: Option<rustls::ProtocolVersion>) -> String {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "?".into(),
    }
}

/// One handshake to `addr` offering only `version` (any certificate accepted: only the version
/// matters, and no application data is sent), before `deadline`.
///
/// Refused when the server ends the handshake with a fatal alert or a protocol error (rustls'
/// `InvalidData`: e.g. `protocol_version`, `handshake_failure`, or a server that answers with
/// another version than offered); accepted when it completes; untested otherwise. The flag is
/// true when the server closed or reset the connection during the handshake.
async fn offer_only(ctx: &ProbeContext, addr: SocketAddr, sni: &str, version: TlsVersion, deadline: Instant) -> (VersionProbe, bool) {
    let name = match version {
        TlsVersion::V1_2 => "1.2",
        TlsVersion::V1_3 => "1.3",
    };
    let probe = |verdict, detail: String| (VersionProbe { version: name.into(), verdict, detail }, false);
    let (attempt, stream) = tcp::connect(ctx, addr, None, deadline).await;
    let Some(stream) = stream else {
        return probe(VersionVerdict::Untested, format!("no TCP connection: {}", attempt.detail));
    };
    let server_name = match ServerName::try_from(sni.to_owned()) {
        Ok(n) => n,
        Err(e) => return probe(VersionVerdict::Untested, format!("`{sni}` is not a valid server name: {e}")),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match version {
        TlsVersion::V1_2 => &[&rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let cfg = match rustls::ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions) {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth(),
        Err(e) => return probe(VersionVerdict::Untested, format!("cannot offer TLS {name}: {e}")),
    };
    match timeout_at(deadline, TlsConnector::from(Arc::new(cfg)).connect(server_name, stream)).await {
        Err(_) => probe(VersionVerdict::Untested, "the handshake did not finish before the deadline".into()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => probe(VersionVerdict::Refused, format!("handshake failed: {e}")),
        Ok(Err(e)) => {
            use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
            let closed = matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted);
            let detail = if closed {
                format!("the server closed the connection during the handshake: {e}")
            } else {
                format!("the handshake broke: {e}")
            };
            let (p, _) = probe(VersionVerdict::Untested, detail);
            (p, closed)
        }
        Ok(Ok(tls)) => {
            let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
            probe(VersionVerdict::Accepted, format!("negotiated {suite}"))
        }
    }
}

/// Accepts any certificate but still checks handshake signatures (for `insecure: true`).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client config that skips certificate verification (`insecure: true` checks only).
pub fn insecure_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            cfg.resumption = rustls::client::Resumption::disabled();
            Arc::new(cfg)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(subject: &str, issuer: &str) -> CertInfo {
        CertInfo {
            subject: subject.into(),
            issuer: issuer.into(),
            sans: vec![],
            not_before: String::new(),
            not_after: String::new(),
            not_after_unix: 0,
            sha256: String::new(),
        }
    }

    #[test]
    fn an_untrusted_chain_from_an_inspection_product_is_intercepted() {
        let chain = [cert("CN=login.example.com", "CN=Zscaler Intermediate Root CA, O=Zscaler Inc.")];
        let why = interception(&chain, false).expect("intercepted");
        assert!(why.contains("Zscaler Internet Access") && why.contains("CN=Zscaler Intermediate Root CA"), "{why}");
        // the same chain, trusted (the CA is installed): the supported set-up, not reported
        assert_eq!(interception(&chain, true), None);
    }

    #[test]
    fn generic_words_and_ca_subjects_further_up_the_chain_count() {
        let contoso = [cert("CN=dps.example", "CN=Contoso TLS Inspection CA, O=Contoso")];
        assert!(interception(&contoso, false).unwrap().contains("\"inspection\""));
        let palo = [
            cert("CN=a.example", "CN=Corp Issuing CA 2"),
            cert("CN=Corp Issuing CA 2", "CN=Corp Root"),
            cert("CN=Palo Alto Networks Forward Trust, O=Corp", "CN=Corp Root"),
        ];
        let why = interception(&palo, false).unwrap();
        assert!(why.starts_with("CA `CN=Palo Alto Networks Forward Trust"), "{why}");
        // case-insensitive
        assert!(interception(&[cert("CN=x", "CN=FORTIGATE CA")], false).unwrap().contains("Fortinet"));
    }

    #[test]
    fn ordinary_untrusted_chains_and_leaf_subjects_are_not_interception() {
        // a self-signed or private-CA chain that names no inspection product
        assert_eq!(interception(&[cert("CN=a.example", "CN=netspec lab root CA, O=netspec lab")], false), None);
        // the leaf's own subject is a server name, not a CA
        assert_eq!(interception(&[cert("CN=proxy.corp.example", "CN=Corp Root CA")], false), None);
        assert_eq!(interception(&[], false), None);
    }

    #[test]
    fn the_product_table_parses_and_products_come_before_generic_words() {
        let table = &*crate::model::observation::tls::INSPECTION_ISSUERS;
        assert!(table.len() >= 20, "{table:?}");
        assert!(table.iter().all(|(m, p)| !m.is_empty() && !p.is_empty() && m == &m.to_lowercase()));
        let pos = |m: &str| table.iter().position(|(x, _)| x == m).unwrap_or_else(|| panic!("{m} missing"));
        // "mitmproxy" would otherwise be reported as a generic proxy
        assert!(pos("mitmproxy") < pos("proxy"));
        let why = interception(&[cert("CN=a", "CN=mitmproxy, O=mitmproxy")], false).unwrap();
        assert!(why.contains(": mitmproxy re-signs"), "{why}");
    }
}
