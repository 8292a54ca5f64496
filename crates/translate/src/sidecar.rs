//! Everything a sidecar gets: outbound listeners, routes and clusters for the services in its
//! Sidecar scope, and the inbound side for the ports its workload serves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use weft_config::model::mesh::OutboundTrafficMode;
use weft_config::model::networking::OutboundTrafficPolicyMode;
use weft_registry::{EgressScope, Endpoint, Protocol, Service};
use weft_xds::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, RouteConfiguration, VirtualHost, route, route_action,
};

use crate::cluster::{inbound_cluster, outbound_clusters, special_clusters};
use crate::context::Context;
use crate::http_route::{RouteScope, default_route, routes};
use crate::listener::{self, Routes};
use crate::pbutil::{boolv, duration};
use crate::security::{self, mtls};
use crate::view::{Capture, InboundPort, ProxyView};
use crate::{Resources, names};
use weft_xds::pb::envoy::config::listener::v3::Filter;

fn fallback(ctx: &Context, view: &ProxyView) -> &'static str {
    let sidecar_mode = ctx
        .sidecar(&view.namespace, &view.labels)
        .and_then(|s| s.spec.outbound_traffic_policy.as_ref())
        .and_then(|p| p.mode);
    let registry_only = match sidecar_mode {
        Some(m) => m == OutboundTrafficPolicyMode::RegistryOnly,
        None => ctx.mesh.outbound_traffic_mode() == OutboundTrafficMode::RegistryOnly,
    };
    if registry_only {
        names::BLACKHOLE_CLUSTER
    } else {
        names::PASSTHROUGH_CLUSTER
    }
}

/// The services a sidecar is configured for.
pub fn scoped_services<'a>(ctx: &'a Context, view: &ProxyView) -> Vec<&'a Arc<Service>> {
    let scope = match ctx.sidecar(&view.namespace, &view.labels) {
        Some(s) => EgressScope::from_sidecar(&s.spec, &view.namespace),
        None => EgressScope::all(&view.namespace),
    };
    scope.services(&ctx.registry)
}

/// Clusters and endpoints for `services` as `view` sees them.
pub fn clusters_and_endpoints(
    ctx: &Context,
    services: &[&Arc<Service>],
    view: &ProxyView,
    out: &mut Resources,
) {
    out.clusters.extend(special_clusters(ctx));
    for s in services {
        let mut by_port: BTreeMap<u32, Vec<&Endpoint>> = BTreeMap::new();
        for p in &s.ports {
            by_port.insert(p.port, ctx.registry.endpoints(s, p.port).collect());
        }
        for (cluster, eds) in outbound_clusters(ctx, s, view, &by_port) {
            out.endpoints.extend(eds);
            out.clusters.push(cluster);
        }
    }
}

pub fn generate(ctx: &Context, view: &ProxyView) -> Resources {
    let mut out = Resources::default();
    let services = scoped_services(ctx, view);
    clusters_and_endpoints(ctx, &services, view, &mut out);
    if view.proxyless {
        crate::proxyless::generate(ctx, view, &services, &mut out);
        return out;
    }
    let fallback = fallback(ctx, view);
    if let Capture::None { ip, .. } = view.capture {
        crate::no_capture::listeners(ctx, view, ip, &services, fallback, &mut out);
        return out;
    }
    out.listeners.push(listener::virtual_outbound(fallback));
    outbound_listeners(ctx, view, &services, fallback, &mut out);
    inbound(ctx, view, &mut out);
    out
}

fn outbound_listeners(
    ctx: &Context,
    view: &ProxyView,
    services: &[&Arc<Service>],
    fallback: &str,
    out: &mut Resources,
) {
    let mut http_ports: BTreeMap<u32, Vec<&Arc<Service>>> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for s in services {
        for p in &s.ports {
            if p.protocol.is_http() {
                http_ports.entry(p.port).or_default().push(s);
                continue;
            }
            let address = s
                .addresses
                .first()
                .filter(|a| !a.contains('/'))
                .map(String::as_str)
                .unwrap_or(names::WILDCARD);
            let name = names::listener(address, p.port);
            if !taken.insert(name) {
                continue; // first service on an address and port wins, as in Istio
            }
            let filter = crate::tcp_route::tcp_filter(ctx, view, s, p.port);
            out.listeners
                .push(listener::outbound(address, p.port, filter));
        }
    }
    for (port, svcs) in http_ports {
        let name = names::listener(names::WILDCARD, port);
        if !taken.insert(name.clone()) {
            continue;
        }
        let filter = listener::http_connection_manager(
            ctx,
            &name,
            Routes::Rds(port.to_string()),
            false,
            vec![],
        );
        out.listeners
            .push(listener::outbound(names::WILDCARD, port, filter));
        out.routes
            .push(route_config(ctx, view, port, &svcs, fallback));
    }
}

fn route_config(
    ctx: &Context,
    view: &ProxyView,
    port: u32,
    services: &[&Arc<Service>],
    fallback: &str,
) -> RouteConfiguration {
    let mut virtual_hosts = virtual_hosts(ctx, view, port, services);
    virtual_hosts.push(catch_all(fallback));
    RouteConfiguration {
        name: port.to_string(),
        virtual_hosts,
        validate_clusters: Some(boolv(false)),
        ..Default::default()
    }
}

/// One virtual host per service on `port`, with the routes of its VirtualService.
pub(crate) fn virtual_hosts(
    ctx: &Context,
    view: &ProxyView,
    port: u32,
    services: &[&Arc<Service>],
) -> Vec<VirtualHost> {
    let mut virtual_hosts = Vec::new();
    for s in services {
        let vs = ctx.virtual_service(&s.hostname, &view.namespace, "mesh");
        let scope = RouteScope {
            ctx,
            vs_namespace: vs.map(|v| v.namespace.as_str()).unwrap_or(&s.namespace),
            proxy_namespace: &view.namespace,
            proxy_labels: &view.labels,
            gateway: "mesh",
            port,
        };
        let mut rs = vs.map(|v| routes(&scope, &v.spec.http)).unwrap_or_default();
        if rs.is_empty() {
            rs.push(default_route(&scope, &s.hostname));
        }
        virtual_hosts.push(VirtualHost {
            name: format!("{}:{port}", s.hostname),
            domains: names::domains(
                &s.hostname,
                &s.namespace,
                &view.namespace,
                &s.addresses,
                port,
            ),
            routes: rs,
            include_request_attempt_count: true,
            ..Default::default()
        });
    }
    virtual_hosts
}

/// `allow_any` (to PassthroughCluster) or `block_all` (502) for hosts that are no service.
pub(crate) fn catch_all(fallback: &str) -> VirtualHost {
    let (name, action) = if fallback == names::PASSTHROUGH_CLUSTER {
        let action = RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(fallback.into())),
            timeout: Some(duration(std::time::Duration::ZERO)),
            ..Default::default()
        };
        ("allow_any", route::Action::Route(action))
    } else {
        let action = DirectResponseAction {
            status: 502,
            ..Default::default()
        };
        ("block_all", route::Action::DirectResponse(action))
    };
    VirtualHost {
        name: name.into(),
        domains: vec!["*".into()],
        routes: vec![Route {
            name: name.into(),
            r#match: Some(crate::matching::route_match(None)),
            action: Some(action),
            ..Default::default()
        }],
        include_request_attempt_count: true,
        ..Default::default()
    }
}

fn inbound(ctx: &Context, view: &ProxyView, out: &mut Resources) {
    let mut chains = Vec::new();
    for inst in inbound_ports(view) {
        let mode = mtls::peer_mode(ctx, &view.namespace, &view.labels, inst.port);
        let filters = inbound_filters(ctx, view, inst);
        let passthrough = inbound_tls_passthrough(ctx, view, inst.port);
        chains.extend(mtls::inbound_chains(mode, inst.port, filters, passthrough));
        out.clusters.push(inbound_cluster_for(ctx, view, inst));
    }
    out.listeners.push(listener::virtual_inbound(chains));
}

/// The ports the workload serves, each once.
pub(crate) fn inbound_ports(view: &ProxyView) -> Vec<&InboundPort> {
    let mut seen = BTreeSet::new();
    view.inbound
        .iter()
        .filter(|i| seen.insert(i.port))
        .collect()
}

pub(crate) fn inbound_cluster_for(
    ctx: &Context,
    view: &ProxyView,
    inst: &InboundPort,
) -> weft_xds::pb::envoy::config::cluster::v3::Cluster {
    let h2 = inst.protocol == Protocol::Grpc || inst.protocol == Protocol::Http2;
    inbound_cluster(ctx, view.capture.app_ip(), inst.port, h2)
}

/// For TLS that is not mesh mTLS on a PERMISSIVE port: network RBAC, then tcp_proxy.
pub(crate) fn inbound_tls_passthrough(ctx: &Context, view: &ProxyView, port: u32) -> Vec<Filter> {
    let cluster = names::inbound_cluster(port);
    let mut filters = security::network_filters(ctx, view, port);
    filters.push(listener::tcp_proxy_filter(&cluster, &cluster));
    filters
}

/// The network filters of an inbound port: network RBAC and tcp_proxy, or an HTTP connection
/// manager (with jwt_authn and RBAC), to `inbound|PORT||`.
pub(crate) fn inbound_filters(ctx: &Context, view: &ProxyView, inst: &InboundPort) -> Vec<Filter> {
    let cluster = names::inbound_cluster(inst.port);
    if !inst.protocol.is_http() {
        let mut filters = security::network_filters(ctx, view, inst.port);
        filters.push(listener::tcp_proxy_filter(&cluster, &cluster));
        return filters;
    }
    let rc = RouteConfiguration {
        name: cluster.clone(),
        virtual_hosts: vec![VirtualHost {
            name: format!("inbound|http|{}", inst.port),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "default".into(),
                r#match: Some(crate::matching::route_match(None)),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                        cluster.clone(),
                    )),
                    timeout: Some(duration(std::time::Duration::ZERO)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_clusters: Some(boolv(false)),
        ..Default::default()
    };
    let security = security::http_filters(ctx, view, Some(inst.port));
    vec![listener::http_connection_manager(
        ctx,
        &cluster,
        Routes::Inline(rc),
        false,
        security,
    )]
}
