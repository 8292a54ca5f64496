//! Compiled clusters and endpoint lists.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{At, Result};
use crate::lb::LbPolicy;
use crate::model::cluster as m;
use crate::model::core::Address;

pub mod dns;
pub mod outlier;
pub mod policy;
pub mod socket_match;

pub use dns::{DnsConfig, DnsTarget};
pub use policy::{Breakers, OutlierConfig};

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
    /// STRICT_DNS / LOGICAL_DNS: names resolved in the background.
    Dns(DnsConfig),
    /// ORIGINAL_DST: one host per original destination, created on demand and dropped after
    /// `cleanup_interval` unused.
    OriginalDst {
        cleanup_interval: Duration,
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
    /// Static endpoints (empty for EDS clusters until an assignment arrives, and for DNS and
    /// ORIGINAL_DST clusters, whose hosts come at run time).
    pub endpoints: Vec<Endpoint>,
    pub breakers: Breakers,
    pub outlier: Option<OutlierConfig>,
    /// `common_lb_config.healthy_panic_threshold` in percent (default 50; 0 disables panic).
    pub panic_threshold: f64,
    /// `common_lb_config.locality_weighted_lb_config`: localities are chosen by weight first.
    pub locality_weighted: bool,
    /// `transport_socket`: TLS originated to this cluster's hosts.
    pub tls: Option<Arc<super::tls::UpstreamTls>>,
    /// `transport_socket_matches`, chosen per endpoint (`Endpoint::socket_match`).
    pub tls_matches: Arc<Vec<socket_match::SocketMatch>>,
    /// `upstream_bind_config.source_address`: the IP (port 0 = any) connections come from.
    pub source_address: Option<SocketAddr>,
}

/// Envoy's default overprovisioning factor (percent).
pub const DEFAULT_OVERPROVISIONING: u32 = 140;
/// Envoy's default healthy panic threshold (percent).
pub const DEFAULT_PANIC_THRESHOLD: f64 = 50.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub weight: u32,
    pub priority: u32,
    /// Index of the endpoint's locality in its load assignment.
    pub locality: u32,
    /// The locality's `load_balancing_weight` (0 when unset).
    pub locality_weight: u32,
    /// False for `UNHEALTHY`, `DRAINING` and `TIMEOUT` endpoints (flag `/failed_eds_health`).
    pub eds_healthy: bool,
    /// The assignment's `policy.overprovisioning_factor` (percent, default 140).
    pub overprovisioning: u32,
    /// Index into the cluster's `transport_socket_matches`; `None` takes `transport_socket`.
    pub socket_match: Option<u8>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            weight: 1,
            priority: 0,
            locality: 0,
            locality_weight: 0,
            eds_healthy: true,
            overprovisioning: DEFAULT_OVERPROVISIONING,
            socket_match: None,
        }
    }
}

pub fn build_cluster(c: &m::Cluster) -> Result<Cluster> {
    let resource = format!("Cluster {}", c.name);
    let at = At::new(&resource);
    if c.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    let tls =
        super::tls::build_upstream(&at.field("transport_socket"), c.transport_socket.as_ref())?;
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
        m::DiscoveryType::StrictDns | m::DiscoveryType::LogicalDns => {
            Discovery::Dns(dns_config(&at, c)?)
        }
        m::DiscoveryType::OriginalDst => {
            if c.original_dst_lb_config
                .as_ref()
                .is_some_and(|o| o.use_http_header)
            {
                return Err(at
                    .field("original_dst_lb_config.use_http_header")
                    .err("is not supported"));
            }
            Discovery::OriginalDst {
                cleanup_interval: c.cleanup_interval.map_or(Duration::from_secs(5), |d| d.0),
            }
        }
    };
    let lb = lb_policy(&at, c)?;
    let (protocol, idle_timeout) = protocol_of(&at, c)?;
    let tls_matches = socket_match::build_matches(&at, c)?;
    let endpoints = match (&discovery, &c.load_assignment) {
        (Discovery::Static, Some(la)) => {
            let mut eps = build_endpoints(&at.field("load_assignment"), la)?;
            socket_match::assign(&tls_matches, la, &mut eps);
            eps
        }
        _ => Vec::new(),
    };
    let (panic_threshold, locality_weighted) = common_lb(&at, c)?;
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
        breakers: policy::breakers(&at, c.circuit_breakers.as_ref())?,
        outlier: policy::outlier(&at, c.outlier_detection.as_ref())?,
        panic_threshold,
        locality_weighted,
        tls: tls.map(Arc::new),
        tls_matches: Arc::new(tls_matches),
        source_address: source_address(&at, c)?,
    })
}

fn source_address(at: &At<'_>, c: &m::Cluster) -> Result<Option<SocketAddr>> {
    let Some(sa) = c
        .upstream_bind_config
        .as_ref()
        .and_then(|b| b.source_address.clone())
    else {
        return Ok(None);
    };
    let addr = Address {
        socket_address: Some(sa),
    };
    socket_addr(&at.field("upstream_bind_config.source_address"), &addr).map(Some)
}

fn lb_policy(at: &At<'_>, c: &m::Cluster) -> Result<LbPolicy> {
    let original_dst = c.kind == m::DiscoveryType::OriginalDst;
    let lat = at.field("lb_policy");
    if original_dst != (c.lb_policy == m::LbPolicy::ClusterProvided) {
        return Err(lat.err("ORIGINAL_DST clusters need CLUSTER_PROVIDED and only they take it"));
    }
    Ok(match c.lb_policy {
        m::LbPolicy::RoundRobin => LbPolicy::RoundRobin,
        m::LbPolicy::Random => LbPolicy::Random,
        m::LbPolicy::LeastRequest => LbPolicy::LeastRequest,
        m::LbPolicy::ClusterProvided => LbPolicy::ClusterProvided,
        m::LbPolicy::RingHash => {
            let (min, max) = policy::ring_sizes(at, c.ring_hash_lb_config.as_ref())?;
            LbPolicy::RingHash {
                min_ring_size: min,
                max_ring_size: max,
            }
        }
        m::LbPolicy::Maglev => LbPolicy::Maglev {
            table_size: policy::maglev_size(at, c.maglev_lb_config.as_ref())?,
        },
    })
}

fn common_lb(at: &At<'_>, c: &m::Cluster) -> Result<(f64, bool)> {
    let Some(common) = &c.common_lb_config else {
        return Ok((DEFAULT_PANIC_THRESHOLD, false));
    };
    let panic = common
        .healthy_panic_threshold
        .map_or(DEFAULT_PANIC_THRESHOLD, |p| p.value);
    if !(0.0..=100.0).contains(&panic) {
        return Err(at
            .field("common_lb_config.healthy_panic_threshold")
            .err("must be between 0 and 100"));
    }
    Ok((panic, common.locality_weighted_lb_config.is_some()))
}

fn dns_config(at: &At<'_>, c: &m::Cluster) -> Result<DnsConfig> {
    let lat = at.field("load_assignment");
    let la = c
        .load_assignment
        .as_ref()
        .ok_or_else(|| lat.err("is required for STRICT_DNS and LOGICAL_DNS clusters"))?;
    let mut targets = Vec::new();
    walk_endpoints(&lat, la, |eat, ep, template| {
        let sa = ep
            .endpoint
            .as_ref()
            .and_then(|e| e.address.as_ref())
            .and_then(|a| a.socket_address.as_ref())
            .ok_or_else(|| {
                eat.field("endpoint.address.socket_address")
                    .err("is required")
            })?;
        let port = u16::try_from(sa.port_value).map_err(|_| {
            eat.field("endpoint.address.socket_address.port_value")
                .err("must be at most 65535")
        })?;
        if sa.address.is_empty() {
            return Err(eat
                .field("endpoint.address.socket_address.address")
                .err("must not be empty"));
        }
        targets.push(DnsTarget {
            hostname: sa.address.clone(),
            template: Endpoint {
                addr: SocketAddr::from(([0, 0, 0, 0], port)),
                ..template
            },
        });
        Ok(())
    })?;
    if c.kind == m::DiscoveryType::LogicalDns && targets.len() != 1 {
        return Err(lat.err("LOGICAL_DNS clusters take exactly one endpoint"));
    }
    Ok(DnsConfig {
        logical: c.kind == m::DiscoveryType::LogicalDns,
        refresh_rate: c.dns_refresh_rate.map_or(dns::DEFAULT_REFRESH, |d| d.0),
        family: c.dns_lookup_family,
        targets,
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

/// Calls `f` for every lb endpoint of an assignment with its path and an endpoint template
/// carrying weight, priority, locality, EDS health and overprovisioning factor.
fn walk_endpoints(
    at: &At<'_>,
    la: &m::ClusterLoadAssignment,
    mut f: impl FnMut(&At<'_>, &m::LbEndpoint, Endpoint) -> Result<()>,
) -> Result<()> {
    let overprovisioning = la
        .policy
        .as_ref()
        .and_then(|p| p.overprovisioning_factor)
        .unwrap_or(DEFAULT_OVERPROVISIONING);
    if overprovisioning == 0 {
        return Err(at
            .field("policy.overprovisioning_factor")
            .err("must be at least 1"));
    }
    for (i, loc) in la.endpoints.iter().enumerate() {
        let lat = at.field("endpoints").index(i);
        if loc.load_balancing_weight == Some(0) {
            return Err(lat.field("load_balancing_weight").err("must be at least 1"));
        }
        for (j, ep) in loc.lb_endpoints.iter().enumerate() {
            let eat = lat.field("lb_endpoints").index(j);
            let weight = ep.load_balancing_weight.unwrap_or(1);
            if weight == 0 {
                return Err(eat.field("load_balancing_weight").err("must be at least 1"));
            }
            let eds_healthy = !matches!(
                ep.health_status.as_deref(),
                Some("UNHEALTHY" | "DRAINING" | "TIMEOUT")
            );
            let template = Endpoint {
                weight,
                priority: loc.priority,
                locality: u32::try_from(i).unwrap_or(u32::MAX),
                locality_weight: loc.load_balancing_weight.unwrap_or(0),
                eds_healthy,
                overprovisioning,
                ..Endpoint::default()
            };
            f(&eat, ep, template)?;
        }
    }
    Ok(())
}

/// Converts a load assignment (inline or from EDS) into a flat endpoint list with priorities,
/// localities and EDS health (unhealthy endpoints are kept, marked, and never picked).
pub fn build_endpoints(at: &At<'_>, la: &m::ClusterLoadAssignment) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    walk_endpoints(at, la, |eat, ep, template| {
        let addr = ep
            .endpoint
            .as_ref()
            .and_then(|e| e.address.as_ref())
            .ok_or_else(|| eat.field("endpoint.address").err("is required"))?;
        let addr = socket_addr(&eat.field("endpoint.address"), addr).map_err(|mut e| {
            if e.reason.ends_with("is not an IP address") {
                e.reason
                    .push_str(" (host names need a STRICT_DNS or LOGICAL_DNS cluster)");
            }
            e
        })?;
        out.push(Endpoint { addr, ..template });
        Ok(())
    })?;
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
