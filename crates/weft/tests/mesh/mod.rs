//! A local mesh for tests: `weft up` on a copy of examples/bookinfo in a temporary directory
//! (so scenarios can add and remove files while it runs), and HTTP/1.1 helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn weft() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_weft"))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// One GET over a fresh connection. With `proxy`, the request goes to that HTTP proxy in
/// absolute form (`GET http://reviews:9080/... HTTP/1.1`), as an app with HTTP_PROXY sends it.
pub fn get(
    to: SocketAddr,
    proxy_authority: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<Reply> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let (target, host) = match proxy_authority {
        Some(a) => (format!("http://{a}{path}"), a.to_string()),
        None => (path.to_string(), to.to_string()),
    };
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some(Reply { status, body })
}

/// A running `weft up`.
pub struct Mesh {
    pub dir: PathBuf,
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Mesh {
    /// Copies examples/bookinfo to a fresh directory and starts `weft up` on it.
    pub fn start(name: &str) -> Mesh {
        let bookinfo = weft().with_file_name("bookinfo");
        assert!(
            bookinfo.exists(),
            "{} is missing: build it with `cargo build -p weft-bookinfo` (the workspace test run does)",
            bookinfo.display()
        );
        let dir = std::env::temp_dir().join(format!("weft-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mesh dir");
        for entry in std::fs::read_dir(repo().join("examples/bookinfo")).expect("bookinfo") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
        }
        let mut child = Command::new(weft())
            .args(["up", &dir.display().to_string(), "--stop-after", "300s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start weft up");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut mesh = Mesh {
            dir,
            child,
            lines,
            seen: Vec::new(),
        };
        mesh.wait_for("proxies ready", Duration::from_secs(90));
        mesh
    }

    pub fn wait_for(&mut self, what: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no {what:?} within {within:?}; output:\n{}",
            self.seen.join("\n")
        );
    }

    /// Replaces the scenario files (`scenario-*.yaml`) with those of examples/traffic/NAME.
    pub fn apply_scenarios(&self, names: &[&str]) {
        for entry in std::fs::read_dir(&self.dir).expect("dir").flatten() {
            if entry.file_name().to_string_lossy().starts_with("scenario-") {
                std::fs::remove_file(entry.path()).expect("remove scenario");
            }
        }
        for name in names {
            let src = repo().join("examples/traffic").join(name);
            for entry in std::fs::read_dir(&src).expect("scenario").flatten() {
                let file = format!("scenario-{name}-{}", entry.file_name().to_string_lossy());
                std::fs::copy(entry.path(), self.dir.join(file)).expect("copy scenario");
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        self.wait_for("weft up: stopped", Duration::from_secs(30));
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "weft up exited with {exit}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        // A failed assertion must not leave the mesh running for the next test.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

/// Processes of a local mesh still alive: their command lines mention its addresses.
pub fn leftovers() -> Vec<String> {
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
