//! One VirtualService HTTP route → Envoy routes (one per match): destinations, redirect,
//! direct response, rewrite, headers, retries, timeout, fault, mirror, CORS, hash policy.

use std::collections::BTreeMap;

use weft_config::model::networking::{Destination, HttpMatchRequest, HttpRoute};
use weft_xds::pb::envoy::config::route::v3::{Route, RouteAction, route, route_action};
use weft_xds::pb::envoy::config::route::v3::{WeightedCluster, weighted_cluster::ClusterWeight};

use crate::context::{Context, labels_subset, qualify_gateway};
use crate::filters::{
    cors_policy, direct_response, fault_filter, headers, mirror_policies, redirect, retry_policy,
};
use crate::matching::route_match;
use crate::names;
use crate::pbutil::{duration, duration_of, u32v};

/// Where routes are generated for.
#[derive(Debug, Clone)]
pub struct RouteScope<'a> {
    pub ctx: &'a Context,
    /// Namespace of the VirtualService (destinations are resolved in it).
    pub vs_namespace: &'a str,
    pub proxy_namespace: &'a str,
    pub proxy_labels: &'a BTreeMap<String, String>,
    /// `mesh` or `ns/name` of the gateway.
    pub gateway: &'a str,
    /// The listener port (for destinations without a port, and `match.port`).
    pub port: u32,
}

impl RouteScope<'_> {
    /// Whether an Istio match can apply to this proxy and port.
    fn applies(&self, m: &HttpMatchRequest) -> bool {
        let port_ok = m.port.is_none_or(|p| p == self.port);
        let labels_ok =
            self.gateway != "mesh" || labels_subset(&m.source_labels, self.proxy_labels);
        let ns_ok = m
            .source_namespace
            .as_deref()
            .is_none_or(|ns| ns == self.proxy_namespace);
        let gw_ok = m.gateways.is_empty()
            || m.gateways
                .iter()
                .any(|g| qualify_gateway(g, self.vs_namespace) == self.gateway);
        port_ok && labels_ok && ns_ok && gw_ok
    }

    /// The cluster a destination names.
    pub fn cluster_for(&self, d: &Destination) -> String {
        let host = self
            .ctx
            .resolve(d.host.as_deref().unwrap_or_default(), self.vs_namespace);
        let service = self.ctx.registry.lookup(&host, self.proxy_namespace);
        let port = d
            .port
            .as_ref()
            .and_then(|p| p.number)
            .or_else(|| {
                service
                    .filter(|s| s.ports.len() == 1)
                    .map(|s| s.ports[0].port)
            })
            .unwrap_or(self.port);
        names::outbound_cluster(port, d.subset.as_deref().unwrap_or_default(), &host)
    }
}

/// Envoy routes for the HTTP routes of a VirtualService, in order.
pub fn routes(scope: &RouteScope<'_>, http: &[HttpRoute]) -> Vec<Route> {
    let mut out = Vec::new();
    for h in http {
        if h.r#match.is_empty() {
            out.push(route(scope, h, None));
            continue;
        }
        for m in h.r#match.iter().filter(|m| scope.applies(m)) {
            out.push(route(scope, h, Some(m)));
        }
    }
    out
}

/// The default route of a service without a VirtualService.
pub fn default_route(scope: &RouteScope<'_>, host: &str) -> Route {
    let cluster = names::outbound_cluster(scope.port, "", host);
    let destination = Destination {
        host: Some(host.to_string()),
        ..Default::default()
    };
    Route {
        name: "default".into(),
        r#match: Some(route_match(None)),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster)),
            timeout: Some(duration(std::time::Duration::ZERO)),
            retry_policy: retry_policy(&scope.ctx.mesh, None),
            hash_policy: crate::filters::hash_policy(scope, &destination),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn route(scope: &RouteScope<'_>, h: &HttpRoute, m: Option<&HttpMatchRequest>) -> Route {
    let name = match (h.name.as_deref(), m.and_then(|m| m.name.as_deref())) {
        (Some(r), Some(m)) => format!("{r}.{m}"),
        (Some(r), None) => r.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => String::new(),
    };
    let mut out = Route {
        name,
        r#match: Some(route_match(m)),
        ..Default::default()
    };
    // A single destination's headers apply to the whole route, like the route's own.
    let single = match h.route.as_slice() {
        [only] => only.headers.as_ref(),
        _ => None,
    };
    for hs in [h.headers.as_ref(), single].into_iter().flatten() {
        let ops = headers(hs);
        out.request_headers_to_add.extend(ops.request_add);
        out.request_headers_to_remove.extend(ops.request_remove);
        out.response_headers_to_add.extend(ops.response_add);
        out.response_headers_to_remove.extend(ops.response_remove);
    }
    out.action = Some(if let Some(r) = &h.redirect {
        route::Action::Redirect(redirect(r))
    } else if let Some(d) = &h.direct_response {
        route::Action::DirectResponse(direct_response(d))
    } else {
        route::Action::Route(route_action(scope, h))
    });
    if let Some(f) = &h.fault {
        out.typed_per_filter_config
            .insert("envoy.filters.http.fault".into(), fault_filter(f));
    }
    if let Some(c) = &h.cors_policy {
        out.typed_per_filter_config
            .insert("envoy.filters.http.cors".into(), cors_policy(c));
    }
    out
}

fn route_action(scope: &RouteScope<'_>, h: &HttpRoute) -> RouteAction {
    let mut action = RouteAction {
        timeout: Some(
            h.timeout
                .as_ref()
                .map(duration_of)
                .unwrap_or_else(|| duration(std::time::Duration::ZERO)),
        ),
        retry_policy: retry_policy(&scope.ctx.mesh, h.retries.as_ref()),
        request_mirror_policies: mirror_policies(scope, h),
        ..Default::default()
    };
    let dests: Vec<_> = h
        .route
        .iter()
        .filter_map(|r| Some((r.destination.as_ref()?, r)))
        .collect();
    action.cluster_specifier = Some(match dests.as_slice() {
        [(d, _)] => route_action::ClusterSpecifier::Cluster(scope.cluster_for(d)),
        [] => route_action::ClusterSpecifier::Cluster(names::BLACKHOLE_CLUSTER.into()),
        _ => route_action::ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: dests
                .iter()
                .map(|(d, r)| {
                    let ops = r.headers.as_ref().map(headers).unwrap_or_default();
                    ClusterWeight {
                        name: scope.cluster_for(d),
                        weight: Some(u32v(
                            r.weight.and_then(|w| u32::try_from(w).ok()).unwrap_or(0),
                        )),
                        request_headers_to_add: ops.request_add,
                        request_headers_to_remove: ops.request_remove,
                        response_headers_to_add: ops.response_add,
                        response_headers_to_remove: ops.response_remove,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        }),
    });
    if let [(d, _)] = dests.as_slice() {
        action.hash_policy = crate::filters::hash_policy(scope, d);
    }
    if let Some(rw) = &h.rewrite {
        if let Some(uri) = &rw.uri {
            action.prefix_rewrite = uri.clone();
        }
        if let Some(re) = &rw.uri_regex_rewrite {
            action.regex_rewrite = Some(
                weft_xds::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute {
                    pattern: Some(crate::matching::regex(
                        re.r#match.as_deref().unwrap_or_default(),
                    )),
                    substitution: re.rewrite.clone().unwrap_or_default(),
                },
            );
        }
        if let Some(a) = &rw.authority {
            action.host_rewrite_specifier = Some(
                route_action::HostRewriteSpecifier::HostRewriteLiteral(a.clone()),
            );
        }
    }
    action
}
