//! One incremental (delta) ADS stream: per type the subscribed names (or wildcard) and the
//! version of each resource the proxy has; pushes send only changed and removed resources.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};
use tracing::{info, warn};
use weft_translate::Proxy;
use weft_xds::pb::envoy::config::core::v3::ControlPlane;
use weft_xds::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};

use crate::ads::Shared;
use crate::metrics::TypeLabel;
use crate::node::proxy_from_node;
use crate::push::Push;
use crate::resources::{PUSH_ORDER, ProxyResources, is_named_type, short_type};
use crate::status::{ConnectionStatus, Nack};

type Sender = mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>;

#[derive(Debug, Default)]
struct DeltaSubscription {
    wildcard: bool,
    names: BTreeSet<String>,
    /// What the proxy has: name → version.
    known: BTreeMap<String, String>,
    pending_nonce: Option<String>,
}

impl DeltaSubscription {
    fn wants(&self, name: &str) -> bool {
        self.wildcard || self.names.contains(name)
    }
}

pub(crate) struct DeltaConnection {
    shared: Arc<Shared>,
    tx: Sender,
    peer: Option<SocketAddr>,
    id: Option<String>,
    proxy: Option<Proxy>,
    resources: Arc<ProxyResources>,
    push: Arc<Push>,
    subs: BTreeMap<String, DeltaSubscription>,
    nonces: u64,
}

impl DeltaConnection {
    pub fn new(shared: Arc<Shared>, tx: Sender, peer: Option<SocketAddr>) -> Self {
        let push = shared.pushes.borrow().clone();
        DeltaConnection {
            shared,
            tx,
            peer,
            id: None,
            proxy: None,
            resources: Arc::default(),
            push,
            subs: BTreeMap::new(),
            nonces: 0,
        }
    }

    pub async fn run(mut self, mut inbound: Streaming<DeltaDiscoveryRequest>) {
        let mut pushes = self.shared.pushes.clone();
        pushes.mark_unchanged();
        loop {
            let step = tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(req)) => self.on_request(req, &mut pushes).await,
                    Ok(None) | Err(_) => Err(None),
                },
                changed = pushes.changed(), if self.proxy.is_some() => match changed {
                    Ok(()) => {
                        let push = pushes.borrow_and_update().clone();
                        self.on_push(push).await
                    }
                    Err(_) => Err(None),
                },
            };
            if let Err(close) = step {
                if let Some(status) = close {
                    warn!(peer = ?self.peer, %status, "delta ADS stream rejected");
                    let _ = self.tx.try_send(Err(status));
                }
                break;
            }
        }
        if let Some(id) = &self.id {
            info!(connection = %id, "delta ADS stream closed");
            self.shared.status.remove(id);
            self.shared.metrics.connected.dec();
        }
    }

    fn register(
        &mut self,
        req: &DeltaDiscoveryRequest,
        pushes: &mut watch::Receiver<Arc<Push>>,
    ) -> Result<(), Option<Status>> {
        let node = req
            .node
            .as_ref()
            .ok_or_else(|| Some(Status::invalid_argument("first request carries no node")))?;
        let proxy =
            proxy_from_node(node).map_err(|e| Some(Status::invalid_argument(e.to_string())))?;
        let id = format!("{}-{}", proxy.id, self.shared.next_connection_id());
        self.push = pushes.borrow_and_update().clone();
        self.resources = self.push.generator.generate(&proxy);
        let status = ConnectionStatus::new(
            id.clone(),
            proxy.id.clone(),
            proxy.kind.as_str(),
            &proxy.namespace,
        );
        self.shared.status.insert(status);
        self.shared.metrics.connected.inc();
        info!(connection = %id, peer = ?self.peer, "delta ADS stream connected");
        self.id = Some(id);
        self.proxy = Some(proxy);
        Ok(())
    }

    async fn on_request(
        &mut self,
        req: DeltaDiscoveryRequest,
        pushes: &mut watch::Receiver<Arc<Push>>,
    ) -> Result<(), Option<Status>> {
        if self.proxy.is_none() {
            self.register(&req, pushes)?;
        }
        if req.type_url.is_empty() {
            return Ok(());
        }
        let first = !self.subs.contains_key(&req.type_url);
        let sub = self.subs.entry(req.type_url.clone()).or_default();
        if first {
            // An empty first subscription to a type that is not named by clients is wildcard.
            sub.wildcard = !is_named_type(&req.type_url) && req.resource_names_subscribe.is_empty();
            sub.known = req.initial_resource_versions.clone().into_iter().collect();
        }
        for n in &req.resource_names_subscribe {
            if n == "*" {
                sub.wildcard = true;
            } else {
                sub.names.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            if n == "*" {
                sub.wildcard = false;
            }
            sub.names.remove(n);
            sub.known.remove(n);
        }
        if !req.response_nonce.is_empty()
            && sub.pending_nonce.as_deref() == Some(&req.response_nonce)
        {
            sub.pending_nonce = None;
            if let Some(err) = &req.error_detail {
                self.record(&req.type_url, Some(&err.message), &req.response_nonce);
            } else {
                self.record(&req.type_url, None, &req.response_nonce);
            }
        }
        let changed_subscription = first
            || !req.resource_names_subscribe.is_empty()
            || !req.resource_names_unsubscribe.is_empty();
        if changed_subscription {
            self.respond(&req.type_url, true).await?;
        }
        Ok(())
    }

    fn record(&self, type_url: &str, nack: Option<&str>, nonce: &str) {
        let Some(id) = &self.id else { return };
        let short = short_type(type_url);
        if nack.is_some() {
            self.shared
                .metrics
                .rejects
                .get_or_create(&TypeLabel::new(short))
                .inc();
        }
        self.shared.status.update(id, |s| {
            let t = s.types.entry(short.to_string()).or_default();
            match nack {
                Some(message) => {
                    t.nacked = Some(Nack {
                        version: t.sent_version.clone().unwrap_or_default(),
                        nonce: nonce.to_string(),
                        message: message.to_string(),
                    })
                }
                None => {
                    t.acked_version = t.sent_version.clone();
                    t.nacked = None;
                }
            }
        });
    }

    async fn on_push(&mut self, push: Arc<Push>) -> Result<(), Option<Status>> {
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        self.resources = push.generator.generate(proxy);
        self.push = push;
        let mut types: Vec<String> = PUSH_ORDER.iter().map(|t| t.to_string()).collect();
        types.extend(
            self.subs
                .keys()
                .filter(|t| !PUSH_ORDER.contains(&t.as_str()))
                .cloned(),
        );
        types.retain(|t| self.subs.contains_key(t));
        for t in types {
            self.respond(&t, false).await?;
        }
        Ok(())
    }

    /// Sends what changed for `type_url`; with `always`, also an empty response (so the
    /// client's subscription is answered even when it has everything).
    async fn respond(&mut self, type_url: &str, always: bool) -> Result<(), Option<Status>> {
        let set = self.resources.get_or_empty(type_url);
        let Some(sub) = self.subs.get_mut(type_url) else {
            return Ok(());
        };
        let mut resources = Vec::new();
        for (name, any) in &set.items {
            let version = set.item_version(name);
            if sub.wants(name) && sub.known.get(name) != Some(&version) {
                sub.known.insert(name.clone(), version.clone());
                resources.push(Resource {
                    name: name.clone(),
                    version,
                    resource: Some((**any).clone()),
                    ..Default::default()
                });
            }
        }
        let removed: Vec<String> = sub
            .known
            .keys()
            .filter(|n| !set.items.contains_key(*n) || !sub.wants(n))
            .cloned()
            .collect();
        for n in &removed {
            sub.known.remove(n);
        }
        if resources.is_empty() && removed.is_empty() && !always {
            return Ok(());
        }
        self.nonces += 1;
        let nonce = format!("{}-{}", self.push.version, self.nonces);
        sub.pending_nonce = Some(nonce.clone());
        let short = short_type(type_url);
        if let Some(id) = &self.id {
            let (version, count) = (set.version.clone(), sub.known.len());
            self.shared.status.update(id, |s| {
                let t = s.types.entry(short.to_string()).or_default();
                t.sent_version = Some(version);
                t.sent_nonce = Some(nonce.clone());
                t.sent_resources = count;
            });
        }
        let response = DeltaDiscoveryResponse {
            system_version_info: set.version.clone(),
            resources,
            type_url: type_url.to_string(),
            removed_resources: removed,
            nonce,
            control_plane: Some(ControlPlane {
                identifier: "weft".into(),
            }),
            ..Default::default()
        };
        let timeout = self.shared.options.send_timeout;
        match tokio::time::timeout(timeout, self.tx.send(Ok(response))).await {
            Ok(Ok(())) => {
                self.shared
                    .metrics
                    .pushes
                    .get_or_create(&TypeLabel::new(short))
                    .inc();
                Ok(())
            }
            Ok(Err(_)) => Err(None),
            Err(_) => {
                self.shared.metrics.write_timeouts.inc();
                Err(None)
            }
        }
    }
}
