//! Runtime config: compact structures built once from the model, shared by `Arc` with the
//! data path (precompiled matchers, resolved defaults).

pub mod chain_match;
pub mod cluster;
pub mod cors;
pub mod fault;
pub mod hash;
pub mod headers;
pub mod jwt;
pub mod listener;
pub mod matcher;
pub mod path_normalize;
pub mod rbac;
pub mod retry;
pub mod route;
pub mod route_policy;
pub mod secret;
pub mod tls;
pub mod upgrade;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use cluster::{Cluster, Endpoint, UpstreamProtocol};
pub use listener::{Hcm, Listener, NetworkKind, RouteSource, TcpProxy};
pub use route::RouteTable;

/// One immutable configuration the proxy serves from; replaced whole on every change.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub listeners: BTreeMap<String, Arc<Listener>>,
    pub clusters: BTreeMap<String, Arc<Cluster>>,
    pub routes: BTreeMap<String, Arc<RouteTable>>,
}

impl Snapshot {
    pub fn route_table(&self, hcm: &Hcm) -> Option<Arc<RouteTable>> {
        match &hcm.routes {
            RouteSource::Inline(t) => Some(t.clone()),
            RouteSource::Rds(name) => self.routes.get(name).cloned(),
        }
    }
}
