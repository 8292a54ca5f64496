//! The generated rules, applied for real inside a network namespace this test creates: an
//! "app" namespace with the capture rules and a "peer" namespace joined to it by a veth pair
//! (10.77.0.1 <-> 10.77.0.2). Probes (the `weft-iptables-probe` binary) listen and connect
//! inside the namespaces; the listener reports SO_ORIGINAL_DST of what it accepts.
//!
//! Needs root, `ip`, `iptables` and `setpriv`; otherwise prints `SKIP: ...` (or fails when
//! WEFT_REQUIRE_ALL_TESTS=1). Both namespaces are removed when the test ends, pass or fail.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

const PROBE: &str = env!("CARGO_BIN_EXE_weft-iptables-probe");
const APP_IP: &str = "10.77.0.1";
const PEER_IP: &str = "10.77.0.2";
const WAIT: Duration = Duration::from_secs(5);
const AS_PROXY: [&str; 4] = ["setpriv", "--reuid=1337", "--regid=1337", "--clear-groups"];

fn skip(reason: &str) {
    if std::env::var("WEFT_REQUIRE_ALL_TESTS").as_deref() == Ok("1") {
        panic!("WEFT_REQUIRE_ALL_TESTS=1 but this test cannot run: {reason}");
    }
    // Straight to stderr, past the test harness's output capture, so the skip is seen.
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

fn missing_prerequisite() -> Option<String> {
    if !is_root() {
        return Some("network namespace test needs root".into());
    }
    let tools = [
        "ip",
        "iptables",
        "iptables-save",
        "iptables-restore",
        "setpriv",
    ];
    tools
        .iter()
        .find(|t| !on_path(t))
        .map(|t| format!("{t} not found in PATH"))
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The two namespaces, the probe copy and the listeners; all removed on drop.
struct Lab {
    app: String,
    peer: String,
    dir: PathBuf,
    probe: PathBuf,
    children: Vec<(Child, Option<ChildStdin>)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (child, stdin) in &mut self.children {
            drop(stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.app, &self.peer] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// Creates the namespaces and the veth pair; `Err` when namespaces are not available.
    fn new() -> Result<Lab, String> {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("weft-ipt-{pid}"));
        let lab = Lab {
            app: format!("weft-ipt-app-{pid}"),
            peer: format!("weft-ipt-peer-{pid}"),
            probe: dir.join("probe"),
            dir,
            children: Vec::new(),
        };
        let out = run(&["ip", "netns", "add", &lab.app]);
        if !out.status.success() {
            return Err(format!(
                "cannot create a network namespace: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        ok(&["ip", "netns", "add", &lab.peer]);
        lab.wire();
        lab.copy_probe();
        Ok(lab)
    }

    fn wire(&self) {
        let (app, peer) = (self.app.as_str(), self.peer.as_str());
        ok(
            &["ip", "-n", app, "link", "add", "veth-app", "type", "veth"]
                .into_iter()
                .chain(["peer", "name", "veth-peer", "netns", peer])
                .collect::<Vec<_>>(),
        );
        ok(&[
            "ip",
            "-n",
            app,
            "addr",
            "add",
            &format!("{APP_IP}/24"),
            "dev",
            "veth-app",
        ]);
        ok(&[
            "ip",
            "-n",
            peer,
            "addr",
            "add",
            &format!("{PEER_IP}/24"),
            "dev",
            "veth-peer",
        ]);
        for (ns, dev) in [
            (app, "veth-app"),
            (peer, "veth-peer"),
            (app, "lo"),
            (peer, "lo"),
        ] {
            ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
    }

    /// A copy of the probe in a world-readable place, so uid 1337 can execute it wherever the
    /// build directory is.
    fn copy_probe(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.dir).expect("probe dir");
        std::fs::copy(PROBE, &self.probe).expect("copy probe");
        for (path, mode) in [(&self.dir, 0o755), (&self.probe, 0o755)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }

    fn exec<'a>(&'a self, ns: &'a str, as_proxy: bool, args: &[&'a str]) -> Vec<&'a str> {
        let mut cmd = vec!["ip", "netns", "exec", ns];
        if as_proxy {
            cmd.extend(AS_PROXY);
        }
        cmd.push(self.probe.to_str().expect("utf-8 path"));
        cmd.extend(args);
        cmd
    }

    fn probe(&self, ns: &str, as_proxy: bool, args: &[&str]) -> String {
        ok(&self.exec(ns, as_proxy, args))
    }

    /// Starts a listener; its output lines arrive on the returned channel once it is ready.
    fn listen(&mut self, ns: &str, as_proxy: bool, ports: &[&str]) -> Receiver<String> {
        let mut args = vec!["listen"];
        args.extend(ports);
        let cmd = self.exec(ns, as_proxy, &args);
        let mut child = Command::new(cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start listener");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        self.children.push((child, stdin));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(WAIT).expect("listener did not start");
        assert_eq!(ready, "ready");
        rx
    }

    fn iptables_save(&self) -> String {
        ok(&["ip", "netns", "exec", &self.app, "iptables-save"])
    }
}

/// The next line of `rx`, waiting at most [`WAIT`].
fn next_line(rx: &Receiver<String>, what: &str) -> String {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("no connection seen: {what}"))
}

fn assert_quiet(rx: &Receiver<String>, what: &str) {
    if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        panic!("{what}: unexpected connection: {line}");
    }
}

#[test]
fn capture_rules_redirect_inside_a_network_namespace() {
    if let Some(reason) = missing_prerequisite() {
        return skip(&reason);
    }
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(reason) => return skip(&reason),
    };
    let (app, peer) = (lab.app.clone(), lab.peer.clone());
    lab.probe(&app, false, &["apply"]);
    assert!(
        lab.iptables_save().contains(":ISTIO_OUTPUT"),
        "rules not applied"
    );

    let proxy = lab.listen(&app, true, &["15001", "15006", "15021"]);
    let upstream = lab.listen(&peer, false, &["80"]);
    let to_upstream = format!("{PEER_IP}:80");

    // (a) The app's outbound call is captured by 15001, with its original destination.
    let out = lab.probe(&app, false, &["connect", &to_upstream]);
    assert!(out.starts_with("connected"), "{out}");
    let line = next_line(&proxy, "outbound app call");
    assert!(
        line.starts_with(&format!("accepted port=15001 orig={to_upstream} ")),
        "{line}"
    );

    // (b) A call from the peer to an app port is captured by 15006.
    let out = lab.probe(&peer, false, &["connect", &format!("{APP_IP}:9080")]);
    assert!(out.starts_with("connected"), "{out}");
    let line = next_line(&proxy, "inbound call to 9080");
    let want = format!("accepted port=15006 orig={APP_IP}:9080 peer={PEER_IP}:");
    assert!(line.starts_with(&want), "{line}");

    // (c) The proxy's own outbound call goes straight to the upstream.
    let out = lab.probe(&app, true, &["connect", &to_upstream]);
    assert!(out.starts_with("connected"), "{out}");
    let line = next_line(&upstream, "proxy uid's call");
    assert!(line.starts_with("accepted port=80 "), "{line}");
    assert!(line.contains(&format!("peer={APP_IP}:")), "{line}");

    // (d) The excluded health port is not captured.
    let out = lab.probe(&peer, false, &["connect", &format!("{APP_IP}:15021")]);
    assert!(out.starts_with("connected"), "{out}");
    let line = next_line(&proxy, "call to 15021");
    assert!(line.starts_with("accepted port=15021 "), "{line}");

    assert_quiet(&proxy, "proxy listener");
    assert_quiet(&upstream, "upstream (only the proxy's call may reach it)");

    lab.probe(&app, false, &["clean"]);
    let saved = lab.iptables_save();
    assert!(
        !saved.contains("ISTIO_"),
        "clean left rules behind:\n{saved}"
    );
    let out = lab.probe(&peer, false, &["connect", &format!("{APP_IP}:9080")]);
    assert!(
        out.starts_with("failed"),
        "9080 still captured after clean: {out}"
    );
    assert_quiet(&proxy, "proxy listener after clean");

    every_golden_applies_and_cleans(&lab);
}

/// Each golden rule set is accepted by iptables-restore (and ip6tables-restore), and cleaning
/// removes all of it.
fn every_golden_applies_and_cleans(lab: &Lab) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let started = Instant::now();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read golden");
        for (family, rules) in split_families(&text) {
            let restore = if family == "V6" {
                "ip6tables-restore"
            } else {
                "iptables-restore"
            };
            if family == "V6" && !on_path(restore) {
                continue;
            }
            restore_in(&lab.app, restore, &rules, &file);
        }
        lab.probe(&lab.app, false, &["clean"]);
        let six = run(&["ip", "netns", "exec", &lab.app, "ip6tables-save"]);
        assert!(
            !String::from_utf8_lossy(&six.stdout).contains("ISTIO_"),
            "IPv6 rules of {} left behind",
            file.display()
        );
        assert!(
            !lab.iptables_save().contains("ISTIO_"),
            "{} left rules",
            file.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "golden loop too slow"
        );
    }
}

fn split_families(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(family) = line.strip_prefix("# ") {
            out.push((family.to_string(), String::new()));
        } else if let Some((_, rules)) = out.last_mut() {
            rules.push_str(line);
            rules.push('\n');
        }
    }
    out
}

fn restore_in(ns: &str, program: &str, rules: &str, file: &Path) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program, "--noflush"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start restore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("write rules");
    let out = child.wait_with_output().expect("restore");
    assert!(
        out.status.success(),
        "{program} rejected {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
