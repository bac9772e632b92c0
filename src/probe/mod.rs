//! Probes: network I/O that observes and returns an [`Observation`]; they never decide pass or
//! fail (that is [`crate::expect`]).
//!
//! Every probe takes the attempt's deadline (`tokio::time::Instant`) and keeps every await under
//! it, so a slow or silent network becomes a classified observation ("filtered", "timeout")
//! rather than an error. `Err` is not used for network outcomes at all.

pub mod dns;
pub mod hosts;
pub mod http;
pub mod tcp;
pub mod tls;
pub mod udp_pool;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::model::Failure;
use crate::model::Reason;
use crate::model::target::{ResolverSpec, Target};

pub use crate::model::observation::{
    AnswerSource, CertInfo, DnsEvidence, DnsObservation, HttpObservation, Observation, PortState, Record, Resolution, TcpAttempt,
    TcpObservation, TlsEndpoint, TlsObservation, join_ips,
};

/// Confines a run to a loopback lab (`netspec demo`, tests): every destination is translated
/// through the map and must end on loopback; anything else is refused before a packet is sent.
#[derive(Debug, Default, Clone)]
pub struct Sandbox {
    /// Lab address (as DNS answers it) → the loopback listener playing it.
    pub map: HashMap<SocketAddr, SocketAddr>,
}

impl Sandbox {
    /// The address to really connect to for `dest`.
    ///
    /// Errors: `dest` is neither loopback nor in the map (nothing may be sent there).
    pub fn route(&self, dest: SocketAddr) -> Result<SocketAddr, Failure> {
        if let Some(to) = self.map.get(&dest) {
            return Ok(*to);
        }
        if dest.ip().is_loopback() {
            return Ok(dest);
        }
        Err(Failure::new(Reason::SandboxRefused, format!("{dest} is outside the loopback lab; nothing was sent")))
    }

    /// The lab address a loopback address plays (for reporting), or the address itself.
    pub fn unroute(&self, real: SocketAddr) -> SocketAddr {
        self.map.iter().find(|(_, v)| **v == real).map(|(k, _)| *k).unwrap_or(real)
    }
}

/// Shared, read-only state of a run's probes: trust roots, TLS configs, the system resolver's
/// configuration, the optional sandbox.
pub struct ProbeContext {
    /// Trust anchors (system store, plus any extra roots given to the run), loaded by the first
    /// check that needs them ([`ProbeContext::roots`]): a DNS- or TCP-only run never reads the
    /// system store.
    roots: std::sync::OnceLock<Arc<rustls::RootCertStore>>,
    system_roots: bool,
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The system resolver's servers (from /etc/resolv.conf) — loaded once.
    pub system_servers: Vec<SocketAddr>,
    /// The system hosts file (name → addresses), consulted first by the `system` resolver.
    pub hosts: hosts::HostsFile,
    /// Loopback confinement, when set.
    pub sandbox: Option<Sandbox>,
    /// Largest HTTP body kept, in bytes.
    pub body_cap: usize,
    tls_cache: std::sync::Mutex<HashMap<Option<std::path::PathBuf>, Arc<rustls::ClientConfig>>>,
    roots_cache: std::sync::Mutex<HashMap<std::path::PathBuf, Arc<rustls::RootCertStore>>>,
    /// Connected UDP sockets reused by DNS queries (see [`udp_pool`]).
    pub udp_pool: udp_pool::UdpPool,
    /// Descriptors for connections beyond the ones every check is budgeted
    /// ([`CONNECTIONS_PER_CHECK`]): a name with 8 addresses opens 8 sockets
    /// at once. `None`: no open-file limit to respect.
    fanout: Option<(Arc<tokio::sync::Semaphore>, usize)>,
}

/// Options for building a [`ProbeContext`].
#[derive(Default)]
pub struct ContextOptions {
    /// Extra trust anchors (DER), e.g. a lab CA.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Do not load the system trust store (only `extra_roots`).
    pub no_system_roots: bool,
    /// Use these servers for `system` instead of /etc/resolv.conf, and no hosts file.
    pub system_servers: Option<Vec<SocketAddr>>,
    /// Loopback confinement.
    pub sandbox: Option<Sandbox>,
}

impl ProbeContext {
    /// Loads resolv.conf and the hosts file (the system trust store is loaded when first
    /// needed). Missing files are not errors: they leave the corresponding part empty.
    pub fn new(opts: ContextOptions) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (system_servers, hosts) = match opts.system_servers {
            Some(s) => (s, hosts::HostsFile::default()),
            None => (dns::system_servers(), hosts::HostsFile::load(std::path::Path::new("/etc/hosts"))),
        };
        ProbeContext {
            roots: std::sync::OnceLock::new(),
            system_roots: !opts.no_system_roots,
            extra_roots: opts.extra_roots,
            system_servers,
            hosts,
            sandbox: opts.sandbox,
            body_cap: 64 * 1024,
            tls_cache: Default::default(),
            roots_cache: Default::default(),
            udp_pool: Default::default(),
            fanout: None,
        }
    }

    /// Shares `descriptors` among the checks whose connections outnumber
    /// [`CONNECTIONS_PER_CHECK`] ([`ProbeContext::reserve_fanout`]).
    pub fn with_fanout_budget(mut self, descriptors: usize) -> Self {
        self.fanout = Some((Arc::new(tokio::sync::Semaphore::new(descriptors)), descriptors));
        self
    }

    /// Reserves descriptors for a check about to open `sockets` connections at once, beyond
    /// the [`CONNECTIONS_PER_CHECK`] its own budget holds; the reservation
    /// lasts as long as the returned permit. Waits at most until `deadline` (whole reservations
    /// only, so no two checks can hold half of what each needs).
    ///
    /// Errors: no room before the deadline — a local [`Reason::TcpSocket`] failure, never a
    /// network verdict.
    pub async fn reserve_fanout(
        &self,
        sockets: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Failure> {
        let extra = sockets.saturating_sub(CONNECTIONS_PER_CHECK);
        let Some((pool, size)) = &self.fanout else { return Ok(None) };
        // An empty pool (the working checks fill the limit exactly) reserves nothing: a socket
        // that cannot be created is then still a local error (`tcp.socket`), never a verdict.
        if extra == 0 || *size == 0 {
            return Ok(None);
        }
        // More than the whole pool: take all of it (the check then runs alone among fan-outs).
        let n = u32::try_from(extra.min(*size)).unwrap_or(u32::MAX);
        match tokio::time::timeout_at(deadline, pool.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(Some(p)),
            Ok(Err(_)) | Err(_) => Err(Failure::new(
                Reason::TcpSocket,
                format!(
                    "the open-file budget had no room for {extra} more connections before the deadline (raise `ulimit -n` or lower -j)"
                ),
            )),
        }
    }

    /// The run's trust anchors: the system store (honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`;
    /// unreadable certificates are skipped) unless the options said no, plus the extra roots.
    /// Loaded once, by the first caller.
    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        self.roots
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                if self.system_roots {
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                }
                roots.add_parsable_certificates(self.extra_roots.iter().cloned());
                Arc::new(roots)
            })
            .clone()
    }

    /// The trust anchors of a check: the run's roots, or only those of `ca_file` (read once per
    /// run, then shared by every check naming it).
    ///
    /// Errors: the CA file cannot be read or holds no certificate.
    pub fn roots_for(&self, ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::RootCertStore>, String> {
        let Some(p) = ca_file else { return Ok(self.roots()) };
        if let Some(r) = self.roots_cache.lock().unwrap_or_else(|e| e.into_inner()).get(p) {
            return Ok(r.clone());
        }
        let roots = Arc::new(tls::load_ca_file(p)?);
        self.roots_cache.lock().unwrap_or_else(|e| e.into_inner()).insert(p.to_owned(), roots.clone());
        Ok(roots)
    }

    /// A verifying rustls client config trusting the system roots, or only `ca_file` when given.
    ///
    /// Errors: the CA file cannot be read or holds no certificate.
    pub fn tls_config(&self, ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
        let key = ca_file.map(|p| p.to_owned());
        if let Some(c) = self.tls_cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let roots = self.roots_for(ca_file)?;
        let mut cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every check performs a full handshake and verifies the chain: no session resumption.
        cfg.resumption = rustls::client::Resumption::disabled();
        let cfg = Arc::new(cfg);
        self.tls_cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, cfg.clone());
        Ok(cfg)
    }

    /// Translates a destination through the sandbox (identity without one).
    pub fn route(&self, dest: SocketAddr) -> Result<SocketAddr, Failure> {
        match &self.sandbox {
            Some(s) => s.route(dest),
            None => Ok(dest),
        }
    }

    /// The address to report for a really-connected one.
    pub fn unroute(&self, real: SocketAddr) -> SocketAddr {
        match &self.sandbox {
            Some(s) => s.unroute(real),
            None => real,
        }
    }
}

/// Runs the probe for `target` until `deadline`.
///
/// Each kind's probe runs boxed: their state machines differ in size (a few KB for HTTP), and
/// inline they would make every check's task as large as the largest, copied on each spawn.
pub async fn probe(ctx: &Arc<ProbeContext>, target: &Target, resolver: &Arc<ResolverSpec>, deadline: tokio::time::Instant) -> Observation {
    match target {
        Target::Dns { name, record_type, compare } => {
            let main = Box::pin(dns::query(ctx, resolver, name, *record_type, deadline));
            if compare.is_empty() {
                return Observation::Dns(main.await);
            }
            let others = compare.iter().map(|r| dns::query(ctx, r, name, *record_type, deadline));
            let (mut main, others) = tokio::join!(main, Box::pin(futures_util::future::join_all(others)));
            main.compared = others;
            Observation::Dns(main)
        }
        Target::Tcp { host, port, source } => Observation::Tcp(Box::pin(tcp::probe(ctx, resolver, host, *port, *source, deadline)).await),
        Target::Tls { host, port, sni, ca_file, refuse_versions } => {
            Observation::Tls(Box::pin(tls::probe(ctx, resolver, host, *port, sni, ca_file.as_deref(), refuse_versions, deadline)).await)
        }
        Target::Http(h) => Observation::Http(Box::pin(http::probe(ctx, resolver, h, deadline)).await),
    }
}

/// Connections at once a check's own open-file budget holds (a name with an A and an AAAA
/// record; `run::limits` budgets each check in flight for them). A check that opens more at
/// once (a name with 8 addresses opens 8 sockets; a tls check with `refuses_versions` one more
/// per version and address) reserves the rest first ([`ProbeContext::reserve_fanout`]).
pub const CONNECTIONS_PER_CHECK: usize = 2;

/// Whether `e` says this process or the system ran out of file descriptors (EMFILE, ENFILE):
/// a local problem, never the network's answer.
pub fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Highest OS error number whose text [`io_error_text`] keeps (Linux's errno values end at 133).
const KEPT_ERRNO: usize = 256;

/// The text of `e` as its `Display` writes it (`Connection refused (os error 111)`). An OS
/// error's text depends only on its number, so the text of each number below [`KEPT_ERRNO`] is
/// made once per process and kept (at most 256 short texts): a run of 1,500 refused connects
/// formatted it 1,500 times. Any other error is formatted as before.
pub fn io_error_text(e: &std::io::Error) -> std::borrow::Cow<'static, str> {
    use std::sync::OnceLock;
    static TEXTS: [OnceLock<&'static str>; KEPT_ERRNO] = [const { OnceLock::new() }; KEPT_ERRNO];
    match e.raw_os_error().and_then(|n| usize::try_from(n).ok()).filter(|n| *n < KEPT_ERRNO) {
        Some(n) => std::borrow::Cow::Borrowed(
            TEXTS[n].get_or_init(|| Box::leak(std::io::Error::from_raw_os_error(n as i32).to_string().into_boxed_str())),
        ),
        None => std::borrow::Cow::Owned(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_texts_read_as_display_writes_them() {
        for e in [
            std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
            std::io::Error::from_raw_os_error(libc::EHOSTUNREACH),
            std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
            std::io::Error::from_raw_os_error(4095),
            std::io::Error::other("not an OS error"),
        ] {
            assert_eq!(io_error_text(&e), e.to_string());
        }
        let a = io_error_text(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        let b = io_error_text(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(matches!((&a, &b), (std::borrow::Cow::Borrowed(x), std::borrow::Cow::Borrowed(y)) if std::ptr::eq(*x, *y)), "made once");
    }

    #[test]
    fn addresses_are_listed_with_commas() {
        assert_eq!(join_ips(&[]), "no addresses");
        let ips: Vec<std::net::IpAddr> = ["10.1.2.3", "::1", "192.168.0.10"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(join_ips(&ips), "10.1.2.3, ::1, 192.168.0.10");
        assert_eq!(join_ips(&ips[..1]), "10.1.2.3");
    }

    #[test]
    fn addresses_and_sockets_are_written_as_display_writes_them() {
        use crate::model::observation::{push_ip, socket_text};
        use std::net::{IpAddr, Ipv4Addr, SocketAddr};
        let octets = [0u8, 1, 9, 10, 99, 100, 199, 200, 255];
        let ports = [0u16, 1, 9, 10, 53, 99, 100, 8060, 9999, 10000, 65535];
        for (i, a) in octets.iter().enumerate() {
            for b in octets.iter().skip(i % 3) {
                let ip = IpAddr::V4(Ipv4Addr::new(*a, *b, octets[(i + 2) % octets.len()], *b));
                let mut text = String::new();
                push_ip(&mut text, &ip);
                assert_eq!(text, ip.to_string());
                for port in ports {
                    let s = SocketAddr::new(ip, port);
                    assert_eq!(socket_text(&s), s.to_string());
                }
            }
        }
        for v6 in ["::1", "fd16:1::1", "2001:db8::ff00:42:8329", "::ffff:10.0.0.1"] {
            let ip: IpAddr = v6.parse().unwrap();
            let mut text = String::new();
            push_ip(&mut text, &ip);
            assert_eq!(text, ip.to_string());
            let s = SocketAddr::new(ip, 53);
            assert_eq!(socket_text(&s), s.to_string());
        }
    }
}
