//! LDS: the sidecar's `virtualOutbound` (15001) and `virtualInbound` (15006) capture listeners,
//! per-port outbound listeners, and gateway listeners.

use weft_xds::pb::envoy::config::core::v3::TrafficDirection;
use weft_xds::pb::envoy::config::listener::v3::{
    Filter, FilterChain, Listener, ListenerFilter, filter, listener_filter,
};
use weft_xds::pb::envoy::config::route::v3::RouteConfiguration;
use weft_xds::pb::envoy::extensions::filters::http::cors::v3::Cors;
use weft_xds::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use weft_xds::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::{
    PathWithEscapedSlashesAction, UpgradeConfig,
};
use weft_xds::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};

use crate::names;
use crate::pbutil::{ads, any, boolv, socket_address};

/// How an HTTP connection manager finds its routes.
#[derive(Debug)]
pub enum Routes {
    Rds(String),
    Inline(RouteConfiguration),
}

pub fn http_filter(name: &str, config: weft_xds::pb::google::protobuf::Any) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}

/// An HTTP connection manager; `security` (jwt_authn, RBAC) runs before fault, cors and
/// the router, as in Istio.
pub fn http_connection_manager(
    ctx: &crate::context::Context,
    stat_prefix: &str,
    routes: Routes,
    edge: bool,
    security: Vec<HttpFilter>,
) -> Filter {
    let route_specifier = match routes {
        Routes::Rds(name) => http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: name,
        }),
        Routes::Inline(rc) => http_connection_manager::RouteSpecifier::RouteConfig(rc),
    };
    let paths = path_normalization(ctx.mesh.path_normalization.as_ref());
    let hcm = HttpConnectionManager {
        stat_prefix: stat_prefix.into(),
        route_specifier: Some(route_specifier),
        http_filters: security
            .into_iter()
            .chain([
                http_filter("envoy.filters.http.fault", any(&HttpFault::default())),
                http_filter("envoy.filters.http.cors", any(&Cors::default())),
                http_filter("envoy.filters.http.router", any(&Router::default())),
            ])
            .collect(),
        use_remote_address: Some(boolv(edge)),
        normalize_path: Some(boolv(paths.normalize)),
        merge_slashes: paths.merge_slashes,
        path_with_escaped_slashes_action: paths.escaped_slashes as i32,
        // Istio allows WebSocket upgrades on every HTTP connection manager.
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(any(&hcm))),
    }
}

/// What the connection managers do to request paths.
struct PathSettings {
    normalize: bool,
    merge_slashes: bool,
    escaped_slashes: PathWithEscapedSlashesAction,
}

/// Mesh `pathNormalization`, as Istio maps it: `BASE` (the default) normalizes per RFC 3986,
/// `MERGE_SLASHES` also merges slashes, `DECODE_AND_MERGE_SLASHES` also decodes `%2F`/`%5C`,
/// `NONE` leaves paths alone; escaped slashes are otherwise kept.
fn path_normalization(p: Option<&weft_config::model::mesh::PathNormalization>) -> PathSettings {
    use weft_config::model::mesh::PathNormalizationType as T;
    let kind = p.and_then(|p| p.normalization);
    let (normalize, merge_slashes, escaped_slashes) = match kind {
        Some(T::None) => (false, false, PathWithEscapedSlashesAction::KeepUnchanged),
        Some(T::MergeSlashes) => (true, true, PathWithEscapedSlashesAction::KeepUnchanged),
        Some(T::DecodeAndMergeSlashes) => {
            (true, true, PathWithEscapedSlashesAction::UnescapeAndForward)
        }
        _ => (true, false, PathWithEscapedSlashesAction::KeepUnchanged),
    };
    PathSettings {
        normalize,
        merge_slashes,
        escaped_slashes,
    }
}

pub fn tcp_proxy_filter(stat_prefix: &str, cluster: &str) -> Filter {
    tcp_proxy_with(
        stat_prefix,
        tcp_proxy::ClusterSpecifier::Cluster(cluster.into()),
    )
}

pub fn tcp_proxy_with(stat_prefix: &str, specifier: tcp_proxy::ClusterSpecifier) -> Filter {
    let tcp = TcpProxy {
        stat_prefix: stat_prefix.into(),
        cluster_specifier: Some(specifier),
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(filter::ConfigType::TypedConfig(any(&tcp))),
    }
}

fn listener(name: String, ip: &str, port: u32, direction: TrafficDirection) -> Listener {
    Listener {
        name,
        address: Some(socket_address(ip, port)),
        traffic_direction: direction as i32,
        ..Default::default()
    }
}

/// `virtualOutbound`: catches all outbound traffic and hands it to the listener for its
/// original destination; what matches none goes to `fallback` (Passthrough or BlackHole).
pub fn virtual_outbound(fallback: &str) -> Listener {
    let mut l = listener(
        names::VIRTUAL_OUTBOUND.into(),
        names::WILDCARD,
        names::OUTBOUND_PORT,
        TrafficDirection::Outbound,
    );
    l.use_original_dst = Some(boolv(true));
    l.filter_chains = vec![FilterChain {
        name: "PassthroughFilterChain".into(),
        filters: vec![tcp_proxy_filter(fallback, fallback)],
        ..Default::default()
    }];
    l
}

/// An outbound listener for one port (`0.0.0.0_9080`, `10.96.0.10_3306`), not bound itself:
/// `virtualOutbound` hands connections to it.
pub fn outbound(address: &str, port: u32, filter: Filter) -> Listener {
    let mut l = listener(
        names::listener(address, port),
        address,
        port,
        TrafficDirection::Outbound,
    );
    l.bind_to_port = Some(boolv(false));
    l.filter_chains = vec![FilterChain {
        filters: vec![filter],
        ..Default::default()
    }];
    l
}

/// Chains that match on TLS, SNI or ALPN need `tls_inspector`; a connection that sends nothing
/// (a server-first protocol) continues as plaintext when the inspection times out.
pub fn add_tls_inspector_if_needed(l: &mut Listener, chains: &[FilterChain]) {
    let needs = chains.iter().any(|c| {
        c.filter_chain_match.as_ref().is_some_and(|m| {
            !m.transport_protocol.is_empty()
                || !m.application_protocols.is_empty()
                || !m.server_names.is_empty()
        })
    });
    if !needs {
        return;
    }
    l.listener_filters.push(ListenerFilter {
        name: "envoy.filters.listener.tls_inspector".into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(
            &TlsInspector::default(),
        ))),
        ..Default::default()
    });
    l.continue_on_listener_filters_timeout = true;
}

/// `virtualInbound`: chains per served port, the rest to InboundPassthroughCluster.
pub fn virtual_inbound(mut chains: Vec<FilterChain>) -> Listener {
    let mut l = listener(
        names::VIRTUAL_INBOUND.into(),
        names::WILDCARD,
        names::INBOUND_PORT,
        TrafficDirection::Inbound,
    );
    l.listener_filters = vec![ListenerFilter {
        name: "envoy.filters.listener.original_dst".into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(
            &OriginalDst::default(),
        ))),
        ..Default::default()
    }];
    add_tls_inspector_if_needed(&mut l, &chains);
    let pass = names::INBOUND_PASSTHROUGH_CLUSTER;
    chains.push(FilterChain {
        name: names::VIRTUAL_INBOUND.into(),
        filters: vec![tcp_proxy_filter(pass, pass)],
        ..Default::default()
    });
    l.filter_chains = chains;
    l
}

/// A gateway listener (`0.0.0.0_8080`), bound to its port.
pub fn gateway(port: u32, filter: Filter) -> Listener {
    let mut l = listener(
        names::listener(names::WILDCARD, port),
        names::WILDCARD,
        port,
        TrafficDirection::Outbound,
    );
    l.filter_chains = vec![FilterChain {
        filters: vec![filter],
        ..Default::default()
    }];
    l
}

/// A listener bound on `ip:port` with the given chains (an inbound port with its mTLS chains).
pub fn bound_with_chains(
    ip: &str,
    port: u32,
    direction: TrafficDirection,
    chains: Vec<FilterChain>,
) -> Listener {
    let mut l = listener(names::listener(ip, port), ip, port, direction);
    add_tls_inspector_if_needed(&mut l, &chains);
    l.filter_chains = chains;
    l
}

/// A listener bound on `ip:port` itself (no capture listener hands connections to it).
pub fn bound(ip: &str, port: u32, direction: TrafficDirection, filters: Vec<Filter>) -> Listener {
    let mut l = listener(names::listener(ip, port), ip, port, direction);
    l.filter_chains = vec![FilterChain {
        filters,
        ..Default::default()
    }];
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_config::model::mesh::{PathNormalization, PathNormalizationType as T};

    fn settings(kind: Option<T>) -> (bool, bool, PathWithEscapedSlashesAction) {
        let p = PathNormalization {
            normalization: kind,
        };
        let s = path_normalization(Some(&p));
        (s.normalize, s.merge_slashes, s.escaped_slashes)
    }

    #[test]
    fn mesh_path_normalization_maps_as_istio_does() {
        use PathWithEscapedSlashesAction::{KeepUnchanged, UnescapeAndForward};
        assert_eq!(
            settings(None),
            (true, false, KeepUnchanged),
            "BASE by default"
        );
        assert_eq!(settings(Some(T::Base)), (true, false, KeepUnchanged));
        assert_eq!(settings(Some(T::None)), (false, false, KeepUnchanged));
        assert_eq!(settings(Some(T::MergeSlashes)), (true, true, KeepUnchanged));
        assert_eq!(
            settings(Some(T::DecodeAndMergeSlashes)),
            (true, true, UnescapeAndForward)
        );
    }
}
