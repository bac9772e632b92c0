//! A pool of connected UDP sockets for DNS queries, one set per server address.
//!
//! A new socket per query costs six system calls besides the query's `sendto` and `recvfrom`
//! (`socket`, `bind`, `connect`, two `epoll_ctl`, `close`): most of a loopback query's cost. The
//! pool keeps a query's socket after its answer and hands it to the next query for the same
//! server, so a run of thousands of queries opens about as many sockets as it has queries in
//! flight at once.
//!
//! Anti-spoofing (RFC 5452) with reused sockets:
//! - each socket is bound to port 0, so the kernel picks its source port at random from the
//!   ephemeral range (Linux: `net.ipv4.ip_local_port_range`, 28,232 ports by default);
//! - each socket is `connect`ed to its server: the kernel drops datagrams from any other address
//!   or port;
//! - every query carries a fresh random id (hickory-proto's `Message::query`), and an answer is
//!   taken only when its id **and** its question (name, type, class; RFC 5452 9.1) match the
//!   query — anything else is skipped;
//! - a socket is used by one query at a time, serves at most [`MAX_USES`] queries and lives at
//!   most [`MAX_AGE`]: an off-path attacker who learns a socket's port has a bounded window;
//! - a socket whose query failed, timed out or was cancelled is closed, never reused, so a late
//!   or forged datagram meant for one query cannot wait in the buffer for the next.
//!
//! What is weaker than a socket per query: within a socket's lifetime its port is the same for
//! up to [`MAX_USES`] queries, so a spoofer who learned it (on-path, or through a side channel)
//! must guess 16 bits of id plus the question rather than 16 bits of id and ~15 bits of port.
//! docs/resource-limits.md#dns-sockets says what the pool costs in open files.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// Queries one socket serves before it is closed and replaced (a new random port).
pub const MAX_USES: u32 = 32;

/// Longest a socket is kept, from its creation (a new random port after it).
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Idle sockets kept over all servers; a socket given back beyond it is closed. Sockets in use
/// are not counted: those are budgeted per check in flight (src/run/limits.rs).
pub const MAX_IDLE: usize = 256;

/// Bytes of a pooled socket's receive buffer: a DNS answer over UDP with EDNS is at most the
/// payload size netspec advertises (1,232 bytes), and 4,096 is the usual ceiling (RFC 6891).
pub const DATAGRAM: usize = 4096;

/// A connected UDP socket of the pool.
#[derive(Debug)]
pub struct PooledSocket {
    /// The socket, connected to its server.
    pub socket: UdpSocket,
    /// Room for one datagram ([`DATAGRAM`] bytes of capacity), kept with the socket so that a
    /// query does not allocate a buffer of its own.
    pub buf: Vec<u8>,
    uses: u32,
    born: Instant,
    reused: bool,
}

impl PooledSocket {
    /// True when the socket served an earlier query (a send error then is retried on a fresh
    /// socket, in case the socket went stale).
    pub fn reused(&self) -> bool {
        self.reused
    }
}

/// Idle sockets by server address.
#[derive(Debug, Default)]
pub struct UdpPool {
    idle: Mutex<Idle>,
}

#[derive(Debug, Default)]
struct Idle {
    by_server: HashMap<SocketAddr, Vec<PooledSocket>>,
    count: usize,
}

impl UdpPool {
    /// An idle socket connected to `server`, or a new one (bound to port 0 of the unspecified
    /// address of `server`'s family, then connected).
    ///
    /// Errors: the socket cannot be created, bound or connected. When the process is out of file
    /// descriptors (`EMFILE`, `ENFILE`), the idle sockets are closed and the creation tried once more.
    pub async fn take(&self, server: SocketAddr) -> io::Result<PooledSocket> {
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let s = idle.by_server.get_mut(&server).and_then(Vec::pop);
            if s.is_some() {
                idle.count -= 1;
            }
            s
        };
        if let Some(mut s) = idle {
            s.reused = true;
            return Ok(s);
        }
        match Self::open(server).await {
            Err(e) if super::out_of_descriptors(&e) => {
                self.close_idle();
                Self::open(server).await
            }
            r => r,
        }
    }

    /// A fresh socket for `server`, never an idle one.
    ///
    /// Errors: as [`UdpPool::take`] without the retry.
    pub async fn open(server: SocketAddr) -> io::Result<PooledSocket> {
        let bind: SocketAddr =
            if server.is_ipv4() { (std::net::Ipv4Addr::UNSPECIFIED, 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let socket = UdpSocket::bind(bind).await?;
        // connect() makes the kernel drop datagrams from any other source address or port.
        socket.connect(server).await?;
        Ok(PooledSocket { socket, buf: Vec::with_capacity(DATAGRAM), uses: 0, born: Instant::now(), reused: false })
    }

    /// Gives back the socket of a query that got its answer. It is closed instead when it has
    /// served [`MAX_USES`] queries, is older than [`MAX_AGE`], or [`MAX_IDLE`] sockets are idle.
    pub fn give_back(&self, server: SocketAddr, mut s: PooledSocket) {
        s.uses += 1;
        if s.uses >= MAX_USES || s.born.elapsed() >= MAX_AGE {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.count >= MAX_IDLE {
            drop(idle);
            return;
        }
        idle.count += 1;
        idle.by_server.entry(server).or_default().push(s);
    }

    /// Closes every idle socket.
    pub fn close_idle(&self) {
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.count = 0;
            std::mem::take(&mut idle.by_server)
        };
        drop(taken);
    }

    /// Idle sockets (for tests and diagnostics).
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::DnsZone;
    use crate::model::target::{RecordType, ResolverSpec};
    use crate::probe::{ContextOptions, ProbeContext, dns};
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    /// A lab resolver on loopback that answers from `zone` (or stays silent) and records the
    /// source port of every query.
    async fn resolver(zone: DnsZone, silent: bool) -> (SocketAddr, Arc<Mutex<HashSet<u16>>>, tokio::task::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let ports = Arc::new(Mutex::new(HashSet::new()));
        let seen = ports.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                seen.lock().unwrap().insert(peer.port());
                if let (false, Some(out)) = (silent, zone.handle(&buf[..n], true)) {
                    let _ = sock.send_to(&out, peer).await;
                }
            }
        });
        (addr, ports, task)
    }

    /// Sequential queries share one socket (one source port) for MAX_USES queries, then move to
    /// a new one; with a socket per query the server would see one port per query.
    #[tokio::test]
    async fn queries_reuse_a_socket_then_rotate_it() {
        let mut zone = DnsZone::new();
        zone.add_a("a.lab.test", Ipv4Addr::new(10, 0, 0, 1));
        let (addr, ports, task) = resolver(zone, false).await;
        let ctx = ProbeContext::new(ContextOptions { system_servers: Some(vec![addr]), ..Default::default() });
        let system = ResolverSpec::system();
        let n = 2 * MAX_USES as usize + 1;
        for _ in 0..n {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let obs = dns::query(&ctx, &system, "a.lab.test", RecordType::A, deadline).await;
            assert_eq!(obs.addresses, vec![IpAddr::from(Ipv4Addr::new(10, 0, 0, 1))], "{:?}", obs.failure);
        }
        assert_eq!(ports.lock().unwrap().len(), 3, "{n} queries, {MAX_USES} per socket");
        assert_eq!(ctx.udp_pool.idle(), 1);
        task.abort();
    }

    /// A query that gets no answer does not give its socket back: a late or forged datagram
    /// cannot wait in that socket for the next query.
    #[tokio::test]
    async fn an_unanswered_query_closes_its_socket() {
        let (addr, ports, task) = resolver(DnsZone::new(), true).await;
        let ctx = ProbeContext::new(ContextOptions { system_servers: Some(vec![addr]), ..Default::default() });
        let system = ResolverSpec::system();
        for _ in 0..2 {
            let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
            let obs = dns::query(&ctx, &system, "a.lab.test", RecordType::A, deadline).await;
            assert!(obs.failure.is_some());
            assert_eq!(ctx.udp_pool.idle(), 0);
        }
        assert_eq!(ports.lock().unwrap().len(), 2, "each unanswered query had its own socket");
        task.abort();
    }
}
