//! `weft up examples/bookinfo` end to end: the control plane, the ingress gateway, six
//! workloads and their sidecars come up; the product page is served through the gateway with
//! details and reviews fetched through the sidecars; SIGTERM stops everything and leaves no
//! process behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn weft() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_weft"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `bookinfo` must sit beside `weft` (`cargo test --workspace` builds it there).
fn require_bookinfo() {
    let bookinfo = weft().with_file_name("bookinfo");
    assert!(
        bookinfo.exists(),
        "{} is missing: build it with `cargo build -p weft-bookinfo` (the workspace test run does)",
        bookinfo.display()
    );
}

/// One HTTP/1.1 GET over a fresh connection: status and body.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Lines of the child's stdout, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, what: &str, within: Duration, seen: &mut Vec<String>) {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no {what:?} within {within:?}; output:\n{}",
        seen.join("\n")
    );
}

/// Processes of this mesh still alive: their command lines mention its addresses.
fn leftovers() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("127.11.0.") || cmd.contains("--discovery-address 127.0.0.1:15010") {
            out.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
        }
    }
    out
}

#[test]
fn bookinfo_up_serves_the_product_page_and_stops_cleanly() {
    require_bookinfo();
    let mut child = Command::new(weft())
        .args(["up", "examples/bookinfo", "--stop-after", "120s"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start weft up");
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, "proxies ready", Duration::from_secs(60), &mut seen);

    let gateway: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        match get(gateway, "/productpage", &[]) {
            Some((200, body)) if !body.contains("Error fetching") => break body,
            other if Instant::now() > deadline => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                panic!("product page not served through the gateway: {other:?}");
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    assert!(page.contains("The Comedy of Errors"), "{page}");
    assert!(page.contains("Reviewer1"), "reviews missing: {page}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for(&rx, "weft up: stopped", Duration::from_secs(30), &mut seen);
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "weft up exited with {exit}");
    let left = leftovers();
    assert!(left.is_empty(), "processes left behind: {left:#?}");
}
