//! A directory of YAML/JSON files as a configuration source, polled for changes.
//!
//! Polling (every second by default) rather than inotify keeps the source correct on every
//! file system, including bind mounts and ConfigMap volumes whose symlink swaps inotify
//! misreports; each poll only stats the files and reads the changed ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::debug;
use weft_config::{LoadOptions, Problem, load_paths};

use crate::source::{Batch, ConfigSource, SourceEvent};

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// Every configuration file below a directory, recursively.
#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    interval: Duration,
    options: LoadOptions,
    known: BTreeMap<PathBuf, Stamp>,
    dir_error: Option<String>,
}

impl FileSource {
    pub fn new(dir: impl Into<PathBuf>, interval: Duration, options: LoadOptions) -> Self {
        FileSource {
            dir: dir.into(),
            interval,
            options,
            known: BTreeMap::new(),
            dir_error: None,
        }
    }

    fn key(path: &Path) -> Arc<str> {
        format!("file:{}", path.display()).into()
    }

    /// Looks at the directory once and returns what changed since the last look.
    pub fn scan(&mut self) -> Vec<SourceEvent> {
        let mut events = Vec::new();
        let files = match weft_config::load::config_files_in(&self.dir) {
            Ok(files) => {
                if self.dir_error.take().is_some() {
                    events.push(SourceEvent::Remove(Self::key(&self.dir)));
                }
                files
            }
            Err(e) => {
                // Keep serving what was read before; report the directory itself.
                let message = format!("cannot read directory: {e}");
                if self.dir_error.as_deref() != Some(&message) {
                    let file: Arc<str> = self.dir.display().to_string().into();
                    events.push(SourceEvent::Upsert(Batch {
                        key: Self::key(&self.dir),
                        objects: Vec::new(),
                        problems: vec![Problem::error(file, 0, message.clone())],
                    }));
                    self.dir_error = Some(message);
                }
                return events;
            }
        };
        let mut seen = BTreeMap::new();
        for path in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
            };
            if self.known.get(&path) != Some(&stamp) {
                events.push(SourceEvent::Upsert(self.load(&path)));
            }
            seen.insert(path, stamp);
        }
        for gone in self.known.keys().filter(|p| !seen.contains_key(*p)) {
            events.push(SourceEvent::Remove(Self::key(gone)));
        }
        self.known = seen;
        events
    }

    fn load(&self, path: &Path) -> Batch {
        let loaded = load_paths(&[path.to_path_buf()], &self.options);
        Batch {
            key: Self::key(path),
            objects: loaded.objects,
            problems: loaded.problems,
        }
    }
}

impl ConfigSource for FileSource {
    fn name(&self) -> String {
        format!("file:{}", self.dir.display())
    }

    fn run(mut self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> tokio::task::JoinHandle<()> {
        tokio::task::spawn_blocking(move || {
            let mut first = true;
            loop {
                for event in self.scan() {
                    if tx.blocking_send(event).is_err() {
                        return;
                    }
                }
                if std::mem::take(&mut first) && tx.blocking_send(SourceEvent::Synced).is_err() {
                    return;
                }
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(self.interval);
                debug!(dir = %self.dir.display(), "polling");
            }
        })
    }
}
