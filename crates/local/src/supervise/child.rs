//! One supervised process: its start, the watch for its exit and restart, and its stop at
//! shutdown. Every wait is bounded, so a task always ends once shutdown has been asked for.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backoff::{AT_ONCE, Backoff};
use super::output::{Stream, pump};
use super::procfs::live_group_members;
use super::resolve::{SuperviseError, resolve_program};
use super::signal::{Signal, signal_group, signal_process};
use super::{ProcessSpec, Recorded, Shared};

/// How often a group is checked for live members while waiting for it to stop.
const GROUP_POLL: Duration = Duration::from_millis(25);
/// How long SIGKILL may take to empty a group (processes stuck in the kernel take a while).
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How long output still in the pipes may take to be copied once a process is gone.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

pub(super) struct Supervised {
    shared: Arc<Shared>,
    slot: usize,
    spec: ProcessSpec,
    backoff: Backoff,
    stop: watch::Receiver<bool>,
}

/// A started process.
struct Running {
    child: Child,
    /// Also its process group id.
    pid: u32,
    started: Instant,
    pumps: Vec<JoinHandle<()>>,
}

impl Supervised {
    pub(super) fn new(shared: Arc<Shared>, slot: usize, spec: ProcessSpec) -> Self {
        let backoff = Backoff::new(shared.opts.backoff_initial, shared.opts.backoff_max);
        let stop = shared.stop.subscribe();
        Supervised {
            shared,
            slot,
            spec,
            backoff,
            stop,
        }
    }

    /// Starts the process now; when that worked, a task watching it from then on.
    pub(super) fn start_and_watch(mut self) -> Option<JoinHandle<()>> {
        let running = self.start()?;
        Some(tokio::spawn(self.watch(running)))
    }

    fn start(&mut self) -> Option<Running> {
        match self.try_start() {
            Ok(running) => {
                tracing::info!(name = %self.spec.name, pid = running.pid, "started");
                let pid = running.pid;
                self.shared.update(self.slot, |e| {
                    e.pid = Some(pid);
                    e.state = Recorded::Running;
                });
                Some(running)
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(name = %self.spec.name, %reason, "cannot start");
                self.shared.lines.message(&self.spec.name, &reason);
                self.shared.update(self.slot, |e| {
                    e.pid = None;
                    e.state = Recorded::Failed(reason);
                });
                None
            }
        }
    }

    fn try_start(&self) -> Result<Running, SuperviseError> {
        let spec = &self.spec;
        let program = resolve_program(&spec.program)?;
        let mut command = Command::new(&program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &spec.cwd {
            // Checked here because a missing directory makes spawn fail with ENOENT, which
            // would read as a missing program.
            if let Err(source) = std::fs::read_dir(dir) {
                return Err(SuperviseError::WorkingDir {
                    program: spec.program.clone(),
                    dir: dir.clone(),
                    source,
                });
            }
            command.current_dir(dir);
        }
        let start_error = |source| SuperviseError::Start {
            program: spec.program.clone(),
            source,
        };
        let mut child = command.spawn().map_err(start_error)?;
        let pid = child
            .id()
            .ok_or_else(|| start_error(std::io::Error::other("exited before its pid was known")))?;
        let pumps = self.pump_output(&mut child);
        Ok(Running {
            child,
            pid,
            started: Instant::now(),
            pumps,
        })
    }

    /// Tasks copying the child's stdout and stderr to the supervisor's.
    fn pump_output(&self, child: &mut Child) -> Vec<JoinHandle<()>> {
        let lines = &self.shared.lines;
        let name = &self.spec.name;
        let mut pumps = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            let copy = pump(out, lines.clone(), name.clone(), self.slot, Stream::Stdout);
            pumps.push(tokio::spawn(copy));
        }
        if let Some(err) = child.stderr.take() {
            let copy = pump(err, lines.clone(), name.clone(), self.slot, Stream::Stderr);
            pumps.push(tokio::spawn(copy));
        }
        pumps
    }

    async fn watch(mut self, mut running: Running) {
        loop {
            let exited = tokio::select! {
                status = running.child.wait() => Some(status),
                _ = self.stop.wait_for(|stop| *stop) => None,
            };
            let Some(status) = exited else {
                self.terminate(running).await;
                return;
            };
            let ran = running.started.elapsed();
            self.kill_leftovers(running.pid);
            drain(running.pumps).await;
            let (code, how) = match status {
                Ok(status) => describe(status, ran < AT_ONCE),
                Err(e) => (-1, format!("could not be waited for: {e}")),
            };
            if !self.spec.restart {
                self.shared.lines.message(&self.spec.name, &how);
                self.shared.update(self.slot, |e| {
                    e.pid = None;
                    e.state = Recorded::Exited(code);
                });
                return;
            }
            let delay = self.backoff.after_run(ran);
            let message = format!("{how}; restarting in {delay:?}");
            self.shared.lines.message(&self.spec.name, &message);
            tracing::warn!(name = %self.spec.name, code, ?delay, "exited; restarting");
            let at = Instant::now() + delay;
            self.shared.update(self.slot, |e| {
                e.pid = None;
                e.state = Recorded::RestartingAt(at);
            });
            let stopped = tokio::select! {
                () = tokio::time::sleep(delay) => false,
                _ = self.stop.wait_for(|stop| *stop) => true,
            };
            if stopped {
                self.shared
                    .update(self.slot, |e| e.state = Recorded::Exited(code));
                return;
            }
            running = match self.start() {
                Some(running) => running,
                None => return,
            };
            self.shared.update(self.slot, |e| e.restarts += 1);
        }
    }

    /// After the group leader exited on its own: its group dies with it.
    fn kill_leftovers(&self, pgid: u32) {
        let leftovers = live_group_members(pgid);
        if leftovers.is_empty() {
            return;
        }
        for pid in &leftovers {
            let _ = signal_process(*pid, Signal::Kill);
        }
        let message = format!(
            "killed {} process(es) its group left behind",
            leftovers.len()
        );
        self.shared.lines.message(&self.spec.name, &message);
    }

    /// SIGTERM to the group, SIGKILL after the grace period, then reap. The leader is reaped
    /// last so that its group id stays reserved while signals are sent to it.
    async fn terminate(&self, mut running: Running) {
        let (name, pgid) = (&self.spec.name, running.pid);
        let _ = signal_group(pgid, Signal::Term);
        if !group_gone_within(pgid, self.shared.opts.grace).await {
            tracing::warn!(%name, pid = pgid, "still running after the grace period; killing");
            let _ = signal_group(pgid, Signal::Kill);
            if !group_gone_within(pgid, KILL_WAIT).await {
                tracing::error!(%name, pid = pgid, "processes survived SIGKILL");
            }
        }
        let code = match tokio::time::timeout(KILL_WAIT, running.child.wait()).await {
            Ok(Ok(status)) => describe(status, false).0,
            _ => -1,
        };
        drain(running.pumps).await;
        tracing::info!(%name, pid = pgid, code, "stopped");
        self.shared.update(self.slot, |e| {
            e.pid = None;
            e.state = Recorded::Exited(code);
        });
    }
}

/// Whether the group `pgid` has no live member within `within`.
async fn group_gone_within(pgid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if live_group_members(pgid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Lets the output pumps copy what is left in the pipes; a pipe still held open by an escaped
/// process is abandoned after a while.
async fn drain(pumps: Vec<JoinHandle<()>>) {
    for mut pump in pumps {
        if tokio::time::timeout(DRAIN_WAIT, &mut pump).await.is_err() {
            pump.abort();
        }
    }
}

/// The exit code (128 + N for signal N, as shells report it) and how the process ended.
fn describe(status: ExitStatus, at_once: bool) -> (i32, String) {
    let at_once = if at_once { " at once" } else { "" };
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("exited{at_once} with status {code}")),
        (None, Some(signal)) => (
            128 + signal,
            format!("was killed{at_once} by signal {signal}"),
        ),
        (None, None) => (-1, format!("exited{at_once} ({status})")),
    }
}
