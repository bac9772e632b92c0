//! The unprivileged fallback: UDP probes with TTL 1..=[`MAX_HOPS`] from one connected UDP
//! socket (one source port: a constant flow) to the destination's address and the check's
//! port, with `IP_RECVERR` / `IPV6_RECVERR` (ip(7), ipv6(7)), which any user may set: the kernel
//! queues each ICMP error with the offender's address and the datagram it answers, whose payload
//! names the probe's TTL. This gives the hop addresses, not the TCP verdict: a firewall may
//! treat UDP differently from the TCP the check uses.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{Answer, Evidence, MAX_HOPS, TraceError, Unreachable, complete, quiet_period, sys};

/// How often the error queue is read.
const TICK: Duration = Duration::from_millis(5);

/// The probes' payload: a marker and the TTL.
const MARK: &[u8; 7] = b"netspec";

/// Whether this process can open a UDP socket of the family with `IP_RECVERR` (any user can,
/// unless sandboxed).
pub fn available(v4: bool) -> bool {
    let s = if v4 { std::net::UdpSocket::bind("0.0.0.0:0") } else { std::net::UdpSocket::bind("[::]:0") };
    s.is_ok_and(|s| sys::set_recv_err(s.as_raw_fd(), !v4).is_ok())
}

/// Traces the path to `dest` with UDP probes until every probe is accounted for, the path has
/// been quiet for [`super::QUIET_END`], or `deadline`.
///
/// Errors: the socket cannot be opened or connected (no route), or a probe cannot be sent.
pub async fn trace(dest: SocketAddr, deadline: Instant) -> Result<Evidence, TraceError> {
    let v4 = dest.is_ipv4();
    let what = "UDP";
    let s = std::net::UdpSocket::bind(if v4 { "0.0.0.0:0" } else { "[::]:0" }).map_err(|source| TraceError::Socket { what, source })?;
    s.connect(dest).map_err(|source| TraceError::Socket { what, source })?;
    sys::set_recv_err(s.as_raw_fd(), !v4).map_err(|source| TraceError::Socket { what, source })?;
    let sock = socket2::SockRef::from(&s);
    let mut sent = [None::<Instant>; MAX_HOPS as usize + 1];
    for ttl in 1..=MAX_HOPS {
        if v4 { sock.set_ttl_v4(u32::from(ttl)) } else { sock.set_unicast_hops_v6(u32::from(ttl)) }.map_err(TraceError::Send)?;
        let mut payload = MARK.to_vec();
        payload.push(ttl);
        // An earlier probe's ICMP error is pending on the socket (sk_err) and fails the next
        // send once, which clears it: send again (bounded). Its details stay in the error queue.
        for _ in 0..4 {
            if s.send(&payload).is_ok() {
                break;
            }
        }
        sent[ttl as usize] = Some(Instant::now());
    }
    let (time_exceeded, unreachable) = if v4 { (11, 3) } else { (3, 1) };
    let mut ev = Evidence::default();
    let mut last_new = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        let before = (ev.expired.len(), ev.answers.len());
        while let Ok(got) = sys::recv(s.as_raw_fd(), &mut buf, libc::MSG_ERRQUEUE) {
            let data = &buf[..got.len.min(buf.len())];
            let (Some(e), Some(&ttl)) = (got.error, data.strip_prefix(MARK.as_slice()).and_then(|r| r.first())) else { continue };
            let (Some(from), Some(Some(at))) = (e.offender, sent.get(ttl as usize)) else { continue };
            let rtt = at.elapsed();
            if e.origin != libc::SO_EE_ORIGIN_ICMP && e.origin != libc::SO_EE_ORIGIN_ICMP6 {
                continue;
            }
            if e.icmp_type == time_exceeded {
                ev.expired.push((ttl, from, rtt));
            } else if e.icmp_type == unreachable {
                let meaning = if v4 { Unreachable::from_v4(e.icmp_code) } else { Unreachable::from_v6(e.icmp_code) };
                ev.answers.push(Answer::Unreachable { from, probe_ttl: ttl, meaning, code: e.icmp_code, rtt });
            }
        }
        if (ev.expired.len(), ev.answers.len()) != before {
            last_new = Instant::now();
        }
        let now = Instant::now();
        let quiet = !(ev.expired.is_empty() && ev.answers.is_empty()) && now >= last_new + quiet_period(&ev);
        if complete(&ev, MAX_HOPS) || quiet || now >= deadline {
            break;
        }
        sleep(TICK.min(deadline - now)).await;
    }
    Ok(ev)
}
