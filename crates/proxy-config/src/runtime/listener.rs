//! Compiled listeners: filter chains with their match and their single terminal network filter
//! (`tcp_proxy` or `http_connection_manager`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::chain_match::{ChainMatch, build_chain_match};
use super::cluster::socket_addr;
use super::fault::{Fault, compile_fault};
use super::route::{ClusterChoice, RouteTable, WeightedCluster, build_route_table_at};
use super::upgrade::{Upgrades, compile_hcm_upgrades};
use crate::access_log::Format;
use crate::error::{At, Result};
use crate::model::http::{self as m_http, CodecType, HttpConnectionManager, HttpFilterConfig};
use crate::model::listener::{
    self as m, AccessLogConfig, ListenerFilterConfig, NetworkFilterConfig,
};

/// Envoy's default `listener_filters_timeout`.
pub const DEFAULT_INSPECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Listener {
    pub name: String,
    pub addr: SocketAddr,
    pub stat_prefix: String,
    pub use_original_dst: bool,
    /// The `original_dst` listener filter: chains match on (and upstreams see) the
    /// destination before iptables REDIRECT, as on `virtualInbound`.
    pub original_dst_filter: bool,
    pub bind_to_port: bool,
    pub tls_inspector: bool,
    pub http_inspector: bool,
    /// `listener_filters_timeout`: how long the inspectors wait for the client's first bytes;
    /// `None` when set to 0, which Envoy reads as "no timeout".
    pub inspect_timeout: Option<Duration>,
    /// `continue_on_listener_filters_timeout`: at the timeout, match filter chains with what
    /// is known (a server-first protocol reaches the default chain) instead of closing.
    pub continue_on_inspect_timeout: bool,
    pub chains: Vec<FilterChain>,
    pub default_chain: Option<FilterChain>,
}

#[derive(Debug)]
pub struct FilterChain {
    pub name: String,
    pub matcher: ChainMatch,
    /// `transport_socket`: TLS terminated on this chain.
    pub tls: Option<Arc<super::tls::DownstreamTls>>,
    /// Network RBAC filters before the terminal filter, in order.
    pub rbac: Vec<Arc<super::rbac::Rbac>>,
    pub kind: NetworkKind,
}

#[derive(Debug)]
pub enum NetworkKind {
    Tcp(Arc<TcpProxy>),
    Http(Arc<Hcm>),
}

#[derive(Debug)]
pub struct TcpProxy {
    pub stat_prefix: String,
    pub clusters: ClusterChoice,
    pub idle_timeout: Option<Duration>,
    pub access_log: Vec<AccessLogSink>,
}

#[derive(Debug)]
pub enum RouteSource {
    Inline(Arc<RouteTable>),
    Rds(String),
}

#[derive(Debug)]
pub struct Hcm {
    pub stat_prefix: String,
    pub codec: CodecType,
    pub routes: RouteSource,
    pub access_log: Vec<AccessLogSink>,
    pub generate_request_id: bool,
    pub preserve_external_request_id: bool,
    pub always_set_request_id_in_response: bool,
    pub use_remote_address: bool,
    /// Trusted proxies in front of this one: the client is this many entries from the right
    /// of `x-forwarded-for` (RBAC `remote_ip`); 0 trusts only the connection's peer.
    pub xff_num_trusted_hops: u32,
    pub skip_xff_append: bool,
    pub server_name: String,
    /// `request_timeout`: the whole request must arrive within it (`None`: no limit).
    pub request_timeout: Option<Duration>,
    /// `stream_idle_timeout` (default 5 min, `0s` disables): a stream with no bytes either way.
    pub stream_idle_timeout: Option<Duration>,
    /// `common_http_protocol_options.idle_timeout` (default 1 h, `0s` disables): a connection
    /// without streams.
    pub idle_timeout: Option<Duration>,
    /// `common_http_protocol_options.max_connection_duration` (`None`: unlimited).
    pub max_connection_duration: Option<Duration>,
    /// `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`.
    pub path_normalization: super::path_normalize::PathNormalization,
    /// The HTTP filters before the router, in order.
    pub http_filters: Vec<HttpFilter>,
    /// `upgrade_configs`: the `Upgrade` tokens let through.
    pub upgrades: Upgrades,
    /// `max_request_headers_kb` in bytes (default 60 KiB).
    pub max_request_headers_bytes: usize,
    /// `common_http_protocol_options.max_headers_count` (default 100).
    pub max_headers_count: usize,
    /// `request_headers_timeout`; `None` when unset or `0s`.
    pub request_headers_timeout: Option<Duration>,
    /// Requests currently delayed or aborted by this manager's fault filters
    /// (`max_active_faults`).
    pub active_faults: AtomicU64,
}

#[derive(Debug)]
pub struct HttpFilter {
    /// The name routes key their `typed_per_filter_config` by.
    pub name: String,
    pub kind: HttpFilterKind,
}

#[derive(Debug)]
pub enum HttpFilterKind {
    /// The filter's own `HTTPFault`; a route override replaces it.
    Fault(Arc<Fault>),
    /// Acts only where a route or virtual host has a `CorsPolicy`.
    Cors,
    /// `envoy.filters.http.rbac`.
    Rbac(Arc<super::rbac::Rbac>),
    /// `envoy.filters.http.jwt_authn`.
    JwtAuthn(Arc<super::jwt::JwtAuthn>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct AccessLogSink {
    pub target: LogTarget,
    pub format: Arc<Format>,
}

/// Default TCP proxy idle timeout (Envoy's).
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(3600);
/// Envoy's default `stream_idle_timeout`.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Envoy's default downstream `common_http_protocol_options.idle_timeout`.
pub const DEFAULT_CONN_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Envoy's convention for timeouts with a default: unset takes the default, `0s` disables.
fn or_default(d: Option<crate::model::core::Dur>, default: Duration) -> Option<Duration> {
    match d {
        None => Some(default),
        Some(d) => (!d.0.is_zero()).then_some(d.0),
    }
}

pub fn build_listener(l: &m::Listener) -> Result<Listener> {
    let resource = format!("Listener {}", l.name);
    let at = At::new(&resource);
    if l.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    let addr = l
        .address
        .as_ref()
        .ok_or_else(|| at.field("address").err("is required"))?;
    let addr = socket_addr(&at.field("address"), addr)?;
    let (mut tls_inspector, mut http_inspector, mut original_dst_filter) = (false, false, false);
    for (i, f) in l.listener_filters.iter().enumerate() {
        match &f.typed_config {
            Some(ListenerFilterConfig::TlsInspector {}) => tls_inspector = true,
            Some(ListenerFilterConfig::HttpInspector {}) => http_inspector = true,
            Some(ListenerFilterConfig::OriginalDst {}) => original_dst_filter = true,
            None => {
                return Err(at
                    .field("listener_filters")
                    .index(i)
                    .field("typed_config")
                    .err("is required"));
            }
        }
    }
    let chains = l
        .filter_chains
        .iter()
        .enumerate()
        .map(|(i, c)| build_chain(&at.field("filter_chains").index(i), c))
        .collect::<Result<Vec<_>>>()?;
    let default_chain = match &l.default_filter_chain {
        Some(c) => Some(build_chain(&at.field("default_filter_chain"), c)?),
        None => None,
    };
    if chains.is_empty() && default_chain.is_none() {
        return Err(at
            .field("filter_chains")
            .err("at least one filter chain is required"));
    }
    Ok(Listener {
        name: l.name.clone(),
        addr,
        stat_prefix: if l.stat_prefix.is_empty() {
            stat_addr(addr)
        } else {
            l.stat_prefix.clone()
        },
        use_original_dst: l.use_original_dst.unwrap_or(false),
        original_dst_filter,
        bind_to_port: l.bind_to_port.unwrap_or(true),
        tls_inspector,
        http_inspector,
        inspect_timeout: match l.listener_filters_timeout {
            None => Some(DEFAULT_INSPECT_TIMEOUT),
            Some(d) if d.0.is_zero() => None,
            Some(d) => Some(d.0),
        },
        continue_on_inspect_timeout: l.continue_on_listener_filters_timeout,
        chains,
        default_chain,
    })
}

/// Envoy's listener stat name for an address: `0.0.0.0_15001`.
pub fn stat_addr(addr: SocketAddr) -> String {
    format!("{}_{}", addr.ip(), addr.port())
}

fn build_chain(at: &At<'_>, c: &m::FilterChain) -> Result<FilterChain> {
    let tls =
        super::tls::build_downstream(&at.field("transport_socket"), c.transport_socket.as_ref())?;
    let matcher = build_chain_match(
        &at.field("filter_chain_match"),
        c.filter_chain_match.as_ref(),
    )?;
    let (last, init) = c.filters.split_last().ok_or_else(|| {
        at.field("filters")
            .err("at least one network filter is required")
    })?;
    let rbac = network_rbac(at, init)?;
    let fat = at
        .field("filters")
        .index(c.filters.len() - 1)
        .field("typed_config");
    let kind = match &last.typed_config {
        Some(NetworkFilterConfig::TcpProxy(t)) => NetworkKind::Tcp(Arc::new(build_tcp(&fat, t)?)),
        Some(NetworkFilterConfig::HttpConnectionManager(h)) => {
            NetworkKind::Http(Arc::new(build_hcm(&fat, h)?))
        }
        Some(NetworkFilterConfig::Rbac(_)) => {
            return Err(fat.err("the last filter must be tcp_proxy or http_connection_manager"));
        }
        None => return Err(fat.err("is required")),
    };
    Ok(FilterChain {
        name: c.name.clone(),
        matcher,
        tls: tls.map(Arc::new),
        rbac,
        kind,
    })
}

/// The filters before the terminal one: network RBAC filters only.
fn network_rbac(at: &At<'_>, init: &[m::Filter]) -> Result<Vec<Arc<super::rbac::Rbac>>> {
    let mut rbac = Vec::new();
    for (i, f) in init.iter().enumerate() {
        let fat = at.field("filters").index(i);
        let Some(NetworkFilterConfig::Rbac(r)) = &f.typed_config else {
            return Err(fat.err(
                "only network RBAC filters may precede the terminal filter \
                 (tcp_proxy or http_connection_manager)",
            ));
        };
        let compiled = super::rbac::compile_network(&fat.field("typed_config"), r)?;
        rbac.push(Arc::new(compiled));
    }
    Ok(rbac)
}

fn build_tcp(at: &At<'_>, t: &m::TcpProxy) -> Result<TcpProxy> {
    if t.stat_prefix.is_empty() {
        return Err(at.field("stat_prefix").err("must not be empty"));
    }
    let clusters = match (&t.cluster, &t.weighted_clusters) {
        (Some(c), None) if !c.is_empty() => ClusterChoice::Single(c.clone()),
        (None, Some(w)) if !w.clusters.is_empty() => ClusterChoice::Weighted(
            w.clusters
                .iter()
                .map(|c| WeightedCluster {
                    name: c.name.clone(),
                    weight: c.weight,
                    headers: Default::default(),
                })
                .collect(),
        ),
        (Some(_), Some(_)) => {
            return Err(at.err("only one of cluster and weighted_clusters may be set"));
        }
        _ => return Err(at.err("one of cluster, weighted_clusters is required")),
    };
    Ok(TcpProxy {
        stat_prefix: t.stat_prefix.clone(),
        clusters,
        idle_timeout: match t.idle_timeout {
            None => Some(DEFAULT_TCP_IDLE),
            Some(d) if d.0.is_zero() => None,
            Some(d) => Some(d.0),
        },
        access_log: build_access_logs(&at.field("access_log"), &t.access_log)?,
    })
}

fn build_hcm(at: &At<'_>, h: &HttpConnectionManager) -> Result<Hcm> {
    if h.stat_prefix.is_empty() {
        return Err(at.field("stat_prefix").err("must not be empty"));
    }
    let routes = match (&h.route_config, &h.rds) {
        (Some(rc), None) => RouteSource::Inline(Arc::new(build_route_table_at(
            &at.field("route_config"),
            rc,
        )?)),
        (None, Some(rds)) if !rds.route_config_name.is_empty() => {
            RouteSource::Rds(rds.route_config_name.clone())
        }
        (None, Some(_)) => return Err(at.field("rds.route_config_name").err("must not be empty")),
        _ => return Err(at.err("exactly one of route_config, rds is required")),
    };
    let http_filters = build_http_filters(&at.field("http_filters"), &h.http_filters)?;
    let ms = |d: Option<crate::model::core::Dur>| d.filter(|d| !d.0.is_zero()).map(|d| d.0);
    let limits = header_limits(at, h)?;
    let common = h.common_http_protocol_options.as_ref();
    Ok(Hcm {
        stat_prefix: h.stat_prefix.clone(),
        codec: h.codec_type,
        routes,
        access_log: build_access_logs(&at.field("access_log"), &h.access_log)?,
        generate_request_id: h.generate_request_id.unwrap_or(true),
        preserve_external_request_id: h.preserve_external_request_id,
        always_set_request_id_in_response: h.always_set_request_id_in_response,
        use_remote_address: h.use_remote_address.unwrap_or(false),
        xff_num_trusted_hops: h.xff_num_trusted_hops,
        skip_xff_append: h.skip_xff_append,
        server_name: if h.server_name.is_empty() {
            "envoy".into()
        } else {
            h.server_name.clone()
        },
        request_timeout: ms(h.request_timeout),
        stream_idle_timeout: or_default(h.stream_idle_timeout, DEFAULT_STREAM_IDLE_TIMEOUT),
        idle_timeout: or_default(
            common.and_then(|o| o.idle_timeout),
            DEFAULT_CONN_IDLE_TIMEOUT,
        ),
        max_connection_duration: ms(common.and_then(|o| o.max_connection_duration)),
        path_normalization: super::path_normalize::PathNormalization {
            normalize: h.normalize_path.unwrap_or(false),
            merge_slashes: h.merge_slashes,
            escaped_slashes: h.path_with_escaped_slashes_action,
        },
        http_filters,
        upgrades: compile_hcm_upgrades(&at.field("upgrade_configs"), &h.upgrade_configs)?,
        max_request_headers_bytes: limits.0,
        max_headers_count: limits.1,
        request_headers_timeout: ms(h.request_headers_timeout),
        active_faults: AtomicU64::new(0),
    })
}

/// `max_request_headers_kb` (1–8192, default 60) in bytes and
/// `common_http_protocol_options.max_headers_count` (at least 1, default 100), as in Envoy.
fn header_limits(at: &At<'_>, h: &HttpConnectionManager) -> Result<(usize, usize)> {
    let kb = h.max_request_headers_kb.unwrap_or(60);
    if !(1..=8192).contains(&kb) {
        return Err(at
            .field("max_request_headers_kb")
            .err("must be between 1 and 8192"));
    }
    let count = h
        .common_http_protocol_options
        .as_ref()
        .and_then(|o| o.max_headers_count)
        .unwrap_or(100);
    if count == 0 {
        return Err(at
            .field("common_http_protocol_options.max_headers_count")
            .err("must be at least 1"));
    }
    Ok((kb as usize * 1024, count as usize))
}

/// The filters before the router; the router must be present and last.
fn build_http_filters(at: &At<'_>, filters: &[m_http::HttpFilter]) -> Result<Vec<HttpFilter>> {
    let mut out = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let fat = at.index(i);
        let last = i + 1 == filters.len();
        let kind = match &f.typed_config {
            Some(HttpFilterConfig::Router {}) if last => return Ok(out),
            Some(HttpFilterConfig::Router {}) => {
                return Err(fat.err("the router filter must be last"));
            }
            Some(HttpFilterConfig::Fault(cfg)) => {
                HttpFilterKind::Fault(Arc::new(compile_fault(&fat.field("typed_config"), cfg)?))
            }
            Some(HttpFilterConfig::Cors {}) => HttpFilterKind::Cors,
            Some(HttpFilterConfig::Rbac(cfg)) => HttpFilterKind::Rbac(Arc::new(
                super::rbac::compile_http(&fat.field("typed_config"), cfg)?,
            )),
            Some(HttpFilterConfig::JwtAuthn(cfg)) => HttpFilterKind::JwtAuthn(Arc::new(
                super::jwt::compile_jwt_authn(&fat.field("typed_config"), cfg)?,
            )),
            None => return Err(fat.field("typed_config").err("is required")),
        };
        out.push(HttpFilter {
            name: f.name.clone(),
            kind,
        });
    }
    if filters.is_empty() {
        return Ok(out);
    }
    Err(at.err("the router filter must be last"))
}

pub fn build_access_logs(at: &At<'_>, logs: &[m::AccessLog]) -> Result<Vec<AccessLogSink>> {
    let mut out = Vec::with_capacity(logs.len());
    for (i, l) in logs.iter().enumerate() {
        let lat = at.index(i).field("typed_config");
        let (target, fmt) = match &l.typed_config {
            Some(AccessLogConfig::File(f)) => {
                if f.path.is_empty() {
                    return Err(lat.field("path").err("must not be empty"));
                }
                let target = if f.path == "/dev/stdout" {
                    LogTarget::Stdout
                } else {
                    LogTarget::File(f.path.clone().into())
                };
                (
                    target,
                    f.format
                        .clone()
                        .or_else(|| text_format(f.log_format.as_ref())),
                )
            }
            Some(AccessLogConfig::Stdout(s)) => {
                (LogTarget::Stdout, text_format(s.log_format.as_ref()))
            }
            None => return Err(lat.err("is required")),
        };
        let format = match fmt {
            Some(text) => Format::parse(&text).map_err(|e| lat.field("log_format").err(e))?,
            None => Format::istio_default(),
        };
        out.push(AccessLogSink {
            target,
            format: Arc::new(format),
        });
    }
    Ok(out)
}

fn text_format(f: Option<&m::LogFormat>) -> Option<String> {
    let f = f?;
    f.text_format_source
        .as_ref()
        .and_then(|s| s.inline_string.clone())
        .or_else(|| f.text_format.clone())
}
