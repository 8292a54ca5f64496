//! The analyzers, one per file. Each is a small pure function of the [`Context`] returning the
//! messages it finds; [`all`] lists them in the order `weft analyze -L` shows.

use crate::context::Context;
use crate::message::Message;

mod annotations;
mod application_uid;
mod authz_policies;
mod deployment_services;
mod dr_ca_certificates;
mod dr_hosts;
mod gateway_certificates;
mod gateway_conflicts;
mod gateway_ports;
mod gateway_secrets;
mod injection;
mod port_names;
mod routes;
mod schema;
mod se_addresses;
mod selectors;
mod sidecar_default_selector;
mod sidecar_selector;
mod telemetry_selector;
mod vs_destinations;
mod vs_gateways;
mod vs_mesh_hosts;
mod vs_regexes;
mod vs_rules;
mod vs_subsets;

/// One check over the whole snapshot.
pub trait Analyzer: Send + Sync {
    /// `virtualservice.DestinationHostAnalyzer` (Istio's name where Istio has one).
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn run(&self, ctx: &Context) -> Vec<Message>;
}

/// Every analyzer, sorted by name.
pub fn all() -> Vec<Box<dyn Analyzer>> {
    let mut all: Vec<Box<dyn Analyzer>> = vec![
        Box::new(annotations::K8sAnnotations),
        Box::new(application_uid::ApplicationUid),
        Box::new(authz_policies::AuthorizationPolicies),
        Box::new(deployment_services::DeploymentServices),
        Box::new(dr_ca_certificates::CaCertificates),
        Box::new(dr_hosts::DestinationRuleHosts),
        Box::new(gateway_certificates::GatewayCertificates),
        Box::new(gateway_conflicts::ConflictingGateways),
        Box::new(gateway_ports::GatewayPorts),
        Box::new(gateway_secrets::GatewaySecrets),
        Box::new(injection::Injection),
        Box::new(port_names::PortNames),
        Box::new(schema::Schema),
        Box::new(se_addresses::ServiceEntryAddresses),
        Box::new(sidecar_default_selector::SidecarDefaultSelector),
        Box::new(sidecar_selector::SidecarSelector),
        Box::new(telemetry_selector::TelemetrySelector),
        Box::new(vs_destinations::DestinationHosts),
        Box::new(vs_gateways::VsGateways),
        Box::new(vs_mesh_hosts::MeshGatewayHosts),
        Box::new(vs_regexes::Regexes),
        Box::new(vs_rules::UnreachableRules),
        Box::new(vs_subsets::DestinationSubsets),
    ];
    all.sort_by_key(|a| a.name());
    all
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = super::all().iter().map(|a| a.name()).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
