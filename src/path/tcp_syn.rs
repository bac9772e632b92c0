//! TCP SYN probes on raw sockets (CAP_NET_RAW): one SYN per TTL 1..=[`MAX_HOPS`], all from one
//! source port to the destination's address and port (Paris traceroute's constant flow), told
//! apart by their sequence numbers. Answers read: ICMP(v6) Time Exceeded and Destination
//! Unreachable quoting one of our SYNs (raw ICMP socket), and SYN-ACK / RST acknowledging one of
//! them (raw TCP socket, with the TTL or hop limit it arrived with).
//!
//! The kernel builds the IP header (TTL from `IP_TTL` / `IPV6_UNICAST_HOPS`, set before each
//! send); the TCP header and its checksum are etherparse's. The source port is reserved by a
//! bound (not listening) TCP socket so no connection of this host takes it; the kernel answers
//! a SYN-ACK to it with RST, as it does for tcptraceroute.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use etherparse::{LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TcpHeader, TransportSlice};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, sleep_until};

use super::{Answer, Evidence, MAX_HOPS, TraceError, Unreachable, complete, quiet_period, sys};

/// Whether this process may open raw TCP sockets of the family (CAP_NET_RAW).
pub fn available(v4: bool) -> bool {
    Socket::new(domain(v4), Type::RAW, Some(Protocol::TCP)).is_ok()
}

fn domain(v4: bool) -> Domain {
    if v4 { Domain::IPV4 } else { Domain::IPV6 }
}

fn raw(v4: bool, proto: Protocol, what: &'static str) -> Result<AsyncFd<Socket>, TraceError> {
    let s = Socket::new(domain(v4), Type::RAW, Some(proto)).map_err(|source| TraceError::Socket { what, source })?;
    if !v4 {
        s.set_recv_hoplimit_v6(true).map_err(|source| TraceError::Socket { what, source })?;
    }
    s.set_nonblocking(true).map_err(|source| TraceError::Socket { what, source })?;
    // SAFETY: the socket owns its descriptor, which stays open and unchanged while the AsyncFd
    // owns the socket.
    unsafe { AsyncFd::register(s) }.map_err(|e| TraceError::Socket { what, source: e.into() })
}

/// A classic BPF program (filter.rst, bpf(4)) that keeps only the TCP packets of one trace's
/// flow: from `dest`'s address (IPv4; an IPv6 raw socket sees the TCP header only) and port,
/// to `sport`. Every raw TCP socket of the host gets a copy of every TCP packet: without it,
/// each of up to 64 concurrent traces copied, woke up for and parsed the whole run's traffic
/// (W-tcp's 150 traces cost 30 ms of its 145). The answers are still checked after it.
fn flow_filter(dest: SocketAddr, sport: u16) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    const LD_W_ABS: u16 = 0x20; // A = u32 at [k]
    const LD_H_ABS: u16 = 0x28; // A = u16 at [k]
    const LDX_MSH: u16 = 0xb1; // X = 4 * ([k] & 0xf): the IPv4 header's length
    const LD_H_IND: u16 = 0x48; // A = u16 at [X + k]
    const JEQ: u16 = 0x15; // A == k ? skip jt : skip jf
    const RET: u16 = 0x06; // keep k bytes (0: drop)
    let (dport, sport) = (u32::from(dest.port()), u32::from(sport));
    match dest.ip() {
        IpAddr::V4(ip) => vec![
            F::new(LD_W_ABS, 0, 0, 12),
            F::new(JEQ, 0, 6, u32::from(ip)),
            F::new(LDX_MSH, 0, 0, 0),
            F::new(LD_H_IND, 0, 0, 0),
            F::new(JEQ, 0, 3, dport),
            F::new(LD_H_IND, 0, 0, 2),
            F::new(JEQ, 0, 1, sport),
            F::new(RET, 0, 0, 0xffff),
            F::new(RET, 0, 0, 0),
        ],
        IpAddr::V6(_) => vec![
            F::new(LD_H_ABS, 0, 0, 0),
            F::new(JEQ, 0, 3, dport),
            F::new(LD_H_ABS, 0, 0, 2),
            F::new(JEQ, 0, 1, sport),
            F::new(RET, 0, 0, 0xffff),
            F::new(RET, 0, 0, 0),
        ],
    }
}

/// A random-enough initial sequence number (probes are base + TTL).
fn sequence_base() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.subsec_nanos() ^ std::process::id().rotate_left(16)).wrapping_mul(2_654_435_761)
}

/// The SYN with sequence number `seq` from `src:sport` to `dest`, checksummed.
fn syn(src: IpAddr, sport: u16, dest: SocketAddr, seq: u32) -> Vec<u8> {
    let mut h = TcpHeader::new(sport, dest.port(), seq, 64240);
    h.syn = true;
    h.checksum = match (src, dest.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &[]),
        (IpAddr::V6(s), IpAddr::V6(d)) => h.calc_checksum_ipv6_raw(s.octets(), d.octets(), &[]),
        // source_for returns the destination's family
        _ => Ok(0),
    }
    .unwrap_or(0);
    h.to_bytes().to_vec()
}

/// Traces the path to `dest` with TCP SYN probes until every probe is accounted for, the path
/// has been quiet for [`super::QUIET_END`], or `deadline`.
///
/// Errors: a socket cannot be opened (no CAP_NET_RAW, no route to `dest`) or a probe cannot
/// be sent.
pub async fn trace(dest: SocketAddr, deadline: Instant) -> Result<Evidence, TraceError> {
    trace_in_waves(dest, deadline, FIRST_WAVE).await
}

/// [`trace`] with a first wave of TTL 1..=`first_wave`.
async fn trace_in_waves(dest: SocketAddr, deadline: Instant, first_wave: u8) -> Result<Evidence, TraceError> {
    let v4 = dest.is_ipv4();
    let src = sys::source_for(dest).map_err(|source| TraceError::Socket { what: "route lookup", source })?;
    let reserve = Socket::new(domain(v4), Type::STREAM, Some(Protocol::TCP))
        .and_then(|s| s.bind(&SocketAddr::new(src, 0).into()).map(|_| s))
        .map_err(|source| TraceError::Socket { what: "TCP (source port)", source })?;
    let sport = reserve.local_addr().ok().and_then(|a| a.as_socket()).map(|a| a.port()).unwrap_or(0);
    let tcp = raw(v4, Protocol::TCP, "raw TCP")?;
    // Only an optimisation (answers are checked again): a kernel that refuses it costs time.
    let _ = tcp.get_ref().attach_filter(&flow_filter(dest, sport));
    // What arrived before the filter (any TCP packet of the host) is dropped unread: a loaded
    // run could fill the socket's buffer in that moment, and our answers would then be lost.
    let mut buf = vec![0u8; 2048];
    for _ in 0..4096 {
        if sys::recv(tcp.get_ref().as_raw_fd(), &mut buf, 0).is_err() {
            break;
        }
    }
    let icmp = raw(v4, if v4 { Protocol::ICMPV4 } else { Protocol::ICMPV6 }, "raw ICMP")?;
    let base = sequence_base();
    let to: socket2::SockAddr = SocketAddr::new(dest.ip(), 0).into();
    let mut flow = Flow { dest, sport, base, sent: [None; MAX_HOPS as usize + 1] };
    let send = |flow: &mut Flow, ttls: std::ops::RangeInclusive<u8>| -> Result<(), TraceError> {
        for ttl in ttls {
            let s = tcp.get_ref();
            if v4 { s.set_ttl_v4(u32::from(ttl)) } else { s.set_unicast_hops_v6(u32::from(ttl)) }.map_err(TraceError::Send)?;
            s.send_to(&syn(src, sport, dest, base.wrapping_add(u32::from(ttl))), &to).map_err(TraceError::Send)?;
            flow.sent[ttl as usize] = Some(Instant::now());
        }
        Ok(())
    };
    send(&mut flow, 1..=first_wave)?;
    let first_sent = Instant::now();
    let mut sent = first_wave;
    let mut ev = Evidence::default();
    let mut last_new = Instant::now();
    loop {
        // Done when every probe below the end of the path is answered (an end exists once a
        // final answer came), or every probe of all 30 TTLs is.
        if complete(&ev, sent) && (sent == MAX_HOPS || !ev.answers.is_empty()) {
            break;
        }
        let quiet_until = if sent < MAX_HOPS {
            second_wave_at(&ev, sent, first_sent, last_new).min(deadline)
        } else if ev.expired.is_empty() && ev.answers.is_empty() {
            deadline
        } else {
            (last_new + quiet_period(&ev)).min(deadline)
        };
        if sent < MAX_HOPS && Instant::now() >= quiet_until && quiet_until < deadline {
            send(&mut flow, sent + 1..=MAX_HOPS)?;
            sent = MAX_HOPS;
            last_new = Instant::now();
            continue;
        }
        let before = (ev.expired.len(), ev.answers.len());
        tokio::select! {
            _ = sleep_until(quiet_until) => if sent == MAX_HOPS || quiet_until >= deadline { break },
            r = tcp.readable() => if let Ok(mut g) = r {
                while let Ok(Ok(got)) = g.try_io(|s| sys::recv(s.get_ref().as_raw_fd(), &mut buf, 0)) {
                    flow.tcp_answer(&buf[..got.len], got.hop_limit, &mut ev);
                }
            },
            r = icmp.readable() => if let Ok(mut g) = r {
                while let Ok(Ok(got)) = g.try_io(|s| sys::recv(s.get_ref().as_raw_fd(), &mut buf, 0)) {
                    flow.icmp_answer(&buf[..got.len], got.from.map(|a| a.ip()), &mut ev);
                }
            },
        }
        if (ev.expired.len(), ev.answers.len()) != before {
            last_new = Instant::now();
        }
    }
    drop(reserve);
    Ok(ev)
}

/// Probes sent at once, TTL 1 to this; the rest (to [`MAX_HOPS`]) only when the end of the path
/// is not among them. Most failed connections end within a few hops (a LAN, a firewall, the
/// host itself: 150 closed ports on loopback sent 4,500 SYNs with all 30 at once, 1,200 now).
const FIRST_WAVE: u8 = 8;

/// When the second wave of probes goes out, for a trace that sent TTL 1..=`sent` at
/// `first_sent` and last heard something new at `last_new`: at once when every probe came back
/// Time Exceeded (the path is longer), else when the stragglers are late — 4 × the slowest
/// answer's RTT after the last new one (at least 50 ms), or 200 ms after sending when nothing
/// answered. (The caller sends nothing more once the end of the path was found.)
fn second_wave_at(ev: &Evidence, sent: u8, first_sent: Instant, last_new: Instant) -> Instant {
    if complete(ev, sent) {
        return first_sent;
    }
    if ev.expired.is_empty() && ev.answers.is_empty() {
        return first_sent + Duration::from_millis(200);
    }
    let slowest = ev.expired.iter().map(|(_, _, r)| *r).max().unwrap_or_default();
    last_new + (slowest * 4).max(Duration::from_millis(50))
}

/// The probes' constant flow and what was sent when.
struct Flow {
    dest: SocketAddr,
    sport: u16,
    base: u32,
    sent: [Option<Instant>; MAX_HOPS as usize + 1],
}

impl Flow {
    /// The TTL of our probe with sequence number `seq`, and its RTT.
    fn probe(&self, seq: u32) -> Option<(u8, Duration)> {
        let ttl = seq.wrapping_sub(self.base);
        let ttl = u8::try_from(ttl).ok().filter(|t| (1..=MAX_HOPS).contains(t))?;
        Some((ttl, self.sent[ttl as usize]?.elapsed()))
    }

    /// A TCP packet: SYN-ACK or RST acknowledging one of our SYNs. IPv4 raw sockets deliver
    /// the IP header; IPv6 ones deliver TCP alone, with the hop limit as a control message.
    fn tcp_answer(&self, pkt: &[u8], hop_limit: Option<u8>, ev: &mut Evidence) {
        let (from, ttl, tcp) = if self.dest.is_ipv4() {
            let Ok(p) = SlicedPacket::from_ip(pkt) else { return };
            let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (p.net, p.transport) else { return };
            (IpAddr::V4(ip.header().source_addr()), Some(ip.header().ttl()), tcp)
        } else {
            let Ok(tcp) = etherparse::TcpSlice::from_slice(pkt) else { return };
            (self.dest.ip(), hop_limit, tcp)
        };
        if from != self.dest.ip() || tcp.source_port() != self.dest.port() || tcp.destination_port() != self.sport || !tcp.ack() {
            return;
        }
        let Some((probe_ttl, rtt)) = self.probe(tcp.acknowledgment_number().wrapping_sub(1)) else { return };
        if tcp.rst() {
            ev.answers.push(Answer::Reset { from, probe_ttl, reply_ttl: ttl, rtt });
        } else if tcp.syn() {
            ev.answers.push(Answer::SynAck { from, probe_ttl, reply_ttl: ttl, rtt });
        }
    }

    /// An ICMP(v6) error quoting one of our SYNs. IPv4: the packet with its IP header; IPv6:
    /// the ICMPv6 message, the sender from `recvmsg`.
    fn icmp_answer(&self, pkt: &[u8], from: Option<IpAddr>, ev: &mut Evidence) {
        let (from, icmp_type, code, quoted) = if self.dest.is_ipv4() {
            let Ok(p) = SlicedPacket::from_ip(pkt) else { return };
            let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Icmpv4(icmp))) = (p.net, p.transport) else { return };
            (IpAddr::V4(ip.header().source_addr()), icmp.type_u8(), icmp.code_u8(), icmp.payload())
        } else {
            let (Some(from), Ok(icmp)) = (from, etherparse::Icmpv6Slice::from_slice(pkt)) else { return };
            (from, icmp.type_u8(), icmp.code_u8(), icmp.payload())
        };
        // Time Exceeded: v4 type 11, v6 type 3; Destination Unreachable: v4 type 3, v6 type 1.
        let (time_exceeded, unreachable) = if self.dest.is_ipv4() { (11, 3) } else { (3, 1) };
        if icmp_type != time_exceeded && icmp_type != unreachable {
            return;
        }
        let Some(seq) = self.quoted_seq(quoted) else { return };
        let Some((ttl, rtt)) = self.probe(seq) else { return };
        if icmp_type == time_exceeded {
            ev.expired.push((ttl, from, rtt));
        } else {
            let meaning = if self.dest.is_ipv4() { Unreachable::from_v4(code) } else { Unreachable::from_v6(code) };
            ev.answers.push(Answer::Unreachable { from, probe_ttl: ttl, meaning, code, rtt });
        }
    }

    /// The sequence number of the quoted packet, if it is one of ours (same flow). The quote may
    /// end after the first 8 bytes of the TCP header (RFC 792), which hold ports and sequence.
    fn quoted_seq(&self, quoted: &[u8]) -> Option<u32> {
        let p = LaxSlicedPacket::from_ip(quoted).ok()?;
        let to = match p.net.as_ref()? {
            LaxNetSlice::Ipv4(ip) => IpAddr::V4(ip.header().destination_addr()),
            LaxNetSlice::Ipv6(ip) => IpAddr::V6(ip.header().destination_addr()),
            LaxNetSlice::Arp(_) => return None,
        };
        let payload = p.ip_payload()?;
        if to != self.dest.ip() || payload.ip_number != etherparse::IpNumber::TCP {
            return None;
        }
        let t = payload.payload.get(..8)?;
        let sport = u16::from_be_bytes([t[0], t[1]]);
        let dport = u16::from_be_bytes([t[2], t[3]]);
        (sport == self.sport && dport == self.dest.port()).then(|| u32::from_be_bytes([t[4], t[5], t[6], t[7]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_trace_sends_its_second_wave_and_finds_the_end_there() {
        // Root only (raw sockets; CI runs the tests as root). Loopback only: a closed port of
        // 127.0.0.1 answers RST at TTL 1. With an empty first wave the end can only come from
        // the second.
        if !available(true) {
            eprintln!("skipped: no CAP_NET_RAW");
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dest = SocketAddr::from(([127, 0, 0, 1], port));
        let ev = trace_in_waves(dest, Instant::now() + Duration::from_secs(2), 0).await.unwrap();
        let end = ev.answers.iter().map(Answer::probe_ttl).min();
        assert_eq!(end, Some(1), "{ev:?}");
        // And the first wave alone finds it without a second.
        let ev = trace_in_waves(dest, Instant::now() + Duration::from_secs(2), FIRST_WAVE).await.unwrap();
        assert!(ev.answers.iter().all(|a| a.probe_ttl() <= FIRST_WAVE), "{ev:?}");
        assert_eq!(ev.answers.iter().map(Answer::probe_ttl).min(), Some(1));
    }

    #[test]
    fn the_second_wave_goes_out_when_the_first_does_not_reach_the_end() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let r = "10.0.0.1".parse().unwrap();
        // Nothing heard: 200 ms after sending.
        assert_eq!(second_wave_at(&Evidence::default(), FIRST_WAVE, t0, t0), t0 + ms(200));
        // Every probe expired on the way: the path is longer, at once.
        let all = Evidence { expired: (1..=FIRST_WAVE).map(|t| (t, r, ms(3))).collect(), answers: vec![] };
        assert_eq!(second_wave_at(&all, FIRST_WAVE, t0, t0 + ms(5)), t0);
        // Some hops silent: 4 × the slowest RTT after the last new answer, at least 50 ms.
        let some = Evidence { expired: vec![(1, r, ms(2)), (2, r, ms(30))], answers: vec![] };
        assert_eq!(second_wave_at(&some, FIRST_WAVE, t0, t0 + ms(31)), t0 + ms(31) + ms(120));
        let fast = Evidence { expired: vec![(1, r, ms(1))], answers: vec![] };
        assert_eq!(second_wave_at(&fast, FIRST_WAVE, t0, t0 + ms(1)), t0 + ms(51));
    }

    #[test]
    fn the_flow_filter_keeps_the_traces_flow_and_drops_the_rest() {
        // Root only (raw sockets; CI runs the tests as root). Loopback traffic only.
        let Ok(raw) = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP)) else {
            eprintln!("skipped: no CAP_NET_RAW");
            return;
        };
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dest = server.local_addr().unwrap();
        let ours = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        ours.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let sport = ours.local_addr().unwrap().as_socket().unwrap().port();
        raw.attach_filter(&flow_filter(dest, sport)).unwrap();
        // What the socket caught before the filter (other tests' loopback TCP) is drained
        // unread, as `trace_in_waves` does: the filter is judged on what came after it.
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        raw.set_nonblocking(true).unwrap();
        for _ in 0..4096 {
            if raw.recv(&mut buf).is_err() {
                break;
            }
        }
        raw.set_nonblocking(false).unwrap();
        raw.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        // Another flow to the same server first, then ours: only ours may come through.
        let other = std::net::TcpStream::connect(dest).unwrap();
        ours.connect(&dest.into()).unwrap();
        let mut seen = Vec::new();
        while let Ok(n) = raw.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            let pkt: Vec<u8> = buf[..n].iter().map(|b| unsafe { b.assume_init() }).collect();
            let ihl = usize::from(pkt[0] & 0xf) * 4;
            seen.push((u16::from_be_bytes([pkt[ihl], pkt[ihl + 1]]), u16::from_be_bytes([pkt[ihl + 2], pkt[ihl + 3]])));
        }
        drop(other);
        assert!(!seen.is_empty(), "the server's SYN-ACK to our port must pass");
        assert!(seen.iter().all(|&(from, to)| from == dest.port() && to == sport), "{seen:?}");
    }

    fn flow() -> Flow {
        let mut sent = [None; MAX_HOPS as usize + 1];
        for s in sent.iter_mut().skip(1) {
            *s = Some(Instant::now());
        }
        Flow { dest: "10.16.3.2:8001".parse().unwrap(), sport: 40000, base: u32::MAX - 1, sent }
    }

    /// An IPv4 packet from `src` to 10.16.1.2 with `ttl`, carrying `payload` of protocol `proto`.
    fn ipv4(src: [u8; 4], dst: [u8; 4], ttl: u8, proto: etherparse::IpNumber, payload: &[u8]) -> Vec<u8> {
        let h = etherparse::Ipv4Header::new(payload.len() as u16, ttl, proto, src, dst).unwrap();
        let mut out = h.to_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_time_exceeded_quoting_our_syn_names_the_hop() {
        let f = flow();
        let seq = f.base.wrapping_add(2); // wraps: TTL 2
        let quoted =
            ipv4([10, 16, 1, 2], [10, 16, 3, 2], 1, etherparse::IpNumber::TCP, &syn("10.16.1.2".parse().unwrap(), 40000, f.dest, seq)[..8]);
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let pkt = ipv4([10, 16, 2, 2], [10, 16, 1, 2], 63, etherparse::IpNumber::ICMP, &icmp);
        let mut ev = Evidence::default();
        f.icmp_answer(&pkt, None, &mut ev);
        assert_eq!(ev.expired.len(), 1);
        assert_eq!((ev.expired[0].0, ev.expired[0].1), (2, "10.16.2.2".parse().unwrap()));
        // Another flow's quote (another source port) is not ours.
        let other =
            ipv4([10, 16, 1, 2], [10, 16, 3, 2], 1, etherparse::IpNumber::TCP, &syn("10.16.1.2".parse().unwrap(), 40001, f.dest, seq)[..8]);
        let mut icmp = vec![3, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&other);
        f.icmp_answer(&ipv4([10, 16, 2, 2], [10, 16, 1, 2], 63, etherparse::IpNumber::ICMP, &icmp), None, &mut ev);
        assert!(ev.answers.is_empty());
    }

    #[test]
    fn an_rst_acknowledging_our_syn_carries_its_ttl() {
        let f = flow();
        let mut h = TcpHeader::new(8001, 40000, 0, 0);
        h.rst = true;
        h.ack = true;
        h.acknowledgment_number = f.base.wrapping_add(3).wrapping_add(1);
        let pkt = ipv4([10, 16, 3, 2], [10, 16, 1, 2], 63, etherparse::IpNumber::TCP, &h.to_bytes());
        let mut ev = Evidence::default();
        f.tcp_answer(&pkt, None, &mut ev);
        match &ev.answers[..] {
            [Answer::Reset { probe_ttl: 3, reply_ttl: Some(63), .. }] => {}
            other => panic!("{other:?}"),
        }
    }
}
