//! The programs capture_netns.rs runs inside the namespaces: this test binary again, started
//! with [`ROLE_ENV`] naming a role. Servers print `ready` once listening and one line per
//! request or connection; clients print what they got. Every line carries [`PREFIX`] so the
//! harness's own output is told apart. Every socket wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

pub const ROLE_ENV: &str = "WEFT_NETNS_ROLE";
const PREFIX: &str = "role: ";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The role's lines in a client's whole output.
pub fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(line_of)
        .map(str::to_string)
        .collect()
}

pub fn line_of(line: &str) -> Option<&str> {
    line.strip_prefix(PREFIX)
}

fn say(line: &str) {
    println!("{PREFIX}{line}");
}

/// Runs the role named in [`ROLE_ENV`]; servers never return.
pub fn run(role: &str) {
    let words: Vec<&str> = role.split(' ').collect();
    let addr = |i: usize| -> SocketAddr {
        let text = words
            .get(i)
            .unwrap_or_else(|| panic!("role {role:?}: missing address"));
        text.parse()
            .unwrap_or_else(|e| panic!("role {role:?}: {text}: {e}"))
    };
    let arg = |i: usize| words.get(i).copied().unwrap_or_default();
    match words[0] {
        "http-server" => http_server(arg(1), addr(2)),
        "echo-server" => echo_server(addr(1)),
        "http-get" => http_get(addr(1), arg(2)),
        "echo-client" => echo_client(addr(1), arg(2)),
        other => panic!("unknown role {other:?}"),
    }
}

/// A connection with bounded reads and writes; a failure is reported as `error TEXT`.
fn connect(to: SocketAddr) -> Option<TcpStream> {
    let s = match TcpStream::connect_timeout(&to, IO_TIMEOUT) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("error connect {to}: {e}"));
            return None;
        }
    };
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    Some(s)
}

fn listen(addr: SocketAddr) -> TcpListener {
    let sock = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    say("ready");
    sock
}

/// Answers every request with 200 and `name` as the body, reporting
/// `request peer=IP:PORT METHOD PATH x-weft-route=VALUE`.
fn http_server(name: &str, addr: SocketAddr) {
    for conn in listen(addr).incoming() {
        let Ok(mut s) = conn else { continue };
        let _ = s.set_read_timeout(Some(IO_TIMEOUT));
        let peer = s.peer_addr().map_or("?".into(), |p| p.to_string());
        let Some(head) = read_head(&mut s) else {
            continue;
        };
        let request_line = head.lines().next().unwrap_or_default();
        let route = header(&head, "x-weft-route").unwrap_or("-");
        say(&format!(
            "request peer={peer} {request_line} x-weft-route={route}"
        ));
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
            name.len()
        );
        let _ = s.write_all(reply.as_bytes());
    }
}

fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Echoes every connection, reporting `accepted peer=IP:PORT`.
fn echo_server(addr: SocketAddr) {
    for conn in listen(addr).incoming() {
        let Ok(mut s) = conn else { continue };
        let peer = s.peer_addr().map_or("?".into(), |p| p.to_string());
        say(&format!("accepted peer={peer}"));
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(IO_TIMEOUT));
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

/// One GET; reports `status N` (`status none` without a status line), `header NAME: VALUE`
/// (lower-case names) and `body TEXT`.
fn http_get(to: SocketAddr, path: &str) {
    let Some(mut s) = connect(to) else { return };
    let req = format!("GET {path} HTTP/1.1\r\nhost: {to}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = header(head, "transfer-encoding").is_some_and(|v| v == "chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1));
    say(&format!("status {}", status.unwrap_or("none")));
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            say(&format!("header {}: {}", k.trim().to_lowercase(), v.trim()));
        }
    }
    for l in body.lines() {
        say(&format!("body {l}"));
    }
}

/// The payload of a chunked body (a truncated one as far as it goes).
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

/// Sends `msg` and reports `echoed TEXT` with what came back.
fn echo_client(to: SocketAddr, msg: &str) {
    let Some(mut s) = connect(to) else { return };
    s.write_all(msg.as_bytes()).expect("send");
    let mut got = vec![0u8; msg.len()];
    let echoed = s.read_exact(&mut got).map_or_else(
        |e| format!("error {e}"),
        |()| String::from_utf8_lossy(&got).into_owned(),
    );
    say(&format!("echoed {echoed}"));
}
