//! Loopback lab: small, real network servers that play the endpoints netspec suites check.
//!
//! Job: give tests and `netspec demo` a world to probe without touching any real network.
//! Every listener here binds `127.0.0.1:0` (an ephemeral loopback port), every connection has
//! a deadline, and every server stops when its handle is dropped (its tasks are aborted).
//! Nothing in this module ever connects anywhere but loopback: the [`Proxy`] only dials what
//! its `route` callback returns, and [`DemoWorld`]'s route only returns its own listeners.
//!
//! Boundary: this module knows nothing about suites, probes or reports; it only serves DNS,
//! TCP, TLS and HTTP. The mapping from the public-looking addresses it publishes in DNS to the
//! loopback listeners that play them ([`DemoWorld::address_map`]) is for the core's sandbox
//! connector to honour.

mod ca;
mod dns;
mod faults;
mod http;
mod ports;
mod proxy;
mod world;

pub use ca::{Ca, Identity, Validity};
pub use dns::{DnsFault, DnsServer, DnsZone};
pub use faults::{DECOY, DnsBehaviour, FaultServer, FaultyDns, TcpFault};
pub use http::{HttpServer, Reply};
pub use ports::{FilteredPort, OpenPort, closed_port};
pub use proxy::{Proxy, ProxyConfig, Route};
pub use world::DemoWorld;

use std::time::Duration;

use tokio::task::JoinHandle;

/// Errors from building lab fixtures.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Certificate or key generation failed (rcgen).
    #[error("lab certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// Binding a listener, writing a lab file, or another I/O step failed.
    #[error("lab i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// How long a lab connection may sit idle before the server drops it; every connection is also
/// capped at twice this in total, so a confused client can never pin a lab task forever.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// A spawned server task that is aborted when the owning handle is dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accept loop shared by the TCP servers: each connection runs `serve` in a `JoinSet` owned by
/// the loop, so aborting the loop (dropping the handle) also aborts every live connection.
pub(crate) fn spawn_accept_loop<F, Fut>(listener: tokio::net::TcpListener, serve: F) -> AbortOnDrop
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    AbortOnDrop(tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            // Reap finished connections so the set does not grow without bound.
            while conns.try_join_next().is_some() {}
            match listener.accept().await {
                Ok((stream, _)) => {
                    // The deadline bounds every connection, whatever `serve` does.
                    let fut = serve(stream);
                    conns.spawn(async move {
                        let _ = tokio::time::timeout(IDLE * 2, fut).await;
                    });
                }
                // Transient accept errors (EMFILE, aborted handshakes): back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }))
}
