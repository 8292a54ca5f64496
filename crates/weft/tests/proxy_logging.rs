//! `weft proxy`'s admin `/logging`: shows the active tracing filter and changes it at runtime
//! (POST), refuses a change by GET and an invalid filter; `/quitquitquit` then stops it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Status and body of one request, or `None` when nothing answers.
fn request(admin: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&admin, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(admin: SocketAddr) -> (Running, std::path::PathBuf) {
    let file = std::env::temp_dir().join(format!("weft-logging-{}.yaml", std::process::id()));
    let bootstrap = format!(
        "node: {{id: router~127.0.0.1~logging.default~default.svc.cluster.local, cluster: t}}\n\
         admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {}}}}}}}\n",
        admin.port()
    );
    std::fs::write(&file, bootstrap).expect("bootstrap");
    let child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["proxy", "--drain-time", "100ms", "--bootstrap"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weft proxy");
    (Running(child), file)
}

#[test]
fn logging_shows_and_changes_the_level_at_runtime() {
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (mut proxy, file) = start(admin);
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(admin, "GET", "/ready").is_none() {
        assert!(Instant::now() < deadline, "the admin API never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let get = |path: &str| request(admin, "GET", path).expect("answer");
    let post = |path: &str| request(admin, "POST", path).expect("answer");

    assert_eq!(get("/logging"), (200, "active loggers: info\n".into()));
    assert_eq!(
        post("/logging?level=debug,weft_proxy=trace"),
        (200, "active loggers: debug,weft_proxy=trace\n".into())
    );
    let (status, shown) = get("/logging");
    assert_eq!(status, 200);
    assert!(
        shown.contains("weft_proxy=trace") && shown.contains("debug"),
        "{shown}"
    );
    assert_eq!(get("/logging?level=info").0, 405, "a change needs POST");
    let (status, body) = post("/logging?level=weft=notalevel");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid level"), "{body}");
    assert!(
        get("/logging").1.contains("weft_proxy=trace"),
        "a rejected change keeps the filter"
    );

    assert_eq!(post("/quitquitquit").0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = proxy.0.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "weft proxy did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(file);
}
