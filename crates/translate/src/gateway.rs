//! Everything a gateway (router) gets: listeners for the servers of the Gateways that select
//! it, routes from the VirtualServices bound to those Gateways, and clusters for every service
//! it can see.

use std::collections::BTreeMap;

use weft_config::model::networking::Server;
use weft_registry::{Protocol, host_matches};
use weft_xds::pb::envoy::config::route::v3::virtual_host::TlsRequirementType;
use weft_xds::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteConfiguration, VirtualHost, route,
};

use crate::context::Context;
use crate::gateway_tls;
use crate::http_route::{RouteScope, routes};
use crate::listener::{self, Routes};
use crate::pbutil::boolv;
use crate::sidecar::clusters_and_endpoints;
use crate::view::ProxyView;
use crate::{Resources, names};

/// A gateway server host: `ns/host` or `host` (any namespace).
fn server_host(h: &str) -> &str {
    h.split_once('/').map(|(_, host)| host).unwrap_or(h)
}

/// `tls.httpsRedirect` on a plain-text server: every request is redirected to HTTPS.
fn require_tls(server: &Server) -> i32 {
    let redirect = server.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
    if redirect {
        TlsRequirementType::All as i32
    } else {
        TlsRequirementType::None as i32
    }
}

pub fn generate(ctx: &Context, view: &ProxyView) -> Resources {
    let mut out = Resources::default();
    let services: Vec<_> = ctx
        .registry
        .services()
        .filter(|s| s.export_to.visible_to(&view.namespace))
        .collect();
    clusters_and_endpoints(ctx, &services, view, &mut out);
    // Port → (gateway `ns/name`, server) for the HTTP servers of the selecting Gateways.
    let mut ports: BTreeMap<u32, Vec<(String, &Server)>> = BTreeMap::new();
    let mut tls_ports: BTreeMap<u32, Vec<(String, &Server)>> = BTreeMap::new();
    for gw in ctx.gateways_for(&view.labels) {
        let key = format!("{}/{}", gw.namespace, gw.name);
        for server in &gw.spec.servers {
            let Some(port) = server.port.as_ref() else {
                continue;
            };
            let protocol = Protocol::parse(port.protocol.as_deref().unwrap_or(""));
            let Some(number) = port.number else { continue };
            if gateway_tls::is_tls_server(server) {
                tls_ports
                    .entry(number)
                    .or_default()
                    .push((key.clone(), server));
            } else if protocol.is_http() {
                ports.entry(number).or_default().push((key.clone(), server));
            }
        }
    }
    // A port is served either as plain HTTP or as TLS; plain HTTP servers win a conflict.
    tls_ports.retain(|port, _| !ports.contains_key(port));
    gateway_tls::generate(ctx, view, &tls_ports, &mut out);
    for (port, servers) in ports {
        let rds = names::gateway_route(port);
        let name = names::listener(names::WILDCARD, port);
        out.listeners.push(listener::gateway(
            port,
            listener::http_connection_manager(
                ctx,
                &name,
                Routes::Rds(rds.clone()),
                true,
                crate::security::http_filters(ctx, view, Some(port)),
            ),
        ));
        out.routes
            .push(route_config(ctx, view, port, rds, &servers));
    }
    out
}

pub(crate) fn route_config(
    ctx: &Context,
    view: &ProxyView,
    port: u32,
    name: String,
    servers: &[(String, &Server)],
) -> RouteConfiguration {
    let mut virtual_hosts: Vec<VirtualHost> = Vec::new();
    for (gateway, server) in servers {
        for vs in ctx.gateway_virtual_services(gateway) {
            for host in &vs.spec.hosts {
                let matches = server.hosts.iter().any(|h| {
                    let h = server_host(h);
                    host_matches(h, host) || host_matches(host, h)
                });
                let vh_name = format!("{host}:{port}");
                if !matches || virtual_hosts.iter().any(|v| v.name == vh_name) {
                    continue;
                }
                let scope = RouteScope {
                    ctx,
                    vs_namespace: &vs.namespace,
                    proxy_namespace: &view.namespace,
                    proxy_labels: &view.labels,
                    gateway,
                    port,
                };
                virtual_hosts.push(VirtualHost {
                    name: vh_name,
                    domains: vec![host.clone(), format!("{host}:*")],
                    routes: routes(&scope, &vs.spec.http),
                    require_tls: require_tls(server),
                    include_request_attempt_count: true,
                    ..Default::default()
                });
            }
        }
    }
    if virtual_hosts.is_empty() {
        virtual_hosts.push(VirtualHost {
            name: format!("blackhole:{port}"),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "default".into(),
                r#match: Some(crate::matching::route_match(None)),
                action: Some(route::Action::DirectResponse(DirectResponseAction {
                    status: 404,
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    RouteConfiguration {
        name,
        virtual_hosts,
        validate_clusters: Some(boolv(false)),
        ..Default::default()
    }
}
