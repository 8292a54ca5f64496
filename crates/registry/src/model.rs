//! Services and endpoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::host::{ExportTo, host_matches};

/// Istio's protocol of a port, from its `protocol` field, `appProtocol` or name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Http2,
    Grpc,
    Https,
    Tls,
    Tcp,
    Mongo,
    Redis,
    Mysql,
    Udp,
    /// Not declared: Istio sniffs it; weft treats it as TCP for now.
    Unknown,
}

impl Protocol {
    /// Parses a protocol name as written in a port (`http`, `HTTP2`, `grpc-web`...).
    pub fn parse(name: &str) -> Protocol {
        match name.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" | "h2c" => Protocol::Http2,
            "grpc" | "grpc-web" => Protocol::Grpc,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "tcp" => Protocol::Tcp,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::Mysql,
            "udp" => Protocol::Udp,
            _ => Protocol::Unknown,
        }
    }

    /// Istio's rule for Kubernetes ports: `appProtocol`, else the port name's prefix
    /// (`http-web`, `grpc`).
    pub fn from_port_name(name: &str) -> Protocol {
        let prefix = name.split('-').next().unwrap_or(name);
        Protocol::parse(prefix)
    }

    /// Whether traffic on the port goes through the HTTP connection manager.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc)
    }

    /// Whether the upstream speaks HTTP/2.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Grpc)
    }
}

/// How a service's endpoints are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Endpoints known to the control plane, sent by EDS.
    ClientSideLb,
    /// Traffic goes to the address the client asked for (ServiceEntry `resolution: NONE`).
    Passthrough,
    /// The proxy resolves the endpoints' (or the host's) names (`STRICT_DNS`).
    Dns,
    /// The proxy resolves one name and uses one address at a time (`LOGICAL_DNS`).
    DnsRoundRobin,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ServicePort {
    pub name: String,
    pub port: u32,
    pub protocol: Protocol,
    /// The port on the endpoints when no endpoint names it (`targetPort`).
    pub target_port: Option<u32>,
}

/// A service: one host name with its ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Service {
    pub hostname: String,
    /// The namespace of the object that defined it.
    pub namespace: String,
    /// `ServiceEntry/name` or `Service/name`.
    pub source: String,
    pub ports: Vec<ServicePort>,
    /// Virtual IPs (cluster IP, ServiceEntry addresses).
    pub addresses: Vec<String>,
    pub resolution: Resolution,
    pub mesh_external: bool,
    pub export_to: ExportTo,
    /// `metadata.creationTimestamp`, for Istio's oldest-wins tie-break.
    pub created: Option<String>,
}

impl Service {
    pub fn port(&self, number: u32) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.port == number)
    }

    /// `reviews` for `reviews.default.svc.cluster.local`.
    pub fn short_name(&self) -> &str {
        self.hostname.split('.').next().unwrap_or(&self.hostname)
    }
}

/// One address serving one port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    pub address: String,
    /// The service port this serves.
    pub service_port: u32,
    /// The port on the endpoint.
    pub port: u32,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
    pub locality: Option<String>,
    pub network: Option<String>,
    pub weight: Option<u32>,
    pub healthy: bool,
}

/// Services keyed by (hostname, namespace), and their endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Registry {
    pub(crate) services: BTreeMap<(String, String), Arc<Service>>,
    pub(crate) endpoints: BTreeMap<(String, String), Vec<Endpoint>>,
    /// The keys of the endpoint lists each address is in, in key order: every connecting
    /// proxy asks what its address serves, and a scan of every endpoint per proxy adds up.
    #[serde(skip)]
    pub(crate) by_address: HashMap<String, Vec<(String, String)>>,
}

impl Registry {
    /// Every service, ordered by host name and namespace.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// Services with host `host` visible from `namespace`; a host defined in several
    /// namespaces resolves to the one in `namespace` first, then the oldest.
    pub fn lookup(&self, host: &str, namespace: &str) -> Option<&Arc<Service>> {
        let mut found: Vec<&Arc<Service>> = self
            .services
            .range((host.to_string(), String::new())..)
            .take_while(|((h, _), _)| h == host)
            .map(|(_, s)| s)
            .filter(|s| s.export_to.visible_to(namespace))
            .collect();
        found.sort_by_key(|s| (s.namespace != namespace, s.created.clone()));
        found.into_iter().next()
    }

    /// Visible services whose host matches `pattern` (which may be a wildcard).
    pub fn matching<'a>(
        &'a self,
        pattern: &'a str,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Service>> + 'a {
        self.services.values().filter(move |s| {
            s.export_to.visible_to(namespace) && host_matches(pattern, &s.hostname)
        })
    }

    /// Endpoints of `service` for its `port`.
    pub fn endpoints(&self, service: &Service, port: u32) -> impl Iterator<Item = &Endpoint> {
        self.endpoints
            .get(&(service.hostname.clone(), service.namespace.clone()))
            .into_iter()
            .flatten()
            .filter(move |e| e.service_port == port)
    }

    /// The services and ports that `ip` serves (a sidecar's inbound side).
    pub fn instances_at(&self, ip: &str) -> Vec<(Arc<Service>, Endpoint)> {
        let mut out = Vec::new();
        for key in self.by_address.get(ip).into_iter().flatten() {
            let (Some(service), Some(eps)) = (self.services.get(key), self.endpoints.get(key))
            else {
                continue;
            };
            for e in eps.iter().filter(|e| e.address == ip) {
                out.push((service.clone(), e.clone()));
            }
        }
        out
    }

    /// Whether the services (everything but endpoints) of two registries are the same.
    pub fn same_services(&self, other: &Registry) -> bool {
        self.services == other.services
    }

    /// The `/debug/registryz` view.
    pub fn debug_json(&self) -> serde_json::Value {
        let services: Vec<serde_json::Value> = self
            .services
            .iter()
            .map(|(key, s)| {
                let endpoints = self.endpoints.get(key).cloned().unwrap_or_default();
                serde_json::json!({ "service": s, "endpoints": endpoints })
            })
            .collect();
        serde_json::json!({ "services": services })
    }
}
