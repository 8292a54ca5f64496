//! ProxyConfig (`defaultConfig` of MeshConfig, or a pod's `proxy.istio.io/config`): settings of
//! one sidecar or gateway proxy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::Duration;

string_enum!(AuthenticationPolicy { None = "NONE", MutualTls = "MUTUAL_TLS", Inherit = "INHERIT" });
string_enum!(InterceptionMode { Redirect = "REDIRECT", Tproxy = "TPROXY", None = "NONE" });
string_enum!(TracingServiceName {
    AppLabelAndNamespace = "APP_LABEL_AND_NAMESPACE", CanonicalNameOnly = "CANONICAL_NAME_ONLY",
    CanonicalNameAndNamespace = "CANONICAL_NAME_AND_NAMESPACE",
});
string_enum!(ForwardClientCertDetails {
    Undefined = "UNDEFINED", Sanitize = "SANITIZE", ForwardOnly = "FORWARD_ONLY",
    AppendForward = "APPEND_FORWARD", SanitizeSet = "SANITIZE_SET",
    AlwaysForwardOnly = "ALWAYS_FORWARD_ONLY",
});
string_enum!(TraceContext {
    Unspecified = "UNSPECIFIED", W3cTraceContext = "W3C_TRACE_CONTEXT", GrpcBin = "GRPC_BIN",
    CloudTraceContext = "CLOUD_TRACE_CONTEXT", B3 = "B3",
});

/// Opaque sub-trees: deprecated (`sds`, `envoyMetricsServiceAddress`), or typed by the
/// networking model (`readinessProbe`, TLS settings of remote services), or rarely used
/// (`privateKeyProvider`, `proxyHeaders`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_service_name: Option<TracingServiceName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_shutdown_duration: Option<Duration>,
    /// Address of istiod's xDS server (`istiod.istio-system.svc:15012`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_refresh_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statsd_udp_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_metrics_service_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_admin_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_auth_policy: Option<AuthenticationPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_config_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_name_length: Option<i32>,
    /// Worker threads; 0 means one per core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_bootstrap_template_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interception_mode: Option<InterceptionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<ProxyTracing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_access_log_service: Option<RemoteService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_metrics_service: Option<RemoteService>,
    /// Environment of the proxy; `ISTIO_META_*` entries are sent to istiod as node metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_values: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_stat_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_topology: Option<Topology>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_drain_duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_stats_matcher: Option<ProxyStatsMatcher>,
    /// Start the application only once the proxy is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_application_until_proxy_starts: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates_pem: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ProxyImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_provider: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_headers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_flush_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_flush_min_size_kb: Option<u32>,
}

/// The tracer a proxy reports spans to (one of `zipkin`, `lightstep`, `datadog`,
/// `stackdriver`, `openCensusAgent`) and sampling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyTracing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<TracerAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<TracerAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_census_agent: Option<OpenCensusAgent>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_tag_length: Option<u32>,
    /// Percentage 0-100 of requests traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_settings: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracerAddress {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenCensusAgent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<TraceContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteService {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_settings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<Value>,
}

/// Where a gateway sits relative to trusted proxies in front of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topology {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_trusted_proxies: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_client_cert_details: Option<ForwardClientCertDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyStatsMatcher {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_suffixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_regexps: Vec<String>,
}

/// `networking.v1beta1.ProxyImage`: the image flavour (`default`, `debug`, `distroless`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<String>,
}
