//! The identity of a connected proxy, parsed from its xDS node id and metadata.
//!
//! Node ids have Istio's form `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`, for example
//! `sidecar~10.1.0.7~reviews-v1-5d.default~default.svc.cluster.local` or `router~...`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

/// Which role a proxy plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    /// A workload's sidecar: outbound capture on 15001, inbound on 15006.
    Sidecar,
    /// A gateway: listeners from Gateway servers.
    Router,
}

impl ProxyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Sidecar => "sidecar",
            ProxyKind::Router => "router",
        }
    }
}

/// How traffic reaches the proxy (`INTERCEPTION_MODE` metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Interception {
    /// iptables capture to 15001/15006 (REDIRECT; TPROXY is treated the same).
    Redirect,
    /// No capture: the proxy binds its listeners on its own address (`captureMode: NONE`).
    None,
}

/// Node metadata reduced to what weft reads: string fields and the `LABELS` map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMetadata {
    pub strings: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl NodeMetadata {
    fn get(&self, key: &str) -> Option<&str> {
        self.strings
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A proxy as the translation sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Proxy {
    /// The whole node id.
    pub id: String,
    pub kind: ProxyKind,
    /// The first address is the one in the node id; `INSTANCE_IPS` may add more.
    pub ips: Vec<IpAddr>,
    /// Pod (or VM) name: the part of `POD.NAMESPACE` before the namespace.
    pub name: String,
    pub namespace: String,
    /// `default.svc.cluster.local`: the search domain used for short host names.
    pub dns_domain: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
    pub cluster_id: String,
    /// `GENERATOR=grpc`: a proxyless gRPC client, which gets no capture listeners.
    pub proxyless_grpc: bool,
    pub interception: Interception,
    /// `APP_IP` (a weft extension): where the workload itself listens when it cannot share
    /// the proxy's address, as in local mode; inbound clusters use `127.0.0.1` otherwise.
    pub app_ip: Option<IpAddr>,
    /// `region/zone/sub-zone`: the xDS node's `locality` (set by the control plane), else the
    /// workload's `istio-locality` label (`region.zone.sub-zone`).
    pub locality: Option<String>,
}

/// Why a node could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("node id {0:?}: expected TYPE~IP~POD.NAMESPACE~DOMAIN")]
    Shape(String),
    #[error("node id {id:?}: unknown proxy type {kind:?} (expected sidecar or router)")]
    Kind { id: String, kind: String },
    #[error("node id {id:?}: invalid IP address {ip:?}")]
    Ip { id: String, ip: String },
}

impl Proxy {
    /// Parses a node id and its metadata. Metadata wins over what the id implies
    /// (`NAMESPACE` over the id's namespace part), as in Istio.
    pub fn parse(id: &str, meta: &NodeMetadata) -> Result<Proxy, NodeError> {
        let parts: Vec<&str> = id.split('~').collect();
        let [kind, ip, pod, domain] = parts.as_slice() else {
            return Err(NodeError::Shape(id.to_string()));
        };
        let kind = match *kind {
            "sidecar" => ProxyKind::Sidecar,
            "router" => ProxyKind::Router,
            other => {
                return Err(NodeError::Kind {
                    id: id.into(),
                    kind: other.into(),
                });
            }
        };
        let first: IpAddr = ip.parse().map_err(|_| NodeError::Ip {
            id: id.into(),
            ip: ip.to_string(),
        })?;
        let mut ips = vec![first];
        for extra in meta.get("INSTANCE_IPS").unwrap_or("").split(',') {
            if let Ok(addr) = extra.trim().parse::<IpAddr>()
                && !ips.contains(&addr)
            {
                ips.push(addr);
            }
        }
        let (name, id_namespace) = pod.split_once('.').unwrap_or((pod, ""));
        let namespace = meta
            .get("NAMESPACE")
            .or(Some(id_namespace).filter(|s| !s.is_empty()))
            .unwrap_or("default")
            .to_string();
        let dns_domain = if domain.is_empty() {
            format!("{namespace}.svc.cluster.local")
        } else {
            domain.to_string()
        };
        Ok(Proxy {
            id: id.to_string(),
            kind,
            ips,
            name: name.to_string(),
            namespace,
            dns_domain,
            labels: meta.labels.clone(),
            service_account: meta.get("SERVICE_ACCOUNT").map(str::to_string),
            cluster_id: meta.get("CLUSTER_ID").unwrap_or("Kubernetes").to_string(),
            proxyless_grpc: meta.get("GENERATOR") == Some("grpc"),
            interception: match meta.get("INTERCEPTION_MODE") {
                Some(m) if m.eq_ignore_ascii_case("NONE") => Interception::None,
                _ => Interception::Redirect,
            },
            app_ip: meta.get("APP_IP").and_then(|ip| ip.parse().ok()),
            locality: meta
                .labels
                .get("istio-locality")
                .filter(|l| !l.is_empty())
                .map(|l| l.replace('.', "/")),
        })
    }

    /// The cluster domain (`cluster.local`) taken from the DNS domain.
    pub fn cluster_domain(&self) -> &str {
        let suffix = format!("{}.svc.", self.namespace);
        self.dns_domain
            .strip_prefix(&suffix)
            .unwrap_or("cluster.local")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> NodeMetadata {
        NodeMetadata {
            strings: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: BTreeMap::from([("app".to_string(), "reviews".to_string())]),
        }
    }

    #[test]
    fn parses_sidecar_node_id() {
        let id = "sidecar~10.1.0.7~reviews-v1-5d.bookinfo~bookinfo.svc.cluster.local";
        let p = Proxy::parse(id, &meta(&[("SERVICE_ACCOUNT", "bookinfo-reviews")])).expect("ok");
        assert_eq!(p.kind, ProxyKind::Sidecar);
        assert_eq!(p.ips, vec!["10.1.0.7".parse::<IpAddr>().expect("ip")]);
        assert_eq!(p.name, "reviews-v1-5d");
        assert_eq!(p.namespace, "bookinfo");
        assert_eq!(p.cluster_domain(), "cluster.local");
        assert_eq!(p.service_account.as_deref(), Some("bookinfo-reviews"));
        assert_eq!(p.labels["app"], "reviews");
        assert_eq!(p.cluster_id, "Kubernetes");
        assert!(!p.proxyless_grpc);
        assert_eq!(p.interception, Interception::Redirect);
        assert_eq!(p.app_ip, None);
        assert_eq!(p.locality, None);
    }

    #[test]
    fn interception_none_with_app_ip() {
        let id = "sidecar~127.10.0.3~reviews-v1-0.default~default.svc.cluster.local";
        let m = meta(&[("INTERCEPTION_MODE", "NONE"), ("APP_IP", "127.11.0.3")]);
        let p = Proxy::parse(id, &m).expect("ok");
        assert_eq!(p.interception, Interception::None);
        assert_eq!(p.app_ip, Some("127.11.0.3".parse().expect("ip")));
    }

    #[test]
    fn metadata_overrides_and_extends() {
        let id = "router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local";
        let m = meta(&[
            ("NAMESPACE", "gateways"),
            ("INSTANCE_IPS", "10.0.0.1,fd00::1"),
            ("GENERATOR", "grpc"),
            ("CLUSTER_ID", "east"),
        ]);
        let p = Proxy::parse(id, &m).expect("ok");
        assert_eq!(p.kind, ProxyKind::Router);
        assert_eq!(p.namespace, "gateways");
        assert_eq!(p.ips.len(), 2);
        assert!(p.proxyless_grpc);
        assert_eq!(p.cluster_id, "east");
    }

    #[test]
    fn rejects_bad_ids() {
        let m = NodeMetadata::default();
        assert!(matches!(
            Proxy::parse("garbage", &m),
            Err(NodeError::Shape(_))
        ));
        assert!(matches!(
            Proxy::parse("waypoint~1.2.3.4~a.b~b.svc.cluster.local", &m),
            Err(NodeError::Kind { .. })
        ));
        assert!(matches!(
            Proxy::parse("sidecar~not-ip~a.b~b.svc.cluster.local", &m),
            Err(NodeError::Ip { .. })
        ));
    }
}
