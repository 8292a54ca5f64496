//! `envoy.config.cluster.v3` and `envoy.config.endpoint.v3` of the subset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::core::{Address, ConfigSource, Dur};
use super::http::CommonHttpProtocolOptions;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscoveryType {
    #[default]
    Static,
    StrictDns,
    LogicalDns,
    Eds,
    OriginalDst,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LbPolicy {
    #[default]
    RoundRobin,
    LeastRequest,
    RingHash,
    Random,
    Maglev,
    ClusterProvided,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    pub alt_stat_name: String,
    #[serde(rename = "type")]
    pub kind: DiscoveryType,
    pub eds_cluster_config: Option<EdsClusterConfig>,
    pub connect_timeout: Option<Dur>,
    pub lb_policy: LbPolicy,
    pub load_assignment: Option<ClusterLoadAssignment>,
    pub http2_protocol_options: Option<Value>,
    pub typed_extension_protocol_options: BTreeMap<String, ProtocolOptions>,
    /// Accepted and shown in dumps; limits are not enforced yet.
    pub circuit_breakers: Option<Value>,
    /// TLS origination is not implemented: a cluster with a transport socket is rejected.
    pub transport_socket: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdsClusterConfig {
    pub eds_config: Option<ConfigSource>,
    pub service_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum ProtocolOptions {
    #[serde(rename = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    Http(HttpProtocolOptions),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpProtocolOptions {
    pub explicit_http_config: Option<ExplicitHttpConfig>,
    pub use_downstream_protocol_config: Option<Value>,
    pub common_http_protocol_options: Option<CommonHttpProtocolOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplicitHttpConfig {
    pub http_protocol_options: Option<Value>,
    pub http2_protocol_options: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterLoadAssignment {
    pub cluster_name: String,
    pub endpoints: Vec<LocalityLbEndpoints>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalityLbEndpoints {
    pub locality: Option<Value>,
    pub lb_endpoints: Vec<LbEndpoint>,
    pub load_balancing_weight: Option<u32>,
    pub priority: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LbEndpoint {
    pub endpoint: Option<Endpoint>,
    pub health_status: Option<String>,
    pub load_balancing_weight: Option<u32>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Endpoint {
    pub address: Option<Address>,
    pub hostname: String,
}
