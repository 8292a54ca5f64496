//! weft's configuration store: accepts objects from [`ConfigSource`]s, validates every change
//! with `weft-validate`, and publishes an immutable [`ConfigSnapshot`] of the accepted objects
//! through a `tokio::sync::watch` channel.
//!
//! An invalid object is rejected and listed with its problems, and the last accepted version of
//! it keeps being served; a file that does not parse keeps all of its last accepted objects.
//! This crate owns *which objects are in force*. It does not translate them, relate them to
//! each other beyond validation, or serve anything.

pub mod file;
pub mod snapshot;
pub mod source;
pub mod store;

pub use file::FileSource;
pub use snapshot::{ConfigSnapshot, ObjectKey, Rejected};
pub use source::{Batch, ConfigSource, SourceEvent};
pub use store::Store;
