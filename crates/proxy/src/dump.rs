//! `/config_dump` in Envoy's JSON shape: bootstrap, static and dynamic listeners, clusters,
//! routes and endpoints, with proto3 defaults pruned and secret-looking fields redacted.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};
use weft_proxy_config::access_log::format_time;
use weft_proxy_config::model::cluster::ClusterLoadAssignment;
use weft_proxy_config::model::core::prune_defaults;
use weft_proxy_config::model::{Cluster, Listener, RouteConfiguration};

use crate::state::Shared;

#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub version: String,
    pub last_updated: SystemTime,
    pub resource: T,
}

/// Dynamic (xDS) resources as last accepted, and per-type versions.
#[derive(Debug, Default, Clone)]
pub struct ConfigRecord {
    pub listeners: BTreeMap<String, Versioned<Listener>>,
    pub clusters: BTreeMap<String, Versioned<Cluster>>,
    pub routes: BTreeMap<String, Versioned<RouteConfiguration>>,
    pub endpoints: BTreeMap<String, Versioned<ClusterLoadAssignment>>,
    /// Type URL → last accepted version.
    pub versions: BTreeMap<String, String>,
    /// Secret name → version of the ADS response that last set it.
    pub secret_versions: BTreeMap<String, String>,
}

const ADMIN: &str = "type.googleapis.com/envoy.admin.v3.";

fn to_value<T: Serialize>(v: &T) -> Value {
    let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
    prune_defaults(&mut v);
    redact(&mut v);
    v
}

/// Replaces values of secret-looking keys.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                // Exact names: `*_sds_secret_config*` fields only name secrets and stay.
                if ["private_key", "password", "secret", "token", "inline_bytes"]
                    .iter()
                    .any(|s| k == s || k.ends_with(&format!("_{s}")))
                {
                    *child = Value::String("[redacted]".into());
                } else {
                    redact(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

fn dynamic<T: Serialize>(items: &BTreeMap<String, Versioned<T>>, key: &str) -> Vec<Value> {
    items
        .iter()
        .map(|(name, v)| {
            json!({
                "name": name,
                "version_info": v.version,
                "last_updated": format_time(v.last_updated),
                key: to_value(&v.resource),
            })
        })
        .collect()
}

pub fn config_dump(shared: &Shared) -> Value {
    let b = &shared.bootstrap;
    let rec = shared.records.load();
    let version = |t: &str| rec.versions.get(t).cloned().unwrap_or_default();
    let statics = |v: Vec<Value>, key: &str| -> Vec<Value> {
        v.into_iter().map(|r| json!({ key: r })).collect()
    };
    let listeners: Vec<Value> =
        dynamic(&rec.listeners, "listener").into_iter().map(|mut d| {
            let l = d["listener"].take();
            json!({"name": d["name"], "active_state": {"version_info": d["version_info"], "listener": l, "last_updated": d["last_updated"]}})
        }).collect();
    json!({"configs": [
        {"@type": format!("{ADMIN}BootstrapConfigDump"), "bootstrap": to_value(b)},
        {"@type": format!("{ADMIN}ClustersConfigDump"),
         "version_info": version(weft_xds::type_url::CLUSTER),
         "static_clusters": statics(b.static_resources.clusters.iter().map(to_value).collect(), "cluster"),
         "dynamic_active_clusters": dynamic(&rec.clusters, "cluster")},
        {"@type": format!("{ADMIN}ListenersConfigDump"),
         "version_info": version(weft_xds::type_url::LISTENER),
         "static_listeners": statics(b.static_resources.listeners.iter().map(to_value).collect(), "listener"),
         "dynamic_listeners": listeners},
        {"@type": format!("{ADMIN}RoutesConfigDump"),
         "dynamic_route_configs": dynamic(&rec.routes, "route_config")},
        {"@type": format!("{ADMIN}EndpointsConfigDump"),
         "dynamic_endpoint_configs": dynamic(&rec.endpoints, "endpoint_config")},
        secrets_dump(shared),
    ]})
}

/// Envoy's `SecretsConfigDump`: bootstrap secrets as `static_secrets`, the others (from ADS or
/// the identity agent) as `dynamic_active_secrets`; private keys always `[redacted]`.
fn secrets_dump(shared: &Shared) -> Value {
    use weft_proxy_config::runtime::secret::Secret;
    let statics = &shared.bootstrap.static_resources.secrets;
    let static_secrets: Vec<Value> = statics
        .iter()
        .map(|s| json!({"name": s.name, "secret": to_value(&s.redacted())}))
        .collect();
    let dynamic: Vec<Value> = shared
        .secrets
        .all()
        .into_iter()
        .filter(|(name, _)| !statics.iter().any(|s| &s.name == name))
        .map(|(name, s)| {
            let secret = match &*s {
                Secret::Certificate(c) => json!({"name": name, "tls_certificate": {
                    "certificate_chain": {"inline_string": c.chain_pem},
                    "private_key": {"inline_string": "[redacted]"}}}),
                Secret::Validation(v) => json!({"name": name, "validation_context": {
                    "trusted_ca": {"inline_string": v.trusted_ca_pem}}}),
            };
            json!({"name": name, "version_info": shared.records.load().secret_versions.get(&name).cloned().unwrap_or_default(), "secret": secret})
        })
        .collect();
    json!({"@type": format!("{ADMIN}SecretsConfigDump"),
        "static_secrets": static_secrets,
        "dynamic_active_secrets": dynamic})
}
