//! `SO_ORIGINAL_DST`: the destination a connection had before iptables REDIRECT rewrote it.
//!
//! std has no wrapper for this socket option, so this module calls `getsockopt(2)` through
//! libc; it is the only `unsafe` code of the crate. What it upholds: the file descriptor comes
//! from a live `TcpStream` borrowed for the whole call, the output buffer is a zeroed
//! `sockaddr_in` owned by this frame, and the length passed is that buffer's exact size, so the
//! kernel cannot write past it. The result is read only when the call succeeded.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;

/// The original IPv4 destination of an accepted, redirected connection.
pub fn original_dst(stream: &TcpStream) -> io::Result<SocketAddrV4> {
    let fd = stream.as_raw_fd();
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: see the module doc: valid fd, buffer and its exact length.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&raw mut addr).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Ok(SocketAddrV4::new(ip, u16::from_be(addr.sin_port)))
}
