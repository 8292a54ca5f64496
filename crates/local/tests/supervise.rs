//! The supervisor against real processes (`sh`, `sleep`). Every wait is bounded.

use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_local::{
    Output, ProcessSpec, ProcessState, ProcessStatus, Supervisor, SupervisorOptions, who_listens,
};

/// A `Write` whose bytes the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

struct Harness {
    supervisor: Supervisor,
    out: Captured,
    err: Captured,
}

fn harness(opts: SupervisorOptions) -> Harness {
    let (out, err) = (Captured::default(), Captured::default());
    let output = Output::new(out.clone(), err.clone());
    Harness {
        supervisor: Supervisor::with_output(opts, output),
        out,
        err,
    }
}

fn fast() -> SupervisorOptions {
    SupervisorOptions {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        grace: Duration::from_millis(300),
        color: false,
    }
}

fn sh(name: &str, script: &str, restart: bool) -> ProcessSpec {
    ProcessSpec {
        name: name.into(),
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: Vec::new(),
        cwd: None,
        restart,
    }
}

/// Runs a test body with an overall limit, so a hang fails instead of blocking the suite.
async fn bounded(body: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("test took longer than 60 s");
}

/// Polls `cond` every 5 ms for up to 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn status_of(supervisor: &Supervisor, name: &str) -> ProcessStatus {
    supervisor
        .status()
        .into_iter()
        .find(|s| s.name == name)
        .expect("spawned")
}

/// Whether `pid` runs (a zombie does not).
fn live(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

/// The pid a script printed as `LABEL PID`.
fn printed_pid(text: &str, label: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.split_once(&format!("| {label} "))?.1.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_prefixed_with_padded_names_and_env_and_cwd_are_given() {
    bounded(async {
        let h = harness(fast());
        h.supervisor.spawn(sh("long-name", "echo three", false));
        let mut spec = sh(
            "a",
            "echo \"$GREETING from $(pwd)\"; echo two >&2; exit 4",
            false,
        );
        spec.env = vec![("GREETING".into(), "hi".into())];
        spec.cwd = Some(PathBuf::from("/"));
        h.supervisor.spawn(spec);
        eventually("both exited", || {
            h.supervisor
                .status()
                .iter()
                .all(|s| matches!(s.state, ProcessState::Exited { .. }))
        })
        .await;
        let out = h.out.text();
        assert!(out.contains("long-name | three\n"), "{out:?}");
        assert!(out.contains("a         | hi from /\n"), "{out:?}");
        let err = h.err.text();
        assert!(err.contains("a         | two\n"), "{err:?}");
        assert!(
            err.contains("weft up: a: exited at once with status 4\n"),
            "{err:?}"
        );
        let a = status_of(&h.supervisor, "a");
        assert_eq!(
            (a.pid, a.state, a.restarts),
            (None, ProcessState::Exited { code: 4 }, 0)
        );
        h.supervisor.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colored_prefixes() {
    bounded(async {
        let h = harness(SupervisorOptions {
            color: true,
            ..fast()
        });
        h.supervisor.spawn(sh("web", "echo hello", false));
        eventually("output", || h.out.text().contains("hello")).await;
        assert_eq!(h.out.text(), "\x1b[36mweb |\x1b[0m hello\n");
        h.supervisor.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_process_is_restarted_with_growing_back_off() {
    bounded(async {
        let h = harness(SupervisorOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
            ..fast()
        });
        h.supervisor.spawn(sh("crash", "echo start; exit 3", true));
        let mut starts = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while starts.len() < 5 {
            assert!(Instant::now() < deadline, "only {} starts", starts.len());
            let count = h.out.text().matches("crash | start").count();
            if count > starts.len() {
                starts.push(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, delay_ms) in gaps.iter().zip([100u64, 200, 400, 400]) {
            let least = Duration::from_millis(delay_ms * 9 / 10);
            assert!(*gap >= least, "gaps {gaps:?}: expected at least {least:?}");
        }
        let err = h.err.text();
        let delays: Vec<&str> = err
            .lines()
            .filter_map(|l| {
                l.strip_prefix("weft up: crash: exited at once with status 3; restarting in ")
            })
            .take(4)
            .collect();
        assert_eq!(delays, ["100ms", "200ms", "400ms", "400ms"], "{err}");
        let status = status_of(&h.supervisor, "crash");
        assert!(status.restarts >= 4, "{status:?}");
        match status.state {
            ProcessState::Running => assert!(status.pid.is_some()),
            ProcessState::Restarting { in_ } => assert!(in_ <= Duration::from_millis(400)),
            other => panic!("unexpected state {other:?}"),
        }
        h.supervisor.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_once_and_the_others_keep_running() {
    bounded(async {
        let h = harness(fast());
        h.supervisor.spawn(sh("steady", "exec sleep 30", true));
        let missing = ProcessSpec {
            program: "weft-no-such-program".into(),
            ..sh("missing", "", true)
        };
        h.supervisor.spawn(missing);
        let bad_path = ProcessSpec {
            program: "/nonexistent/weft-app".into(),
            ..sh("bad-path", "", true)
        };
        h.supervisor.spawn(bad_path);
        let status = status_of(&h.supervisor, "missing");
        let ProcessState::Failed { reason } = &status.state else {
            panic!("{status:?}");
        };
        assert!(
            reason.starts_with("cannot start \"weft-no-such-program\": not found (looked in /")
                && reason.ends_with(" and PATH)"),
            "{reason}"
        );
        let err = h.err.text();
        assert!(
            err.contains(&format!("weft up: missing: {reason}\n")),
            "{err}"
        );
        assert!(
            err.contains("weft up: bad-path: cannot start \"/nonexistent/weft-app\": No such file"),
            "{err}"
        );
        let steady = status_of(&h.supervisor, "steady");
        let pid = steady.pid.expect("steady runs");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let missing = status_of(&h.supervisor, "missing");
        assert!(
            matches!(missing.state, ProcessState::Failed { .. }),
            "{missing:?}"
        );
        assert_eq!((missing.pid, missing.restarts), (None, 0));
        assert_eq!(err.matches("weft up: missing:").count(), 1, "{err}");
        let steady = status_of(&h.supervisor, "steady");
        assert_eq!(
            (steady.state, steady.pid),
            (ProcessState::Running, Some(pid))
        );
        assert!(live(pid));
        h.supervisor.shutdown().await;
        assert!(!live(pid));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_what_ignores_sigterm_after_the_grace_period() {
    bounded(async {
        let h = harness(fast());
        let script = "trap '' TERM; sleep 100 & echo child $!; wait; wait";
        h.supervisor.spawn(sh("stubborn", script, true));
        eventually("the grandchild's pid", || {
            printed_pid(&h.out.text(), "child").is_some()
        })
        .await;
        let grandchild = printed_pid(&h.out.text(), "child").expect("printed");
        let leader = status_of(&h.supervisor, "stubborn").pid.expect("runs");
        assert!(live(leader) && live(grandchild));
        let started = Instant::now();
        h.supervisor.shutdown().await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "SIGKILL before the grace period: {took:?}"
        );
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(!live(grandchild), "grandchild {grandchild} survived");
        // Reaped, not just dead: no zombie of ours is left.
        assert!(!std::path::Path::new(&format!("/proc/{leader}")).exists());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_cooperative_group_without_waiting_for_the_grace_period() {
    bounded(async {
        let h = harness(SupervisorOptions {
            grace: Duration::from_secs(8),
            ..fast()
        });
        h.supervisor
            .spawn(sh("shell", "sleep 100 & echo child $!; wait", true));
        h.supervisor.spawn(sh("plain", "exec sleep 100", false));
        eventually("the grandchild's pid", || {
            printed_pid(&h.out.text(), "child").is_some()
        })
        .await;
        let grandchild = printed_pid(&h.out.text(), "child").expect("printed");
        let leaders: Vec<u32> = h.supervisor.status().iter().filter_map(|s| s.pid).collect();
        assert_eq!(leaders.len(), 2);
        let started = Instant::now();
        h.supervisor.shutdown().await;
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        assert!(!live(grandchild));
        for pid in leaders {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{pid} left"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_group_leaves_behind_is_killed_when_it_exits() {
    bounded(async {
        let h = harness(fast());
        h.supervisor
            .spawn(sh("leaver", "sleep 100 & echo child $!; exit 0", false));
        eventually("exit", || {
            matches!(
                status_of(&h.supervisor, "leaver").state,
                ProcessState::Exited { code: 0 }
            )
        })
        .await;
        let grandchild = printed_pid(&h.out.text(), "child").expect("printed");
        eventually("the grandchild's end", || !live(grandchild)).await;
        let err = h.err.text();
        assert!(
            err.contains("weft up: leaver: killed 1 process(es) its group left behind"),
            "{err}"
        );
        h.supervisor.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_death_by_signal_is_reported_as_such() {
    bounded(async {
        let h = harness(fast());
        h.supervisor.spawn(sh("doomed", "kill -9 $$", false));
        eventually("exit", || {
            matches!(
                status_of(&h.supervisor, "doomed").state,
                ProcessState::Exited { .. }
            )
        })
        .await;
        let status = status_of(&h.supervisor, "doomed");
        assert_eq!(status.state, ProcessState::Exited { code: 137 });
        let err = h.err.text();
        assert!(
            err.contains("weft up: doomed: was killed at once by signal 9\n"),
            "{err}"
        );
        h.supervisor.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_supervisor_kills_its_groups() {
    bounded(async {
        let h = harness(fast());
        h.supervisor
            .spawn(sh("orphan", "sleep 100 & echo child $!; wait", true));
        eventually("the grandchild's pid", || {
            printed_pid(&h.out.text(), "child").is_some()
        })
        .await;
        let grandchild = printed_pid(&h.out.text(), "child").expect("printed");
        drop(h.supervisor);
        eventually("the grandchild's end", || !live(grandchild)).await;
    })
    .await;
}

#[test]
fn who_listens_finds_this_test_listening() {
    let me = std::process::id();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (pid, command) = who_listens(addr).expect("found");
    assert_eq!(pid, me);
    let exe = std::env::current_exe().expect("exe");
    let exe_name = exe.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(command.contains(exe_name), "{command}");

    let wildcard = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = wildcard.local_addr().expect("addr").port();
    let via_wildcard = who_listens(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(via_wildcard.map(|(pid, _)| pid), Some(me));

    drop(listener);
    assert_eq!(who_listens(addr), None);
}

#[test]
fn the_supervisor_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let supervisor = Supervisor::new(SupervisorOptions::default());
    send_sync(&supervisor);
    let shutdown = supervisor.shutdown();
    send(&shutdown);
}
