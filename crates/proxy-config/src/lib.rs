//! Pure conversion of Envoy v3 configuration (bootstrap files and xDS resources) into weft's
//! proxy runtime config, plus the pure decisions the data path makes with it: virtual-host and
//! route matching, filter-chain selection, load-balancer choice and access-log formatting.
//!
//! The bootstrap is read with serde types that mirror Envoy's JSON field names for the subset
//! weft supports (`model`), rather than a generic JSON→protobuf mapping: `envoy-types` ships no
//! descriptors or serde, and a hand-written subset with `deny_unknown_fields` turns every
//! unsupported field into a precise `FILE:LINE: field.path: reason` instead of silently dropping
//! it. xDS protobufs are converted into the same model (`from_pb`), so there is exactly one
//! model→runtime conversion, and `/config_dump` serialises the model back out.
//!
//! This crate does no I/O besides reading a bootstrap file and the PEM files that TLS contexts
//! and secrets name by `filename`, and never touches sockets or builds TLS state; it must not
//! depend on the control-plane crates.

pub mod access_log;
pub mod bootstrap;
pub mod error;
pub mod from_pb;
pub mod lb;
pub mod model;
pub mod runtime;

pub use error::ConfigError;
pub use runtime::Snapshot;
