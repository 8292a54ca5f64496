//! `SO_ORIGINAL_DST`: the destination a connection had before iptables REDIRECT sent it to a
//! `use_original_dst` listener.
//!
//! This is the one module that needs `unsafe`: the socket option is only reachable through
//! `getsockopt(2)` via libc. What it upholds: the call gets a valid borrowed file descriptor
//! (the stream outlives the call), a properly sized and aligned `sockaddr_in6` buffer (large
//! enough for both families) and its length; the result is read only when the call succeeded
//! and according to the family the kernel wrote.
#![allow(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use tokio::net::TcpStream;

/// `SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST` from linux/netfilter_ipv4.h and ip6_tables.h.
const SO_ORIGINAL_DST: libc::c_int = 80;

/// The original destination, or `None` when the connection was not redirected (or the kernel
/// has no conntrack entry for it).
pub fn original_dst(stream: &TcpStream) -> Option<SocketAddr> {
    let local = stream.local_addr().ok()?;
    let (level, _) = if local.is_ipv4() {
        (libc::SOL_IP, ())
    } else {
        (libc::SOL_IPV6, ())
    };
    let fd = stream.as_raw_fd();
    // SAFETY: zeroed sockaddr_in6 is a valid value; see the module doc for the call.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: fd is open for the duration of the call, buffer and length describe `addr`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in6).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    let dst = match i32::from(addr.sin6_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in, which fits in and is aligned like sockaddr_in6.
            let v4: libc::sockaddr_in =
                unsafe { std::ptr::read((&addr as *const libc::sockaddr_in6).cast()) };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            ))
        }
        libc::AF_INET6 => SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(addr.sin6_addr.s6_addr),
            u16::from_be(addr.sin6_port),
            0,
            0,
        )),
        _ => return None,
    };
    (dst != local).then_some(dst)
}
