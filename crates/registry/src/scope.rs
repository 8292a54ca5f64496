//! Sidecar egress scoping: which services a workload's proxy is configured for.

use weft_config::model::networking::Sidecar;

use crate::host::host_matches;
use crate::model::{Registry, Service};
use std::sync::Arc;

/// The `egress[].hosts` of the Sidecar that applies to a proxy, as `(namespace, host)`
/// patterns. Without a Sidecar every visible service is in scope (`*/*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EgressScope {
    /// The proxy's namespace, which `.` stands for.
    namespace: String,
    hosts: Vec<(String, String)>,
}

impl EgressScope {
    /// Everything visible from `namespace`.
    pub fn all(namespace: &str) -> Self {
        EgressScope {
            namespace: namespace.to_string(),
            hosts: vec![("*".into(), "*".into())],
        }
    }

    /// The scope of `sidecar` (defined in `namespace`).
    pub fn from_sidecar(sidecar: &Sidecar, namespace: &str) -> Self {
        let mut hosts = Vec::new();
        for listener in &sidecar.egress {
            for h in &listener.hosts {
                let (ns, host) = h.split_once('/').unwrap_or(("*", h));
                let ns = if ns == "." { namespace } else { ns };
                hosts.push((ns.to_string(), host.to_string()));
            }
        }
        if sidecar.egress.is_empty() {
            return EgressScope::all(namespace);
        }
        EgressScope {
            namespace: namespace.to_string(),
            hosts,
        }
    }

    /// Whether `service` is in scope (visibility is checked separately).
    pub fn includes(&self, service: &Service) -> bool {
        self.hosts.iter().any(|(ns, host)| {
            ns != "~"
                && (ns == "*" || *ns == service.namespace)
                && host_matches(host, &service.hostname)
        })
    }

    /// Services visible from the scope's namespace and in scope, by host name.
    pub fn services<'r>(&self, registry: &'r Registry) -> Vec<&'r Arc<Service>> {
        let mut out: Vec<&'r Arc<Service>> = Vec::new();
        for s in registry.services() {
            if !s.export_to.visible_to(&self.namespace) || !self.includes(s) {
                continue;
            }
            // One service per host name: the proxy's namespace first, then the oldest.
            match out.iter_mut().find(|o| o.hostname == s.hostname) {
                Some(existing) => {
                    let better = (s.namespace != self.namespace, &s.created)
                        < (existing.namespace != self.namespace, &existing.created);
                    if better {
                        *existing = s;
                    }
                }
                None => out.push(s),
            }
        }
        out
    }
}
