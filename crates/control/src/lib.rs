//! weft's control plane (istiod's job): serves Envoy xDS v3 over ADS to sidecars and gateways,
//! debounces configuration changes into pushes, and exposes debug endpoints and metrics.
//!
//! This crate owns *serving*: streams, versions, nonces, ACK/NACK bookkeeping, push scheduling
//! and the debug HTTP server. What each proxy receives is decided by `weft-translate`; which
//! objects are accepted by `weft-store`. It never reads files itself.

pub mod ads;
mod connection;
mod delta;
mod diffs;
mod intern;
pub mod metrics;
pub mod node;
pub mod push;
mod request;
pub mod resources;
pub mod status;
mod wire;

pub use ads::{AdsOptions, AdsServer};
pub use metrics::Metrics;
pub use push::{Generator, Push, PushReason, StaticGenerator};
pub use resources::{ProxyResources, TypedResources};
pub use status::SyncStatus;
pub mod debounce;
pub mod debug;
pub mod generator;
pub mod pipeline;
pub mod server;
