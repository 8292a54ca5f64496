//! `envoy.config.bootstrap.v3.Bootstrap` of the subset.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cluster::Cluster;
use super::core::{Address, ApiConfigSource, ConfigSource, Node};
use super::listener::{AccessLog, Listener};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bootstrap {
    pub node: Option<Node>,
    pub static_resources: StaticResources,
    pub dynamic_resources: Option<DynamicResources>,
    pub admin: Option<Admin>,
    /// Accepted so that Istio-style bootstraps load; not interpreted.
    pub layered_runtime: Option<Value>,
    pub stats_config: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticResources {
    pub listeners: Vec<Listener>,
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicResources {
    pub lds_config: Option<ConfigSource>,
    pub cds_config: Option<ConfigSource>,
    pub ads_config: Option<ApiConfigSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    pub address: Option<Address>,
    pub access_log_path: String,
    pub access_log: Vec<AccessLog>,
}
