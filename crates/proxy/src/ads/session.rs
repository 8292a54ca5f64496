//! One ADS stream at a time: connect, (re)subscribe, then apply, ACK or NACK each response.
//! The state-of-the-world protocol is here; `delta.rs` speaks the incremental one on the same
//! `Client` state, and both share publishing and the ACK/NACK bookkeeping below.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use weft_proxy_config::model::bootstrap::AdsApiType;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use weft_xds::pb::google::rpc::Status;

use super::resources::{Kind, Resources};
use super::status::{AdsStatus, Nack, TypeStatus};
use super::{AdsConfig, mark_ready};
use crate::Control;

/// State that outlives a stream: accepted resources, ACKed versions and subscriptions.
#[derive(Debug)]
pub struct Client {
    pub(super) control: Control,
    pub(super) cfg: AdsConfig,
    pub(super) node: core::Node,
    pub(super) res: Resources,
    pub(super) acked: BTreeMap<Kind, String>,
    pub(super) eds: Vec<String>,
    pub(super) rds: Vec<String>,
    /// Secret names referenced with `sds_config: {ads: {}}`.
    pub(super) sds: Vec<String>,
    /// Types that have had at least one response (for readiness).
    pub(super) seen: BTreeSet<Kind>,
}

/// Why a stream ended and whether it got anywhere (which resets the backoff).
#[derive(Debug)]
pub struct SessionEnd {
    pub got_response: bool,
    pub error: String,
}

/// Per-stream state: the last nonce per type and whether the node was sent.
#[derive(Debug)]
struct Stream {
    tx: mpsc::Sender<DiscoveryRequest>,
    nonces: BTreeMap<Kind, String>,
    node_sent: BTreeSet<Kind>,
}

/// gRPC `INVALID_ARGUMENT`, the code Envoy puts in a NACK.
pub(super) const INVALID_ARGUMENT: i32 = 3;

impl Client {
    pub fn new(control: Control, cfg: AdsConfig, node: core::Node, res: Resources) -> Self {
        Self {
            control,
            cfg,
            node,
            res,
            acked: BTreeMap::new(),
            eds: Vec::new(),
            rds: Vec::new(),
            sds: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    pub(super) fn status(&self, f: impl FnOnce(&mut AdsStatus)) {
        f(&mut crate::lock(&self.control.shared().ads));
    }

    pub async fn session(&mut self, attempt: u64) -> SessionEnd {
        let mut got_response = false;
        let error = match self.stream(attempt, &mut got_response).await {
            Ok(()) => "the server closed the stream".to_string(),
            Err(e) => e,
        };
        SessionEnd {
            got_response,
            error,
        }
    }

    pub fn set_connected(&self, connected: bool) {
        self.status(|s| s.connected = connected);
    }

    fn server(&self, attempt: u64) -> Result<SocketAddr, String> {
        let live = self.control.shared().live.load();
        let eps = live
            .snap
            .clusters
            .get(&self.cfg.cluster)
            .map(|c| c.endpoints.clone())
            .unwrap_or_default();
        let n = u64::try_from(eps.len()).unwrap_or(1).max(1);
        let i = usize::try_from(attempt % n).unwrap_or(0);
        eps.get(i)
            .map(|e| e.addr)
            .ok_or_else(|| format!("ADS cluster {:?} has no endpoints", self.cfg.cluster))
    }

    async fn stream(&mut self, attempt: u64, got: &mut bool) -> Result<(), String> {
        let addr = self.server(attempt)?;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        match self.cfg.api {
            AdsApiType::Grpc => self.sotw_stream(channel, addr, got).await,
            AdsApiType::DeltaGrpc => self.delta_stream(channel, addr, got).await,
        }
    }

    /// Marks the stream open in `/debug/ads`.
    pub(super) fn opened(&self, addr: SocketAddr) {
        self.status(|s| {
            s.server = addr.to_string();
            s.connected = true;
            s.connects += 1;
        });
        tracing::info!(server = %addr, mode = self.cfg.api.mode(), "ADS stream open");
    }

    async fn sotw_stream(
        &mut self,
        channel: Channel,
        addr: SocketAddr,
        got: &mut bool,
    ) -> Result<(), String> {
        let (tx, rx) = mpsc::channel(32);
        let mut st = Stream {
            tx,
            nonces: BTreeMap::new(),
            node_sent: BTreeSet::new(),
        };
        for kind in Kind::ALL {
            if kind.is_wildcard() || !self.names(kind).is_empty() {
                self.request(&mut st, kind, None).await?;
            }
        }
        let mut client = AggregatedDiscoveryServiceClient::new(channel);
        let mut responses = client
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .map_err(status_text)?
            .into_inner();
        self.opened(addr);
        while let Some(resp) = responses.message().await.map_err(status_text)? {
            *got = true;
            self.on_response(&mut st, resp).await?;
        }
        Ok(())
    }

    pub(super) fn names(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Endpoint => &self.eds,
            Kind::Route => &self.rds,
            Kind::Secret => &self.sds,
            Kind::Cluster | Kind::Listener => &[],
        }
    }

    async fn request(
        &self,
        st: &mut Stream,
        kind: Kind,
        error: Option<String>,
    ) -> Result<(), String> {
        let req = DiscoveryRequest {
            version_info: self.acked.get(&kind).cloned().unwrap_or_default(),
            node: st.node_sent.insert(kind).then(|| self.node.clone()),
            resource_names: self.names(kind).to_vec(),
            type_url: kind.type_url().to_string(),
            response_nonce: st.nonces.get(&kind).cloned().unwrap_or_default(),
            error_detail: error.map(|message| Status {
                code: INVALID_ARGUMENT,
                message,
                details: Vec::new(),
            }),
            ..Default::default()
        };
        st.tx
            .send(req)
            .await
            .map_err(|_| "the request stream closed".to_string())
    }

    async fn on_response(
        &mut self,
        st: &mut Stream,
        resp: DiscoveryResponse,
    ) -> Result<(), String> {
        let Some(kind) = Kind::from_type_url(&resp.type_url) else {
            tracing::warn!(type_url = %resp.type_url, "ADS: ignoring a response of a type weft did not ask for");
            return Ok(());
        };
        st.nonces.insert(kind, resp.nonce.clone());
        let mut errors = self.res.apply(kind, &resp.resources, &resp.version_info);
        let (eds_changed, rds_changed, sds_changed) = self.update_subscriptions();
        self.publish(kind, &mut errors);
        if eds_changed {
            self.request(st, Kind::Endpoint, None).await?;
        }
        if rds_changed {
            self.request(st, Kind::Route, None).await?;
        }
        if sds_changed {
            self.request(st, Kind::Secret, None).await?;
        }
        let error = self.settle(kind, &resp.version_info, &resp.nonce, errors, &[], &[]);
        self.request(st, kind, error).await?;
        Ok(())
    }

    /// Serves the resources as they are now; a listener that cannot bind is an LDS error.
    pub(super) fn publish(&mut self, kind: Kind, errors: &mut Vec<String>) {
        // Secrets first, so that listeners and clusters needing them find them.
        self.res.sync_secrets(&self.control.shared().secrets);
        let binds = self.control.apply(Arc::new(self.res.snapshot()));
        if kind == Kind::Listener {
            errors.extend(
                binds
                    .iter()
                    .map(|e| format!("Listener {}: address: {e}", e.name)),
            );
        }
        self.control
            .shared()
            .records
            .store(Arc::new(self.res.record()));
    }

    /// After a response: records the ACK (or logs the NACK), updates `/debug/ads` and
    /// readiness; returns the NACK's `error_detail` message.
    pub(super) fn settle(
        &mut self,
        kind: Kind,
        version: &str,
        nonce: &str,
        errors: Vec<String>,
        carried: &[String],
        removed: &[String],
    ) -> Option<String> {
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        match &error {
            None => {
                self.acked.insert(kind, version.to_string());
            }
            Some(e) => {
                tracing::warn!(type_url = kind.type_url(), %version, error = %e, "ADS: NACK");
            }
        }
        let acked = self.acked.get(&kind).cloned().unwrap_or_default();
        let names = self.names(kind).to_vec();
        let known = self.res.known(kind);
        self.status(|s| {
            let t: &mut TypeStatus = s.types.entry(kind.type_url().to_string()).or_default();
            t.acked_version = acked;
            t.nonce = nonce.to_string();
            t.resource_names = names;
            t.resources = known;
            t.responses += 1;
            t.last_resources = carried.to_vec();
            t.last_removed = removed.to_vec();
            if let Some(error) = &error {
                t.last_nack = Some(Nack {
                    version: version.to_string(),
                    nonce: nonce.to_string(),
                    error: error.clone(),
                });
            }
        });
        self.seen.insert(kind);
        if self.seen.contains(&Kind::Cluster)
            && self.seen.contains(&Kind::Listener)
            && self.res.warm(&self.eds, &self.rds, &self.sds)
        {
            mark_ready(&self.control);
        }
        error
    }

    /// Recomputes EDS, RDS and SDS names after a CDS or LDS change.
    pub(super) fn update_subscriptions(&mut self) -> (bool, bool, bool) {
        let eds = self.res.eds_names();
        let rds = self.res.rds_names();
        let sds = self.res.sds_names();
        let changed = (eds != self.eds, rds != self.rds, sds != self.sds);
        self.eds = eds;
        self.rds = rds;
        self.sds = sds;
        self.res.retain_subscribed(&self.eds, &self.rds, &self.sds);
        changed
    }
}

/// A gRPC status as one line for logs and `/debug/ads`: `code: message`.
pub(super) fn status_text(s: tonic::Status) -> String {
    format!("{}: {}", s.code(), s.message())
}
