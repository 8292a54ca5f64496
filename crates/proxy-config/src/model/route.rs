//! `envoy.config.route.v3`: route configurations, virtual hosts and routes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::core::{
    DataSource, Dur, HeaderMatcher, HeaderValueOption, QueryParameterMatcher, RegexMatcher,
};
use super::filters::{PerFilterConfigs, RuntimeFractionalPercent};

/// Header mutations shared by route configurations, virtual hosts, routes and weighted
/// clusters (serde's `flatten` does not combine with `deny_unknown_fields`, so each struct
/// carries the four fields itself).
pub trait HasHeaderMutations {
    fn request_add(&self) -> &[HeaderValueOption];
    fn request_remove(&self) -> &[String];
    fn response_add(&self) -> &[HeaderValueOption];
    fn response_remove(&self) -> &[String];
}

macro_rules! header_mutations {
    ($($t:ty),*) => {$(
        impl HasHeaderMutations for $t {
            fn request_add(&self) -> &[HeaderValueOption] { &self.request_headers_to_add }
            fn request_remove(&self) -> &[String] { &self.request_headers_to_remove }
            fn response_add(&self) -> &[HeaderValueOption] { &self.response_headers_to_add }
            fn response_remove(&self) -> &[String] { &self.response_headers_to_remove }
        }
    )*};
}

header_mutations!(RouteConfiguration, VirtualHost, Route, ClusterWeight);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfiguration {
    pub name: String,
    pub virtual_hosts: Vec<VirtualHost>,
    pub request_headers_to_add: Vec<HeaderValueOption>,
    pub request_headers_to_remove: Vec<String>,
    pub response_headers_to_add: Vec<HeaderValueOption>,
    pub response_headers_to_remove: Vec<String>,
    pub validate_clusters: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VirtualHost {
    pub name: String,
    pub domains: Vec<String>,
    pub routes: Vec<Route>,
    pub request_headers_to_add: Vec<HeaderValueOption>,
    pub request_headers_to_remove: Vec<String>,
    pub response_headers_to_add: Vec<HeaderValueOption>,
    pub response_headers_to_remove: Vec<String>,
    pub require_tls: Option<TlsRequirement>,
    pub retry_policy: Option<RetryPolicy>,
    pub include_request_attempt_count: bool,
    pub include_attempt_count_in_response: bool,
    pub typed_per_filter_config: PerFilterConfigs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsRequirement {
    #[default]
    None,
    ExternalOnly,
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match")]
    pub match_: RouteMatch,
    pub route: Option<RouteAction>,
    pub redirect: Option<RedirectAction>,
    pub direct_response: Option<DirectResponseAction>,
    pub request_headers_to_add: Vec<HeaderValueOption>,
    pub request_headers_to_remove: Vec<String>,
    pub response_headers_to_add: Vec<HeaderValueOption>,
    pub response_headers_to_remove: Vec<String>,
    /// Carried for dumps; not interpreted.
    pub metadata: Option<Value>,
    pub decorator: Option<Value>,
    pub typed_per_filter_config: PerFilterConfigs,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteMatch {
    pub prefix: Option<String>,
    pub path: Option<String>,
    pub safe_regex: Option<RegexMatcher>,
    pub path_separated_prefix: Option<String>,
    /// `connect_matcher: {}`: matches CONNECT requests, and only them.
    pub connect_matcher: Option<Value>,
    pub case_sensitive: Option<bool>,
    pub headers: Vec<HeaderMatcher>,
    pub query_parameters: Vec<QueryParameterMatcher>,
    pub grpc: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteAction {
    pub cluster: Option<String>,
    pub weighted_clusters: Option<WeightedClusters>,
    pub prefix_rewrite: Option<String>,
    pub host_rewrite_literal: Option<String>,
    pub regex_rewrite: Option<RegexRewrite>,
    pub timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub retry_policy: Option<RetryPolicy>,
    pub hash_policy: Vec<HashPolicy>,
    pub request_mirror_policies: Vec<RequestMirrorPolicy>,
    pub max_stream_duration: Option<MaxStreamDuration>,
    pub upgrade_configs: Vec<RouteUpgradeConfig>,
}

/// A route's override of a connection manager upgrade (`enabled`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteUpgradeConfig {
    pub upgrade_type: String,
    pub enabled: Option<bool>,
    /// `connect_config: {}` on a CONNECT entry: the proxy terminates CONNECT (answers 200
    /// and tunnels the bytes to the route's cluster). Its fields are not supported.
    pub connect_config: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegexRewrite {
    pub pattern: RegexMatcher,
    pub substitution: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub retry_on: String,
    pub num_retries: Option<u32>,
    pub per_try_timeout: Option<Dur>,
    pub retry_host_predicate: Vec<RetryHostPredicate>,
    pub host_selection_retry_max_attempts: Option<i64>,
    pub retriable_status_codes: Vec<u32>,
    pub retriable_headers: Vec<HeaderMatcher>,
    pub retry_back_off: Option<RetryBackOff>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryHostPredicate {
    pub name: String,
    /// Only `previous_hosts.v3.PreviousHostsPredicate` (empty) is accepted.
    pub typed_config: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryBackOff {
    pub base_interval: Option<Dur>,
    pub max_interval: Option<Dur>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashPolicy {
    pub header: Option<HashHeader>,
    pub cookie: Option<HashCookie>,
    pub connection_properties: Option<HashConnectionProperties>,
    pub query_parameter: Option<HashQueryParameter>,
    /// Rejected when compiled (weft has no filter state).
    pub filter_state: Option<Value>,
    pub terminal: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashHeader {
    pub header_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashCookie {
    pub name: String,
    pub ttl: Option<Dur>,
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashConnectionProperties {
    pub source_ip: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashQueryParameter {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestMirrorPolicy {
    pub cluster: String,
    pub runtime_fraction: Option<RuntimeFractionalPercent>,
    /// Accepted; weft does no tracing.
    pub trace_sampled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxStreamDuration {
    pub max_stream_duration: Option<Dur>,
    pub grpc_timeout_header_max: Option<Dur>,
    pub grpc_timeout_header_offset: Option<Dur>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeightedClusters {
    pub clusters: Vec<ClusterWeight>,
    pub total_weight: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterWeight {
    pub name: String,
    pub weight: Option<u32>,
    pub request_headers_to_add: Vec<HeaderValueOption>,
    pub request_headers_to_remove: Vec<String>,
    pub response_headers_to_add: Vec<HeaderValueOption>,
    pub response_headers_to_remove: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectResponseCode {
    #[default]
    MovedPermanently,
    Found,
    SeeOther,
    TemporaryRedirect,
    PermanentRedirect,
}

impl RedirectResponseCode {
    pub fn status(self) -> u16 {
        match self {
            Self::MovedPermanently => 301,
            Self::Found => 302,
            Self::SeeOther => 303,
            Self::TemporaryRedirect => 307,
            Self::PermanentRedirect => 308,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedirectAction {
    pub https_redirect: bool,
    pub scheme_redirect: Option<String>,
    pub host_redirect: Option<String>,
    pub port_redirect: Option<u32>,
    pub path_redirect: Option<String>,
    pub prefix_rewrite: Option<String>,
    pub response_code: RedirectResponseCode,
    pub strip_query: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectResponseAction {
    pub status: u32,
    pub body: Option<DataSource>,
}
