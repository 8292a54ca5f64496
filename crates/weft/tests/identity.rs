//! Workload identity through the real binaries: `weft control --ca-dir --issue-credential`
//! writes a 0600 credential and a 0600 CA key; `weft proxy sidecar --credential-file` obtains
//! its certificate from the CA on the xDS port; a sidecar whose service account is not the
//! one its credential names is refused; the agent never logs key material.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `weft ARGS` and forwards its stderr lines to a channel.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Running, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Running(child), rx)
}

/// Reads lines until one contains `needle` (bounded in time); returns everything read.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-identity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("dir");
    dir
}

fn sidecar(xds: SocketAddr, credential: &Path, sa: &str) -> (Running, mpsc::Receiver<String>) {
    let admin = free_addr().to_string();
    let xds = xds.to_string();
    let credential = credential.to_str().expect("utf-8 path");
    let args = [
        "proxy",
        "sidecar",
        "--discovery-address",
        &xds,
        "--admin-address",
        &admin,
    ];
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--credential-file", credential, "--drain-time", "100ms"]);
    let env = [
        ("POD_NAMESPACE", "default"),
        ("SERVICE_ACCOUNT", sa),
        ("POD_NAME", "w-0"),
    ];
    spawn(&all, &env)
}

/// `weft control` with a CA in `dir/ca` writing a credential for default/reviews.
fn control_with_ca(dir: &Path) -> (Running, mpsc::Receiver<String>, SocketAddr, PathBuf) {
    let xds = free_addr();
    let (xds_text, http) = (xds.to_string(), free_addr().to_string());
    let credential = dir.join("reviews.credential");
    let issue = format!("default/reviews={}", credential.display());
    let (config, ca_dir) = (dir.join("config"), dir.join("ca"));
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let (config, ca_dir) = (path(&config), path(&ca_dir));
    let args = [
        "control",
        "--config-dir",
        &config,
        "--xds-address",
        &xds_text,
        "--http-address",
        &http,
        "--ca-dir",
        &ca_dir,
        "--issue-credential",
        &issue,
    ];
    let (running, log) = spawn(&args, &[]);
    (running, log, xds, credential)
}

#[test]
fn sidecar_obtains_its_certificate_from_weft_control() {
    let dir = scratch();
    let ca_dir = dir.join("ca");
    let (_control, control_log, xds, credential) = control_with_ca(&dir);
    wait_for_file(&credential);
    assert_eq!(mode(&credential), 0o600, "credential file");
    assert_eq!(mode(&ca_dir.join("ca-key.pem")), 0o600, "CA key");
    assert_eq!(
        mode(&ca_dir.join("credential-key")),
        0o600,
        "credential key"
    );

    let (_ok, ok_log) = sidecar(xds, &credential, "reviews");
    let mut seen = Vec::new();
    let obtained = wait_for_line(&ok_log, "workload certificate obtained", &mut seen);
    assert!(obtained, "sidecar log:\n{}", seen.join("\n"));
    assert!(
        seen.iter()
            .any(|l| l.contains("spiffe://cluster.local/ns/default/sa/reviews"))
    );

    // The same credential does not buy another service account's identity.
    let (_bad, bad_log) = sidecar(xds, &credential, "ratings");
    let mut bad_seen = Vec::new();
    let refused = wait_for_line(
        &bad_log,
        "cannot obtain a workload certificate",
        &mut bad_seen,
    );
    assert!(refused, "sidecar log:\n{}", bad_seen.join("\n"));
    let last = bad_seen.last().expect("a line");
    assert!(
        last.contains("PermissionDenied") || last.contains("permission"),
        "{last}"
    );

    let logs: Vec<String> = seen
        .into_iter()
        .chain(bad_seen)
        .chain(control_log.try_iter())
        .collect();
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("PRIVATE KEY") || l.contains("weft1.")),
        "no key material or credential in logs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
