//! What each connected proxy was sent and what it said back, for `/debug/syncz`.
//!
//! Connections update their entry under a short lock (never across an `.await`); the debug
//! endpoint takes a copy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;

/// A NACK: the version the proxy rejected and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nack {
    pub version: String,
    pub nonce: String,
    pub message: String,
}

/// Per connection, per type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TypeStatus {
    pub sent_version: Option<String>,
    pub sent_nonce: Option<String>,
    pub sent_resources: usize,
    pub acked_version: Option<String>,
    /// The last NACK, kept until a later version is ACKed.
    pub nacked: Option<Nack>,
    /// Names the proxy subscribed to (empty: all).
    pub subscribed: Arc<[String]>,
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionStatus {
    pub connection_id: String,
    pub node_id: String,
    pub kind: String,
    pub namespace: String,
    pub connected_at_unix: u64,
    /// The push version (see [`crate::push::Push::version`]) last sent.
    pub push_version: u64,
    /// Keyed by the short type name (`cds`, `eds`, `lds`, `rds`).
    pub types: BTreeMap<String, TypeStatus>,
}

impl ConnectionStatus {
    pub fn new(connection_id: String, node_id: String, kind: &str, namespace: &str) -> Self {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        ConnectionStatus {
            connection_id,
            node_id,
            kind: kind.into(),
            namespace: namespace.into(),
            connected_at_unix: now,
            push_version: 0,
            types: BTreeMap::new(),
        }
    }
}

/// Every live connection.
#[derive(Debug, Default)]
pub struct SyncStatus {
    connections: Mutex<BTreeMap<String, ConnectionStatus>>,
}

impl SyncStatus {
    pub fn new() -> Arc<Self> {
        Arc::new(SyncStatus::default())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ConnectionStatus>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, status: ConnectionStatus) {
        self.lock().insert(status.connection_id.clone(), status);
    }

    pub fn remove(&self, connection_id: &str) {
        self.lock().remove(connection_id);
    }

    /// Applies `f` to the entry of `connection_id`, if it is still there.
    pub fn update(&self, connection_id: &str, f: impl FnOnce(&mut ConnectionStatus)) {
        if let Some(entry) = self.lock().get_mut(connection_id) {
            f(entry);
        }
    }

    pub fn snapshot(&self) -> Vec<ConnectionStatus> {
        self.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
