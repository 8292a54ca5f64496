//! The dynamic resources accepted from ADS and the pure decisions on them: decoding and
//! compiling one response per resource (a bad resource is rejected alone, the previous version
//! of it stays), which EDS/RDS names to subscribe to, and assembling the served snapshot on
//! top of the static one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use prost::{Message, Name};
use weft_proxy_config::error::{At, ConfigError};
use weft_proxy_config::from_pb;
use weft_proxy_config::model;
use weft_proxy_config::model::cluster::ClusterLoadAssignment;
use weft_proxy_config::runtime::cluster::{
    Discovery, Endpoint, build_cluster, build_endpoints, socket_match,
};
use weft_proxy_config::runtime::listener::build_listener;
use weft_proxy_config::runtime::route::build_route_table;
use weft_proxy_config::runtime::secret::Secret;
use weft_proxy_config::runtime::{self as rt, NetworkKind, RouteSource, Snapshot};
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

use crate::dump::{ConfigRecord, Versioned};

mod secrets;

/// The five resource types weft subscribes to, in the order they are requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Cluster,
    Endpoint,
    Listener,
    Route,
    /// SDS secrets referenced with `sds_config: {ads: {}}`.
    Secret,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Cluster,
        Kind::Endpoint,
        Kind::Listener,
        Kind::Route,
        Kind::Secret,
    ];

    pub fn type_url(self) -> &'static str {
        match self {
            Kind::Cluster => type_url::CLUSTER,
            Kind::Endpoint => type_url::CLUSTER_LOAD_ASSIGNMENT,
            Kind::Listener => type_url::LISTENER,
            Kind::Route => type_url::ROUTE_CONFIGURATION,
            Kind::Secret => type_url::SECRET,
        }
    }

    /// The resource kind as errors name it (`Cluster c1: …`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Cluster => "Cluster",
            Kind::Endpoint => "ClusterLoadAssignment",
            Kind::Listener => "Listener",
            Kind::Route => "RouteConfiguration",
            Kind::Secret => "Secret",
        }
    }

    pub fn from_type_url(url: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| weft_xds::same_type(k.type_url(), url))
    }

    /// CDS and LDS are wildcard subscriptions whose responses carry the whole set.
    pub fn is_wildcard(self) -> bool {
        matches!(self, Kind::Cluster | Kind::Listener)
    }
}

#[derive(Debug, Clone)]
struct Entry<M, R> {
    model: M,
    built: R,
    version: String,
    updated: SystemTime,
}

type Map<M, R> = BTreeMap<String, Entry<M, R>>;

/// Accepted dynamic resources, kept across reconnects.
#[derive(Debug, Default)]
pub struct Resources {
    base: Arc<Snapshot>,
    clusters: Map<model::Cluster, Arc<rt::Cluster>>,
    endpoints: Map<ClusterLoadAssignment, Vec<Endpoint>>,
    listeners: Map<model::Listener, Arc<rt::Listener>>,
    routes: Map<model::RouteConfiguration, Arc<rt::RouteTable>>,
    secrets: Map<model::tls::Secret, Arc<Secret>>,
    /// The secrets last put in the proxy's secret store, to update only what changed.
    published_secrets: BTreeMap<String, Arc<Secret>>,
    versions: BTreeMap<String, String>,
}

/// A decoded and compiled resource, or why it was rejected.
struct Decoded<M, R> {
    ok: Vec<(String, M, R)>,
    rejected: BTreeSet<String>,
    errors: Vec<String>,
}

fn decode<P, M, R>(
    kind: &str,
    resources: &[Any],
    update: &Update,
    name_of: impl Fn(&P) -> String,
    convert: impl Fn(&P) -> Result<M, ConfigError>,
    compile: impl Fn(&M) -> Result<R, ConfigError>,
) -> Decoded<M, R>
where
    P: Message + Default + Name,
{
    let mut out = Decoded {
        ok: Vec::new(),
        rejected: BTreeSet::new(),
        errors: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for (i, any) in resources.iter().enumerate() {
        let pb: P = match weft_xds::unpack(any) {
            Ok(p) => p,
            Err(e) => {
                out.errors.push(format!("{kind} resources[{i}]: {e}"));
                continue;
            }
        };
        let name = name_of(&pb);
        let result = if seen.insert(name.clone()) {
            convert(&pb).and_then(|m| compile(&m).map(|r| (m, r)))
        } else {
            Err(At::new(&format!("{kind} {name}"))
                .field("name")
                .err("duplicate name in one response"))
        };
        let result = result.and_then(|mr| named_in_update(kind, &name, update).map(|()| mr));
        match result {
            Ok((m, r)) => out.ok.push((name, m, r)),
            Err(e) => {
                out.errors.push(e.to_string());
                out.rejected.insert(name);
            }
        }
    }
    out
}

/// A delta resource's own name must be the name of its `Resource` wrapper: that name is what
/// its version, removals and subscriptions refer to.
fn named_in_update(kind: &str, name: &str, update: &Update) -> Result<(), ConfigError> {
    match update {
        Update::Delta { versions, .. } if !versions.contains_key(name) => {
            Err(At::new(&format!("{kind} {name}"))
                .field("name")
                .err("does not match the name of its delta Resource"))
        }
        _ => Ok(()),
    }
}

/// How one response updates a type's resources.
#[derive(Debug, Clone, Copy)]
pub enum Update<'a> {
    /// State of the world: every resource carries the response's version; a wildcard type
    /// (CDS, LDS) replaces the whole set, keeping the previous version of rejected resources.
    Sotw { version: &'a str, wildcard: bool },
    /// Delta: the carried resources are upserted with their own versions (keyed by name) and
    /// `removed` are dropped; everything else stays as it is.
    Delta {
        versions: &'a BTreeMap<String, String>,
        removed: &'a [String],
    },
}

impl Update<'_> {
    fn version_of(&self, name: &str) -> String {
        match self {
            Update::Sotw { version, .. } => version.to_string(),
            Update::Delta { versions, .. } => versions.get(name).cloned().unwrap_or_default(),
        }
    }
}

/// Merges accepted resources into `map` as `update` says.
/// Applies an update. A resource whose config did not change keeps its built value (the same
/// `Arc`), so the data path can tell a replaced listener from an unchanged one.
fn merge<M: PartialEq, R: Clone>(map: &mut Map<M, R>, d: Decoded<M, R>, update: &Update) {
    let now = SystemTime::now();
    // Under a wildcard SotW update everything not sent again goes; keep the old entries aside
    // to reuse what did not change.
    let mut previous = Map::new();
    match update {
        Update::Sotw { wildcard: true, .. } => {
            previous = std::mem::take(map);
            *map = d
                .rejected
                .iter()
                .filter_map(|n| previous.remove_entry(n))
                .collect();
        }
        Update::Sotw { .. } => {}
        Update::Delta { removed, .. } => {
            for name in removed.iter() {
                map.remove(name);
            }
        }
    }
    for (name, model, built) in d.ok {
        let old = previous.get(&name).or_else(|| map.get(&name));
        let built = match old {
            Some(old) if old.model == model => old.built.clone(),
            _ => built,
        };
        let entry = Entry {
            model,
            built,
            version: update.version_of(&name),
            updated: now,
        };
        map.insert(name, entry);
    }
}

impl Resources {
    pub fn new(base: Arc<Snapshot>) -> Self {
        Self {
            base,
            ..Default::default()
        }
    }

    /// Applies one state-of-the-world response; returns one message per rejected resource.
    pub fn apply(&mut self, kind: Kind, resources: &[Any], version: &str) -> Vec<String> {
        let update = Update::Sotw {
            version,
            wildcard: kind.is_wildcard(),
        };
        self.apply_update(kind, resources, &update, version)
    }

    /// Applies one delta response: `resources` upserted with `versions` (by name), `removed`
    /// dropped; `system_version` is recorded for the type when nothing was rejected.
    pub fn apply_delta(
        &mut self,
        kind: Kind,
        resources: &[Any],
        versions: &BTreeMap<String, String>,
        removed: &[String],
        system_version: &str,
    ) -> Vec<String> {
        let update = Update::Delta { versions, removed };
        self.apply_update(kind, resources, &update, system_version)
    }

    fn apply_update(
        &mut self,
        kind: Kind,
        resources: &[Any],
        update: &Update,
        version: &str,
    ) -> Vec<String> {
        let errors = match kind {
            Kind::Cluster => self.apply_clusters(resources, update),
            Kind::Endpoint => self.apply_endpoints(resources, update),
            Kind::Listener => self.apply_listeners(resources, update),
            Kind::Route => self.apply_routes(resources, update),
            Kind::Secret => self.apply_secrets(resources, update),
        };
        if errors.is_empty() {
            self.versions
                .insert(kind.type_url().to_string(), version.to_string());
        }
        errors
    }

    /// Name → version of every accepted resource of `kind` (delta's
    /// `initial_resource_versions`, and what `/debug/ads` lists).
    pub fn known(&self, kind: Kind) -> BTreeMap<String, String> {
        fn of<M, R>(map: &Map<M, R>) -> BTreeMap<String, String> {
            map.iter()
                .map(|(n, e)| (n.clone(), e.version.clone()))
                .collect()
        }
        match kind {
            Kind::Cluster => of(&self.clusters),
            Kind::Endpoint => of(&self.endpoints),
            Kind::Listener => of(&self.listeners),
            Kind::Route => of(&self.routes),
            Kind::Secret => of(&self.secrets),
        }
    }

    fn apply_clusters(&mut self, resources: &[Any], update: &Update) -> Vec<String> {
        let base = self.base.clone();
        let d = decode(
            "Cluster",
            resources,
            update,
            |c: &weft_xds::pb::envoy::config::cluster::v3::Cluster| c.name.clone(),
            from_pb::cluster,
            |m| {
                static_clash(&base.clusters, "Cluster", &m.name).and(build_cluster(m).map(Arc::new))
            },
        );
        let errors = d.errors.clone();
        merge(&mut self.clusters, d, update);
        errors
    }

    fn apply_endpoints(&mut self, resources: &[Any], update: &Update) -> Vec<String> {
        let d = decode(
            "ClusterLoadAssignment",
            resources,
            update,
            |c: &weft_xds::pb::envoy::config::endpoint::v3::ClusterLoadAssignment| {
                c.cluster_name.clone()
            },
            from_pb::load_assignment,
            |m| {
                let resource = format!("ClusterLoadAssignment {}", m.cluster_name);
                build_endpoints(&At::new(&resource), m)
            },
        );
        let errors = d.errors.clone();
        merge(&mut self.endpoints, d, update);
        errors
    }

    fn apply_listeners(&mut self, resources: &[Any], update: &Update) -> Vec<String> {
        let base = self.base.clone();
        let d = decode(
            "Listener",
            resources,
            update,
            |l: &weft_xds::pb::envoy::config::listener::v3::Listener| l.name.clone(),
            from_pb::listener,
            |m| {
                static_clash(&base.listeners, "Listener", &m.name)
                    .and(build_listener(m).map(Arc::new))
            },
        );
        let errors = d.errors.clone();
        merge(&mut self.listeners, d, update);
        errors
    }

    fn apply_routes(&mut self, resources: &[Any], update: &Update) -> Vec<String> {
        let d = decode(
            "RouteConfiguration",
            resources,
            update,
            |r: &weft_xds::pb::envoy::config::route::v3::RouteConfiguration| r.name.clone(),
            from_pb::route_configuration,
            |m| build_route_table(&format!("RouteConfiguration {}", m.name), m).map(Arc::new),
        );
        let errors = d.errors.clone();
        merge(&mut self.routes, d, update);
        errors
    }

    /// EDS service names of the dynamic EDS clusters.
    pub fn eds_names(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .clusters
            .values()
            .filter_map(|e| match &e.built.discovery {
                Discovery::Eds { service_name } => Some(service_name.clone()),
                _ => None,
            })
            .collect();
        names.into_iter().collect()
    }

    /// Route configuration names the dynamic listeners ask RDS for.
    pub fn rds_names(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for e in self.listeners.values() {
            for c in e.built.chains.iter().chain(e.built.default_chain.iter()) {
                if let NetworkKind::Http(h) = &c.kind
                    && let RouteSource::Rds(n) = &h.routes
                {
                    names.insert(n.clone());
                }
            }
        }
        names.into_iter().collect()
    }

    /// Forgets assignments, route tables and secrets nothing subscribes to any more.
    pub fn retain_subscribed(&mut self, eds: &[String], rds: &[String], sds: &[String]) {
        self.endpoints.retain(|n, _| eds.contains(n));
        self.routes.retain(|n, _| rds.contains(n));
        self.secrets.retain(|n, _| sds.contains(n));
    }

    /// Whether every subscribed EDS, RDS and SDS resource has arrived.
    pub fn warm(&self, eds: &[String], rds: &[String], sds: &[String]) -> bool {
        eds.iter().all(|n| self.endpoints.contains_key(n))
            && rds.iter().all(|n| self.routes.contains_key(n))
            && sds.iter().all(|n| self.secrets.contains_key(n))
    }

    /// The static snapshot plus the dynamic resources, EDS endpoints filled in.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = (*self.base).clone();
        for (name, e) in &self.clusters {
            let c = match &e.built.discovery {
                Discovery::Eds { service_name } => {
                    let mut c = (*e.built).clone();
                    let assignment = self.endpoints.get(service_name);
                    c.endpoints = assignment.map(|a| a.built.clone()).unwrap_or_default();
                    if let Some(a) = assignment {
                        socket_match::assign(&c.tls_matches, &a.model, &mut c.endpoints);
                    }
                    Arc::new(c)
                }
                _ => e.built.clone(),
            };
            s.clusters.insert(name.clone(), c);
        }
        for (name, e) in &self.listeners {
            s.listeners.insert(name.clone(), e.built.clone());
        }
        for (name, e) in &self.routes {
            s.routes.insert(name.clone(), e.built.clone());
        }
        s
    }

    /// What `/config_dump` shows for the dynamic resources.
    pub fn record(&self) -> ConfigRecord {
        ConfigRecord {
            listeners: versioned(&self.listeners),
            clusters: versioned(&self.clusters),
            routes: versioned(&self.routes),
            endpoints: versioned(&self.endpoints),
            versions: self.versions.clone(),
            secret_versions: self
                .secrets
                .iter()
                .map(|(n, e)| (n.clone(), e.version.clone()))
                .collect(),
        }
    }
}

fn versioned<M: Clone, R>(map: &Map<M, R>) -> BTreeMap<String, Versioned<M>> {
    map.iter()
        .map(|(n, e)| {
            let v = Versioned {
                version: e.version.clone(),
                last_updated: e.updated,
                resource: e.model.clone(),
            };
            (n.clone(), v)
        })
        .collect()
}

fn static_clash<T>(
    statics: &BTreeMap<String, T>,
    kind: &str,
    name: &str,
) -> Result<(), ConfigError> {
    if statics.contains_key(name) {
        return Err(At::new(&format!("{kind} {name}"))
            .field("name")
            .err("a static resource has this name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use weft_xds::pack;
    use weft_xds::pb::envoy::config::cluster::v3 as cl;

    use super::*;

    fn cluster(name: &str, kind: cl::cluster::DiscoveryType) -> Any {
        pack(&cl::Cluster {
            name: name.into(),
            cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(kind as i32)),
            ..Default::default()
        })
    }

    #[test]
    fn a_rejected_resource_keeps_its_last_version_and_the_rest_applies() {
        use cl::cluster::DiscoveryType::{Eds, StrictDns};
        let mut r = Resources::default();
        assert!(r.apply(Kind::Cluster, &[cluster("a", Eds)], "1").is_empty());
        let errors = r.apply(
            Kind::Cluster,
            &[cluster("a", StrictDns), cluster("b", Eds)],
            "2",
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("Cluster a: load_assignment: "),
            "{errors:?}"
        );
        let snap = r.snapshot();
        assert!(snap.clusters.contains_key("b"));
        assert!(matches!(
            snap.clusters["a"].discovery,
            Discovery::Eds { .. }
        ));
        assert_eq!(r.record().versions[type_url::CLUSTER], "1");
        assert_eq!(r.eds_names(), vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn wildcard_responses_remove_missing_resources() {
        let mut r = Resources::default();
        let eds = cl::cluster::DiscoveryType::Eds;
        r.apply(Kind::Cluster, &[cluster("a", eds), cluster("b", eds)], "1");
        assert!(r.apply(Kind::Cluster, &[cluster("b", eds)], "2").is_empty());
        assert_eq!(r.eds_names(), vec!["b".to_string()]);
        assert_eq!(
            Kind::from_type_url(type_url::LISTENER),
            Some(Kind::Listener)
        );
    }

    #[test]
    fn delta_upserts_with_own_versions_removes_and_keeps_rejected() {
        use cl::cluster::DiscoveryType::{Eds, StrictDns};
        let mut r = Resources::default();
        let v = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let all = [cluster("a", Eds), cluster("b", Eds)];
        let errors = r.apply_delta(
            Kind::Cluster,
            &all,
            &v(&[("a", "a1"), ("b", "b1")]),
            &[],
            "s1",
        );
        assert!(errors.is_empty(), "{errors:?}");
        // Only c arrives, a is removed, a bad b keeps b1: nothing else is touched.
        let next = [cluster("b", StrictDns), cluster("c", Eds)];
        let errors = r.apply_delta(
            Kind::Cluster,
            &next,
            &v(&[("b", "b2"), ("c", "c1")]),
            &["a".to_string()],
            "s2",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("Cluster b: "), "{errors:?}");
        assert_eq!(r.known(Kind::Cluster), v(&[("b", "b1"), ("c", "c1")]));
        assert_eq!(r.record().versions[type_url::CLUSTER], "s1");
        assert_eq!(r.eds_names(), vec!["b".to_string(), "c".to_string()]);
        // A body whose name is not its wrapper's is rejected.
        let errors = r.apply_delta(
            Kind::Cluster,
            &[cluster("d", Eds)],
            &v(&[("e", "1")]),
            &[],
            "s3",
        );
        assert_eq!(
            errors,
            vec!["Cluster d: name: does not match the name of its delta Resource".to_string()]
        );
        assert!(!r.known(Kind::Cluster).contains_key("d"));
    }
}
