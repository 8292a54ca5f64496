//! Renders packed xDS resources as Envoy's canonical proto3 JSON (the shape of a config dump),
//! using descriptors compiled at test time from the `.proto` files `envoy-types` ships.

use std::path::PathBuf;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

const ROOTS: &[&str] = &[
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/http/fault/v3/fault.proto",
    "envoy/extensions/filters/http/cors/v3/cors.proto",
    "envoy/extensions/filters/http/rbac/v3/rbac.proto",
    "envoy/extensions/filters/network/rbac/v3/rbac.proto",
    "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
    "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
    "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
    "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
    "envoy/extensions/transport_sockets/tls/v3/tls.proto",
    "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
    "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
    "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
];

/// The `proto/` directory of the `envoy-types` crate in cargo's registry.
fn proto_dir() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let src = home.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("cargo registry sources")
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("envoy-types-0.7."))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("envoy-types sources in the cargo registry")
        .join("proto")
}

pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = proto_dir();
        let includes: Vec<PathBuf> = [
            "data-plane-api",
            "xds",
            "protoc-gen-validate",
            "googleapis",
            "cel-spec/proto",
            "opentelemetry-proto",
            "client_model",
        ]
        .iter()
        .map(|d| dir.join(d))
        .collect();
        let set = protox::compile(ROOTS, includes).expect("compile envoy protos");
        DescriptorPool::from_file_descriptor_set(set).expect("descriptor pool")
    })
}

/// JSON of one packed resource.
pub fn any_to_json(type_url: &str, bytes: &[u8]) -> serde_json::Value {
    let name = type_url.rsplit('/').next().unwrap_or(type_url);
    let desc = pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("no descriptor for {name}"));
    let msg = DynamicMessage::decode(desc, bytes).expect("decode");
    let opts = SerializeOptions::new().stringify_64_bit_integers(false);
    let mut json = msg
        .serialize_with_options(serde_json::value::Serializer, &opts)
        .expect("serialize");
    sort_maps(&mut json);
    json
}

/// Protobuf maps the translation fills with several entries, rendered in key order (they
/// decode into hash maps, whose order changes from run to run).
const MAP_FIELDS: &[&str] = &["providers", "policies"];

fn sort_maps(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if MAP_FIELDS.contains(&k.as_str())
                    && let serde_json::Value::Object(entries) = child
                {
                    entries.sort_keys();
                }
                sort_maps(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_maps),
        _ => {}
    }
}
