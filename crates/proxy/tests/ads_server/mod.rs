//! A minimal in-process ADS server for tests, state of the world and delta: holds named
//! resources per type URL under one version, answers each new subscription, pushes on every
//! `set` (delta: only resources whose content changed, plus removals, each resource versioned
//! by a hash of its bytes), records every request, and can be killed (streams end with
//! UNAVAILABLE) and restarted on its port.
#![allow(dead_code, clippy::unwrap_used)]

pub mod fixtures;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use weft_xds::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, Resource,
};
use weft_xds::pb::google::protobuf::Any;

#[derive(Default)]
struct Data {
    version: String,
    /// type URL → (name, resource)
    resources: BTreeMap<String, Vec<(String, Any)>>,
    requests: Vec<DiscoveryRequest>,
    delta_requests: Vec<DeltaDiscoveryRequest>,
    streams: u64,
}

#[derive(Clone)]
pub struct Shared {
    data: Arc<Mutex<Data>>,
    bump: Arc<watch::Sender<u64>>,
}

pub struct AdsServer {
    pub shared: Shared,
    pub addr: SocketAddr,
    kill: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Shared {
    /// Replaces all resources with `version`, pushing to every open stream.
    pub fn set(&self, version: &str, resources: Vec<(String, String, Any)>) {
        let mut d = self.data.lock().unwrap();
        d.version = version.to_string();
        d.resources.clear();
        for (type_url, name, any) in resources {
            d.resources.entry(type_url).or_default().push((name, any));
        }
        drop(d);
        self.bump.send_modify(|v| *v += 1);
    }

    pub fn requests(&self) -> Vec<DiscoveryRequest> {
        self.data.lock().unwrap().requests.clone()
    }

    pub fn delta_requests(&self) -> Vec<DeltaDiscoveryRequest> {
        self.data.lock().unwrap().delta_requests.clone()
    }

    /// The version the delta server gives `name` of `type_url` as it is now.
    pub fn resource_version(&self, type_url: &str, name: &str) -> Option<String> {
        let d = self.data.lock().unwrap();
        d.resources
            .get(type_url)?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| content_version(a))
    }

    pub fn streams(&self) -> u64 {
        self.data.lock().unwrap().streams
    }

    fn response(
        &self,
        type_url: &str,
        names: &[String],
        nonce: u64,
    ) -> (String, DiscoveryResponse) {
        let d = self.data.lock().unwrap();
        let resources = d
            .resources
            .get(type_url)
            .into_iter()
            .flatten()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .map(|(_, a)| a.clone())
            .collect();
        let resp = DiscoveryResponse {
            version_info: d.version.clone(),
            resources,
            type_url: type_url.to_string(),
            nonce: nonce.to_string(),
            ..Default::default()
        };
        (d.version.clone(), resp)
    }
}

/// FNV-1a of the resource bytes: changes exactly when the content does.
fn content_version(any: &Any) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in any.type_url.bytes().chain(any.value.iter().copied()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// One type on a delta stream: wildcard or named, and what the client has (name → version).
#[derive(Default)]
struct DeltaSub {
    wildcard: bool,
    names: BTreeSet<String>,
    known: BTreeMap<String, String>,
}

impl DeltaSub {
    fn on_request(&mut self, req: &DeltaDiscoveryRequest, first: bool) {
        if first {
            self.wildcard = req.resource_names_subscribe.is_empty();
            self.known = req.initial_resource_versions.clone().into_iter().collect();
        }
        for n in &req.resource_names_subscribe {
            if n == "*" {
                self.wildcard = true;
            } else {
                self.names.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            self.names.remove(n);
            self.known.remove(n);
        }
    }
}

impl Shared {
    /// What changed for `sub` since it was last told; `None` when nothing did (unless
    /// `always`).
    fn delta_response(
        &self,
        type_url: &str,
        sub: &mut DeltaSub,
        nonce: u64,
        always: bool,
    ) -> Option<DeltaDiscoveryResponse> {
        let d = self.data.lock().unwrap();
        let current: BTreeMap<&String, &Any> = d
            .resources
            .get(type_url)
            .into_iter()
            .flatten()
            .filter(|(n, _)| sub.wildcard || sub.names.contains(n))
            .map(|(n, a)| (n, a))
            .collect();
        let mut resources = Vec::new();
        for (name, any) in &current {
            let version = content_version(any);
            if sub.known.get(*name) != Some(&version) {
                sub.known.insert((*name).clone(), version.clone());
                resources.push(Resource {
                    name: (*name).clone(),
                    version,
                    resource: Some((*any).clone()),
                    ..Default::default()
                });
            }
        }
        let removed: Vec<String> = sub
            .known
            .keys()
            .filter(|n| !current.contains_key(n))
            .cloned()
            .collect();
        for n in &removed {
            sub.known.remove(n);
        }
        if resources.is_empty() && removed.is_empty() && !always {
            return None;
        }
        Some(DeltaDiscoveryResponse {
            system_version_info: d.version.clone(),
            resources,
            type_url: type_url.to_string(),
            removed_resources: removed,
            nonce: nonce.to_string(),
            ..Default::default()
        })
    }
}

type DeltaOut = mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>;

async fn serve_delta_stream(
    shared: Shared,
    mut kill: watch::Receiver<bool>,
    mut inbound: Streaming<DeltaDiscoveryRequest>,
    tx: DeltaOut,
) {
    let mut bump = shared.bump.subscribe();
    let mut subs: BTreeMap<String, DeltaSub> = BTreeMap::new();
    let mut nonce = 0u64;
    loop {
        tokio::select! {
            r = inbound.message() => {
                let Ok(Some(req)) = r else { return };
                shared.data.lock().unwrap().delta_requests.push(req.clone());
                let first = !subs.contains_key(&req.type_url);
                let sub = subs.entry(req.type_url.clone()).or_default();
                sub.on_request(&req, first);
                let changed = first
                    || !req.resource_names_subscribe.is_empty()
                    || !req.resource_names_unsubscribe.is_empty();
                if changed {
                    nonce += 1;
                    let always = first || !req.resource_names_subscribe.is_empty();
                    if let Some(resp) = shared.delta_response(&req.type_url, sub, nonce, always)
                        && tx.send(Ok(resp)).await.is_err()
                    {
                        return;
                    }
                }
            }
            r = bump.changed() => {
                if r.is_err() { return; }
                for (t, sub) in subs.iter_mut() {
                    nonce += 1;
                    if let Some(resp) = shared.delta_response(t, sub, nonce, false)
                        && tx.send(Ok(resp)).await.is_err()
                    {
                        return;
                    }
                }
            }
            _ = kill.changed() => {
                let _ = tx.send(Err(Status::unavailable("server killed"))).await;
                return;
            }
        }
    }
}

struct Service {
    shared: Shared,
    kill: watch::Receiver<bool>,
}

type Out = mpsc::Sender<Result<DiscoveryResponse, Status>>;

async fn serve_stream(
    shared: Shared,
    mut kill: watch::Receiver<bool>,
    mut inbound: Streaming<DiscoveryRequest>,
    tx: Out,
) {
    let mut bump = shared.bump.subscribe();
    let mut subs: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    let mut nonce = 0u64;
    loop {
        tokio::select! {
            r = inbound.message() => {
                let Ok(Some(req)) = r else { return };
                shared.data.lock().unwrap().requests.push(req.clone());
                let known = subs.get(&req.type_url).map(|(n, _)| n.clone());
                if known.as_ref() != Some(&req.resource_names) {
                    nonce += 1;
                    let (v, resp) = shared.response(&req.type_url, &req.resource_names, nonce);
                    subs.insert(req.type_url.clone(), (req.resource_names.clone(), v));
                    if tx.send(Ok(resp)).await.is_err() { return; }
                }
            }
            r = bump.changed() => {
                if r.is_err() { return; }
                for (t, (names, sent)) in subs.iter_mut() {
                    nonce += 1;
                    let (v, resp) = shared.response(t, names, nonce);
                    if v != *sent {
                        *sent = v;
                        if tx.send(Ok(resp)).await.is_err() { return; }
                    }
                }
            }
            _ = kill.changed() => {
                let _ = tx.send(Err(Status::unavailable("server killed"))).await;
                return;
            }
        }
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Service {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        req: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        self.shared.data.lock().unwrap().streams += 1;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(serve_stream(
            self.shared.clone(),
            self.kill.clone(),
            req.into_inner(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        req: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        self.shared.data.lock().unwrap().streams += 1;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(serve_delta_stream(
            self.shared.clone(),
            self.kill.clone(),
            req.into_inner(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl AdsServer {
    pub async fn start(addr: SocketAddr, shared: Option<Shared>) -> AdsServer {
        let shared = shared.unwrap_or_else(|| Shared {
            data: Arc::default(),
            bump: Arc::new(watch::channel(0).0),
        });
        let sock = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = sock.local_addr().unwrap();
        let (kill, kill_rx) = watch::channel(false);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let svc = Service {
            shared: shared.clone(),
            kill: kill_rx,
        };
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(AggregatedDiscoveryServiceServer::new(svc))
                .serve_with_incoming_shutdown(TcpListenerStream::new(sock), async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        AdsServer {
            shared,
            addr,
            kill,
            stop: Some(stop),
            task,
        }
    }

    /// Ends every stream and stops listening; returns the state for a restart.
    pub async fn kill(mut self) -> Shared {
        let _ = self.kill.send(true);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
        self.shared.clone()
    }
}
