//! `Listener` protobufs (with their tcp_proxy / http_connection_manager typed configs) into the
//! model. Access logs on xDS listeners are not converted yet (rejected).

use serde_json::json;
use weft_xds::pb::envoy::config::listener::v3 as pb;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use weft_xds::pb::envoy::extensions::filters::network::tcp_proxy::v3 as tcp;
use weft_xds::type_url;

use super::{address, cidr, dur, enum_named, rest, unpack};
use crate::error::{At, Result};
use crate::model::core::ConfigSource;
use crate::model::http as mh;
use crate::model::listener as m;

pub fn listener(l: &pb::Listener) -> Result<m::Listener> {
    let resource = format!("Listener {}", l.name);
    let at = At::new(&resource);
    let mut left = l.clone();
    left.name.clear();
    left.address = None;
    left.stat_prefix.clear();
    left.filter_chains.clear();
    left.default_filter_chain = None;
    left.listener_filters.clear();
    left.listener_filters_timeout = None;
    left.continue_on_listener_filters_timeout = false;
    left.use_original_dst = None;
    left.bind_to_port = None;
    left.traffic_direction = 0;
    left.per_connection_buffer_limit_bytes = None;
    rest(&at, &left)?;
    let chains = l
        .filter_chains
        .iter()
        .enumerate()
        .map(|(i, c)| chain(&at.field("filter_chains").index(i), c))
        .collect::<Result<_>>()?;
    let default_filter_chain = l
        .default_filter_chain
        .as_ref()
        .map(|c| chain(&at.field("default_filter_chain"), c))
        .transpose()?;
    let listener_filters = l
        .listener_filters
        .iter()
        .enumerate()
        .map(|(i, f)| listener_filter(&at.field("listener_filters").index(i), f))
        .collect::<Result<_>>()?;
    let direction =
        weft_xds::pb::envoy::config::core::v3::TrafficDirection::try_from(l.traffic_direction)
            .ok()
            .filter(|d| d.as_str_name() != "UNSPECIFIED");
    Ok(m::Listener {
        name: l.name.clone(),
        address: address(&at.field("address"), l.address.as_ref())?,
        stat_prefix: l.stat_prefix.clone(),
        filter_chains: chains,
        default_filter_chain,
        listener_filters,
        listener_filters_timeout: dur(
            &at.field("listener_filters_timeout"),
            l.listener_filters_timeout.as_ref(),
        )?,
        continue_on_listener_filters_timeout: l.continue_on_listener_filters_timeout,
        use_original_dst: l.use_original_dst.map(|b| b.value),
        bind_to_port: l.bind_to_port.map(|b| b.value),
        traffic_direction: direction.map(|d| d.as_str_name().to_string()),
        per_connection_buffer_limit_bytes: l.per_connection_buffer_limit_bytes.map(|v| v.value),
        access_log: Vec::new(),
    })
}

fn listener_filter(at: &At<'_>, f: &pb::ListenerFilter) -> Result<m::ListenerFilter> {
    let Some(pb::listener_filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err(at.field("typed_config").err("is required"));
    };
    let cfg = match weft_xds::message_name(&any.type_url) {
        t if t == weft_xds::message_name(type_url::TLS_INSPECTOR) => {
            m::ListenerFilterConfig::TlsInspector {}
        }
        t if t == weft_xds::message_name(type_url::HTTP_INSPECTOR) => {
            m::ListenerFilterConfig::HttpInspector {}
        }
        t if t == weft_xds::message_name(type_url::ORIGINAL_DST) => {
            m::ListenerFilterConfig::OriginalDst {}
        }
        _ => {
            return Err(at
                .field("typed_config")
                .err(format!("unknown listener filter type {:?}", any.type_url)));
        }
    };
    Ok(m::ListenerFilter {
        name: f.name.clone(),
        typed_config: Some(cfg),
    })
}

fn chain(at: &At<'_>, c: &pb::FilterChain) -> Result<m::FilterChain> {
    let mut left = c.clone();
    left.transport_socket = None;
    left.name.clear();
    left.filter_chain_match = None;
    left.filters.clear();
    left.metadata = None;
    rest(at, &left)?;
    let filters = c
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| filter(&at.field("filters").index(i), f))
        .collect::<Result<_>>()?;
    Ok(m::FilterChain {
        name: c.name.clone(),
        filter_chain_match: c
            .filter_chain_match
            .as_ref()
            .map(|fm| chain_match(&at.field("filter_chain_match"), fm))
            .transpose()?,
        filters,
        transport_socket: c
            .transport_socket
            .as_ref()
            .map(|t| super::tls::transport_socket(&at.field("transport_socket"), t))
            .transpose()?,
    })
}

fn chain_match(at: &At<'_>, fm: &pb::FilterChainMatch) -> Result<m::FilterChainMatch> {
    let mut left = fm.clone();
    left.destination_port = None;
    left.prefix_ranges.clear();
    left.source_prefix_ranges.clear();
    left.source_ports.clear();
    left.server_names.clear();
    left.transport_protocol.clear();
    left.application_protocols.clear();
    rest(at, &left)?;
    Ok(m::FilterChainMatch {
        destination_port: fm.destination_port.map(|p| p.value),
        prefix_ranges: fm.prefix_ranges.iter().map(cidr).collect(),
        source_prefix_ranges: fm.source_prefix_ranges.iter().map(cidr).collect(),
        source_ports: fm.source_ports.clone(),
        server_names: fm.server_names.clone(),
        transport_protocol: fm.transport_protocol.clone(),
        application_protocols: fm.application_protocols.clone(),
    })
}

fn filter(at: &At<'_>, f: &pb::Filter) -> Result<m::Filter> {
    let tat = at.field("typed_config");
    let Some(pb::filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err(tat.err("is required"));
    };
    let name = weft_xds::message_name(&any.type_url);
    let cfg = if name == weft_xds::message_name(type_url::TCP_PROXY) {
        m::NetworkFilterConfig::TcpProxy(tcp_proxy(&tat, &unpack(&tat, any)?)?)
    } else if name == weft_xds::message_name(type_url::HTTP_CONNECTION_MANAGER) {
        m::NetworkFilterConfig::HttpConnectionManager(Box::new(connection_manager(
            &tat,
            &unpack(&tat, any)?,
        )?))
    } else if weft_xds::same_type(&any.type_url, crate::model::rbac::NETWORK_RBAC_TYPE) {
        m::NetworkFilterConfig::Rbac(super::rbac::network_rbac(&tat, &unpack(&tat, any)?)?)
    } else {
        return Err(tat.err(format!("unknown network filter type {:?}", any.type_url)));
    };
    Ok(m::Filter {
        name: f.name.clone(),
        typed_config: Some(cfg),
    })
}

fn tcp_proxy(at: &At<'_>, t: &tcp::TcpProxy) -> Result<m::TcpProxy> {
    use tcp::tcp_proxy::ClusterSpecifier as C;
    let mut left = t.clone();
    left.stat_prefix.clear();
    left.cluster_specifier = None;
    left.idle_timeout = None;
    rest(at, &left)?;
    let (cluster, weighted_clusters) = match &t.cluster_specifier {
        Some(C::Cluster(c)) => (Some(c.clone()), None),
        Some(C::WeightedClusters(w)) => {
            let clusters = w
                .clusters
                .iter()
                .map(|c| m::TcpClusterWeight {
                    name: c.name.clone(),
                    weight: c.weight,
                })
                .collect();
            (None, Some(m::TcpWeightedClusters { clusters }))
        }
        None => (None, None),
    };
    Ok(m::TcpProxy {
        stat_prefix: t.stat_prefix.clone(),
        cluster,
        weighted_clusters,
        idle_timeout: dur(&at.field("idle_timeout"), t.idle_timeout.as_ref())?,
        access_log: Vec::new(),
    })
}

fn connection_manager(
    at: &At<'_>,
    h: &hcm::HttpConnectionManager,
) -> Result<mh::HttpConnectionManager> {
    use hcm::http_connection_manager::RouteSpecifier as R;
    let left = hcm_rest(h);
    rest(at, &left)?;
    let (route_config, rds) = match &h.route_specifier {
        Some(R::Rds(r)) => (
            None,
            Some(mh::Rds {
                config_source: r.config_source.as_ref().map(|_| ConfigSource {
                    ads: Some(json!({})),
                    ..Default::default()
                }),
                route_config_name: r.route_config_name.clone(),
            }),
        ),
        Some(R::RouteConfig(rc)) => (
            Some(super::route::route_at(&at.field("route_config"), rc)?),
            None,
        ),
        Some(_) => return Err(at.field("scoped_routes").err("is not supported")),
        None => (None, None),
    };
    let codec = hcm::http_connection_manager::CodecType::try_from(h.codec_type)
        .ok()
        .map(|c| c.as_str_name());
    Ok(mh::HttpConnectionManager {
        stat_prefix: h.stat_prefix.clone(),
        codec_type: enum_named(&at.field("codec_type"), codec)?,
        route_config,
        rds,
        http_filters: http_filters(&at.field("http_filters"), &h.http_filters)?,
        access_log: Vec::new(),
        generate_request_id: h.generate_request_id.map(|b| b.value),
        preserve_external_request_id: h.preserve_external_request_id,
        always_set_request_id_in_response: h.always_set_request_id_in_response,
        use_remote_address: h.use_remote_address.map(|b| b.value),
        xff_num_trusted_hops: h.xff_num_trusted_hops,
        skip_xff_append: h.skip_xff_append,
        server_name: h.server_name.clone(),
        stream_idle_timeout: dur(
            &at.field("stream_idle_timeout"),
            h.stream_idle_timeout.as_ref(),
        )?,
        request_timeout: dur(&at.field("request_timeout"), h.request_timeout.as_ref())?,
        common_http_protocol_options: h
            .common_http_protocol_options
            .as_ref()
            .map(|o| common_options(&at.field("common_http_protocol_options"), o))
            .transpose()?,
        http_protocol_options: None,
        http2_protocol_options: None,
        upgrade_configs: h
            .upgrade_configs
            .iter()
            .map(|u| mh::UpgradeConfig {
                upgrade_type: u.upgrade_type.clone(),
                filters: u.filters.iter().map(|_| json!({})).collect(),
                enabled: u.enabled.map(|b| b.value),
            })
            .collect(),
        max_request_headers_kb: h.max_request_headers_kb.map(|v| v.value),
        request_headers_timeout: dur(
            &at.field("request_headers_timeout"),
            h.request_headers_timeout.as_ref(),
        )?,
        normalize_path: h.normalize_path.map(|b| b.value),
        merge_slashes: h.merge_slashes,
        path_with_escaped_slashes_action: enum_named(
            &at.field("path_with_escaped_slashes_action"),
            hcm::http_connection_manager::PathWithEscapedSlashesAction::try_from(
                h.path_with_escaped_slashes_action,
            )
            .ok()
            .map(|a| a.as_str_name()),
        )?,
    })
}

/// The connection manager with every converted field cleared.
fn hcm_rest(h: &hcm::HttpConnectionManager) -> hcm::HttpConnectionManager {
    let mut left = h.clone();
    left.stat_prefix.clear();
    left.codec_type = 0;
    left.route_specifier = None;
    left.http_filters.clear();
    left.generate_request_id = None;
    left.preserve_external_request_id = false;
    left.always_set_request_id_in_response = false;
    left.use_remote_address = None;
    left.xff_num_trusted_hops = 0;
    left.skip_xff_append = false;
    left.server_name.clear();
    left.stream_idle_timeout = None;
    left.request_timeout = None;
    left.common_http_protocol_options = None;
    left.upgrade_configs.clear();
    left.max_request_headers_kb = None;
    left.request_headers_timeout = None;
    left.normalize_path = None;
    left.merge_slashes = false;
    left.path_with_escaped_slashes_action = 0;
    left
}

/// `idle_timeout`, `max_connection_duration` and `max_headers_count`; the rest is rejected.
fn common_options(
    at: &At<'_>,
    o: &weft_xds::pb::envoy::config::core::v3::HttpProtocolOptions,
) -> Result<mh::CommonHttpProtocolOptions> {
    let mut left = *o;
    left.idle_timeout = None;
    left.max_connection_duration = None;
    left.max_headers_count = None;
    rest(at, &left)?;
    Ok(mh::CommonHttpProtocolOptions {
        idle_timeout: dur(&at.field("idle_timeout"), o.idle_timeout.as_ref())?,
        max_connection_duration: dur(
            &at.field("max_connection_duration"),
            o.max_connection_duration.as_ref(),
        )?,
        max_headers_count: o.max_headers_count.map(|v| v.value),
    })
}

fn http_filters(at: &At<'_>, filters: &[hcm::HttpFilter]) -> Result<Vec<mh::HttpFilter>> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let tat = at.index(i).field("typed_config");
            let typed_config = match &f.config_type {
                Some(hcm::http_filter::ConfigType::TypedConfig(any))
                    if weft_xds::same_type(&any.type_url, type_url::ROUTER) =>
                {
                    Some(mh::HttpFilterConfig::Router {})
                }
                Some(hcm::http_filter::ConfigType::TypedConfig(any))
                    if weft_xds::same_type(&any.type_url, super::filters::FAULT_TYPE) =>
                {
                    Some(mh::HttpFilterConfig::Fault(super::filters::http_fault(
                        &tat,
                        &unpack(&tat, any)?,
                    )?))
                }
                Some(hcm::http_filter::ConfigType::TypedConfig(any))
                    if weft_xds::same_type(&any.type_url, super::filters::CORS_TYPE) =>
                {
                    let _: weft_xds::pb::envoy::extensions::filters::http::cors::v3::Cors =
                        unpack(&tat, any)?;
                    Some(mh::HttpFilterConfig::Cors {})
                }
                Some(hcm::http_filter::ConfigType::TypedConfig(any))
                    if weft_xds::same_type(&any.type_url, crate::model::rbac::HTTP_RBAC_TYPE) =>
                {
                    let cfg = super::rbac::http_rbac(&tat, &unpack(&tat, any)?)?;
                    Some(mh::HttpFilterConfig::Rbac(cfg))
                }
                Some(hcm::http_filter::ConfigType::TypedConfig(any))
                    if weft_xds::same_type(&any.type_url, super::jwt::JWT_AUTHN_TYPE) =>
                {
                    Some(mh::HttpFilterConfig::JwtAuthn(
                        super::jwt::jwt_authentication(&tat, &unpack(&tat, any)?)?,
                    ))
                }
                Some(hcm::http_filter::ConfigType::TypedConfig(any)) => {
                    return Err(tat.err(format!(
                        "unknown HTTP filter type {:?} (router, fault, cors, rbac and jwt_authn are supported)",
                        any.type_url
                    )));
                }
                Some(_) => return Err(tat.err("config_discovery is not supported")),
                None => None,
            };
            Ok(mh::HttpFilter {
                name: f.name.clone(),
                typed_config,
            })
        })
        .collect()
}
