//! Test helper for crates/iptables/tests/netns.rs, run inside `ip netns exec`:
//!
//! - `apply` / `clean`: the library's default rule set, applied or removed with
//!   [`weft_iptables::system`] (the same code `weft iptables` runs);
//! - `listen PORT...`: accepts TCP connections on each port and prints one line per
//!   connection: `accepted port=P orig=ADDR peer=ADDR`, where `orig` is SO_ORIGINAL_DST;
//!   prints `ready` once every port is bound, and exits when stdin closes or after 60 s;
//! - `connect ADDR`: connects with a 3 s timeout and prints `connected` or `failed: ERROR`.

mod orig_dst;

use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use weft_iptables::{Flags, generate, system};

const LISTEN_LIFETIME: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("apply") => apply(),
        Some("clean") => system::clean_all().map(|_| ()).map_err(|e| e.to_string()),
        Some("listen") => listen(&args[1..]),
        Some("connect") if args.len() == 2 => connect(&args[1]),
        _ => Err("usage: weft-iptables-probe apply|clean|listen PORT...|connect ADDR".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-iptables-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn apply() -> Result<(), String> {
    let config = Flags::default()
        .to_config()
        .map_err(|e| e.to_string())?
        .config;
    system::apply(&generate(&config)).map_err(|e| e.to_string())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the test is gone; nothing to report to.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn listen(ports: &[String]) -> Result<(), String> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    for port in ports {
        let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
        let listener =
            TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind {port}: {e}"))?;
        thread::spawn(move || accept_loop(&listener, port));
    }
    say("ready");
    thread::spawn(move || {
        // Stdin reaching EOF (the test closed it or exited) ends the listener.
        for _ in std::io::stdin().lock().lines() {}
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(LISTEN_LIFETIME);
    Ok(())
}

fn accept_loop(listener: &TcpListener, port: u16) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let orig = match orig_dst::original_dst(&stream) {
            Ok(addr) => addr.to_string(),
            Err(e) => format!("error({e})"),
        };
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        say(&format!("accepted port={port} orig={orig} peer={peer}"));
    }
}

fn connect(addr: &str) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(stream) => {
            let local = stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            say(&format!("connected local={local}"));
            Ok(())
        }
        Err(e) => {
            say(&format!("failed: {e}"));
            Ok(())
        }
    }
}
