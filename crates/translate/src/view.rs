//! The part of a proxy's identity that its resources depend on. Proxies with equal views get
//! identical resources, so the control plane generates and stores them once.

use std::collections::BTreeMap;
use std::net::IpAddr;

use weft_registry::Protocol;

use crate::context::Context;
use crate::proxy::{Interception, Proxy, ProxyKind};

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
    pub capture: Capture,
    /// `region/zone/sub-zone` of the proxy, for locality load balancing.
    pub locality: Option<String>,
}

/// How the proxy's listeners are reached, and where its workload listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capture {
    /// iptables capture: `virtualOutbound`/`virtualInbound`, the app on 127.0.0.1.
    Redirect,
    /// No capture: listeners bound on `ip` (the proxy's address); the app on `app_ip`.
    None { ip: IpAddr, app_ip: IpAddr },
}

impl Capture {
    /// Where inbound clusters send traffic to the workload.
    pub fn app_ip(&self) -> IpAddr {
        match self {
            Capture::Redirect => IpAddr::from([127, 0, 0, 1]),
            Capture::None { app_ip, .. } => *app_ip,
        }
    }
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
            capture: match proxy.interception {
                Interception::Redirect => Capture::Redirect,
                Interception::None => Capture::None {
                    ip: proxy.ips[0],
                    app_ip: proxy.app_ip.unwrap_or(IpAddr::from([127, 0, 0, 1])),
                },
            },
            locality: proxy.locality.clone(),
        }
    }
}
