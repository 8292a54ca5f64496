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
                if ["private_key", "password", "secret", "token", "inline_bytes"]
                    .iter()
                    .any(|s| k.contains(s))
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
    ]})
}
