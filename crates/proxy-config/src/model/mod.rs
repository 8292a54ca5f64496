//! serde mirror of the Envoy v3 subset weft accepts, in Envoy's JSON field names.
//!
//! This one model is read from bootstrap files (serde, with `deny_unknown_fields` so an
//! unsupported field is an error rather than silently ignored), filled from xDS protobufs
//! (`crate::from_pb`), and written back out for `/config_dump`.

pub mod bootstrap;
pub mod cluster;
pub mod core;
pub mod filters;
pub mod http;
pub mod jwt;
pub mod listener;
pub mod rbac;
pub mod route;
pub mod tls;

pub use bootstrap::Bootstrap;
pub use cluster::Cluster;
pub use listener::Listener;
pub use route::RouteConfiguration;
