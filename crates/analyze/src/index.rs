//! Indexes over the typed model: the service registry (Kubernetes Services and ServiceEntries
//! by host, with their ports and visibility), the workloads (Pods and Deployment pod
//! templates) and the DestinationRule subsets.

use std::collections::{BTreeMap, BTreeSet};

use weft_config::Object;
use weft_config::model::kube;

use crate::context::Context;
use crate::hosts;
use crate::labels::Labels;

/// One port of a registered service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub number: u32,
    pub name: String,
    /// As written (`TCP`, `HTTP`…); empty when unset.
    pub protocol: String,
}

/// A host a VirtualService can route to: a Kubernetes Service or one host of a ServiceEntry.
#[derive(Debug, Clone)]
pub struct RegisteredService<'a> {
    pub object: &'a Object,
    /// FQDN (`reviews.default.svc.cluster.local`) or a ServiceEntry host as written
    /// (possibly `*.example.com`).
    pub host: String,
    pub ports: Vec<ServicePort>,
    /// Namespaces that see it; `None` for all.
    pub visible_in: Option<Vec<String>>,
}

impl RegisteredService<'_> {
    pub fn visible_from(&self, namespace: &str) -> bool {
        self.visible_in
            .as_ref()
            .is_none_or(|v| v.iter().any(|n| n == namespace))
    }
}

/// Services and ServiceEntry hosts by host.
#[derive(Debug, Default)]
pub struct Registry<'a> {
    entries: Vec<RegisteredService<'a>>,
    by_host: BTreeMap<String, Vec<usize>>,
}

impl<'a> Registry<'a> {
    pub fn build(ctx: &Context<'a>) -> Registry<'a> {
        let mut registry = Registry::default();
        register_services(ctx, &mut registry);
        registry
    }

    pub fn add(&mut self, service: RegisteredService<'a>) {
        self.by_host
            .entry(service.host.clone())
            .or_default()
            .push(self.entries.len());
        self.entries.push(service);
    }

    /// The service `host` (short names completed with `namespace`) names for an object in
    /// `namespace`: an exact host first, then a wildcard ServiceEntry host covering it.
    pub fn lookup(&self, namespace: &str, host: &str) -> Option<&RegisteredService<'a>> {
        let fqdn = hosts::to_fqdn(namespace, host);
        let exact = self
            .by_host
            .get(&fqdn)
            .into_iter()
            .flatten()
            .map(|&i| &self.entries[i])
            .find(|s| s.visible_from(namespace));
        exact.or_else(|| {
            let wanted = fqdn.trim_start_matches('*');
            self.entries.iter().find(|s| {
                s.host
                    .strip_prefix('*')
                    .is_some_and(|suffix| wanted.ends_with(suffix))
                    && s.visible_from(namespace)
            })
        })
    }
}

/// A Pod, or the pod template of a Deployment: something a selector can select.
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    pub object: &'a Object,
    pub namespace: &'a str,
    /// The Pod's name, or the Deployment's.
    pub name: &'a str,
    pub labels: &'a Labels,
    pub annotations: &'a Labels,
    pub spec: &'a kube::PodSpec,
    /// A running Pod rather than a template.
    pub is_pod: bool,
}

fn register_services<'a>(ctx: &Context<'a>, registry: &mut Registry<'a>) {
    for (obj, se) in ctx.service_entries() {
        let ports: Vec<ServicePort> = se
            .ports
            .iter()
            .map(|p| ServicePort {
                number: p.number.unwrap_or_default(),
                name: p.name.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_default(),
            })
            .collect();
        let visible_in = hosts::export_scopes(&se.export_to, obj.namespace());
        for host in &se.hosts {
            registry.add(RegisteredService {
                object: obj,
                host: hosts::to_fqdn(obj.namespace(), host),
                ports: ports.clone(),
                visible_in: visible_in.clone(),
            });
        }
    }
    for (obj, svc) in ctx.services() {
        let ports = svc
            .spec
            .ports
            .iter()
            .map(|p| ServicePort {
                number: u32::try_from(p.port).unwrap_or_default(),
                name: p.name.clone().unwrap_or_default(),
                protocol: kube_protocol(p.protocol).to_string(),
            })
            .collect();
        registry.add(RegisteredService {
            object: obj,
            host: hosts::to_fqdn(obj.namespace(), obj.name()),
            ports,
            visible_in: service_visibility(obj),
        });
    }
}

/// Namespaces a Service's `networking.istio.io/exportTo` annotation names (`~` hides it).
fn service_visibility(obj: &Object) -> Option<Vec<String>> {
    let value = obj
        .metadata
        .annotations
        .get("networking.istio.io/exportTo")?;
    let entries: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "~")
        .map(str::to_string)
        .collect();
    if value.trim() == "~" {
        return Some(Vec::new());
    }
    hosts::export_scopes(&entries, obj.namespace())
}

/// A Kubernetes port protocol as written (`TCP` when unset).
pub fn kube_protocol(p: Option<kube::Protocol>) -> &'static str {
    match p.unwrap_or_default() {
        kube::Protocol::Tcp => "TCP",
        kube::Protocol::Udp => "UDP",
        kube::Protocol::Sctp => "SCTP",
    }
}

pub fn workloads<'a>(ctx: &Context<'a>) -> Vec<Workload<'a>> {
    let pods = ctx.pods().map(|(obj, pod)| Workload {
        object: obj,
        namespace: obj.namespace(),
        name: obj.name(),
        labels: &obj.metadata.labels,
        annotations: &obj.metadata.annotations,
        spec: &pod.spec,
        is_pod: true,
    });
    let templates = ctx.deployments().map(|(obj, d)| Workload {
        object: obj,
        namespace: obj.namespace(),
        name: obj.name(),
        labels: &d.spec.template.metadata.labels,
        annotations: &d.spec.template.metadata.annotations,
        spec: &d.spec.template.spec,
        is_pod: false,
    });
    pods.chain(templates).collect()
}

/// `(host FQDN, subset name)` of every DestinationRule subset, short hosts completed with the
/// rule's namespace.
pub fn subsets<'a>(ctx: &Context<'a>) -> BTreeSet<(String, &'a str)> {
    ctx.destination_rules()
        .flat_map(|(obj, dr)| {
            let host = hosts::to_fqdn(obj.namespace(), dr.host.as_deref().unwrap_or_default());
            dr.subsets
                .iter()
                .filter_map(|s| s.name.as_deref())
                .map(move |name| (host.clone(), name))
        })
        .collect()
}

impl<'a> Context<'a> {
    /// The workloads in `namespace` whose labels `selector` selects.
    pub fn selected_in<'s>(
        &'s self,
        namespace: &'s str,
        selector: &'s Labels,
    ) -> impl Iterator<Item = &'s Workload<'a>> + 's {
        self.workloads
            .iter()
            .filter(move |w| w.namespace == namespace && crate::labels::matches(selector, w.labels))
    }

    /// Whether the input describes any workload in `namespace` (so that "nothing selected"
    /// means something).
    pub fn has_workloads_in(&self, namespace: &str) -> bool {
        self.workloads.iter().any(|w| w.namespace == namespace)
    }
}
