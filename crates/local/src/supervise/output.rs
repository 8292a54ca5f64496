//! Where the processes' output goes: every line of a child's stdout and stderr is written to
//! the supervisor's own stdout or stderr, prefixed `name | ` (names padded to one width and
//! colored per process when asked), and the supervisor's messages about a process go to its
//! stderr as `weft up: name: message`.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// A longer line is cut into pieces of this size, so a child cannot make the supervisor buffer
/// without bound.
const MAX_LINE: u64 = 64 * 1024;

/// ANSI foreground colors, given to processes in the order they are spawned.
const PALETTE: [u8; 12] = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91];

type Sink = Arc<Mutex<dyn Write + Send>>;

/// The two streams the supervisor writes to: its stdout and stderr by default, anything that
/// implements `Write` otherwise (tests, a log file).
#[derive(Clone)]
pub struct Output {
    stdout: Sink,
    stderr: Sink,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

impl Output {
    pub fn new(stdout: impl Write + Send + 'static, stderr: impl Write + Send + 'static) -> Self {
        Output {
            stdout: Arc::new(Mutex::new(stdout)),
            stderr: Arc::new(Mutex::new(stderr)),
        }
    }

    /// The supervisor's own stdout and stderr.
    pub fn stdio() -> Self {
        Output::new(std::io::stdout(), std::io::stderr())
    }
}

/// Which stream of a child a line came from; it goes to the same stream of the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Writes lines for the processes of one supervisor.
#[derive(Debug)]
pub(crate) struct Lines {
    output: Output,
    color: bool,
    /// The longest name spawned so far: the width prefixes are padded to.
    width: AtomicUsize,
}

impl Lines {
    pub(crate) fn new(output: Output, color: bool) -> Self {
        Lines {
            output,
            color,
            width: AtomicUsize::new(0),
        }
    }

    pub(crate) fn register(&self, name: &str) {
        self.width
            .fetch_max(name.chars().count(), Ordering::Relaxed);
    }

    /// One line of a child's output.
    pub(crate) fn child_line(&self, name: &str, slot: usize, stream: Stream, line: &str) {
        let width = self.width.load(Ordering::Relaxed);
        let text = if self.color {
            let color = PALETTE[slot % PALETTE.len()];
            format!("\x1b[{color}m{name:<width$} |\x1b[0m {line}\n")
        } else {
            format!("{name:<width$} | {line}\n")
        };
        let sink = match stream {
            Stream::Stdout => &self.output.stdout,
            Stream::Stderr => &self.output.stderr,
        };
        write_to(sink, &text);
    }

    /// A message of the supervisor about the process `name`.
    pub(crate) fn message(&self, name: &str, message: &str) {
        write_to(
            &self.output.stderr,
            &format!("weft up: {name}: {message}\n"),
        );
    }
}

fn write_to(sink: &Sink, text: &str) {
    // A poisoned lock only means another writer panicked mid-line; keep writing.
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    // Output that cannot be written (a closed terminal) must not stop supervision.
    let _ = sink.write_all(text.as_bytes()).and_then(|()| sink.flush());
}

/// Copies `reader` to `lines` line by line until end of file or a read error.
pub(crate) async fn pump(
    reader: impl AsyncRead + Unpin,
    lines: Arc<Lines>,
    name: String,
    slot: usize,
    stream: Stream,
) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                lines.child_line(&name, slot, stream, &String::from_utf8_lossy(line));
            }
        }
    }
}
