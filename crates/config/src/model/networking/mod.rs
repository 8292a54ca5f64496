//! networking.istio.io: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar,
//! WorkloadEntry, WorkloadGroup and EnvoyFilter, field for field as in Istio's v1 API in YAML
//! (camelCase) form.
//!
//! Protobuf oneofs are structs whose alternatives are all optional, and required fields are
//! optional too, so that `weft-validate` can say which field is missing or in conflict rather
//! than decoding failing with a generic message. Enums are Istio's names; an unknown value
//! fails decoding with a "did you mean" hint.

pub mod common;
pub mod destination_rule;
pub mod envoy_filter;
pub mod gateway;
pub mod http_route;
pub mod service_entry;
pub mod sidecar;
pub mod traffic_policy;
pub mod virtual_service;
pub mod workload;

#[cfg(test)]
mod tests;

pub use common::*;
pub use destination_rule::*;
pub use envoy_filter::*;
pub use gateway::*;
pub use http_route::*;
pub use service_entry::*;
pub use sidecar::*;
pub use traffic_policy::*;
pub use virtual_service::*;
pub use workload::*;
