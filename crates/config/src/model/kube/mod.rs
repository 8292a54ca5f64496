//! The Kubernetes kinds a mesh looks at: core/v1 (Namespace, Service, Pod, Secret, ConfigMap,
//! ServiceAccount), apps/v1 (Deployment, ReplicaSet), discovery.k8s.io/v1 (EndpointSlice) and
//! admissionregistration.k8s.io/v1 (MutatingWebhookConfiguration).
//!
//! Each type is the object body without `apiVersion`, `kind` and `metadata`. The fields a mesh
//! reads are typed and unknown fields next to them are errors; large sub-trees a mesh never
//! reads (volumes, probes, affinity, tolerations, ...) are kept as opaque JSON so that objects
//! exported with `kubectl get -o yaml` load unchanged.

mod admission;
mod apps;
mod core;
mod discovery;
mod pod;

pub use admission::*;
pub use apps::*;
pub use core::*;
pub use discovery::*;
pub use pod::*;

#[cfg(test)]
mod tests;
