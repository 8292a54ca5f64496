//! `Cluster` and `ClusterLoadAssignment` protobufs into the model.
#![allow(deprecated)] // legacy `append` and `http2_protocol_options` are part of the accepted subset

use serde_json::json;
use weft_xds::pb::envoy::config::cluster::v3 as pb;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::endpoint::v3 as ep;
use weft_xds::pb::envoy::extensions::upstreams::http::v3 as up;

use super::{address, dur, enum_named, rest, unpack};
use crate::error::{At, Result};
use crate::model::cluster as m;
use crate::model::core::ConfigSource;

mod policy;

pub fn cluster(c: &pb::Cluster) -> Result<m::Cluster> {
    let resource = format!("Cluster {}", c.name);
    let at = At::new(&resource);
    let kind = discovery_type(&at, c)?;
    let lb_policy = enum_named(
        &at.field("lb_policy"),
        pb::cluster::LbPolicy::try_from(c.lb_policy)
            .ok()
            .map(|p| p.as_str_name()),
    )?;
    rest(&at, &cluster_rest(c))?;
    let (ring_hash_lb_config, maglev_lb_config, original_dst_lb_config) =
        policy::lb_config(&at, c.lb_config.as_ref())?;
    let mut typed = std::collections::BTreeMap::new();
    for (key, any) in &c.typed_extension_protocol_options {
        let kat = at.field("typed_extension_protocol_options").field(key);
        typed.insert(
            key.clone(),
            m::ProtocolOptions::Http(http_options(&kat, &unpack(&kat, any)?)?),
        );
    }
    Ok(m::Cluster {
        name: c.name.clone(),
        alt_stat_name: c.alt_stat_name.clone(),
        kind,
        eds_cluster_config: c.eds_cluster_config.as_ref().map(|e| m::EdsClusterConfig {
            eds_config: e.eds_config.as_ref().map(|_| ConfigSource {
                ads: Some(json!({})),
                ..Default::default()
            }),
            service_name: e.service_name.clone(),
        }),
        connect_timeout: dur(&at.field("connect_timeout"), c.connect_timeout.as_ref())?,
        lb_policy,
        load_assignment: c
            .load_assignment
            .as_ref()
            .map(|la| assignment_at(&at.field("load_assignment"), la))
            .transpose()?,
        http2_protocol_options: c.http2_protocol_options.as_ref().map(|_| json!({})),
        typed_extension_protocol_options: typed,
        circuit_breakers: policy::circuit_breakers(&at, c.circuit_breakers.as_ref())?,
        outlier_detection: policy::outlier_detection(&at, c.outlier_detection.as_ref())?,
        common_lb_config: policy::common_lb_config(&at, c.common_lb_config.as_ref())?,
        ring_hash_lb_config,
        maglev_lb_config,
        original_dst_lb_config,
        cleanup_interval: dur(&at.field("cleanup_interval"), c.cleanup_interval.as_ref())?,
        dns_refresh_rate: dur(&at.field("dns_refresh_rate"), c.dns_refresh_rate.as_ref())?,
        dns_lookup_family: policy::dns_lookup_family(&at, c)?,
        respect_dns_ttl: c.respect_dns_ttl,
        transport_socket: c
            .transport_socket
            .as_ref()
            .map(|t| super::tls::transport_socket(&at.field("transport_socket"), t))
            .transpose()?,
        transport_socket_matches: c
            .transport_socket_matches
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let tat = at.field("transport_socket_matches").index(i);
                Ok(m::TransportSocketMatch {
                    name: t.name.clone(),
                    match_: t.r#match.as_ref().map(weft_xds::struct_to_json),
                    transport_socket: t
                        .transport_socket
                        .as_ref()
                        .map(|s| super::tls::transport_socket(&tat.field("transport_socket"), s))
                        .transpose()?,
                })
            })
            .collect::<Result<_>>()?,
        upstream_bind_config: bind_config(&at, c.upstream_bind_config.as_ref())?,
    })
}

/// Only `source_address` is taken: the other bind options (freebind, socket options, extra
/// addresses) are rejected by name.
fn bind_config(at: &At<'_>, b: Option<&core::BindConfig>) -> Result<Option<m::BindConfig>> {
    let Some(b) = b else { return Ok(None) };
    let bat = at.field("upstream_bind_config");
    let source = core::Address {
        address: b
            .source_address
            .clone()
            .map(core::address::Address::SocketAddress),
    };
    let source_address = match &b.source_address {
        Some(_) => {
            address(&bat.field("source_address"), Some(&source))?.and_then(|a| a.socket_address)
        }
        None => None,
    };
    let mut left = b.clone();
    left.source_address = None;
    rest(&bat, &left)?;
    Ok(Some(m::BindConfig { source_address }))
}

fn discovery_type(at: &At<'_>, c: &pb::Cluster) -> Result<m::DiscoveryType> {
    let kind = match &c.cluster_discovery_type {
        None => m::DiscoveryType::Static,
        Some(pb::cluster::ClusterDiscoveryType::Type(t)) => enum_named(
            &at.field("type"),
            pb::cluster::DiscoveryType::try_from(*t)
                .ok()
                .map(|t| t.as_str_name()),
        )?,
        Some(pb::cluster::ClusterDiscoveryType::ClusterType(_)) => {
            return Err(at
                .field("cluster_type")
                .err("custom cluster types are not supported"));
        }
    };
    Ok(kind)
}

/// The cluster with every converted field cleared.
fn cluster_rest(c: &pb::Cluster) -> pb::Cluster {
    let mut left = c.clone();
    left.name.clear();
    left.alt_stat_name.clear();
    left.cluster_discovery_type = None;
    left.eds_cluster_config = None;
    left.connect_timeout = None;
    left.lb_policy = 0;
    left.load_assignment = None;
    left.http2_protocol_options = None;
    left.typed_extension_protocol_options.clear();
    left.circuit_breakers = None;
    left.outlier_detection = None;
    left.common_lb_config = None;
    left.lb_config = None;
    left.cleanup_interval = None;
    left.dns_refresh_rate = None;
    left.dns_lookup_family = 0;
    left.respect_dns_ttl = false;
    left.transport_socket = None;
    left.transport_socket_matches.clear();
    left.upstream_bind_config = None;
    left
}

fn http_options(at: &At<'_>, h: &up::HttpProtocolOptions) -> Result<m::HttpProtocolOptions> {
    use up::http_protocol_options::UpstreamProtocolOptions as U;
    use up::http_protocol_options::explicit_http_config::ProtocolConfig as P;
    let mut left = h.clone();
    left.upstream_protocol_options = None;
    left.common_http_protocol_options = None;
    rest(at, &left)?;
    let explicit_http_config = match &h.upstream_protocol_options {
        None => None,
        Some(U::ExplicitHttpConfig(e)) => Some(match &e.protocol_config {
            Some(P::HttpProtocolOptions(_)) => m::ExplicitHttpConfig {
                http_protocol_options: Some(json!({})),
                http2_protocol_options: None,
            },
            Some(P::Http2ProtocolOptions(_)) => m::ExplicitHttpConfig {
                http_protocol_options: None,
                http2_protocol_options: Some(json!({})),
            },
            _ => {
                return Err(at
                    .field("explicit_http_config")
                    .err("only http_protocol_options and http2_protocol_options are supported"));
            }
        }),
        Some(_) => {
            return Err(at
                .field("upstream_protocol_options")
                .err("only explicit_http_config is supported"));
        }
    };
    let common = match &h.common_http_protocol_options {
        None => None,
        Some(o) => {
            let cat = at.field("common_http_protocol_options");
            Some(crate::model::http::CommonHttpProtocolOptions {
                idle_timeout: dur(&cat.field("idle_timeout"), o.idle_timeout.as_ref())?,
                max_connection_duration: dur(
                    &cat.field("max_connection_duration"),
                    o.max_connection_duration.as_ref(),
                )?,
                max_headers_count: None,
            })
        }
    };
    Ok(m::HttpProtocolOptions {
        explicit_http_config,
        use_downstream_protocol_config: None,
        common_http_protocol_options: common,
    })
}

/// An EDS resource: `ClusterLoadAssignment NAME: field: reason` on errors.
pub fn load_assignment(la: &ep::ClusterLoadAssignment) -> Result<m::ClusterLoadAssignment> {
    let resource = format!("ClusterLoadAssignment {}", la.cluster_name);
    assignment_at(&At::new(&resource), la)
}

fn assignment_at(at: &At<'_>, la: &ep::ClusterLoadAssignment) -> Result<m::ClusterLoadAssignment> {
    let mut left = la.clone();
    left.cluster_name.clear();
    left.endpoints.clear();
    left.policy = None;
    rest(at, &left)?;
    let policy = match &la.policy {
        None => None,
        Some(p) => {
            let pat = at.field("policy");
            let mut left = p.clone();
            left.overprovisioning_factor = None;
            rest(&pat, &left)?;
            Some(m::AssignmentPolicy {
                overprovisioning_factor: p.overprovisioning_factor.map(|v| v.value),
            })
        }
    };
    let endpoints = la
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, l)| locality(&at.field("endpoints").index(i), l))
        .collect::<Result<_>>()?;
    Ok(m::ClusterLoadAssignment {
        cluster_name: la.cluster_name.clone(),
        endpoints,
        policy,
    })
}

fn locality(at: &At<'_>, l: &ep::LocalityLbEndpoints) -> Result<m::LocalityLbEndpoints> {
    let mut left = l.clone();
    left.locality = None;
    left.lb_endpoints.clear();
    left.load_balancing_weight = None;
    left.priority = 0;
    left.metadata = None;
    rest(at, &left)?;
    let lb_endpoints = l
        .lb_endpoints
        .iter()
        .enumerate()
        .map(|(j, e)| lb_endpoint(&at.field("lb_endpoints").index(j), e))
        .collect::<Result<_>>()?;
    Ok(m::LocalityLbEndpoints {
        locality: l
            .locality
            .as_ref()
            .map(|x| json!({"region": x.region, "zone": x.zone, "sub_zone": x.sub_zone})),
        lb_endpoints,
        load_balancing_weight: l.load_balancing_weight.map(|w| w.value),
        priority: l.priority,
        metadata: super::metadata(l.metadata.as_ref()),
    })
}

fn lb_endpoint(at: &At<'_>, e: &ep::LbEndpoint) -> Result<m::LbEndpoint> {
    use ep::lb_endpoint::HostIdentifier;
    let endpoint = match &e.host_identifier {
        Some(HostIdentifier::Endpoint(x)) => {
            let eat = at.field("endpoint");
            let mut left = x.clone();
            left.address = None;
            left.hostname.clear();
            rest(&eat, &left)?;
            Some(m::Endpoint {
                address: address(&eat.field("address"), x.address.as_ref())?,
                hostname: x.hostname.clone(),
            })
        }
        Some(HostIdentifier::EndpointName(_)) => {
            return Err(at
                .field("endpoint_name")
                .err("named endpoints are not supported"));
        }
        None => None,
    };
    let health_status = match e.health_status {
        0 => None,
        h => Some(
            weft_xds::pb::envoy::config::core::v3::HealthStatus::try_from(h)
                .map_err(|_| at.field("health_status").err("unknown value"))?
                .as_str_name()
                .to_string(),
        ),
    };
    Ok(m::LbEndpoint {
        endpoint,
        health_status,
        load_balancing_weight: e.load_balancing_weight.map(|w| w.value),
        metadata: super::metadata(e.metadata.as_ref()),
    })
}
