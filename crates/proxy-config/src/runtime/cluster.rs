//! Compiled clusters and endpoint lists.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::error::{At, Result};
use crate::lb::LbPolicy;
use crate::model::cluster as m;
use crate::model::core::Address;

/// Envoy's default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    Http1,
    Http2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    Static,
    /// Endpoints come from EDS under this service name.
    Eds {
        service_name: String,
    },
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub stat_name: String,
    pub discovery: Discovery,
    pub connect_timeout: Duration,
    pub lb: LbPolicy,
    pub protocol: UpstreamProtocol,
    /// Idle timeout of pooled upstream connections.
    pub idle_timeout: Option<Duration>,
    /// Static endpoints (empty for EDS clusters until an assignment arrives).
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub weight: u32,
}

pub fn build_cluster(c: &m::Cluster) -> Result<Cluster> {
    let resource = format!("Cluster {}", c.name);
    let at = At::new(&resource);
    if c.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    if c.transport_socket.is_some() {
        return Err(at
            .field("transport_socket")
            .err("TLS to upstreams is not supported yet"));
    }
    let discovery = match c.kind {
        m::DiscoveryType::Static => Discovery::Static,
        m::DiscoveryType::Eds => Discovery::Eds {
            service_name: c
                .eds_cluster_config
                .as_ref()
                .map(|e| e.service_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| c.name.clone()),
        },
        other => {
            return Err(at.field("type").err(format!(
                "cluster type {other:?} is not supported (STATIC and EDS are)"
            )));
        }
    };
    let lb = match c.lb_policy {
        m::LbPolicy::RoundRobin => LbPolicy::RoundRobin,
        m::LbPolicy::Random => LbPolicy::Random,
        m::LbPolicy::LeastRequest => LbPolicy::LeastRequest,
        other => {
            return Err(at.field("lb_policy").err(format!(
                "{other:?} is not supported (ROUND_ROBIN, RANDOM, LEAST_REQUEST are)"
            )));
        }
    };
    let (protocol, idle_timeout) = protocol_of(&at, c)?;
    let endpoints = match (&discovery, &c.load_assignment) {
        (Discovery::Static, Some(la)) => build_endpoints(&at.field("load_assignment"), la)?,
        (Discovery::Static, None) => Vec::new(),
        (Discovery::Eds { .. }, _) => Vec::new(),
    };
    Ok(Cluster {
        name: c.name.clone(),
        stat_name: if c.alt_stat_name.is_empty() {
            c.name.clone()
        } else {
            c.alt_stat_name.clone()
        },
        discovery,
        connect_timeout: c.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0),
        lb,
        protocol,
        idle_timeout,
        endpoints,
    })
}

fn protocol_of(at: &At<'_>, c: &m::Cluster) -> Result<(UpstreamProtocol, Option<Duration>)> {
    let mut proto = if c.http2_protocol_options.is_some() {
        UpstreamProtocol::Http2
    } else {
        UpstreamProtocol::Http1
    };
    let mut idle = Some(Duration::from_secs(3600));
    for (key, opts) in &c.typed_extension_protocol_options {
        let oat = at.field("typed_extension_protocol_options").field(key);
        let m::ProtocolOptions::Http(h) = opts;
        if key != "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" {
            return Err(oat.err("unknown protocol options key"));
        }
        if h.use_downstream_protocol_config.is_some() {
            return Err(oat
                .field("use_downstream_protocol_config")
                .err("not supported yet"));
        }
        if let Some(e) = &h.explicit_http_config {
            proto = match (&e.http_protocol_options, &e.http2_protocol_options) {
                (Some(_), None) => UpstreamProtocol::Http1,
                (None, Some(_)) => UpstreamProtocol::Http2,
                _ => {
                    return Err(oat.field("explicit_http_config").err(
                        "exactly one of http_protocol_options, http2_protocol_options is required",
                    ));
                }
            };
        }
        if let Some(t) = h
            .common_http_protocol_options
            .as_ref()
            .and_then(|o| o.idle_timeout)
        {
            idle = (!t.0.is_zero()).then_some(t.0);
        }
    }
    Ok((proto, idle))
}

/// Converts a load assignment (inline or from EDS) into a flat endpoint list. Only priority 0
/// is used; unhealthy and draining endpoints are left out.
pub fn build_endpoints(at: &At<'_>, la: &m::ClusterLoadAssignment) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    for (i, loc) in la.endpoints.iter().enumerate() {
        let lat = at.field("endpoints").index(i);
        for (j, ep) in loc.lb_endpoints.iter().enumerate() {
            let eat = lat.field("lb_endpoints").index(j);
            let addr = ep
                .endpoint
                .as_ref()
                .and_then(|e| e.address.as_ref())
                .ok_or_else(|| eat.field("endpoint.address").err("is required"))?;
            let addr = socket_addr(&eat.field("endpoint.address"), addr)?;
            let weight = ep.load_balancing_weight.unwrap_or(1);
            if weight == 0 {
                return Err(eat.field("load_balancing_weight").err("must be at least 1"));
            }
            let usable = !matches!(
                ep.health_status.as_deref(),
                Some("UNHEALTHY" | "DRAINING" | "TIMEOUT")
            );
            if loc.priority == 0 && usable {
                out.push(Endpoint { addr, weight });
            }
        }
    }
    Ok(out)
}

/// A `socket_address` with an IP literal (names are not resolved by STATIC/EDS clusters).
pub fn socket_addr(at: &At<'_>, a: &Address) -> Result<SocketAddr> {
    let sa = a
        .socket_address
        .as_ref()
        .ok_or_else(|| at.field("socket_address").err("is required"))?;
    let at = at.field("socket_address");
    if sa.protocol.as_deref().is_some_and(|p| p != "TCP") {
        return Err(at.field("protocol").err("only TCP is supported"));
    }
    let ip: IpAddr = sa.address.parse().map_err(|_| {
        at.field("address")
            .err(format!("{:?} is not an IP address", sa.address))
    })?;
    let port = u16::try_from(sa.port_value)
        .map_err(|_| at.field("port_value").err("must be at most 65535"))?;
    Ok(SocketAddr::new(ip, port))
}
