//! What `/debug/ads` shows: connection state and, per type, the last ACKed version, the last
//! nonce, the subscribed names and the last NACK.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct AdsStatus {
    pub server: String,
    pub connected: bool,
    /// Streams opened so far (reconnects are `connects - 1`).
    pub connects: u64,
    /// Keyed by type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TypeStatus {
    pub acked_version: String,
    pub nonce: String,
    pub resource_names: Vec<String>,
    pub last_nack: Option<Nack>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Nack {
    pub version: String,
    pub nonce: String,
    pub error: String,
}
