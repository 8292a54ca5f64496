//! Validation of single objects (and the few rules Istio's webhook applies across objects of a
//! namespace), with the semantics of Istio's validating webhook and stricter where Istio
//! silently ignores a mistake. Every problem names the field path.
//!
//! This crate owns *whether an object is acceptable*. It does not load files (`weft-config`),
//! relate objects to each other beyond the webhook's rules (`weft-analyze`), or do any I/O.

mod check;
pub mod common;
mod kube;
mod networking;
mod security;

use weft_config::{Body, Object, Problem};

pub use check::Checker;

/// Validates one object.
pub fn validate_object(obj: &Object) -> Vec<Problem> {
    let mut c = Checker::new(obj);
    dispatch(&obj.body, &mut c);
    c.into_problems()
}

/// Validates every object and then the rules that look at several objects of one kind at once
/// (one Sidecar without a workload selector per namespace).
pub fn validate_all(objects: &[Object]) -> Vec<Problem> {
    let mut problems: Vec<Problem> = objects.iter().flat_map(validate_object).collect();
    problems.extend(networking::sidecar::check_namespace_defaults(objects));
    problems
}

fn dispatch(body: &Body, c: &mut Checker) {
    use networking as n;
    use security as s;
    match body {
        Body::VirtualService(b) => n::virtual_service::check(&b.spec, c),
        Body::DestinationRule(b) => n::destination_rule::check(&b.spec, c),
        Body::Gateway(b) => n::gateway::check(&b.spec, c),
        Body::ServiceEntry(b) => n::service_entry::check(&b.spec, c),
        Body::Sidecar(b) => n::sidecar::check(&b.spec, c),
        Body::WorkloadEntry(b) => n::workload::check_entry(&b.spec, c),
        Body::WorkloadGroup(b) => n::workload::check_group(&b.spec, c),
        Body::EnvoyFilter(b) => n::envoy_filter::check(&b.spec, c),
        Body::PeerAuthentication(b) => s::peer_authentication::check(&b.spec, c),
        Body::RequestAuthentication(b) => s::request_authentication::check(&b.spec, c),
        Body::AuthorizationPolicy(b) => s::authorization_policy::check(&b.spec, c),
        Body::Telemetry(b) => s::telemetry::check(&b.spec, c),
        Body::Service(b) => kube::check_service(b, c),
        Body::Pod(b) => kube::check_pod(b, c),
        Body::Deployment(b) => kube::check_deployment(b, c),
        Body::Namespace(_)
        | Body::ReplicaSet(_)
        | Body::Secret(_)
        | Body::ConfigMap(_)
        | Body::ServiceAccount(_)
        | Body::EndpointSlice(_)
        | Body::MutatingWebhookConfiguration(_)
        | Body::Unknown(_) => {}
    }
}
