//! The supervisor: starts processes, copies their output line by line with a `name | `
//! prefix, restarts them with back-off when they exit, and stops them all on shutdown.
//!
//! Each child runs in its own process group, so a signal to the group also reaches the
//! processes it started itself (a shell's children, worker processes). A program that cannot
//! be found or started is reported once and marked failed; the others keep running. A process
//! that exits is restarted (when its spec says so) after a delay that doubles from
//! `backoff_initial` up to `backoff_max` and returns to `backoff_initial` once a run lasted
//! 10 s. When the leader of a group exits, what is left of its group is killed, so a restart
//! never meets its predecessor's children still holding ports.
//!
//! Shutdown sends SIGTERM to every group, waits up to `grace` for them to be empty, sends
//! SIGKILL to what is left, and reaps every child. The group leader is reaped only after its
//! group is empty: until then the leader's zombie keeps the group id reserved, so the signals
//! cannot reach an unrelated group that reused the number.
//!
//! Processes that leave their group on purpose (`setsid`, daemons) are beyond its reach.

mod backoff;
mod child;
mod output;
mod procfs;
mod resolve;
mod signal;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use output::Output;
pub use procfs::who_listens;
pub use resolve::{SuperviseError, resolve_program};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Shown in front of every output line and in every message.
    pub name: String,
    /// A path (with a `/`) or a name looked up by [`resolve_program`].
    pub program: String,
    pub args: Vec<String>,
    /// Added to the supervisor's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Start it again when it exits.
    pub restart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorOptions {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long processes get between SIGTERM and SIGKILL at shutdown.
    pub grace: Duration,
    /// Color the `name |` prefixes.
    pub color: bool,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            color: false,
        }
    }
}

/// What a supervised process is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    /// Exited; starts again in `in_`.
    Restarting {
        in_: Duration,
    },
    /// Could not be started; not retried.
    Failed {
        reason: String,
    },
    /// Exited and not restarted; a death by signal N is code 128 + N, as in shells.
    Exited {
        code: i32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    pub name: String,
    /// The pid (also the process group id) while it runs.
    pub pid: Option<u32>,
    pub state: ProcessState,
    pub restarts: u32,
}

/// The state of a process as the tasks record it; `Restarting` keeps the deadline so that
/// [`Supervisor::status`] can tell how long is left.
#[derive(Debug, Clone)]
enum Recorded {
    Running,
    RestartingAt(Instant),
    Failed(String),
    Exited(i32),
}

#[derive(Debug)]
struct Entry {
    name: String,
    pid: Option<u32>,
    state: Recorded,
    restarts: u32,
}

/// What the supervisor and its tasks share.
#[derive(Debug)]
struct Shared {
    opts: SupervisorOptions,
    lines: Arc<output::Lines>,
    entries: Mutex<Vec<Entry>>,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        // The lock guards plain data updated in single assignments: still usable after a panic.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, slot: usize, f: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries().get_mut(slot) {
            f(entry);
        }
    }
}

/// Starts and watches processes; see the module doc.
#[derive(Debug)]
pub struct Supervisor {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shut_down: bool,
}

impl Supervisor {
    /// A supervisor writing to its own stdout and stderr.
    pub fn new(opts: SupervisorOptions) -> Self {
        Supervisor::with_output(opts, Output::stdio())
    }

    /// A supervisor writing children's lines and its messages to `output`.
    pub fn with_output(opts: SupervisorOptions, output: Output) -> Self {
        let lines = Arc::new(output::Lines::new(output, opts.color));
        Supervisor {
            shared: Arc::new(Shared {
                opts,
                lines,
                entries: Mutex::new(Vec::new()),
                stop: watch::channel(false).0,
            }),
            tasks: Mutex::new(Vec::new()),
            shut_down: false,
        }
    }

    /// Starts `spec` now and supervises it from a tokio task; a failure to start is reported
    /// and recorded as [`ProcessState::Failed`]. Must be called inside a tokio runtime.
    pub fn spawn(&self, spec: ProcessSpec) {
        let slot = {
            let mut entries = self.shared.entries();
            entries.push(Entry {
                name: spec.name.clone(),
                pid: None,
                state: Recorded::Running,
                restarts: 0,
            });
            entries.len() - 1
        };
        self.shared.lines.register(&spec.name);
        let supervised = child::Supervised::new(self.shared.clone(), slot, spec);
        if let Some(task) = supervised.start_and_watch() {
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
    }

    /// Every process spawned so far, in spawn order.
    pub fn status(&self) -> Vec<ProcessStatus> {
        let now = Instant::now();
        self.shared
            .entries()
            .iter()
            .map(|e| ProcessStatus {
                name: e.name.clone(),
                pid: e.pid,
                state: match &e.state {
                    Recorded::Running => ProcessState::Running,
                    Recorded::RestartingAt(at) => ProcessState::Restarting {
                        in_: at.saturating_duration_since(now),
                    },
                    Recorded::Failed(reason) => ProcessState::Failed {
                        reason: reason.clone(),
                    },
                    Recorded::Exited(code) => ProcessState::Exited { code: *code },
                },
                restarts: e.restarts,
            })
            .collect()
    }

    /// Stops every process (SIGTERM to its group, SIGKILL after `grace`) and returns once
    /// every child is reaped and every group is empty.
    pub async fn shutdown(mut self) {
        self.shared.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "supervisor task failed");
            }
        }
        self.shut_down = true;
    }
}

impl Drop for Supervisor {
    /// Dropped without [`Supervisor::shutdown`] (an error path, a panic): no time to be
    /// gentle, so every running group gets SIGKILL at once.
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        self.shared.stop.send_replace(true);
        for entry in self.shared.entries().iter() {
            if let (Some(pid), Recorded::Running) = (entry.pid, &entry.state) {
                let _ = signal::signal_group(pid, signal::Signal::Kill);
            }
        }
    }
}
