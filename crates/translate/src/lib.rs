//! Pure translation of Istio configuration into Envoy xDS v3 resources for one proxy, with
//! Istio's naming (`virtualOutbound`, `0.0.0.0_9080`, `outbound|9080|v1|host`, ...).
//!
//! This crate owns *what a proxy is sent*: a function of the accepted configuration, the
//! service registry and the proxy's identity. It does no I/O, keeps no state between calls and
//! knows nothing about gRPC streams, versions or nonces (that is `weft-control`).

mod cluster;
pub mod context;
mod dr_merge;
mod endpoint;
mod filters;
mod gateway;
mod gateway_tls;
mod http_route;
mod listener;
mod locality;
mod matching;
pub mod names;
mod no_capture;
mod pbutil;
mod policy;
pub mod proxy;
mod proxyless;
mod security;
mod sidecar;
mod tcp_route;
pub mod view;

use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use weft_xds::pb::envoy::config::listener::v3::Listener;
use weft_xds::pb::envoy::config::route::v3::RouteConfiguration;
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::Secret;

pub use context::Context;
pub use proxy::{Interception, NodeError, NodeMetadata, Proxy, ProxyKind};
pub use view::{Capture, ProxyView};

/// The resources of one proxy, each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub listeners: Vec<Listener>,
    pub routes: Vec<RouteConfiguration>,
    pub clusters: Vec<Cluster>,
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// SDS secrets served by the control plane (gateway `credentialName`s).
    pub secrets: Vec<Secret>,
}

/// Everything `view` is sent.
pub fn generate(ctx: &Context, view: &ProxyView) -> Resources {
    let mut r = match view.kind {
        ProxyKind::Sidecar => sidecar::generate(ctx, view),
        ProxyKind::Router => gateway::generate(ctx, view),
    };
    r.listeners.sort_by(|a, b| a.name.cmp(&b.name));
    r.routes.sort_by(|a, b| a.name.cmp(&b.name));
    r.clusters.sort_by(|a, b| a.name.cmp(&b.name));
    r.clusters.dedup_by(|a, b| a.name == b.name);
    r.endpoints
        .sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
    r.endpoints
        .dedup_by(|a, b| a.cluster_name == b.cluster_name);
    r.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    r.secrets.dedup_by(|a, b| a.name == b.name);
    r
}

/// Translates for `proxy` directly (the view is derived first).
pub fn generate_for(ctx: &Context, proxy: &Proxy) -> Resources {
    generate(ctx, &ProxyView::of(ctx, proxy))
}
