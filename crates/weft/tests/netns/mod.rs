//! The lab of capture_netns.rs: an "app" network namespace (the pod, with the capture rules
//! and the proxy) joined by a veth pair to a "host" namespace (everything outside the pod), the
//! processes running in them, and the prerequisite check that turns into a loud skip.
//!
//! Programs inside a namespace are this test binary itself, run through `ip netns exec` with
//! a role (see `roles`), so the test needs no tool besides `ip`, `iptables` and `setpriv`.

pub mod roles;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

pub const APP_IP: &str = "10.78.0.1";
pub const HOST_IP: &str = "10.78.0.2";
/// Generous on a busy 2-core machine: every wait polls up to this long.
pub const WAIT: Duration = Duration::from_secs(30);
const AS_PROXY: [&str; 4] = ["setpriv", "--reuid=1337", "--regid=1337", "--clear-groups"];
const TOOLS: [&str; 4] = ["ip", "iptables", "iptables-restore", "setpriv"];

/// `Some(reason)` when the test cannot run here.
pub fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string));
    if euid.as_deref() != Some("0") {
        return Some("network namespace test needs root".into());
    }
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
    };
    TOOLS
        .iter()
        .find(|t| !on_path(t))
        .map(|t| format!("{t} not found in PATH"))
}

/// Prints `SKIP: reason`, or fails when WEFT_REQUIRE_ALL_TESTS=1 (as in CI).
pub fn skip(reason: &str) {
    if std::env::var("WEFT_REQUIRE_ALL_TESTS").as_deref() == Ok("1") {
        panic!("WEFT_REQUIRE_ALL_TESTS=1 but this test cannot run: {reason}");
    }
    // Straight to stderr, past the test harness's output capture, so the skip is seen.
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}

pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A long-running process and its role's output lines.
pub struct Running {
    pub lines: Receiver<String>,
}

/// The namespaces, a copy of `weft` that uid 1337 may run, and every process started; all
/// removed when dropped, pass or fail.
pub struct Lab {
    pub app: String,
    pub host: String,
    pub dir: PathBuf,
    pub weft: PathBuf,
    proxy: Option<Child>,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in self.proxy.iter_mut().chain(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.app, &self.host]
            .into_iter()
            .filter(|ns| !ns.is_empty())
        {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// Creates the namespaces and the veth pair; `Err` when namespaces are not available.
    pub fn new() -> Result<Lab, String> {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("weft-capture-{pid}"));
        let mut lab = Lab {
            app: format!("weft-cap-app-{pid}"),
            host: format!("weft-cap-host-{pid}"),
            weft: dir.join("weft"),
            dir,
            proxy: None,
            children: Vec::new(),
        };
        let out = run(&["ip", "netns", "add", &lab.app]);
        if !out.status.success() {
            // Nothing was created: the guard must not delete someone else's namespace.
            lab.app.clear();
            lab.host.clear();
            return Err(format!(
                "cannot create a network namespace: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        ok(&["ip", "netns", "add", &lab.host]);
        lab.wire();
        lab.copy_weft();
        Ok(lab)
    }

    fn wire(&self) {
        let (app, host) = (self.app.as_str(), self.host.as_str());
        ok(&[
            "ip",
            "-n",
            app,
            "link",
            "add",
            "veth-app",
            "type",
            "veth",
            "peer",
            "name",
            "veth-host",
            "netns",
            host,
        ]);
        let app_cidr = format!("{APP_IP}/24");
        let host_cidr = format!("{HOST_IP}/24");
        ok(&["ip", "-n", app, "addr", "add", &app_cidr, "dev", "veth-app"]);
        ok(&[
            "ip",
            "-n",
            host,
            "addr",
            "add",
            &host_cidr,
            "dev",
            "veth-host",
        ]);
        for (ns, dev) in [
            (app, "veth-app"),
            (host, "veth-host"),
            (app, "lo"),
            (host, "lo"),
        ] {
            ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // As in a pod: service VIPs have no interface but are routable (via the node).
        ok(&["ip", "-n", app, "route", "add", "default", "via", HOST_IP]);
    }

    /// `weft` and the bootstrap must be readable by uid 1337 wherever the build directory is.
    fn copy_weft(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.dir).expect("lab dir");
        std::fs::copy(env!("CARGO_BIN_EXE_weft"), &self.weft).expect("copy weft");
        for path in [&self.dir, &self.weft] {
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(path, mode).expect("chmod");
        }
    }

    /// `weft ARGS` inside the app namespace as root (e.g. `weft iptables`).
    pub fn weft_in_app(&self, args: &[&str]) -> String {
        let weft = self.weft.to_str().expect("utf-8 path");
        let mut cmd = vec!["ip", "netns", "exec", &self.app, weft];
        cmd.extend(args);
        ok(&cmd)
    }

    /// Starts `weft proxy --bootstrap FILE` in the app namespace as uid 1337, its output in
    /// `log`.
    pub fn start_proxy(&mut self, bootstrap: &Path, log: &Path) {
        let out = std::fs::File::create(log).expect("proxy log");
        let err = out.try_clone().expect("proxy log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.app]).args(AS_PROXY);
        cmd.arg(&self.weft)
            .args(["proxy", "--concurrency", "2", "--bootstrap"])
            .arg(bootstrap)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        self.proxy = Some(cmd.spawn().expect("start weft proxy"));
    }

    /// `Some(status)` once the proxy has exited.
    pub fn proxy_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.proxy.as_mut()?.try_wait().ok().flatten()
    }

    fn role_command(ns: &str, role: &[&str]) -> Command {
        let me = std::env::current_exe().expect("test binary");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(me);
        cmd.args([
            "--exact",
            "netns_role",
            "--ignored",
            "--nocapture",
            "--quiet",
        ]);
        cmd.env(roles::ROLE_ENV, role.join(" "))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd
    }

    /// Runs a short role (a client) in `ns` and returns its output lines; killed after
    /// [`WAIT`].
    pub fn role(&self, ns: &str, role: &[&str]) -> Vec<String> {
        let mut child = Self::role_command(ns, role).spawn().expect("start role");
        let deadline = Instant::now() + WAIT;
        while child.try_wait().expect("wait role").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("role {role:?} in {ns} did not finish within {WAIT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("role output");
        let text = String::from_utf8_lossy(&out.stdout);
        roles::lines_of(&text)
    }

    /// Starts a server role in `ns` and waits for it to listen.
    pub fn serve(&mut self, ns: &str, role: &[&str]) -> Running {
        let mut child = Self::role_command(ns, role).spawn().expect("start role");
        let stdout = child.stdout.take().expect("stdout");
        self.children.push(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Some(line) = roles::line_of(&line) else {
                    continue;
                };
                if tx.send(line.to_string()).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(WAIT);
        assert_eq!(ready.as_deref(), Ok("ready"), "server {role:?} in {ns}");
        Running { lines: rx }
    }
}

impl Running {
    /// The next reported line, waiting at most [`WAIT`].
    pub fn next(&self, what: &str) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{what}: nothing reported within {WAIT:?}"))
    }
}
