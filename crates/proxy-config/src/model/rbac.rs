//! Envoy's RBAC configs: the HTTP filter (`envoy.extensions.filters.http.rbac.v3.RBAC`, per
//! route `RBACPerRoute`), the network filter (`envoy.extensions.filters.network.rbac.v3.RBAC`)
//! and the shared rules (`envoy.config.rbac.v3.RBAC`: policies of permissions and principals).
//!
//! Oneofs are structs of optional fields named like Envoy's JSON; compilation
//! (`runtime::rbac`) insists on exactly one being set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::core::{CidrRange, HeaderMatcher, StringMatcher};

pub const HTTP_RBAC_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
pub const HTTP_RBAC_PER_ROUTE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
pub const NETWORK_RBAC_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

/// `envoy.config.rbac.v3.RBAC.Action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    #[default]
    Allow,
    Deny,
    Log,
}

/// `envoy.config.rbac.v3.RBAC`; policies are evaluated in name order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    pub action: Action,
    pub policies: BTreeMap<String, Policy>,
}

/// A policy matches when one permission and one principal match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub permissions: Vec<Permission>,
    pub principals: Vec<Principal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionSet {
    pub rules: Vec<Permission>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrincipalSet {
    pub ids: Vec<Principal>,
}

/// `envoy.type.matcher.v3.PathMatcher`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathMatcher {
    pub path: Option<StringMatcher>,
}

/// `envoy.type.v3.Int32Range`: `[start, end)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Int32Range {
    pub start: i32,
    pub end: i32,
}

/// What a request or connection does (exactly one field set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Permission {
    pub any: Option<bool>,
    pub and_rules: Option<PermissionSet>,
    pub or_rules: Option<PermissionSet>,
    pub not_rule: Option<Box<Permission>>,
    pub header: Option<HeaderMatcher>,
    pub url_path: Option<PathMatcher>,
    pub destination_ip: Option<CidrRange>,
    pub destination_port: Option<u32>,
    pub destination_port_range: Option<Int32Range>,
    pub metadata: Option<MetadataMatcher>,
    pub requested_server_name: Option<StringMatcher>,
}

/// `Principal.Authenticated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Authenticated {
    pub principal_name: Option<StringMatcher>,
}

/// Who sends a request or opens a connection (exactly one field set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Principal {
    pub any: Option<bool>,
    pub and_ids: Option<PrincipalSet>,
    pub or_ids: Option<PrincipalSet>,
    pub not_id: Option<Box<Principal>>,
    pub authenticated: Option<Authenticated>,
    pub direct_remote_ip: Option<CidrRange>,
    pub remote_ip: Option<CidrRange>,
    pub source_ip: Option<CidrRange>,
    pub header: Option<HeaderMatcher>,
    pub url_path: Option<PathMatcher>,
    pub metadata: Option<MetadataMatcher>,
}

/// `MetadataMatcher.PathSegment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathSegment {
    pub key: String,
}

/// `envoy.type.matcher.v3.MetadataMatcher`: the value at `path` of filter namespace `filter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataMatcher {
    pub filter: String,
    pub path: Vec<PathSegment>,
    pub value: Option<ValueMatcher>,
    pub invert: bool,
}

/// `envoy.type.v3.DoubleRange`: `[start, end)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DoubleRange {
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DoubleMatcher {
    pub range: Option<DoubleRange>,
    pub exact: Option<f64>,
}

/// `ListMatcher`: some element of a list matches `one_of`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListMatcher {
    pub one_of: Option<Box<ValueMatcher>>,
}

/// `envoy.type.matcher.v3.ValueMatcher` (exactly one field set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueMatcher {
    pub null_match: Option<serde_json::Value>,
    pub double_match: Option<DoubleMatcher>,
    pub string_match: Option<StringMatcher>,
    pub bool_match: Option<bool>,
    pub present_match: Option<bool>,
    pub list_match: Option<ListMatcher>,
}

/// The HTTP filter's config. Without `rules` the filter enforces nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpRbac {
    pub rules: Option<Rules>,
    pub rules_stat_prefix: String,
    /// Evaluated for stats only.
    pub shadow_rules: Option<Rules>,
    pub shadow_rules_stat_prefix: String,
}

/// `RBACPerRoute`: `rbac` replaces the filter's config; absent, RBAC is off for the route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RbacPerRoute {
    pub rbac: Option<HttpRbac>,
}

/// The network filter's config; checked once per connection before the terminal filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkRbac {
    pub stat_prefix: String,
    pub rules: Option<Rules>,
    pub shadow_rules: Option<Rules>,
    pub shadow_rules_stat_prefix: String,
}
