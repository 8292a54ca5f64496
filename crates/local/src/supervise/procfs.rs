//! What `/proc` says about processes: the live members of a process group (to know when a
//! group is gone) and who owns a listening socket (for "port in use by ..." messages).
//!
//! Zombies do not count as live: they cannot run or be killed, and a zombie group leader is
//! exactly what keeps its process group id from being reused while the supervisor signals it.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Live (not zombie) processes in the process group `pgid`.
pub(crate) fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_of(*pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .collect()
}

struct Stat {
    state: char,
    pgrp: u32,
}

fn stat_of(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `pid (comm) state ppid pgrp ...`; `comm` may hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat { state, pgrp })
}

/// The pid and command line of the process listening on `addr` (TCP), or `None` when nothing
/// listens there or the owner cannot be seen (another user's process, without privileges).
/// A listener on the wildcard address of the same port counts, as it would make binding
/// `addr` fail; an exact match is preferred.
pub fn who_listens(addr: SocketAddr) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, addr));
        }
    }
    inodes.sort_by_key(|(exact, _)| !exact);
    inodes
        .into_iter()
        .find_map(|(_, inode)| socket_owner(inode))
        .map(|pid| (pid, command_line(pid)))
}

/// Inodes of the listening sockets of a `/proc/net/tcp[6]` table that match `addr`, each with
/// whether the address matched exactly.
fn listening_inodes(table: &str, addr: SocketAddr) -> Vec<(bool, u64)> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        let (Some(local), Ok(inode)) = (parse_address(local), inode.parse::<u64>()) else {
            continue;
        };
        if *state != LISTEN || local.port() != addr.port() {
            continue;
        }
        let (ip, wanted) = (canonical(local.ip()), canonical(addr.ip()));
        if ip == wanted {
            out.push((true, inode));
        } else if ip.is_unspecified() || wanted.is_unspecified() {
            out.push((false, inode));
        }
    }
    out
}

/// IPv4-mapped IPv6 addresses as IPv4, and `::` as `0.0.0.0`, so dual-stack listeners match.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6) and a port: the kernel prints the address
/// as 32-bit words in host byte order and the port in hex.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The process holding the socket `inode` open.
fn socket_owner(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    fs::read_link(fd.path())
                        .is_ok_and(|target| target.as_os_str() == wanted.as_str())
                })
            })
        })
}

/// The command line of `pid`, arguments joined by spaces; its `comm` name when the command
/// line is empty (kernel threads) or unreadable.
fn command_line(pid: u32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return comm.trim_end().to_string();
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = parse_stat("42 (a (b) c) S 1 4242 4242 0 -1").expect("parses");
        assert_eq!((stat.state, stat.pgrp), ('S', 4242));
        assert!(parse_stat("garbage").is_none());
    }

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
";

    // The tables hold addresses as host-order words, written here for little-endian machines.
    #[cfg(target_endian = "little")]
    #[test]
    fn ipv4_listeners_match_exactly_or_by_wildcard() {
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(listening_inodes(TCP, loopback(8080)), [(true, 111)]);
        assert_eq!(listening_inodes(TCP, loopback(80)), [(false, 222)]);
        assert!(listening_inodes(TCP, SocketAddr::from(([127, 0, 0, 2], 8080))).is_empty());
        assert!(listening_inodes(TCP, loopback(81)).is_empty());
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn ipv6_addresses_parse_and_dual_stack_matches() {
        let table = "header\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 777 1\n   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 888 1\n   2: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 999 1\n";
        let v4 = SocketAddr::from(([127, 0, 0, 1], 8080));
        assert_eq!(listening_inodes(table, v4), [(false, 777)]);
        assert_eq!(
            listening_inodes(table, SocketAddr::from(([127, 0, 0, 1], 80))),
            [(true, 888)]
        );
        let v6_loopback = SocketAddr::from((Ipv6Addr::LOCALHOST, 22));
        assert_eq!(listening_inodes(table, v6_loopback), [(true, 999)]);
    }
}
