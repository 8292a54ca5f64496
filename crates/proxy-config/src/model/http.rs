//! The HTTP connection manager and the HTTP filters weft implements.

use serde::{Deserialize, Serialize};

use super::core::{ConfigSource, Dur};
use super::listener::AccessLog;
use super::route::RouteConfiguration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CodecType {
    #[default]
    Auto,
    Http1,
    Http2,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConnectionManager {
    pub stat_prefix: String,
    pub codec_type: CodecType,
    pub route_config: Option<RouteConfiguration>,
    pub rds: Option<Rds>,
    pub http_filters: Vec<HttpFilter>,
    pub access_log: Vec<AccessLog>,
    pub generate_request_id: Option<bool>,
    pub preserve_external_request_id: bool,
    pub always_set_request_id_in_response: bool,
    pub use_remote_address: Option<bool>,
    pub xff_num_trusted_hops: u32,
    pub skip_xff_append: bool,
    pub server_name: String,
    pub stream_idle_timeout: Option<Dur>,
    pub request_timeout: Option<Dur>,
    pub common_http_protocol_options: Option<CommonHttpProtocolOptions>,
    pub http_protocol_options: Option<serde_json::Value>,
    pub http2_protocol_options: Option<serde_json::Value>,
    pub upgrade_configs: Vec<UpgradeConfig>,
    pub max_request_headers_kb: Option<u32>,
    pub request_headers_timeout: Option<Dur>,
    pub normalize_path: Option<bool>,
    pub merge_slashes: bool,
    pub path_with_escaped_slashes_action: EscapedSlashesAction,
}

/// `path_with_escaped_slashes_action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EscapedSlashesAction {
    /// Envoy's default, which is to keep them.
    #[default]
    ImplementationSpecificDefault,
    KeepUnchanged,
    RejectRequest,
    UnescapeAndRedirect,
    UnescapeAndForward,
}

/// An `Upgrade` token the connection manager lets through (`websocket` …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpgradeConfig {
    pub upgrade_type: String,
    /// Upgrade-specific filter chains are not supported: only an empty list is accepted.
    pub filters: Vec<serde_json::Value>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rds {
    pub config_source: Option<ConfigSource>,
    pub route_config_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonHttpProtocolOptions {
    pub idle_timeout: Option<Dur>,
    pub max_connection_duration: Option<Dur>,
    pub max_headers_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFilter {
    pub name: String,
    pub typed_config: Option<HttpFilterConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum HttpFilterConfig {
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")]
    Router {},
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault")]
    Fault(super::filters::HttpFault),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors")]
    Cors {},
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC")]
    Rbac(super::rbac::HttpRbac),
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
    )]
    JwtAuthn(super::jwt::JwtAuthentication),
}
