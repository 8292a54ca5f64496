//! Rules for networking.istio.io kinds.

pub mod destination_rule;
pub mod envoy_filter;
pub mod gateway;
pub mod service_entry;
pub mod sidecar;
pub mod virtual_service;
pub mod workload;
