//! One ADS stream: subscriptions, versions, nonces, ACK/NACK, and pushes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tonic::{Status, Streaming};
use tracing::{debug, info, warn};
use weft_translate::Proxy;
use weft_xds::pb::envoy::config::core::v3::ControlPlane;

use crate::ads::Shared;
use crate::metrics::TypeLabel;
use crate::node::proxy_from_node;
use crate::push::{Push, PushReason};
use crate::request::SotwRequest;
use crate::resources::{PUSH_ORDER, ProxyResources, TypedResources, short_type};
use crate::status::{ConnectionStatus, Nack};
use crate::wire::SharedResponse;

type Sender = mpsc::Sender<Result<SharedResponse, Status>>;

/// Why a connection ends.
#[derive(Debug)]
enum Close {
    ClientDone,
    Stream(Status),
    Rejected(Status),
    ClientGone,
    WriteTimeout,
    Shutdown,
}

/// What the proxy subscribed to for one type, and what it was last sent. Everything large is
/// shared with the other connections: the names with those that asked for the same list, the
/// sent resources with those of the same view.
#[derive(Debug, Default)]
struct Subscription {
    /// Requested names, sorted; empty means every resource of the type.
    names: Arc<[String]>,
    sent_version: Option<String>,
    sent_nonce: Option<String>,
    /// The resources the last response of this type was taken from, so a push of RDS or EDS
    /// carries only the ones whose content changed since.
    sent: Option<Arc<ProxyResources>>,
}

struct Registered {
    id: String,
    proxy: Proxy,
    resources: Arc<ProxyResources>,
}

pub(crate) struct Connection {
    shared: Arc<Shared>,
    tx: Sender,
    peer: Option<SocketAddr>,
    registered: Option<Registered>,
    push: Arc<Push>,
    subscriptions: BTreeMap<String, Subscription>,
    nonces: u64,
    /// Resolves once the transport has taken the last queued response.
    last_taken: Option<oneshot::Receiver<()>>,
}

impl Connection {
    pub fn new(shared: Arc<Shared>, tx: Sender, peer: Option<SocketAddr>) -> Self {
        let push = shared.pushes.borrow().clone();
        Connection {
            shared,
            tx,
            peer,
            registered: None,
            push,
            subscriptions: BTreeMap::new(),
            nonces: 0,
            last_taken: None,
        }
    }

    pub async fn run(mut self, mut inbound: Streaming<SotwRequest>) {
        let mut pushes = self.shared.pushes.clone();
        pushes.mark_unchanged();
        let close = loop {
            let step = tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(req)) => self.on_request(req, &mut pushes).await,
                    Ok(None) => Err(Close::ClientDone),
                    Err(status) => Err(Close::Stream(status)),
                },
                changed = pushes.changed(), if self.registered.is_some() => match changed {
                    Ok(()) => {
                        let push = pushes.borrow_and_update().clone();
                        self.on_push(push).await
                    }
                    Err(_) => Err(Close::Shutdown),
                },
            };
            if let Err(close) = step {
                break close;
            }
        };
        self.finish(close).await;
    }

    async fn finish(self, close: Close) {
        let who = self
            .registered
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_else(|| format!("{:?}", self.peer));
        match close {
            Close::ClientDone | Close::ClientGone | Close::Shutdown => {
                info!(connection = %who, "ADS stream closed")
            }
            Close::Stream(status) => debug!(connection = %who, %status, "ADS stream ended"),
            Close::WriteTimeout => warn!(connection = %who, "proxy stopped reading; closed"),
            Close::Rejected(status) => {
                warn!(connection = %who, %status, "ADS stream rejected");
                let _ = self.tx.try_send(Err(status));
            }
        }
        if let Some(r) = &self.registered {
            self.shared.status.remove(&r.id);
            self.shared.metrics.connected.dec();
        }
    }

    fn register(
        &mut self,
        req: &SotwRequest,
        pushes: &mut tokio::sync::watch::Receiver<Arc<Push>>,
    ) -> Result<(), Close> {
        let node = req.node.as_ref().ok_or_else(|| {
            Close::Rejected(Status::invalid_argument("first request carries no node"))
        })?;
        let proxy = proxy_from_node(node)
            .map_err(|e| Close::Rejected(Status::invalid_argument(e.to_string())))?;
        let id = format!("{}-{}", proxy.id, self.shared.next_connection_id());
        self.push = pushes.borrow_and_update().clone();
        let resources = self.push.generator.generate(&proxy);
        let status = ConnectionStatus::new(
            id.clone(),
            proxy.id.clone(),
            proxy.kind.as_str(),
            &proxy.namespace,
        );
        self.shared.status.insert(status);
        self.shared.metrics.connected.inc();
        info!(connection = %id, peer = ?self.peer, "ADS stream connected");
        self.registered = Some(Registered {
            id,
            proxy,
            resources,
        });
        Ok(())
    }

    async fn on_request(
        &mut self,
        req: SotwRequest,
        pushes: &mut tokio::sync::watch::Receiver<Arc<Push>>,
    ) -> Result<(), Close> {
        if self.registered.is_none() {
            self.register(&req, pushes)?;
        }
        if req.type_url.is_empty() {
            return Ok(());
        }
        let sub = self.subscriptions.entry(req.type_url.clone()).or_default();
        // An ACK repeats the subscription: compare it as it came, decode it only if it moved.
        let (names, same_names) = if req.names_are(&sub.names) {
            (sub.names.clone(), true)
        } else {
            let sorted = req.sorted_names();
            if *sub.names == *sorted {
                (sub.names.clone(), true)
            } else {
                (self.shared.names.intern(sorted), false)
            }
        };
        if !req.response_nonce.is_empty() {
            if sub.sent_nonce.as_deref() != Some(req.response_nonce.as_str()) {
                debug!(type_url = %req.type_url, nonce = %req.response_nonce, "stale nonce ignored");
                return Ok(());
            }
            if let Some(error) = &req.error_detail {
                self.record_nack(&req, &error.message);
                return Ok(());
            }
            self.record_ack(&req, names.clone());
            if same_names {
                return Ok(());
            }
        }
        if let Some(sub) = self.subscriptions.get_mut(&req.type_url) {
            sub.names = names;
        }
        self.respond(&req.type_url, Scope::All).await
    }

    fn record_ack(&self, req: &SotwRequest, names: Arc<[String]>) {
        let Some(r) = &self.registered else { return };
        let short = short_type(&req.type_url);
        self.shared.status.update(&r.id, |s| {
            let t = s.types.entry(short.to_string()).or_default();
            t.acked_version = Some(req.version_info.clone());
            t.subscribed = names;
            if t.nacked
                .as_ref()
                .is_some_and(|n| n.version != req.version_info)
            {
                t.nacked = None;
            }
        });
    }

    fn record_nack(&self, req: &SotwRequest, message: &str) {
        let Some(r) = &self.registered else { return };
        let short = short_type(&req.type_url);
        warn!(connection = %r.id, r#type = short, %message, "proxy rejected configuration");
        self.shared
            .metrics
            .rejects
            .get_or_create(&TypeLabel::new(short))
            .inc();
        let sent = self
            .subscriptions
            .get(&req.type_url)
            .and_then(|s| s.sent_version.clone())
            .unwrap_or_default();
        self.shared.status.update(&r.id, |s| {
            let t = s.types.entry(short.to_string()).or_default();
            t.nacked = Some(Nack {
                version: sent,
                nonce: req.response_nonce.clone(),
                message: message.to_string(),
            });
        });
    }

    async fn on_push(&mut self, push: Arc<Push>) -> Result<(), Close> {
        if self.registered.is_none() {
            return Ok(());
        }
        // At most `push_concurrency` connections push at once (istiod's push throttle): the
        // others wait here instead of all encoding and queueing at the same moment.
        let slot = match &self.shared.push_slots {
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        let Some(r) = self.registered.as_mut() else {
            return Ok(());
        };
        let resources = push.generator.generate(&r.proxy);
        r.resources = resources.clone();
        let reason = push.reason;
        self.push = push;
        let mut sent_any = false;
        for t in self.push_types(reason) {
            let version = &resources.get_or_empty(&t).version;
            let sent = self
                .subscriptions
                .get(&t)
                .and_then(|s| s.sent_version.as_ref());
            if sent != Some(version) {
                self.respond(&t, Scope::Changed).await?;
                sent_any = true;
            }
        }
        if sent_any {
            let elapsed = self.push.triggered.elapsed().as_secs_f64();
            self.shared.metrics.convergence.observe(elapsed);
        }
        if slot.is_some() && sent_any {
            self.wait_taken().await?;
        }
        Ok(())
    }

    /// The subscribed types a push of `reason` may change, in push order.
    fn push_types(&self, reason: PushReason) -> Vec<String> {
        let mut types: Vec<String> = PUSH_ORDER
            .iter()
            .filter(|t| self.subscriptions.contains_key(**t))
            .map(|t| t.to_string())
            .collect();
        types.extend(
            self.subscriptions
                .keys()
                .filter(|t| !PUSH_ORDER.contains(&t.as_str()))
                .cloned(),
        );
        if reason == PushReason::Endpoints {
            types.retain(|t| t == weft_xds::type_url::CLUSTER_LOAD_ASSIGNMENT);
        }
        types
    }

    /// Waits until the transport took the last queued response. The transport takes the next
    /// response only once the proxy's flow-control window has room for the previous one, so
    /// a response not taken within the send timeout means the proxy stopped reading: it is
    /// closed as for a full queue, and never keeps its push slot.
    async fn wait_taken(&mut self) -> Result<(), Close> {
        let Some(taken) = self.last_taken.take() else {
            return Ok(());
        };
        match tokio::time::timeout(self.shared.options.send_timeout, taken).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.shared.metrics.write_timeouts.inc();
                Err(Close::WriteTimeout)
            }
        }
    }

    async fn respond(&mut self, type_url: &str, scope: Scope) -> Result<(), Close> {
        let Some(r) = &self.registered else {
            return Ok(());
        };
        let current = r.resources.clone();
        let set = current.get_or_empty(type_url);
        let sub = self.subscriptions.entry(type_url.to_string()).or_default();
        let incremental = scope == Scope::Changed && sends_changes_only(type_url);
        let resources = if incremental {
            let changed = match &sub.sent {
                Some(sent) => changed_subscribed(
                    &self.shared.diffs.changed(type_url, sent, &current),
                    &sub.names,
                ),
                None => set.changed_since(TypedResources::empty(), &sub.names),
            };
            if changed.is_empty() {
                return Ok(());
            }
            set.select(&changed)
        } else {
            set.select(&sub.names)
        };
        sub.sent = Some(current.clone());
        self.nonces += 1;
        let nonce = format!("{}-{}", self.push.version, self.nonces);
        sub.sent_version = Some(set.version.clone());
        sub.sent_nonce = Some(nonce.clone());
        let short = short_type(type_url);
        let (count, names) = (resources.len(), sub.names.clone());
        let push_version = self.push.version;
        self.shared.status.update(&r.id, |s| {
            s.push_version = push_version;
            let t = s.types.entry(short.to_string()).or_default();
            t.sent_version = Some(set.version.clone());
            t.sent_nonce = Some(nonce.clone());
            t.sent_resources = count;
            t.subscribed = names;
        });
        let (taken, last_taken) = oneshot::channel();
        self.last_taken = Some(last_taken);
        let response = SharedResponse {
            version_info: set.version.clone(),
            resources,
            type_url: type_url.to_string(),
            nonce,
            control_plane: Some(ControlPlane {
                identifier: "weft".into(),
            }),
            taken: Some(taken),
        };
        self.send(response, short).await
    }
}

/// The changed names a subscription to `subscribed` (all, when empty) asks for.
fn changed_subscribed(changed: &[String], subscribed: &[String]) -> Vec<String> {
    changed
        .iter()
        .filter(|n| subscribed.is_empty() || subscribed.binary_search(n).is_ok())
        .cloned()
        .collect()
}

/// What a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Everything subscribed (an answer to a request).
    All,
    /// For RDS and EDS, only what changed since the last response (a push).
    Changed,
}

/// RDS and EDS state-of-the-world responses are incremental in the xDS protocol: a resource
/// left out is unchanged, not removed (removal follows from LDS/CDS). Istio relies on this
/// for its incremental EDS pushes; it is what keeps an endpoint change from resending every
/// cluster's endpoints to every proxy.
fn sends_changes_only(type_url: &str) -> bool {
    matches!(
        type_url,
        weft_xds::type_url::CLUSTER_LOAD_ASSIGNMENT | weft_xds::type_url::ROUTE_CONFIGURATION
    )
}

impl Connection {
    async fn send(&self, response: SharedResponse, short: &str) -> Result<(), Close> {
        let timeout = self.shared.options.send_timeout;
        let metrics = &self.shared.metrics;
        match tokio::time::timeout(timeout, self.tx.send(Ok(response))).await {
            Ok(Ok(())) => {
                metrics.pushes.get_or_create(&TypeLabel::new(short)).inc();
                Ok(())
            }
            Ok(Err(_)) => Err(Close::ClientGone),
            Err(_) => {
                let label = TypeLabel::new(format!("{short}_senderr"));
                metrics.pushes.get_or_create(&label).inc();
                metrics.write_timeouts.inc();
                Err(Close::WriteTimeout)
            }
        }
    }
}
