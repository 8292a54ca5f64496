//! The part of a proxy's identity that its resources depend on. Proxies with equal views get
//! identical resources, so the control plane generates and stores them once.

use std::collections::BTreeMap;

use weft_registry::Protocol;

use crate::context::Context;
use crate::proxy::{Proxy, ProxyKind};

/// A port the proxy's workload serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboundPort {
    /// The port on the workload (`inbound|PORT||`).
    pub port: u32,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyView {
    pub kind: ProxyKind,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub proxyless: bool,
    pub inbound: Vec<InboundPort>,
}

impl ProxyView {
    pub fn of(ctx: &Context, proxy: &Proxy) -> ProxyView {
        let mut inbound: Vec<InboundPort> = proxy
            .ips
            .iter()
            .flat_map(|ip| ctx.registry.instances_at(&ip.to_string()))
            .map(|(service, ep)| InboundPort {
                port: ep.port,
                protocol: service
                    .port(ep.service_port)
                    .map(|p| p.protocol)
                    .unwrap_or(Protocol::Unknown),
            })
            .collect();
        inbound.sort();
        inbound.dedup_by_key(|i| i.port);
        ProxyView {
            kind: proxy.kind,
            namespace: proxy.namespace.clone(),
            labels: proxy.labels.clone(),
            proxyless: proxy.proxyless_grpc,
            inbound,
        }
    }
}
