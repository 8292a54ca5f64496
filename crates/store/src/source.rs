//! Where configuration comes from.
//!
//! A source groups objects into *batches* with a stable key: a file for the directory source,
//! one object for a Kubernetes watch. Each event replaces or removes one batch, so a source
//! never needs to know about the others.

use std::sync::Arc;

use tokio::sync::mpsc;
use weft_config::{Object, Problem};

/// The current content of one batch.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// `file:/path/to/file.yaml`, `kube:VirtualService/ns/name`, ...
    pub key: Arc<str>,
    pub objects: Vec<Object>,
    /// Problems found while reading the batch (syntax, unknown fields).
    pub problems: Vec<Problem>,
}

/// A change reported by a source.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// The batch was added or changed.
    Upsert(Batch),
    /// The batch is gone.
    Remove(Arc<str>),
    /// Everything the source had at start has been sent (the store waits for this from every
    /// source before its first snapshot counts as complete).
    Synced,
}

/// Something that reports configuration changes.
pub trait ConfigSource: Send + 'static {
    /// A short name for logs and `/debug/configz` (`file:/etc/weft`).
    fn name(&self) -> String;

    /// Runs until `tx` is closed: first every batch it has, then [`SourceEvent::Synced`], then
    /// each change as it happens.
    fn run(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> tokio::task::JoinHandle<()>;
}
