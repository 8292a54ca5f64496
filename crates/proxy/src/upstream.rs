//! Per-cluster upstream state built from a config snapshot: hosts with their load counters,
//! health and connection pools, the load-balancer position, circuit-breaker counters and
//! outlier detection. Hosts (and so their pools and ejection state) survive config updates
//! that keep their endpoint; DNS clusters replace their member set in the background.

mod breaker;
mod dns;
mod members;
mod original_dst;
mod outlier;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use weft_proxy_config::runtime::cluster::outlier::HostOutlier;
use weft_proxy_config::runtime::cluster::{Discovery, Endpoint};
use weft_proxy_config::runtime::{Cluster, Snapshot};

pub use breaker::Limits;
use breaker::Slot;
pub use members::Members;
use original_dst::OriginalDstHosts;

use crate::pool::Pool;
use crate::secrets::SecretStore;
use crate::stats::{ClusterStats, Stats};
use crate::tls::client::ClientTls;

#[derive(Debug)]
pub struct Host {
    pub addr: SocketAddr,
    pub weight: u32,
    /// The endpoint this host was built from (priority, locality, EDS health).
    pub ep: Endpoint,
    pub active_rq: AtomicU64,
    pub rq_total: AtomicU64,
    pub rq_error: AtomicU64,
    pub cx_active: AtomicU64,
    pub cx_total: AtomicU64,
    pub cx_connect_fail: AtomicU64,
    pub pool: Pool,
    /// Set while outlier detection has the host ejected (read lock-free by pick).
    ejected: AtomicBool,
    outlier: Mutex<HostOutlier>,
    /// The cluster's circuit-breaker counters (the pool waits on `max_connections`).
    pub limits: Arc<Limits>,
}

impl Host {
    fn new(ep: Endpoint, limits: Arc<Limits>) -> Self {
        Self {
            addr: ep.addr,
            weight: ep.weight,
            ep,
            active_rq: AtomicU64::new(0),
            rq_total: AtomicU64::new(0),
            rq_error: AtomicU64::new(0),
            cx_active: AtomicU64::new(0),
            cx_total: AtomicU64::new(0),
            cx_connect_fail: AtomicU64::new(0),
            pool: Pool::default(),
            ejected: AtomicBool::new(false),
            outlier: Mutex::new(HostOutlier::default()),
            limits,
        }
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Healthy by EDS and not ejected.
    pub fn usable(&self) -> bool {
        self.ep.eds_healthy && !self.is_ejected()
    }

    /// Envoy's `/clusters` health flags.
    pub fn health_flags(&self) -> String {
        let mut flags = String::new();
        if self.is_ejected() {
            flags.push_str("/failed_outlier_check");
        }
        if !self.ep.eds_healthy {
            flags.push_str("/failed_eds_health");
        }
        if flags.is_empty() {
            flags.push_str("healthy");
        }
        flags
    }
}

#[derive(Debug)]
pub struct UpstreamCluster {
    pub cfg: Arc<Cluster>,
    members: ArcSwap<Members>,
    /// ORIGINAL_DST clusters: hosts made on demand.
    original_dst: Option<Arc<OriginalDstHosts>>,
    rr: AtomicU64,
    pub stats: Arc<ClusterStats>,
    pub limits: Arc<Limits>,
    /// TLS to this cluster's hosts (`transport_socket`).
    pub tls: Option<Arc<ClientTls>>,
    /// TLS of each `transport_socket_matches` entry (`None`: plaintext).
    tls_matches: Vec<Option<Arc<ClientTls>>>,
    /// Success-rate figures of the last outlier sweep.
    pub sweep_figures: outlier::SweepFigures,
}

/// What a host choice may depend on besides the cluster's own state.
#[derive(Debug, Default, Clone, Copy)]
pub struct PickContext<'a> {
    /// The request's hash from the route's hash policies (RING_HASH, MAGLEV).
    pub hash: Option<u64>,
    /// The downstream connection's original destination (ORIGINAL_DST clusters).
    pub original_dst: Option<SocketAddr>,
    /// Hosts already tried by earlier attempts (retry host predicate `previous_hosts`).
    pub avoid: &'a [SocketAddr],
}

/// Permission to send one retry, held for the retry's duration (circuit breaker `max_retries`
/// and retry budget); dropping it gives the slot back.
#[derive(Debug)]
pub struct RetryPermit {
    _slot: Option<Slot>,
}

/// What one upstream attempt came to, reported for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Response headers arrived with this status.
    Status(u16),
    ConnectFailure,
    /// The connection was reset or closed before the response headers.
    Reset,
    Timeout,
}

/// Permission to have one more request in flight on a cluster (circuit breaker
/// `max_requests`); dropping it gives the slot back.
#[derive(Debug)]
pub struct RequestPermit {
    _slot: Option<Slot>,
}

/// A circuit breaker threshold was reached (response flag UO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("upstream overflow: circuit breaker threshold reached")]
pub struct Overflow;

impl UpstreamCluster {
    /// The TLS to use for `host`: its transport socket match's, else the cluster's.
    pub fn tls_for(&self, host: &Host) -> Option<&ClientTls> {
        match host.ep.socket_match {
            Some(i) => self
                .tls_matches
                .get(usize::from(i))
                .and_then(|t| t.as_deref()),
            None => self.tls.as_deref(),
        }
    }

    /// A slot for one more request, or `Overflow` when the circuit breaker is open.
    pub fn request_permit(&self) -> Result<RequestPermit, Overflow> {
        let slot = self.limits.request(&self.cfg.breakers)?;
        Ok(RequestPermit { _slot: slot })
    }

    /// Records the outcome of one attempt on `host` (outlier detection input).
    pub fn report(&self, host: &Host, outcome: AttemptOutcome) {
        if let Some(cfg) = &self.cfg.outlier {
            outlier::report(self, cfg, host, outcome);
        }
    }

    /// Chooses a host with the cluster's policy; `None` when it has no usable host.
    pub fn pick(&self, ctx: &PickContext<'_>) -> Option<Arc<Host>> {
        if let Some(od) = &self.original_dst {
            return od.host(ctx.original_dst?, &self.limits);
        }
        let tick = self.rr.fetch_add(1, Ordering::Relaxed);
        let members = self.members.load();
        members.choose(&self.cfg, ctx, tick, &mut |n| fastrand::u64(0..n.max(1)))
    }

    /// A permit for one more retry, or `None` when the cluster's retry limits are reached.
    pub fn retry_permit(&self) -> Option<RetryPermit> {
        let active = u64::try_from(self.stats.upstream_rq_active.get()).unwrap_or(0);
        let slot = self.limits.retry(&self.cfg.breakers, active).ok()?;
        Some(RetryPermit { _slot: slot })
    }

    /// Every host, for admin output (ORIGINAL_DST: the hosts currently known).
    pub fn hosts(&self) -> Vec<Arc<Host>> {
        match &self.original_dst {
            Some(od) => od.snapshot(),
            None => self.members.load().hosts.clone(),
        }
    }

    pub fn members(&self) -> arc_swap::Guard<Arc<Members>> {
        self.members.load()
    }

    fn set_members(&self, m: Members) {
        self.stats.membership_total.set(m.hosts.len() as i64);
        self.members.store(Arc::new(m));
    }
}

/// Decrements a host's and cluster's active-request gauges when dropped.
#[derive(Debug)]
pub struct ActiveRequest {
    host: Arc<Host>,
    stats: Arc<ClusterStats>,
}

impl ActiveRequest {
    pub fn new(host: Arc<Host>, stats: Arc<ClusterStats>) -> Self {
        host.active_rq.fetch_add(1, Ordering::Relaxed);
        host.rq_total.fetch_add(1, Ordering::Relaxed);
        stats.upstream_rq_active.inc();
        Self { host, stats }
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.host.active_rq.fetch_sub(1, Ordering::Relaxed);
        self.stats.upstream_rq_active.dec();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hosts for `endpoints`, reusing those of `old` with the same endpoint.
fn hosts_for(
    endpoints: &[Endpoint],
    old: Option<&Members>,
    limits: &Arc<Limits>,
) -> Vec<Arc<Host>> {
    endpoints
        .iter()
        .map(|ep| {
            old.and_then(|o| o.hosts.iter().find(|h| h.ep == *ep))
                .cloned()
                .unwrap_or_else(|| Arc::new(Host::new(*ep, limits.clone())))
        })
        .collect()
}

/// Builds upstream state for `snap`, reusing hosts and counters from `prev`.
pub fn build_clusters(
    snap: &Snapshot,
    prev: Option<&HashMap<String, Arc<UpstreamCluster>>>,
    stats: &Stats,
    secrets: &Arc<SecretStore>,
) -> HashMap<String, Arc<UpstreamCluster>> {
    let mut out = HashMap::with_capacity(snap.clusters.len());
    for (name, cfg) in &snap.clusters {
        let old = prev.and_then(|p| p.get(name));
        if let Some(old) = old.filter(|o| Arc::ptr_eq(&o.cfg, cfg)) {
            out.insert(name.clone(), old.clone());
            continue;
        }
        let cluster = Arc::new(build_one(cfg, old.map(|o| &**o), stats, secrets));
        start_tasks(&cluster);
        out.insert(name.clone(), cluster);
    }
    out
}

fn build_one(
    cfg: &Arc<Cluster>,
    old: Option<&UpstreamCluster>,
    stats: &Stats,
    secrets: &Arc<SecretStore>,
) -> UpstreamCluster {
    // Pooled connections are only kept when they would be made the same way.
    let same_protocol = old.is_some_and(|o| {
        o.cfg.protocol == cfg.protocol
            && o.cfg.tls == cfg.tls
            && o.cfg.tls_matches == cfg.tls_matches
    });
    let old = old.filter(|_| same_protocol);
    let limits = old.map_or_else(
        || Arc::new(Limits::new(stats.cluster_limits(&cfg.stat_name))),
        |o| o.limits.clone(),
    );
    let old_members = old.map(|o| o.members.load_full());
    let members = match &cfg.discovery {
        // Keep resolved hosts while the names stay the same; the resolver refreshes them.
        Discovery::Dns(d) => match old.map(|o| &o.cfg.discovery) {
            Some(Discovery::Dns(od)) if od == d => old_members.clone().unwrap_or_default(),
            _ => Arc::new(Members::default()),
        },
        _ => Arc::new(Members::new(
            hosts_for(&cfg.endpoints, old_members.as_deref(), &limits),
            cfg,
        )),
    };
    let original_dst = match &cfg.discovery {
        Discovery::OriginalDst { cleanup_interval } => Some(
            old.and_then(|o| o.original_dst.clone())
                .unwrap_or_else(|| Arc::new(OriginalDstHosts::new(*cleanup_interval))),
        ),
        _ => None,
    };
    let client_tls = |t: Option<&Arc<weft_proxy_config::runtime::tls::UpstreamTls>>| {
        t.map(|t| {
            Arc::new(ClientTls {
                cfg: t.clone(),
                secrets: secrets.clone(),
                stats: stats.cluster_ssl(&cfg.stat_name),
            })
        })
    };
    let cstats = stats.cluster(&cfg.stat_name);
    cstats.membership_total.set(members.hosts.len() as i64);
    UpstreamCluster {
        cfg: cfg.clone(),
        members: ArcSwap::new(members),
        original_dst,
        rr: AtomicU64::new(old.map_or(0, |o| o.rr.load(Ordering::Relaxed))),
        tls: client_tls(cfg.tls.as_ref()),
        tls_matches: cfg
            .tls_matches
            .iter()
            .map(|m| client_tls(m.tls.as_ref()))
            .collect(),
        stats: cstats,
        limits,
        sweep_figures: Default::default(),
    }
}

/// Background work of a cluster (DNS refresh, outlier sweep, ORIGINAL_DST cleanup). Each task
/// holds a weak reference and ends when the cluster is replaced and dropped.
fn start_tasks(cluster: &Arc<UpstreamCluster>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if let Discovery::Dns(d) = &cluster.cfg.discovery {
        rt.spawn(dns::refresh(Arc::downgrade(cluster), d.clone()));
    }
    if let Some(cfg) = cluster.cfg.outlier {
        rt.spawn(outlier::sweep(Arc::downgrade(cluster), cfg));
    }
    if let Some(od) = &cluster.original_dst {
        rt.spawn(original_dst::cleanup(Arc::downgrade(od)));
    }
}
