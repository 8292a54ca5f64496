//! VirtualService TCP routes → the `tcp_proxy` of an outbound TCP listener.

use weft_config::model::networking::L4MatchAttributes;
use weft_registry::Service;
use weft_xds::pb::envoy::config::listener::v3::Filter;
use weft_xds::pb::envoy::extensions::filters::network::tcp_proxy::v3::tcp_proxy::{
    self, WeightedCluster, weighted_cluster::ClusterWeight,
};

use crate::context::{Context, labels_subset, qualify_gateway};
use crate::http_route::RouteScope;
use crate::listener::{tcp_proxy_filter, tcp_proxy_with};
use crate::names;
use crate::view::ProxyView;

fn applies(m: &L4MatchAttributes, scope: &RouteScope<'_>) -> bool {
    m.port.is_none_or(|p| p == scope.port)
        && labels_subset(&m.source_labels, scope.proxy_labels)
        && m.source_namespace
            .as_deref()
            .is_none_or(|ns| ns == scope.proxy_namespace)
        && (m.gateways.is_empty()
            || m.gateways
                .iter()
                .any(|g| qualify_gateway(g, scope.vs_namespace) == "mesh"))
}

/// The `tcp_proxy` for `service:port`: the first applicable TCP route of its VirtualService,
/// else its default cluster.
pub fn tcp_filter(ctx: &Context, view: &ProxyView, service: &Service, port: u32) -> Filter {
    let default = names::outbound_cluster(port, "", &service.hostname);
    let Some(vs) = ctx.virtual_service(&service.hostname, &view.namespace, "mesh") else {
        return tcp_proxy_filter(&default, &default);
    };
    let scope = RouteScope {
        ctx,
        vs_namespace: &vs.namespace,
        proxy_namespace: &view.namespace,
        proxy_labels: &view.labels,
        gateway: "mesh",
        port,
    };
    let route = vs
        .spec
        .tcp
        .iter()
        .find(|r| r.r#match.is_empty() || r.r#match.iter().any(|m| applies(m, &scope)));
    let dests: Vec<_> = route
        .map(|r| {
            r.route
                .iter()
                .filter_map(|d| Some((d.destination.as_ref()?, d.weight)))
                .collect()
        })
        .unwrap_or_default();
    let specifier = match dests.as_slice() {
        [] => tcp_proxy::ClusterSpecifier::Cluster(default.clone()),
        [(d, _)] => tcp_proxy::ClusterSpecifier::Cluster(scope.cluster_for(d)),
        _ => tcp_proxy::ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: dests
                .iter()
                .map(|(d, w)| ClusterWeight {
                    name: scope.cluster_for(d),
                    weight: w.and_then(|w| u32::try_from(w).ok()).unwrap_or(0),
                    ..Default::default()
                })
                .collect(),
        }),
    };
    tcp_proxy_with(&default, specifier)
}
