//! weft-adsload against the real control plane in process: every client syncs, a route change
//! and an endpoint change converge on every client, and a mark with no change does not.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};

const CLIENTS: usize = 5;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-adsload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn service_entry(i: usize, first_octet: u8) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: svc-{i}\n  namespace: default\n\
         spec:\n  hosts: [svc-{i}.default.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n\
         \x20 ports: [{{number: 80, name: http, protocol: HTTP}}]\n\
         \x20 endpoints: [{{address: 10.{first_octet}.0.{i}}}, {{address: 10.{first_octet}.1.{i}}}]\n"
    )
}

fn virtual_service(dest: usize) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: svc-0\n  namespace: default\n\
         spec:\n  hosts: [svc-0.default.svc.cluster.local]\n  http:\n\
         \x20 - route: [{{destination: {{host: svc-{dest}.default.svc.cluster.local}}}}]\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

async fn control_plane(dir: &Path) -> ControlPlane {
    ControlPlane::start(ControlOptions {
        config_dir: dir.to_path_buf(),
        extra_config_dirs: Vec::new(),
        mesh: MeshConfig::default().with_defaults(),
        xds_address: "127.0.0.1:0".parse().expect("addr"),
        http_address: "127.0.0.1:0".parse().expect("addr"),
        poll_interval: Duration::from_millis(50),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        ads: AdsOptions::default(),
        ca: None,
    })
    .await
    .expect("control plane")
}

struct Load {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Load {
    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("stdin");
    }

    async fn event(&mut self, event: &str) -> Value {
        let wait = async {
            loop {
                let line = self.lines.next_line().await.expect("stdout").expect("open");
                let v: Value = serde_json::from_str(&line).expect("json line");
                if v["event"] == event {
                    return v;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("no {event} event within 20 s"))
    }
}

fn start_load(xds: std::net::SocketAddr, mark_timeout_s: u64) -> Load {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft-adsload"))
        .args([
            "--address",
            &xds.to_string(),
            "--clients",
            &CLIENTS.to_string(),
        ])
        .args(["--ramp-ms", "50", "--duration-s", "60"])
        .args(["--mark-timeout-s", &mark_timeout_s.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn weft-adsload");
    let stdin = child.stdin.take().expect("stdin");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    Load {
        child,
        stdin,
        lines,
    }
}

fn assert_all_converged(got: &Value) {
    assert_eq!(got["converged"], CLIENTS, "{got}");
    assert_eq!(got["missing"], 0, "{got}");
    let p99 = got["p99_ms"].as_f64().expect("p99");
    assert!(p99 > 0.0 && p99 < 10_000.0, "{got}");
    assert!(
        got["bytes_per_client"].as_f64().expect("bytes") > 0.0,
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_and_endpoint_changes_converge_on_every_client() {
    let dir = temp_dir("converge");
    for i in 0..3 {
        write(&dir, &format!("svc-{i}.yaml"), &service_entry(i, 1));
    }
    write(&dir, "vs.yaml", &virtual_service(0));
    let cp = control_plane(&dir).await;
    let mut load = start_load(cp.xds_address, 2);

    let ready = load.event("ready").await;
    assert_eq!(ready["synced"], CLIENTS, "{ready}");
    // The initial configuration has clusters, endpoints, listeners and routes.
    assert!(
        ready["bytes_per_client"].as_f64().expect("bytes") > 1000.0,
        "{ready}"
    );

    // Nothing changes: the mark must time out with every client missing.
    load.send("mark idle rds").await;
    load.event("marked").await;
    let idle = load.event("converged").await;
    assert_eq!(idle["missing"], CLIENTS, "{idle}");

    load.send("mark route rds").await;
    load.event("marked").await;
    write(&dir, "vs.yaml", &virtual_service(1));
    assert_all_converged(&load.event("converged").await);

    load.send("mark endpoint eds").await;
    load.event("marked").await;
    write(&dir, "svc-2.yaml", &service_entry(2, 9));
    assert_all_converged(&load.event("converged").await);

    load.send("quit").await;
    let done = load.event("done").await;
    assert_eq!(done["disconnects"], 0, "{done}");
    let status = load.child.wait().await.expect("exit");
    assert!(status.success());
    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
