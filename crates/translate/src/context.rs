//! The configuration a translation reads, indexed once per generation, with Istio's
//! precedence rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use weft_config::model::mesh::MeshConfig;
use weft_config::model::networking::{DestinationRule, Gateway, Sidecar, VirtualService};
use weft_config::model::security::{
    AuthorizationPolicy, PeerAuthentication, RequestAuthentication,
};
use weft_config::{Body, Object};
use weft_registry::{ExportTo, Registry, host_matches, resolve_short_name};

/// One Istio object reduced to what translation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config<T> {
    pub namespace: String,
    pub name: String,
    pub created: Option<String>,
    pub export_to: ExportTo,
    pub spec: T,
}

/// Everything a translation reads.
#[derive(Debug, Clone)]
pub struct Context {
    pub registry: Arc<Registry>,
    pub mesh: MeshConfig,
    /// `cluster.local`.
    pub domain: String,
    virtual_services: Vec<Config<VirtualService>>,
    destination_rules: Vec<Config<DestinationRule>>,
    gateways: Vec<Config<Gateway>>,
    sidecars: Vec<Config<Sidecar>>,
    /// Security policies, oldest first (`crate::security` applies Istio's precedence).
    pub peer_authentications: Vec<Config<PeerAuthentication>>,
    pub request_authentications: Vec<Config<RequestAuthentication>>,
    pub authorization_policies: Vec<Config<AuthorizationPolicy>>,
    /// Kubernetes Secrets, for gateway `credentialName`s (read only in the gateway's namespace).
    pub secrets: Vec<Config<weft_config::model::kube::Secret>>,
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn config<T: Clone>(
    obj: &Object,
    spec: &T,
    export_to: &[String],
    defaults: &[String],
) -> Config<T> {
    Config {
        namespace: obj.namespace().to_string(),
        name: obj.name().to_string(),
        created: obj.metadata.creation_timestamp.clone(),
        export_to: ExportTo::parse(export_to, defaults, obj.namespace()),
        spec: spec.clone(),
    }
}

/// Istio's order: oldest `creationTimestamp` first, then namespace and name.
fn sort_oldest_first<T>(configs: &mut [Config<T>]) {
    configs.sort_by(|a, b| {
        let key = |c: &Config<T>| {
            (
                c.created.clone().unwrap_or_default(),
                c.namespace.clone(),
                c.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

impl Context {
    pub fn new<'a>(
        objects: impl IntoIterator<Item = &'a Object>,
        registry: Arc<Registry>,
        mesh: MeshConfig,
    ) -> Self {
        let mut ctx = Context {
            registry,
            domain: "cluster.local".into(),
            virtual_services: Vec::new(),
            destination_rules: Vec::new(),
            gateways: Vec::new(),
            sidecars: Vec::new(),
            peer_authentications: Vec::new(),
            request_authentications: Vec::new(),
            authorization_policies: Vec::new(),
            secrets: Vec::new(),
            mesh,
        };
        for obj in objects {
            match &obj.body {
                Body::VirtualService(b) => {
                    let d = &ctx.mesh.default_virtual_service_export_to;
                    let mut c = config(obj, &b.spec, &b.spec.export_to, d);
                    // Hosts and destinations are resolved in the VirtualService's namespace.
                    c.spec.hosts = c
                        .spec
                        .hosts
                        .iter()
                        .map(|h| resolve_short_name(h, &c.namespace, &ctx.domain))
                        .collect();
                    ctx.virtual_services.push(c);
                }
                Body::DestinationRule(b) => {
                    let d = &ctx.mesh.default_destination_rule_export_to;
                    let mut c = config(obj, &b.spec, &b.spec.export_to, d);
                    c.spec.host = c
                        .spec
                        .host
                        .as_ref()
                        .map(|h| resolve_short_name(h, &c.namespace, &ctx.domain));
                    ctx.destination_rules.push(c);
                }
                Body::Gateway(b) => ctx.gateways.push(config(obj, &b.spec, &[], &[])),
                Body::Sidecar(b) => ctx.sidecars.push(config(obj, &b.spec, &[], &[])),
                Body::Secret(b) => ctx.secrets.push(config(obj, b, &[], &[])),
                Body::PeerAuthentication(b) => {
                    ctx.peer_authentications
                        .push(config(obj, &b.spec, &[], &[]))
                }
                Body::RequestAuthentication(b) => {
                    ctx.request_authentications
                        .push(config(obj, &b.spec, &[], &[]))
                }
                Body::AuthorizationPolicy(b) => {
                    ctx.authorization_policies
                        .push(config(obj, &b.spec, &[], &[]))
                }
                _ => {}
            }
        }
        sort_oldest_first(&mut ctx.virtual_services);
        sort_oldest_first(&mut ctx.destination_rules);
        ctx.destination_rules =
            crate::dr_merge::merge_destination_rules(std::mem::take(&mut ctx.destination_rules));
        sort_oldest_first(&mut ctx.gateways);
        sort_oldest_first(&mut ctx.sidecars);
        sort_oldest_first(&mut ctx.peer_authentications);
        sort_oldest_first(&mut ctx.request_authentications);
        sort_oldest_first(&mut ctx.authorization_policies);
        ctx
    }

    pub fn root_namespace(&self) -> &str {
        self.mesh.root_namespace()
    }

    /// Resolves a destination host written in an object of `namespace`.
    pub fn resolve(&self, host: &str, namespace: &str) -> String {
        resolve_short_name(host, namespace, &self.domain)
    }

    /// Rank of a config's namespace for a proxy: its own namespace first, then the root
    /// namespace, then any other; within a rank the oldest wins (the lists are sorted).
    fn rank<T>(&self, c: &Config<T>, proxy_namespace: &str) -> u8 {
        if c.namespace == proxy_namespace {
            0
        } else if c.namespace == self.root_namespace() {
            1
        } else {
            2
        }
    }

    /// The VirtualService that routes `host` for a proxy in `namespace` attached to `gateway`
    /// (`mesh` for sidecars, `ns/name` for gateways).
    pub fn virtual_service(
        &self,
        host: &str,
        namespace: &str,
        gateway: &str,
    ) -> Option<&Config<VirtualService>> {
        self.virtual_services
            .iter()
            .filter(|vs| vs.export_to.visible_to(namespace) || gateway != "mesh")
            .filter(|vs| self.binds(vs, gateway))
            .filter(|vs| vs.spec.hosts.iter().any(|h| host_matches(h, host)))
            .min_by_key(|vs| self.rank(vs, namespace))
    }

    /// VirtualServices bound to gateway `ns/name`.
    pub fn gateway_virtual_services(
        &self,
        gateway: &str,
    ) -> impl Iterator<Item = &Config<VirtualService>> {
        self.virtual_services
            .iter()
            .filter(move |vs| self.binds(vs, gateway))
    }

    /// Whether `vs` applies to `gateway` (`mesh` or `ns/name`).
    pub fn binds(&self, vs: &Config<VirtualService>, gateway: &str) -> bool {
        if vs.spec.gateways.is_empty() {
            return gateway == "mesh";
        }
        vs.spec
            .gateways
            .iter()
            .any(|g| qualify_gateway(g, &vs.namespace) == gateway)
    }

    /// The DestinationRule for `host` seen from `namespace`: the proxy's namespace first, then
    /// the service's, then the root namespace; an exact host beats a wildcard.
    pub fn destination_rule(
        &self,
        host: &str,
        namespace: &str,
        service_namespace: &str,
    ) -> Option<&Config<DestinationRule>> {
        let rank = |dr: &Config<DestinationRule>| {
            let ns_rank = if dr.namespace == namespace {
                0
            } else if dr.namespace == service_namespace {
                1
            } else if dr.namespace == self.root_namespace() {
                2
            } else {
                3
            };
            let exact = dr.spec.host.as_deref() == Some(host);
            (ns_rank, !exact)
        };
        self.destination_rules
            .iter()
            .filter(|dr| dr.export_to.visible_to(namespace))
            .filter(|dr| dr.spec.workload_selector.is_none())
            .filter(|dr| {
                dr.spec
                    .host
                    .as_deref()
                    .is_some_and(|h| host_matches(h, host))
            })
            .min_by_key(|dr| rank(dr))
    }

    /// The Sidecar for a workload: one with a matching selector in its namespace, else the
    /// namespace's default, else the root namespace's default.
    pub fn sidecar(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<&Config<Sidecar>> {
        let root = self.root_namespace();
        let selected = |s: &&Config<Sidecar>| {
            s.namespace == namespace
                && s.spec
                    .workload_selector
                    .as_ref()
                    .is_some_and(|w| labels_match(&w.labels, labels))
        };
        let default_in = |ns: &str| {
            self.sidecars
                .iter()
                .find(|s| s.namespace == ns && s.spec.workload_selector.is_none())
        };
        self.sidecars
            .iter()
            .find(selected)
            .or_else(|| default_in(namespace))
            .or_else(|| default_in(root))
    }

    /// Gateways whose selector matches a router's labels.
    pub fn gateways_for(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Iterator<Item = &Config<Gateway>> {
        self.gateways
            .iter()
            .filter(move |g| !g.spec.selector.is_empty() && labels_match(&g.spec.selector, labels))
    }
}

/// `name` in a VirtualService of `namespace` means `namespace/name`.
pub fn qualify_gateway(gateway: &str, namespace: &str) -> String {
    if gateway == "mesh" || gateway.contains('/') {
        gateway.to_string()
    } else {
        format!("{namespace}/{gateway}")
    }
}

pub(crate) fn labels_subset(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    labels_match(selector, labels)
}
