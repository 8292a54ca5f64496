//! Shared Envoy core types (`envoy.config.core.v3`, `envoy.type.matcher.v3`) of the subset.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A `google.protobuf.Duration` in its JSON form: seconds with an `s` suffix (`"0.25s"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            s.serialize_str(&format!("{}s", d.as_secs()))
        } else {
            s.serialize_str(&format!("{}s", d.as_secs_f64()))
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a protobuf JSON duration (`"5s"`, `"0.250s"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("invalid duration {text:?}: use seconds with an 's' suffix, e.g. \"0.25s\"");
    let num = text.strip_suffix('s').ok_or_else(bad)?;
    let secs: f64 = num.parse().map_err(|_| bad())?;
    if !secs.is_finite() || !(0.0..=315_576_000_000.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    pub socket_address: Option<SocketAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketAddress {
    pub protocol: Option<String>,
    pub address: String,
    pub port_value: u32,
    pub ipv4_compat: bool,
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port_value)
        } else {
            write!(f, "{}:{}", self.address, self.port_value)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CidrRange {
    pub address_prefix: String,
    pub prefix_len: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppendAction {
    #[default]
    AppendIfExistsOrAdd,
    AddIfAbsent,
    OverwriteIfExistsOrAdd,
    OverwriteIfExists,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderValueOption {
    pub header: HeaderValue,
    /// Deprecated in Envoy but still common: `false` means overwrite.
    pub append: Option<bool>,
    pub append_action: Option<AppendAction>,
    pub keep_empty_value: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegexMatcher {
    pub regex: String,
    /// Accepted for compatibility; RE2 semantics are approximated by Rust's `regex`.
    pub google_re2: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StringMatcher {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub contains: Option<String>,
    pub safe_regex: Option<RegexMatcher>,
    pub ignore_case: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Int64Range {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderMatcher {
    pub name: String,
    pub exact_match: Option<String>,
    pub safe_regex_match: Option<RegexMatcher>,
    pub range_match: Option<Int64Range>,
    pub present_match: Option<bool>,
    pub prefix_match: Option<String>,
    pub suffix_match: Option<String>,
    pub contains_match: Option<String>,
    pub string_match: Option<StringMatcher>,
    pub invert_match: bool,
    pub treat_missing_header_as_empty: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryParameterMatcher {
    pub name: String,
    pub string_match: Option<StringMatcher>,
    pub present_match: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSource {
    pub inline_string: Option<String>,
    /// Base64 in JSON/YAML, as protobuf JSON writes `bytes`.
    pub inline_bytes: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Node {
    pub id: String,
    pub cluster: String,
    pub metadata: Option<Value>,
    pub locality: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigSource {
    pub ads: Option<Value>,
    pub api_config_source: Option<ApiConfigSource>,
    pub resource_api_version: Option<String>,
    pub initial_fetch_timeout: Option<Dur>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfigSource {
    pub api_type: Option<String>,
    pub transport_api_version: Option<String>,
    pub grpc_services: Vec<GrpcService>,
    pub set_node_on_first_message_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcService {
    pub envoy_grpc: Option<EnvoyGrpc>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvoyGrpc {
    pub cluster_name: String,
}

/// An empty message such as `ads: {}` or `http2_protocol_options: {}`; unknown content is
/// kept (not interpreted) so that dumps show what was given.
pub type Empty = Value;

/// Removes proto3 default values (null, false, 0, "", [], {}) so that dumps look like Envoy's.
pub fn prune_defaults(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                prune_defaults(child);
            }
            map.retain(|k, child| k == "@type" || !is_default(child));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_defaults),
        _ => {}
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.25s"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
        let json = serde_json::to_string(&Dur(Duration::from_millis(1500))).expect("ser");
        assert_eq!(json, "\"1.5s\"");
    }

    #[test]
    fn prune_keeps_type_and_drops_defaults() {
        let mut v = serde_json::json!({"@type": "t", "a": null, "b": [], "c": {"d": 0}, "e": 1});
        prune_defaults(&mut v);
        assert_eq!(v, serde_json::json!({"@type": "t", "e": 1}));
    }
}
