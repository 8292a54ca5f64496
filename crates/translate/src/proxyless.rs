//! What a proxyless gRPC client (node metadata `GENERATOR=grpc`) is sent: no capture
//! listeners, but what gRPC's xDS resolver (`xds:///HOST:PORT`) asks for by name.
//!
//! - LDS `HOST:PORT` per port of every service in the proxy's scope: an `api_listener` whose
//!   HTTP connection manager takes RDS `HOST:PORT` and has only filters gRPC implements (fault,
//!   router). gRPC subscribes to the listener named exactly like its target, so the names are
//!   Istio's (`echo.default.svc.cluster.local:7070`).
//! - RDS `HOST:PORT`: the service's virtual host with its VirtualService routes, without the
//!   per-route configuration of filters gRPC does not have (CORS), which it would reject.
//! - CDS/EDS: the sidecar's clusters, adapted to what gRPC's xDS client accepts: only
//!   ROUND_ROBIN and RING_HASH load balancing (Istio's LEAST_REQUEST default becomes
//!   ROUND_ROBIN, MAGLEV becomes RING_HASH) and no transport sockets (gRPC's xDS TLS needs
//!   certificate providers in its bootstrap, which weft does not configure); EDS locality
//!   groups always carry a locality (gRPC rejects one without, Envoy reads it as empty).
//!
//! Generated for every service port rather than per requested name, so that proxies with the
//! same view still share one set of resources; the ADS server sends only the names a client
//! subscribes to.

use std::sync::Arc;

use weft_registry::{Resolution, Service};
use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::cluster::v3::cluster::{LbConfig, LbPolicy, RingHashLbConfig};
use weft_xds::pb::envoy::config::listener::v3::{ApiListener, Listener};
use weft_xds::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use weft_xds::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, Rds, http_connection_manager::RouteSpecifier,
};

use crate::context::Context;
use crate::listener::http_filter;
use crate::pbutil::{ads, any, boolv};
use crate::sidecar::virtual_hosts;
use crate::view::ProxyView;
use crate::{Resources, names};

/// The per-route filter configurations gRPC understands (A33 fault injection).
const GRPC_PER_ROUTE_FILTERS: [&str; 1] = ["envoy.filters.http.fault"];

/// Adds the api listeners and their routes for `services`, and adapts the clusters already
/// in `out` to gRPC.
pub fn generate(ctx: &Context, view: &ProxyView, services: &[&Arc<Service>], out: &mut Resources) {
    for cluster in &mut out.clusters {
        adapt_cluster(cluster);
    }
    for assignment in &mut out.endpoints {
        // gRPC rejects a locality group without a locality; Envoy reads a missing one as
        // the empty locality, so send that explicitly.
        for group in &mut assignment.endpoints {
            group.locality.get_or_insert_with(Default::default);
        }
    }
    for s in services {
        // An ORIGINAL_DST cluster has no addresses a gRPC client could use.
        if s.resolution == Resolution::Passthrough {
            continue;
        }
        for p in &s.ports {
            let name = names::api_listener(&s.hostname, p.port);
            out.listeners.push(api_listener(&name));
            let hosts = virtual_hosts(ctx, view, p.port, &[s])
                .into_iter()
                .map(without_unsupported_filters)
                .collect();
            out.routes.push(RouteConfiguration {
                name,
                virtual_hosts: hosts,
                validate_clusters: Some(boolv(false)),
                ..Default::default()
            });
        }
    }
}

/// A listener that is no socket: gRPC reads the HTTP connection manager in `api_listener`.
fn api_listener(name: &str) -> Listener {
    let hcm = HttpConnectionManager {
        stat_prefix: name.into(),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: name.into(),
        })),
        http_filters: vec![
            http_filter("envoy.filters.http.fault", any(&HttpFault::default())),
            http_filter("envoy.filters.http.router", any(&Router::default())),
        ],
        ..Default::default()
    };
    Listener {
        name: name.into(),
        api_listener: Some(ApiListener {
            api_listener: Some(any(&hcm)),
        }),
        ..Default::default()
    }
}

fn without_unsupported_filters(mut vh: VirtualHost) -> VirtualHost {
    vh.typed_per_filter_config
        .retain(|k, _| GRPC_PER_ROUTE_FILTERS.contains(&k.as_str()));
    for r in &mut vh.routes {
        r.typed_per_filter_config
            .retain(|k, _| GRPC_PER_ROUTE_FILTERS.contains(&k.as_str()));
    }
    vh
}

/// gRPC's xDS client NACKs a cluster with a load-balancing policy it does not implement or
/// with a TLS transport socket that names no certificate provider.
fn adapt_cluster(c: &mut Cluster) {
    let policy = LbPolicy::try_from(c.lb_policy).unwrap_or(LbPolicy::RoundRobin);
    c.lb_policy = match policy {
        LbPolicy::RingHash | LbPolicy::ClusterProvided => policy,
        LbPolicy::Maglev => {
            c.lb_config = Some(LbConfig::RingHashLbConfig(RingHashLbConfig::default()));
            LbPolicy::RingHash
        }
        _ => {
            c.lb_config = None;
            LbPolicy::RoundRobin
        }
    } as i32;
    c.transport_socket = None;
    c.transport_socket_matches.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_xds::pb::envoy::config::core::v3::TransportSocket;

    #[test]
    fn clusters_get_policies_grpc_implements() {
        let mut least = Cluster {
            lb_policy: LbPolicy::LeastRequest as i32,
            transport_socket: Some(TransportSocket::default()),
            ..Default::default()
        };
        adapt_cluster(&mut least);
        assert_eq!(least.lb_policy, LbPolicy::RoundRobin as i32);
        assert!(least.transport_socket.is_none());
        let mut maglev = Cluster {
            lb_policy: LbPolicy::Maglev as i32,
            ..Default::default()
        };
        adapt_cluster(&mut maglev);
        assert_eq!(maglev.lb_policy, LbPolicy::RingHash as i32);
        assert!(matches!(
            maglev.lb_config,
            Some(LbConfig::RingHashLbConfig(_))
        ));
    }

    #[test]
    fn api_listener_names_its_route() {
        let l = api_listener("echo.default.svc.cluster.local:7070");
        assert!(l.address.is_none());
        let packed = l.api_listener.and_then(|a| a.api_listener).expect("hcm");
        let hcm: HttpConnectionManager = weft_xds::unpack(&packed).expect("decode");
        let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
            panic!("expected RDS");
        };
        assert_eq!(rds.route_config_name, "echo.default.svc.cluster.local:7070");
        let last = hcm.http_filters.last().map(|f| f.name.as_str());
        assert_eq!(last, Some("envoy.filters.http.router"));
    }
}
