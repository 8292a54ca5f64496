//! `envoy.config.listener.v3` plus the network and listener filters weft implements.

use serde::{Deserialize, Serialize};

use super::core::{Address, CidrRange, Dur};
use super::http::HttpConnectionManager;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listener {
    pub name: String,
    pub address: Option<Address>,
    pub stat_prefix: String,
    pub filter_chains: Vec<FilterChain>,
    pub default_filter_chain: Option<FilterChain>,
    pub listener_filters: Vec<ListenerFilter>,
    pub listener_filters_timeout: Option<Dur>,
    pub continue_on_listener_filters_timeout: bool,
    pub use_original_dst: Option<bool>,
    pub bind_to_port: Option<bool>,
    pub traffic_direction: Option<String>,
    pub per_connection_buffer_limit_bytes: Option<u32>,
    pub access_log: Vec<AccessLog>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterChain {
    pub name: String,
    pub filter_chain_match: Option<FilterChainMatch>,
    pub filters: Vec<Filter>,
    pub transport_socket: Option<super::tls::TransportSocket>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterChainMatch {
    pub destination_port: Option<u32>,
    pub prefix_ranges: Vec<CidrRange>,
    pub source_prefix_ranges: Vec<CidrRange>,
    pub source_ports: Vec<u32>,
    pub server_names: Vec<String>,
    pub transport_protocol: String,
    pub application_protocols: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    pub name: String,
    pub typed_config: Option<NetworkFilterConfig>,
}

/// The `typed_config` of a network filter, selected by its `@type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum NetworkFilterConfig {
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")]
    TcpProxy(TcpProxy),
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    )]
    HttpConnectionManager(Box<HttpConnectionManager>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC")]
    Rbac(super::rbac::NetworkRbac),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpProxy {
    pub stat_prefix: String,
    pub cluster: Option<String>,
    pub weighted_clusters: Option<TcpWeightedClusters>,
    pub idle_timeout: Option<Dur>,
    pub access_log: Vec<AccessLog>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpWeightedClusters {
    pub clusters: Vec<TcpClusterWeight>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpClusterWeight {
    pub name: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerFilter {
    pub name: String,
    pub typed_config: Option<ListenerFilterConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum ListenerFilterConfig {
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
    )]
    TlsInspector {},
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"
    )]
    HttpInspector {},
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
    )]
    OriginalDst {},
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessLog {
    pub name: String,
    pub typed_config: Option<AccessLogConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum AccessLogConfig {
    #[serde(rename = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog")]
    File(FileAccessLog),
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
    )]
    Stdout(StdoutAccessLog),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileAccessLog {
    pub path: String,
    pub format: Option<String>,
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdoutAccessLog {
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogFormat {
    pub text_format_source: Option<super::core::DataSource>,
    pub text_format: Option<String>,
}
