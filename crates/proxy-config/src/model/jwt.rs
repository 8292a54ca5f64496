//! `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`: the subset weft accepts
//! (providers with inline or remote JWKS, token locations, outputs, and rules whose match is a
//! path prefix or exact path).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::core::{DataSource, Dur};

pub const JWT_AUTHN_FILTER: &str = "envoy.filters.http.jwt_authn";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtAuthentication {
    pub providers: BTreeMap<String, JwtProvider>,
    pub rules: Vec<RequirementRule>,
    pub bypass_cors_preflight: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtProvider {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub local_jwks: Option<DataSource>,
    pub remote_jwks: Option<RemoteJwks>,
    pub forward: bool,
    pub from_headers: Vec<JwtHeader>,
    pub from_params: Vec<String>,
    pub from_cookies: Vec<String>,
    pub forward_payload_header: String,
    pub pad_forward_payload_header: bool,
    pub payload_in_metadata: String,
    /// 0 means Envoy's default, 60 seconds.
    pub clock_skew_seconds: u32,
    pub claim_to_headers: Vec<JwtClaimToHeader>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteJwks {
    pub http_uri: HttpUri,
    pub cache_duration: Option<Dur>,
}

/// `envoy.config.core.v3.HttpUri`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpUri {
    pub uri: String,
    pub cluster: String,
    pub timeout: Option<Dur>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtHeader {
    pub name: String,
    pub value_prefix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtClaimToHeader {
    pub header_name: String,
    pub claim_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequirementRule {
    #[serde(rename = "match")]
    pub match_: RuleMatch,
    pub requires: Option<JwtRequirement>,
}

/// The part of a `RouteMatch` a rule may use: one of `prefix` or `path`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleMatch {
    pub prefix: Option<String>,
    pub path: Option<String>,
}

/// Exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtRequirement {
    pub provider_name: Option<String>,
    pub requires_any: Option<RequirementList>,
    pub requires_all: Option<RequirementList>,
    /// `{}` when set (an `Empty` message).
    pub allow_missing: Option<Value>,
    pub allow_missing_or_failed: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequirementList {
    pub requirements: Vec<JwtRequirement>,
}
