//! weft's service registry: the services of the mesh with Istio's host names
//! (`name.namespace.svc.cluster.local`) and their endpoints, built from ServiceEntry,
//! WorkloadEntry and the Kubernetes Services, EndpointSlices and Pods found in configuration;
//! plus the visibility rules (`exportTo`) and Sidecar egress scoping that decide which
//! services a proxy sees.
//!
//! This crate owns *what exists and who may see it*. It is pure: it is built from objects the
//! store accepted and does no I/O; it does not generate xDS.

mod build;
pub mod host;
pub mod model;
pub mod scope;

pub use host::{ExportTo, host_matches, resolve_short_name};
pub use model::{Endpoint, Protocol, Registry, Resolution, Service, ServicePort};
pub use scope::EgressScope;

/// Options for building a registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The cluster's DNS domain (`cluster.local`).
    pub domain: String,
    /// `defaultServiceExportTo` of the mesh config (`*` when empty).
    pub default_export_to: Vec<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            domain: "cluster.local".into(),
            default_export_to: Vec::new(),
        }
    }
}
