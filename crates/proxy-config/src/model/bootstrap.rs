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
    pub secrets: Vec<super::tls::Secret>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicResources {
    pub lds_config: Option<ConfigSource>,
    pub cds_config: Option<ConfigSource>,
    pub ads_config: Option<ApiConfigSource>,
}

/// `dynamic_resources.ads_config.api_type`: which ADS protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdsApiType {
    /// `GRPC` (or unset): state of the world, `StreamAggregatedResources`.
    Grpc,
    /// `DELTA_GRPC`: incremental xDS, `DeltaAggregatedResources`.
    DeltaGrpc,
}

impl AdsApiType {
    /// Reads an `api_type` value; the error says which values are supported.
    pub fn parse(value: Option<&str>) -> Result<AdsApiType, String> {
        match value {
            None | Some("GRPC") => Ok(AdsApiType::Grpc),
            Some("DELTA_GRPC") => Ok(AdsApiType::DeltaGrpc),
            Some(other) => Err(format!(
                "{other:?} is not supported for ADS (GRPC or DELTA_GRPC)"
            )),
        }
    }

    /// The name `/debug/ads` shows.
    pub fn mode(self) -> &'static str {
        match self {
            AdsApiType::Grpc => "sotw",
            AdsApiType::DeltaGrpc => "delta",
        }
    }
}

impl DynamicResources {
    /// The ADS protocol, `None` without `ads_config`.
    pub fn ads_api_type(&self) -> Result<Option<AdsApiType>, String> {
        self.ads_config
            .as_ref()
            .map(|a| AdsApiType::parse(a.api_type.as_deref()))
            .transpose()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    pub address: Option<Address>,
    pub access_log_path: String,
    pub access_log: Vec<AccessLog>,
}
