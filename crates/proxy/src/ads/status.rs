//! What `/debug/ads` shows: the protocol, connection state and, per type, the last ACKed
//! version, the last nonce, the subscribed names, the accepted resources with their versions,
//! what the last response carried and the last NACK.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct AdsStatus {
    /// `sotw` (`StreamAggregatedResources`) or `delta` (`DeltaAggregatedResources`).
    pub mode: String,
    pub server: String,
    pub connected: bool,
    /// Streams opened so far (reconnects are `connects - 1`).
    pub connects: u64,
    /// Keyed by type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TypeStatus {
    /// SotW: `version_info` of the last ACKed response; delta: its `system_version_info`.
    pub acked_version: String,
    pub nonce: String,
    /// Subscribed names (EDS, RDS); empty for the wildcard types.
    pub resource_names: Vec<String>,
    /// Accepted resources: name → version (SotW: the response version that brought it).
    pub resources: BTreeMap<String, String>,
    /// Responses received for this type, over all streams.
    pub responses: u64,
    /// Names the last delta response carried (empty in SotW).
    pub last_resources: Vec<String>,
    /// Names the last delta response removed (`removed_resources`).
    pub last_removed: Vec<String>,
    pub last_nack: Option<Nack>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Nack {
    pub version: String,
    pub nonce: String,
    pub error: String,
}
