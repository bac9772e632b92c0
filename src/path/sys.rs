//! The few socket calls socket2 does not wrap: `recvmsg` with its control messages (the IPv6
//! hop limit of a received packet, `IP_RECVERR`'s extended errors with the offender's address)
//! and `IP_RECVERR` itself. Linux only (ip(7), ipv6(7)).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

/// An ICMP error queued on a socket by `IP_RECVERR` / `IPV6_RECVERR` (`struct
/// sock_extended_err`, ip(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedError {
    /// `SO_EE_ORIGIN_ICMP` (2) or `SO_EE_ORIGIN_ICMP6` (3) for errors from the network.
    pub origin: u8,
    /// The ICMP type.
    pub icmp_type: u8,
    /// The ICMP code.
    pub icmp_code: u8,
    /// The address of the router or host that sent it (`SO_EE_OFFENDER`).
    pub offender: Option<IpAddr>,
}

/// What one `recvmsg` returned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The sender's address.
    pub from: Option<SocketAddr>,
    /// The IPv6 hop limit the packet arrived with (`IPV6_RECVHOPLIMIT` must be on).
    pub hop_limit: Option<u8>,
    /// The queued error (`MSG_ERRQUEUE` reads).
    pub error: Option<ExtendedError>,
}

/// `recvmsg(fd, buf, flags | MSG_DONTWAIT)` with room for control messages.
///
/// Errors: the OS error (`WouldBlock` when nothing is queued).
pub fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
    // SAFETY: every pointer handed to recvmsg points into a live local of the stated size; the
    // control messages are walked with the libc macros within msg_controllen, and their data
    // read unaligned after checking its length.
    unsafe {
        let mut name: libc::sockaddr_storage = zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut control = [0u64; 64];
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&raw mut name).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 64]>() as _;
        let n = libc::recvmsg(fd, &raw mut msg, flags | libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Received { len: n as usize, from: sockaddr(&name, msg.msg_namelen), ..Default::default() };
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            let hdr = &*c;
            let data = libc::CMSG_DATA(c);
            let len = (hdr.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if len >= size_of::<libc::c_int>() => {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    out.hop_limit = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
                    if len >= size_of::<libc::sock_extended_err>() =>
                {
                    let ee = std::ptr::read_unaligned(data.cast::<libc::sock_extended_err>());
                    let rest = len - size_of::<libc::sock_extended_err>();
                    let off = data.add(size_of::<libc::sock_extended_err>());
                    let mut storage: libc::sockaddr_storage = zeroed();
                    let copy = rest.min(size_of::<libc::sockaddr_storage>());
                    std::ptr::copy_nonoverlapping(off, (&raw mut storage).cast::<u8>(), copy);
                    out.error = Some(ExtendedError {
                        origin: ee.ee_origin,
                        icmp_type: ee.ee_type,
                        icmp_code: ee.ee_code,
                        offender: sockaddr(&storage, copy as libc::socklen_t).map(|a| a.ip()),
                    });
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
        Ok(out)
    }
}

/// The address in `storage` (AF_INET or AF_INET6), if its length holds one.
fn sockaddr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    let p: *const libc::sockaddr_storage = storage;
    // SAFETY: the family and length say the storage holds that sockaddr; read unaligned.
    unsafe {
        match i32::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                let a = std::ptr::read_unaligned(p.cast::<libc::sockaddr_in>());
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                let a = std::ptr::read_unaligned(p.cast::<libc::sockaddr_in6>());
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(a.sin6_port)))
            }
            _ => None,
        }
    }
}

/// Turns on `IP_RECVERR` (IPv4) or `IPV6_RECVERR` (IPv6): ICMP errors about this socket's
/// packets are queued for `MSG_ERRQUEUE` reads with the offender's address (ip(7)).
///
/// Errors: the OS error.
pub fn set_recv_err(fd: RawFd, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let (level, name) = if v6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) } else { (libc::IPPROTO_IP, libc::IP_RECVERR) };
    // SAFETY: a c_int option value of the stated size.
    let r = unsafe { libc::setsockopt(fd, level, name, (&raw const on).cast(), size_of::<libc::c_int>() as libc::socklen_t) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// The source address this host uses toward `dest` (a connected UDP socket's local address;
/// nothing is sent).
///
/// Errors: no route (`ENETUNREACH`), or the socket calls fail.
pub fn source_for(dest: SocketAddr) -> io::Result<IpAddr> {
    let s = std::net::UdpSocket::bind(if dest.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    s.connect(dest)?;
    Ok(s.local_addr()?.ip())
}
