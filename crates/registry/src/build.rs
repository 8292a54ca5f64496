//! Building the registry from accepted objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use weft_config::model::kube;
use weft_config::model::networking::{self as net, Location};
use weft_config::{Body, IntOrString, Object};

use crate::RegistryOptions;
use crate::host::ExportTo;
use crate::model::{Endpoint, Protocol, Registry, Resolution, Service, ServicePort};

/// A workload that a selector can pick: a Pod or a WorkloadEntry.
struct Workload<'a> {
    namespace: &'a str,
    /// Its labels are the ones selectors match.
    entry: net::WorkloadEntry,
    /// Named container ports of a Pod (for `targetPort: name`).
    named_ports: BTreeMap<String, u32>,
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Registry {
    /// The registry of the services and endpoints defined by `objects`.
    pub fn build<'a>(
        objects: impl IntoIterator<Item = &'a Object>,
        opts: &RegistryOptions,
    ) -> Registry {
        let objects: Vec<&Object> = objects.into_iter().collect();
        let workloads = workloads(&objects);
        let mut reg = Registry::default();
        for obj in &objects {
            match &obj.body {
                Body::ServiceEntry(se) => {
                    add_service_entry(&mut reg, obj, &se.spec, &workloads, opts)
                }
                Body::Service(svc) => {
                    add_kube_service(&mut reg, obj, svc, &objects, &workloads, opts)
                }
                _ => {}
            }
        }
        for eps in reg.endpoints.values_mut() {
            eps.sort_by(|a, b| {
                (a.service_port, &a.address, a.port).cmp(&(b.service_port, &b.address, b.port))
            });
            eps.dedup();
        }
        for (key, eps) in &reg.endpoints {
            for e in eps {
                let keys = reg.by_address.entry(e.address.clone()).or_default();
                if keys.last() != Some(key) {
                    keys.push(key.clone());
                }
            }
        }
        reg
    }

    fn insert(&mut self, service: Service, endpoints: Vec<Endpoint>) {
        let key = (service.hostname.clone(), service.namespace.clone());
        self.endpoints
            .entry(key.clone())
            .or_default()
            .extend(endpoints);
        self.services
            .entry(key)
            .or_insert_with(|| Arc::new(service));
    }
}

fn workloads<'a>(objects: &[&'a Object]) -> Vec<Workload<'a>> {
    let mut out = Vec::new();
    for obj in objects {
        match &obj.body {
            Body::WorkloadEntry(we) => out.push(Workload {
                namespace: obj.namespace(),
                entry: net::WorkloadEntry {
                    labels: obj
                        .metadata
                        .labels
                        .clone()
                        .into_iter()
                        .chain(we.spec.labels.clone())
                        .collect(),
                    ..we.spec.clone()
                },
                named_ports: BTreeMap::new(),
            }),
            Body::Pod(pod) => {
                let status = pod.status.as_ref();
                let Some(ip) = status.and_then(|s| s.pod_ip.clone()) else {
                    continue;
                };
                let running = status
                    .and_then(|s| s.phase)
                    .is_none_or(|p| p == kube::PodPhase::Running);
                if !running {
                    continue;
                }
                let named_ports = pod
                    .spec
                    .containers
                    .iter()
                    .flat_map(|c| &c.ports)
                    .filter_map(|p| Some((p.name.clone()?, u32::try_from(p.container_port).ok()?)))
                    .collect();
                out.push(Workload {
                    namespace: obj.namespace(),
                    entry: net::WorkloadEntry {
                        address: Some(ip),
                        labels: obj.metadata.labels.clone(),
                        service_account: pod
                            .spec
                            .service_account_name
                            .clone()
                            .or_else(|| Some("default".into())),
                        ..Default::default()
                    },
                    named_ports,
                });
            }
            _ => {}
        }
    }
    out
}

fn endpoint_for(entry: &net::WorkloadEntry, port: &ServicePort, address: String) -> Endpoint {
    let target = entry
        .ports
        .get(&port.name)
        .copied()
        .or(port.target_port)
        .unwrap_or(port.port);
    Endpoint {
        address,
        service_port: port.port,
        port: target,
        labels: entry.labels.clone(),
        service_account: entry.service_account.clone(),
        locality: entry.locality.clone(),
        network: entry.network.clone(),
        weight: entry.weight,
        healthy: true,
    }
}

fn service_entry_ports(se: &net::ServiceEntry) -> Vec<ServicePort> {
    se.ports
        .iter()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.clone().unwrap_or_default(),
                port: p.number?,
                protocol: Protocol::parse(p.protocol.as_deref().unwrap_or("")),
                target_port: p.target_port,
            })
        })
        .collect()
}

fn add_service_entry(
    reg: &mut Registry,
    obj: &Object,
    se: &net::ServiceEntry,
    workloads: &[Workload<'_>],
    opts: &RegistryOptions,
) {
    let ns = obj.namespace();
    let ports = service_entry_ports(se);
    let resolution = match se.resolution.unwrap_or(net::Resolution::None) {
        net::Resolution::None => Resolution::Passthrough,
        net::Resolution::Static => Resolution::ClientSideLb,
        net::Resolution::Dns => Resolution::Dns,
        net::Resolution::DnsRoundRobin => Resolution::DnsRoundRobin,
    };
    let mut entries: Vec<net::WorkloadEntry> = se.endpoints.clone();
    if let Some(sel) = &se.workload_selector {
        entries.extend(
            workloads
                .iter()
                .filter(|w| w.namespace == ns && labels_match(&sel.labels, &w.entry.labels))
                .map(|w| w.entry.clone()),
        );
    }
    for host in &se.hosts {
        let service = Service {
            hostname: host.clone(),
            namespace: ns.to_string(),
            source: format!("ServiceEntry/{}", obj.name()),
            ports: ports.clone(),
            addresses: se.addresses.clone(),
            resolution,
            mesh_external: se.location.unwrap_or(Location::MeshExternal) == Location::MeshExternal,
            export_to: ExportTo::parse(&se.export_to, &opts.default_export_to, ns),
            created: obj.metadata.creation_timestamp.clone(),
        };
        let mut endpoints = Vec::new();
        for port in &ports {
            for e in &entries {
                if let Some(addr) = e.address.clone() {
                    endpoints.push(endpoint_for(e, port, addr));
                }
            }
            if entries.is_empty()
                && matches!(resolution, Resolution::Dns | Resolution::DnsRoundRobin)
            {
                endpoints.push(endpoint_for(&Default::default(), port, host.clone()));
            }
        }
        reg.insert(service, endpoints);
    }
}

fn kube_ports(svc: &kube::Service) -> Vec<(ServicePort, Option<String>)> {
    svc.spec
        .ports
        .iter()
        .filter_map(|p| {
            let name = p.name.clone().unwrap_or_default();
            let protocol = match (p.protocol, &p.app_protocol) {
                (Some(kube::Protocol::Udp), _) => Protocol::Udp,
                (_, Some(app)) => Protocol::parse(app),
                _ => Protocol::from_port_name(&name),
            };
            let (target_port, target_name) = match &p.target_port {
                Some(IntOrString::Int(n)) => (u32::try_from(*n).ok(), None),
                Some(IntOrString::String(s)) => (None, Some(s.clone())),
                None => (None, None),
            };
            let port = ServicePort {
                name,
                port: u32::try_from(p.port).ok()?,
                protocol,
                target_port,
            };
            Some((port, target_name))
        })
        .collect()
}

fn add_kube_service(
    reg: &mut Registry,
    obj: &Object,
    svc: &kube::Service,
    objects: &[&Object],
    workloads: &[Workload<'_>],
    opts: &RegistryOptions,
) {
    let ns = obj.namespace();
    let spec = &svc.spec;
    let ports = kube_ports(svc);
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let external = spec.type_ == Some(kube::ServiceType::ExternalName);
    let resolution = if external {
        Resolution::Dns
    } else if headless {
        Resolution::Passthrough
    } else {
        Resolution::ClientSideLb
    };
    let export_values: Vec<String> = obj
        .metadata
        .annotations
        .get("networking.istio.io/exportTo")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let service = Service {
        hostname: format!("{}.{}.svc.{}", obj.name(), ns, opts.domain),
        namespace: ns.to_string(),
        source: format!("Service/{}", obj.name()),
        ports: ports.iter().map(|(p, _)| p.clone()).collect(),
        addresses: spec
            .cluster_ip
            .iter()
            .filter(|ip| *ip != "None")
            .cloned()
            .collect(),
        resolution,
        mesh_external: external,
        export_to: ExportTo::parse(&export_values, &opts.default_export_to, ns),
        created: obj.metadata.creation_timestamp.clone(),
    };
    let endpoints = kube_endpoints(obj, svc, objects, &ports, workloads);
    reg.insert(service, endpoints);
}

/// Endpoints of a Kubernetes Service: its external name, its EndpointSlices, or else the
/// workloads its selector picks.
fn kube_endpoints(
    obj: &Object,
    svc: &kube::Service,
    objects: &[&Object],
    ports: &[(ServicePort, Option<String>)],
    workloads: &[Workload<'_>],
) -> Vec<Endpoint> {
    let spec = &svc.spec;
    if let (Some(kube::ServiceType::ExternalName), Some(name)) = (spec.type_, &spec.external_name) {
        return ports
            .iter()
            .map(|(port, _)| endpoint_for(&Default::default(), port, name.clone()))
            .collect();
    }
    if let Some(from_slices) = slice_endpoints(obj, objects, ports, workloads) {
        return from_slices;
    }
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let mut endpoints = Vec::new();
    let selected = workloads
        .iter()
        .filter(|w| w.namespace == obj.namespace() && labels_match(selector, &w.entry.labels));
    for w in selected {
        for (port, target_name) in ports {
            let mut port = port.clone();
            if let Some(n) = target_name.as_ref().and_then(|n| w.named_ports.get(n)) {
                port.target_port = Some(*n);
            }
            if let Some(addr) = w.entry.address.clone() {
                endpoints.push(endpoint_for(&w.entry, &port, addr));
            }
        }
    }
    endpoints
}

/// Endpoints from the EndpointSlices of a Service, with labels from the Pods behind them;
/// `None` when the Service has no slices in the configuration.
fn slice_endpoints(
    svc: &Object,
    objects: &[&Object],
    ports: &[(ServicePort, Option<String>)],
    workloads: &[Workload<'_>],
) -> Option<Vec<Endpoint>> {
    let slices: Vec<&kube::EndpointSlice> = objects
        .iter()
        .filter(|o| o.namespace() == svc.namespace())
        .filter(|o| {
            o.metadata
                .labels
                .get("kubernetes.io/service-name")
                .map(String::as_str)
                == Some(svc.name())
        })
        .filter_map(|o| match &o.body {
            Body::EndpointSlice(s) => Some(s),
            _ => None,
        })
        .collect();
    if slices.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for slice in slices {
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            for addr in &ep.addresses {
                let entry = workloads
                    .iter()
                    .find(|w| w.entry.address.as_deref() == Some(addr.as_str()))
                    .map(|w| w.entry.clone())
                    .unwrap_or_default();
                for (port, _) in ports {
                    let slice_port = slice
                        .ports
                        .iter()
                        .find(|p| p.name.as_deref().unwrap_or("") == port.name)
                        .and_then(|p| p.port)
                        .and_then(|p| u32::try_from(p).ok());
                    let mut e = endpoint_for(&entry, port, addr.clone());
                    e.port = slice_port.unwrap_or(e.port);
                    e.healthy = ready;
                    out.push(e);
                }
            }
        }
    }
    Some(out)
}
