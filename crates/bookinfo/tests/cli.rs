//! The `bookinfo` binary: starts a service on the port asked for and reports bad flags.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use weft_bookinfo::client::{self, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_bookinfo");

/// Kills the child when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bookinfo");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("bookinfo did not start");
    (running, line.trim().to_string())
}

#[tokio::test]
async fn serves_on_the_requested_address() {
    let (_ratings, line) = start(&["ratings", "--address", "127.0.0.1", "--port", "0"]);
    let address = line
        .strip_prefix("bookinfo ratings listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let upstream = Upstream::parse("test", &format!("http://{address}")).expect("address");
    let reply = client::fetch(
        &upstream,
        Method::GET,
        "/ratings/0",
        HeaderMap::new(),
        Bytes::new(),
        Duration::from_secs(5),
    )
    .await
    .expect("ratings answers");
    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert_eq!(body["ratings"]["Reviewer2"], 4);
}

#[test]
fn bad_upstream_url_names_the_flag() {
    let out = Command::new(BIN)
        .args([
            "productpage",
            "--port",
            "0",
            "--reviews-url",
            "https://reviews:9080",
        ])
        .output()
        .expect("run bookinfo");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--reviews-url: \"https://reviews:9080\": only http:// is supported"),
        "{stderr}"
    );
}

#[test]
fn reviews_versions_are_checked() {
    let out = Command::new(BIN)
        .args(["reviews", "--version", "v4"])
        .output()
        .expect("run bookinfo");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("v4"));
}
