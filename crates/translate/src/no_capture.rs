//! Listeners of a sidecar whose traffic is not captured (`INTERCEPTION_MODE: NONE`, as in
//! local mode): nothing redirects connections to 15001/15006, so every listener is bound on
//! the proxy's own address.
//!
//! - `IP_15080` (mesh `proxyHttpPort`, 15080 when unset): an HTTP proxy listener. The app sends
//!   its requests there (`HTTP_PROXY`), and the route configuration `http_proxy` routes them by
//!   authority (`reviews:9080`) over every HTTP service the proxy sees, like Istio's HTTP proxy
//!   listener. A host that is no service gets 502: without capture there is no original
//!   destination to pass through to.
//! - `IP_PORT` per TCP service port: tcp_proxy to that service (the first service on a port).
//! - `IP_PORT` per port the workload serves: to `inbound|PORT||` at the app's address.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use weft_registry::Service;
use weft_xds::pb::envoy::config::core::v3::TrafficDirection;
use weft_xds::pb::envoy::config::route::v3::RouteConfiguration;

use crate::context::Context;
use crate::listener::{self, Routes};
use crate::pbutil::boolv;
use crate::security::mtls;
use crate::sidecar::{
    catch_all, inbound_cluster_for, inbound_filters, inbound_ports, inbound_tls_passthrough,
    virtual_hosts,
};
use crate::view::ProxyView;
use crate::{Resources, names};

/// Istio's name for the HTTP proxy listener's route configuration.
pub const HTTP_PROXY_ROUTE: &str = "http_proxy";
/// The HTTP proxy port when the mesh config sets no `proxyHttpPort`.
pub const DEFAULT_HTTP_PROXY_PORT: u32 = 15080;

pub fn listeners(
    ctx: &Context,
    view: &ProxyView,
    ip: IpAddr,
    services: &[&Arc<Service>],
    _fallback: &str,
    out: &mut Resources,
) {
    let ip = ip.to_string();
    let mut taken = BTreeSet::new();
    for inst in inbound_ports(view) {
        taken.insert(inst.port);
        let mode = mtls::peer_mode(ctx, &view.namespace, &view.labels, inst.port);
        let passthrough = inbound_tls_passthrough(ctx, view, inst.port);
        let filters = inbound_filters(ctx, view, inst);
        let chains = mtls::inbound_chains(mode, inst.port, filters, passthrough);
        out.listeners.push(listener::bound_with_chains(
            &ip,
            inst.port,
            TrafficDirection::Inbound,
            chains,
        ));
        out.clusters.push(inbound_cluster_for(ctx, view, inst));
    }
    let http_port = ctx
        .mesh
        .proxy_http_port
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_HTTP_PROXY_PORT);
    taken.insert(http_port);
    for s in services {
        for p in s.ports.iter().filter(|p| !p.protocol.is_http()) {
            if !taken.insert(p.port) {
                continue;
            }
            let filter = crate::tcp_route::tcp_filter(ctx, view, s, p.port);
            out.listeners.push(listener::bound(
                &ip,
                p.port,
                TrafficDirection::Outbound,
                vec![filter],
            ));
        }
    }
    let name = names::listener(&ip, http_port);
    let filter = listener::http_connection_manager(
        ctx,
        &name,
        Routes::Rds(HTTP_PROXY_ROUTE.into()),
        false,
        vec![],
    );
    out.listeners.push(listener::bound(
        &ip,
        http_port,
        TrafficDirection::Outbound,
        vec![filter],
    ));
    out.routes.push(http_proxy_routes(ctx, view, services));
}

/// Every HTTP service port as a virtual host whose domains carry the port (port 80 also
/// without), so that one table can route any `host:port` authority.
fn http_proxy_routes(
    ctx: &Context,
    view: &ProxyView,
    services: &[&Arc<Service>],
) -> RouteConfiguration {
    let mut hosts = Vec::new();
    for s in services {
        for p in s.ports.iter().filter(|p| p.protocol.is_http()) {
            for mut vh in virtual_hosts(ctx, view, p.port, &[s]) {
                let suffix = format!(":{}", p.port);
                vh.domains.retain(|d| p.port == 80 || d.ends_with(&suffix));
                hosts.push(vh);
            }
        }
    }
    hosts.push(catch_all(names::BLACKHOLE_CLUSTER));
    RouteConfiguration {
        name: HTTP_PROXY_ROUTE.into(),
        virtual_hosts: hosts,
        validate_clusters: Some(boolv(false)),
        ..Default::default()
    }
}
