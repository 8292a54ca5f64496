//! Access-log writers: each target (stdout or a file) has one task that owns it, fed through
//! an unbounded channel so the request path never blocks on I/O.

use std::io::Write;

use tokio::sync::mpsc;
use weft_proxy_config::runtime::listener::LogTarget;

#[derive(Debug, Clone)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<String>,
}

impl LogWriter {
    pub fn write(&self, line: String) {
        let _ = self.tx.send(line);
    }
}

/// Starts the writer task for a target; `None` (with an error logged) if a file cannot be
/// opened.
pub fn open_writer(target: &LogTarget) -> Option<LogWriter> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut out: Box<dyn Write + Send> = match target {
        LogTarget::Stdout => Box::new(std::io::stdout()),
        LogTarget::File(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open access log");
                return None;
            }
        },
    };
    tokio::task::spawn_blocking(move || {
        while let Some(line) = rx.blocking_recv() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    });
    Some(LogWriter { tx })
}
