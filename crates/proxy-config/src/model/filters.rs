//! HTTP filter configs weft implements besides the router: `envoy.filters.http.fault`
//! (`HTTPFault`) and `envoy.filters.http.cors` (`Cors`, per route `CorsPolicy`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::core::{Dur, StringMatcher};

pub const FAULT_FILTER: &str = "envoy.filters.http.fault";
pub const CORS_FILTER: &str = "envoy.filters.http.cors";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Denominator {
    #[default]
    Hundred,
    TenThousand,
    Million,
}

impl Denominator {
    pub fn value(self) -> u32 {
        match self {
            Self::Hundred => 100,
            Self::TenThousand => 10_000,
            Self::Million => 1_000_000,
        }
    }
}

/// `envoy.type.v3.FractionalPercent`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FractionalPercent {
    pub numerator: u32,
    pub denominator: Denominator,
}

/// `envoy.config.core.v3.RuntimeFractionalPercent`; weft has no runtime, so only the default
/// value counts (`runtime_key` is kept for dumps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeFractionalPercent {
    pub default_value: Option<FractionalPercent>,
    pub runtime_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFault {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
    pub max_active_faults: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultDelay {
    pub fixed_delay: Option<Dur>,
    /// `{}`: the delay comes from the `x-envoy-fault-delay-request` header.
    pub header_delay: Option<Value>,
    pub percentage: Option<FractionalPercent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultAbort {
    pub http_status: Option<u32>,
    pub grpc_status: Option<u32>,
    /// `{}`: the status comes from `x-envoy-fault-abort-request` / `-grpc-request`.
    pub header_abort: Option<Value>,
    pub percentage: Option<FractionalPercent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsPolicy {
    pub allow_origin_string_match: Vec<StringMatcher>,
    pub allow_methods: String,
    pub allow_headers: String,
    pub expose_headers: String,
    pub max_age: String,
    pub allow_credentials: Option<bool>,
}

/// A `typed_per_filter_config` value, selected by its `@type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum PerFilterConfig {
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault")]
    Fault(HttpFault),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy")]
    Cors(CorsPolicy),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute")]
    Rbac(super::rbac::RbacPerRoute),
}

/// `typed_per_filter_config`, keyed by filter name.
pub type PerFilterConfigs = BTreeMap<String, PerFilterConfig>;
