//! xDS is the contract: a stock proxyless gRPC client (Python `grpcio` and its built-in xDS
//! resolver, `xds:///HOST:PORT`, configured only by its bootstrap file) resolves a service
//! through `weft control` and calls it.
//!
//! Each test writes a config directory, starts plain (non-xDS) Python gRPC servers on free
//! loopback ports, `weft control` on free ports, and `tests/proxyless/xds_client.py` with
//! `GRPC_XDS_BOOTSTRAP` pointing at a bootstrap naming the control plane and a node with
//! `GENERATOR: grpc`. The interpreter is the virtualenv of `scripts/install-python-deps`; without
//! it (or without grpcio) the tests print `SKIP: ...` (and fail when WEFT_REQUIRE_ALL_TESTS=1).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HOST: &str = "echo.default.svc.cluster.local";
const PORT: u16 = 7070;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proxyless")
}

/// Prints `SKIP: reason`, or fails when WEFT_REQUIRE_ALL_TESTS=1 (as in CI).
fn skip(reason: &str) {
    if std::env::var("WEFT_REQUIRE_ALL_TESTS").as_deref() == Ok("1") {
        panic!("WEFT_REQUIRE_ALL_TESTS=1 but this test cannot run: {reason}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}

/// The virtualenv's interpreter with grpcio importable, or why there is none. Asked once per
/// test binary, so that parallel tests do not both create the virtualenv.
fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> Result<PathBuf, String> {
    let root = repo_root();
    let out = Command::new(root.join("scripts/install-python-deps"))
        .arg("--print")
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("scripts/install-python-deps: {e}"))?;
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || printed.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("scripts/install-python-deps failed: {err}"));
    }
    let python = root.join(printed);
    let check = Command::new(&python)
        .args(["-c", "import grpc"])
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !check.status.success() {
        return Err(format!("{}: cannot import grpc", python.display()));
    }
    Ok(python)
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A child process killed (and reaped) when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain gRPC echo server answering `NAME:REQUEST`; it serves until its stdin closes.
struct Backend {
    _process: Running,
    port: u16,
}

fn start_backend(python: &Path, name: &str) -> Backend {
    let mut child = Command::new(python)
        .arg(scripts_dir().join("echo_server.py"))
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn echo_server.py");
    let stdout: ChildStdout = child.stdout.take().expect("stdout");
    let process = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read echo_server.py output");
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("echo_server.py printed {line:?}, not PORT N"));
    Backend {
        _process: process,
        port,
    }
}

/// `weft control` on free ports, serving `config`.
struct Control {
    _process: Running,
    xds: SocketAddr,
    http: SocketAddr,
    log: PathBuf,
}

fn start_control(dir: &Path) -> Control {
    let (xds, http) = (free_addr(), free_addr());
    let log = dir.join("control.log");
    let child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("control")
        .arg("--config-dir")
        .arg(dir.join("config"))
        .args(["--xds-address", &xds.to_string()])
        .args(["--http-address", &http.to_string()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("control log"))
        .spawn()
        .expect("spawn weft control");
    let control = Control {
        _process: Running(child),
        xds,
        http,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(control.http, "/ready").is_none_or(|r| !r.starts_with("HTTP/1.1 200")) {
        assert!(
            Instant::now() < deadline,
            "weft control never became ready:\n{}",
            read(&control.log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    control
}

fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-proxyless-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("scratch dir");
    dir
}

/// gRPC's bootstrap: one plaintext xDS server, and a node that weft reads as a proxyless
/// gRPC client in namespace `default`.
fn write_bootstrap(dir: &Path, xds: SocketAddr) -> PathBuf {
    let bootstrap = serde_json::json!({
        "xds_servers": [{
            "server_uri": xds.to_string(),
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {
            "id": "sidecar~127.0.0.1~echo-client.default~default.svc.cluster.local",
            "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"},
        },
    });
    let path = dir.join("bootstrap.json");
    std::fs::write(&path, bootstrap.to_string()).expect("write bootstrap");
    path
}

/// A running xds_client.py with its output files.
struct Client {
    child: Running,
    out: PathBuf,
    err: PathBuf,
}

/// Starts the xDS client with `args` (COUNT [UNTIL]).
fn spawn_client(python: &Path, dir: &Path, control: &Control, args: &[String]) -> Client {
    let bootstrap = write_bootstrap(dir, control.xds);
    let (out, err) = (dir.join("client.out"), dir.join("client.err"));
    let child = Command::new(python)
        .arg(scripts_dir().join("xds_client.py"))
        .arg(format!("{HOST}:{PORT}"))
        .args(args)
        .env("GRPC_XDS_BOOTSTRAP", &bootstrap)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("client out"))
        .stderr(std::fs::File::create(&err).expect("client err"))
        .spawn()
        .expect("spawn xds_client.py");
    Client {
        child: Running(child),
        out,
        err,
    }
}

/// Waits (bounded to 90 s) for the client and returns the calls per backend.
fn finish_client(mut client: Client, control: &Control) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = client.child.0.try_wait().expect("wait for client") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = || {
        let syncz = http_get(control.http, "/debug/syncz").unwrap_or_default();
        format!(
            "client stdout:\n{}\nclient stderr:\n{}\ncontrol log:\n{}\nsyncz:\n{syncz}",
            read(&client.out),
            read(&client.err),
            read(&control.log)
        )
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "xds_client.py failed ({status:?}):\n{}",
        report()
    );
    let stdout = read(&client.out);
    let backends = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BACKENDS "))
        .unwrap_or_else(|| panic!("no BACKENDS line:\n{}", report()));
    serde_json::from_str(backends).expect("BACKENDS is a JSON object of counts")
}

/// Runs the xDS client for `count` calls and returns the calls per backend.
fn call_through_xds(
    python: &Path,
    dir: &Path,
    control: &Control,
    count: u32,
) -> BTreeMap<String, u64> {
    let client = spawn_client(python, dir, control, &[count.to_string()]);
    finish_client(client, control)
}

fn service_entry(endpoints: &[(u16, &str)]) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|(port, version)| {
            format!(
                "{{address: 127.0.0.1, ports: {{grpc: {port}}}, labels: {{version: {version}}}}}"
            )
        })
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [{HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: {PORT}, name: grpc, protocol: GRPC}}]
  endpoints: [{}]
",
        eps.join(", ")
    )
}

#[test]
fn stock_grpc_client_resolves_and_calls_through_weft_control() {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let dir = scratch("single");
    let backend = start_backend(&python, "a");
    std::fs::write(
        dir.join("config/echo.yaml"),
        service_entry(&[(backend.port, "v1")]),
    )
    .expect("write config");
    let control = start_control(&dir);
    let calls = call_through_xds(&python, &dir, &control, 5);
    assert_eq!(calls, BTreeMap::from([("a".to_string(), 5)]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A VirtualService splitting 50/50 over two DestinationRule subsets: gRPC picks a weighted
/// cluster per call, so 40 calls reach both (all on one side: probability 2^-39).
#[test]
fn virtual_service_weights_split_grpc_calls_over_subsets() {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let dir = scratch("split");
    let (v1, v2) = (start_backend(&python, "v1"), start_backend(&python, "v2"));
    let routing = format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo, namespace: default}}
spec:
  host: {HOST}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [{HOST}]
  http:
  - route:
    - {{destination: {{host: {HOST}, subset: v1}}, weight: 50}}
    - {{destination: {{host: {HOST}, subset: v2}}, weight: 50}}
"
    );
    let config = format!(
        "{}---\n{routing}",
        service_entry(&[(v1.port, "v1"), (v2.port, "v2")])
    );
    std::fs::write(dir.join("config/echo.yaml"), config).expect("write config");
    let control = start_control(&dir);
    let calls = call_through_xds(&python, &dir, &control, 40);
    assert_eq!(calls.values().sum::<u64>(), 40, "{calls:?}");
    assert!(calls.get("v1").is_some_and(|n| *n > 0), "{calls:?}");
    assert!(calls.get("v2").is_some_and(|n| *n > 0), "{calls:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An endpoint change reaches a running client: the ServiceEntry's endpoint moves from
/// backend `a` to backend `b` while the client keeps calling, and its calls follow.
#[test]
fn an_endpoint_change_reaches_a_running_grpc_client() {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let dir = scratch("churn");
    let (a, b) = (start_backend(&python, "a"), start_backend(&python, "b"));
    let config = dir.join("config/echo.yaml");
    std::fs::write(&config, service_entry(&[(a.port, "v1")])).expect("write config");
    let control = start_control(&dir);
    let client = spawn_client(&python, &dir, &control, &["600".into(), "b".into()]);
    // Bounded wait for the first reply (from a) before the change.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !read(&client.out).contains("REPLY a:") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        read(&client.out).contains("REPLY a:"),
        "{}",
        read(&client.err)
    );
    std::fs::write(&config, service_entry(&[(b.port, "v1")])).expect("rewrite config");
    let calls = finish_client(client, &control);
    assert!(calls.get("a").is_some_and(|n| *n > 0), "{calls:?}");
    assert_eq!(
        calls.get("b"),
        Some(&1),
        "stops at b's first answer: {calls:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
