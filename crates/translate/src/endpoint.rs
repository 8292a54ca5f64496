//! EDS: ClusterLoadAssignments, endpoints grouped by locality and filtered by subset labels.

use std::collections::BTreeMap;

use weft_registry::Endpoint;
use weft_xds::pb::envoy::config::core::v3::HealthStatus;
use weft_xds::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};

use crate::context::labels_subset;
use crate::pbutil::{socket_address, u32v};
use crate::security::client_tls;

/// What shapes an assignment beyond its endpoints.
#[derive(Default)]
pub struct AssignmentOptions<'a> {
    /// Set when the cluster chooses its transport socket per endpoint (auto mTLS): the
    /// endpoints it accepts get `tlsMode: istio` socket-match metadata.
    pub takes_istio_mtls: Option<&'a dyn Fn(&Endpoint) -> bool>,
}

/// The assignment of `cluster`: the endpoints whose labels include `subset`.
pub fn load_assignment(
    cluster: &str,
    endpoints: &[&Endpoint],
    subset: &BTreeMap<String, String>,
    options: &AssignmentOptions<'_>,
) -> ClusterLoadAssignment {
    let mut by_locality: BTreeMap<Option<&str>, Vec<LbEndpoint>> = BTreeMap::new();
    for e in endpoints
        .iter()
        .filter(|e| labels_subset(subset, &e.labels))
    {
        let health = if e.healthy {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        let metadata = options
            .takes_istio_mtls
            .filter(|takes| takes(e))
            .map(|_| client_tls::istio_mtls_endpoint_metadata());
        let lb = LbEndpoint {
            metadata,
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(EnvoyEndpoint {
                address: Some(socket_address(&e.address, e.port)),
                ..Default::default()
            })),
            health_status: health as i32,
            load_balancing_weight: Some(u32v(e.weight.unwrap_or(1).max(1))),
        };
        by_locality
            .entry(e.locality.as_deref())
            .or_default()
            .push(lb);
    }
    ClusterLoadAssignment {
        cluster_name: cluster.to_string(),
        endpoints: by_locality
            .into_iter()
            .map(|(l, lb_endpoints)| {
                let weight = u32::try_from(lb_endpoints.len()).unwrap_or(u32::MAX);
                LocalityLbEndpoints {
                    locality: l.map(crate::locality::parse),
                    lb_endpoints,
                    load_balancing_weight: Some(u32v(weight)),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}
