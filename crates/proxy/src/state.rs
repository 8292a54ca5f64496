//! The state the data path reads: one `ArcSwap` of the live config (snapshot plus upstream
//! state), swapped whole on every update so requests never take a lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use weft_proxy_config::model::Bootstrap;
use weft_proxy_config::runtime::listener::{AccessLogSink, LogTarget};
use weft_proxy_config::runtime::{Listener, NetworkKind, Snapshot};

use crate::access_log::{LogWriter, open_writer};
use crate::dump::ConfigRecord;
use crate::stats::Stats;
use crate::upstream::{UpstreamCluster, build_clusters};

/// Drain time until `--drain-time` says otherwise.
const DEFAULT_DRAIN_TIME_MS: u64 = 5_000;

/// One published configuration.
#[derive(Debug, Default)]
pub struct Live {
    pub snap: Arc<Snapshot>,
    pub clusters: HashMap<String, Arc<UpstreamCluster>>,
    pub logs: HashMap<LogTarget, LogWriter>,
}

impl Live {
    pub fn log(&self, sinks: &[AccessLogSink], render: impl Fn(&AccessLogSink) -> String) {
        for s in sinks {
            if let Some(w) = self.logs.get(&s.target) {
                w.write(render(s));
            }
        }
    }
}

/// Everything the proxy's tasks share.
#[derive(Debug)]
pub struct Shared {
    pub live: ArcSwap<Live>,
    pub stats: Arc<Stats>,
    pub bootstrap: Bootstrap,
    pub records: ArcSwap<ConfigRecord>,
    /// Cleared by `/healthcheck/fail` and when draining.
    pub healthy: AtomicBool,
    /// Set once the first complete configuration is served.
    pub ready: AtomicBool,
    /// Signalled by `/quitquitquit`.
    pub quit: tokio::sync::Notify,
    /// ADS stream state for `/debug/ads` (admin only; never locked on the data path).
    pub ads: std::sync::Mutex<crate::ads::AdsStatus>,
    /// SDS secrets by name (static, from ADS, or set in-process by the identity agent).
    pub secrets: Arc<crate::secrets::SecretStore>,
    /// Remote JWKS of jwt_authn providers, kept across config updates.
    pub jwks: crate::jwks::JwksCache,
    /// Bumped after every publish: open connections watch it to drain when their listener
    /// was replaced (the data path itself reads `live`, never this channel).
    pub config_epoch: tokio::sync::watch::Sender<u64>,
    /// How long a TCP connection of a replaced listener may go on before it is closed
    /// (Envoy's drain time); milliseconds, set from `weft proxy --drain-time`.
    pub drain_time_ms: AtomicU64,
}

impl Shared {
    pub fn new(bootstrap: Bootstrap, stats: Arc<Stats>) -> Self {
        Self {
            live: ArcSwap::from_pointee(Live::default()),
            stats,
            bootstrap,
            records: ArcSwap::from_pointee(ConfigRecord::default()),
            healthy: AtomicBool::new(true),
            ready: AtomicBool::new(false),
            quit: tokio::sync::Notify::new(),
            ads: Default::default(),
            secrets: Default::default(),
            jwks: Default::default(),
            config_epoch: tokio::sync::watch::Sender::new(0),
            drain_time_ms: AtomicU64::new(DEFAULT_DRAIN_TIME_MS),
        }
    }

    /// Publishes a new snapshot, carrying over hosts, pools and log writers.
    pub fn publish(&self, snap: Arc<Snapshot>) {
        let prev = self.live.load_full();
        let clusters = build_clusters(&snap, Some(&prev.clusters), &self.stats, &self.secrets);
        let mut logs = HashMap::new();
        for target in log_targets(&snap) {
            let w = prev
                .logs
                .get(&target)
                .cloned()
                .or_else(|| open_writer(&target));
            if let Some(w) = w {
                logs.insert(target, w);
            }
        }
        self.live.store(Arc::new(Live {
            snap,
            clusters,
            logs,
        }));
        self.stats.config_updates.inc();
        self.config_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Resolves once `listener` was replaced and the drain time has passed since: what a
    /// connection that cannot be drained gracefully (TCP proxy) waits for before closing.
    pub async fn drained(&self, listener: &Arc<Listener>) {
        let mut epochs = self.config_epoch.subscribe();
        while !self.listener_replaced(listener) {
            if epochs.changed().await.is_err() {
                break;
            }
        }
        let drain = Duration::from_millis(self.drain_time_ms.load(Ordering::Relaxed));
        tokio::time::sleep(drain).await;
    }

    /// Whether the live snapshot no longer holds `listener` under its name (changed or removed).
    pub fn listener_replaced(&self, listener: &Arc<Listener>) -> bool {
        !self
            .live
            .load()
            .snap
            .listeners
            .get(&listener.name)
            .is_some_and(|l| Arc::ptr_eq(l, listener))
    }
}

fn log_targets(snap: &Snapshot) -> Vec<LogTarget> {
    let mut out = Vec::new();
    for l in snap.listeners.values() {
        for c in l.chains.iter().chain(l.default_chain.iter()) {
            let sinks = match &c.kind {
                NetworkKind::Tcp(t) => &t.access_log,
                NetworkKind::Http(h) => &h.access_log,
            };
            out.extend(sinks.iter().map(|s| s.target.clone()));
        }
    }
    out.sort();
    out.dedup();
    out
}
