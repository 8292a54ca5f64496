//! Envoy xDS v3 wire types shared by weft's proxy and (later) its control plane.
//!
//! This crate owns the protobuf types (re-exported from `envoy-types`, prost + tonic, no protoc
//! needed), the type URLs weft speaks and the helpers that pack and unpack `Any`. It holds no
//! semantics: conversion to runtime config lives in `weft-proxy-config`, serving or consuming
//! xDS lives in the proxy and control-plane crates.

pub use envoy_types::pb;
pub use prost;

use pb::google::protobuf::Any;
use prost::{Message, Name};

/// Type URLs of the resources and extensions weft understands.
pub mod type_url {
    pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
    pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    pub const ROUTE_CONFIGURATION: &str =
        "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    pub const CLUSTER_LOAD_ASSIGNMENT: &str =
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    pub const TCP_PROXY: &str =
        "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
    pub const HTTP_CONNECTION_MANAGER: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
    pub const HTTP_PROTOCOL_OPTIONS: &str =
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    pub const FILE_ACCESS_LOG: &str =
        "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
    pub const STDOUT_ACCESS_LOG: &str =
        "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
    pub const TLS_INSPECTOR: &str =
        "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
    pub const HTTP_INSPECTOR: &str =
        "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
    pub const ORIGINAL_DST: &str =
        "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst";
}

/// Why an `Any` could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum AnyError {
    #[error("expected type {expected}, got {got}")]
    WrongType { expected: String, got: String },
    #[error("cannot decode {type_url}: {source}")]
    Decode {
        type_url: String,
        #[source]
        source: prost::DecodeError,
    },
}

/// Packs a message into an `Any` with its canonical type URL.
pub fn pack<T: Name + Message>(msg: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// Unpacks an `Any` holding a `T`, checking the type URL first.
pub fn unpack<T: Name + Message + Default>(any: &Any) -> Result<T, AnyError> {
    let expected = T::type_url();
    if !same_type(&any.type_url, &expected) {
        return Err(AnyError::WrongType {
            expected,
            got: any.type_url.clone(),
        });
    }
    T::decode(any.value.as_slice()).map_err(|source| AnyError::Decode {
        type_url: any.type_url.clone(),
        source,
    })
}

/// Compares type URLs by their message name, so `type.googleapis.com/x.Y` equals `x.Y`.
pub fn same_type(a: &str, b: &str) -> bool {
    message_name(a) == message_name(b)
}

/// The fully qualified message name of a type URL (the part after the last `/`).
pub fn message_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// Converts JSON into a `google.protobuf.Struct` (non-objects give an empty struct).
pub fn struct_from_json(v: &serde_json::Value) -> pb::google::protobuf::Struct {
    let fields = match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), value_from_json(v)))
            .collect(),
        _ => Default::default(),
    };
    pb::google::protobuf::Struct { fields }
}

fn value_from_json(v: &serde_json::Value) -> pb::google::protobuf::Value {
    use pb::google::protobuf::value::Kind;
    use pb::google::protobuf::{ListValue, Value};
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(value_from_json).collect(),
        }),
        serde_json::Value::Object(_) => Kind::StructValue(struct_from_json(v)),
    };
    Value { kind: Some(kind) }
}

/// Converts a `google.protobuf.Struct` into a JSON object.
pub fn struct_to_json(s: &pb::google::protobuf::Struct) -> serde_json::Value {
    let mut keys: Vec<&String> = s.fields.keys().collect();
    keys.sort();
    serde_json::Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), value_to_json(&s.fields[k])))
            .collect(),
    )
}

fn value_to_json(v: &pb::google::protobuf::Value) -> serde_json::Value {
    use pb::google::protobuf::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => (*b).into(),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(s)) => s.clone().into(),
        Some(Kind::ListValue(l)) => l.values.iter().map(value_to_json).collect(),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::envoy::config::cluster::v3::Cluster;
    use pb::envoy::config::listener::v3::Listener;

    #[test]
    fn pack_and_unpack_round_trip() {
        let c = Cluster {
            name: "a".into(),
            ..Default::default()
        };
        let any = pack(&c);
        assert_eq!(any.type_url, type_url::CLUSTER);
        let back: Cluster = unpack(&any).expect("unpack");
        assert_eq!(back.name, "a");
    }

    #[test]
    fn unpack_rejects_other_type() {
        let any = pack(&Cluster::default());
        let err = unpack::<Listener>(&any).expect_err("wrong type");
        assert!(err.to_string().contains("expected type"), "{err}");
    }

    #[test]
    fn struct_json_round_trip() {
        let v = serde_json::json!({"a": "x", "b": [true, 2.5], "c": {"d": null}});
        assert_eq!(struct_to_json(&struct_from_json(&v)), v);
    }

    #[test]
    fn type_urls_match_generated_names() {
        use pb::envoy::config::route::v3::RouteConfiguration;
        use pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
        assert_eq!(
            RouteConfiguration::type_url(),
            type_url::ROUTE_CONFIGURATION
        );
        assert_eq!(
            HttpConnectionManager::type_url(),
            type_url::HTTP_CONNECTION_MANAGER
        );
        assert!(same_type("x.Y", "type.googleapis.com/x.Y"));
    }
}
