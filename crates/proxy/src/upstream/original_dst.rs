//! ORIGINAL_DST hosts: one host (with its own pool) per original destination, created on first
//! use, kept in a bounded map and dropped after `cleanup_interval` without use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use weft_proxy_config::runtime::Endpoint;

use super::{Host, Limits, lock};

/// Bound on distinct destinations kept at once; beyond it the least recently used idle host
/// is dropped.
pub const MAX_HOSTS: usize = 1024;

#[derive(Debug)]
pub struct OriginalDstHosts {
    hosts: Mutex<HashMap<SocketAddr, (Arc<Host>, Instant)>>,
    cleanup_interval: Duration,
    cleaner: std::sync::atomic::AtomicBool,
}

impl OriginalDstHosts {
    pub fn new(cleanup_interval: Duration) -> Self {
        Self {
            hosts: Mutex::new(HashMap::new()),
            cleanup_interval,
            cleaner: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The host for `dst`, made on first use.
    pub fn host(&self, dst: SocketAddr, limits: &Arc<Limits>) -> Option<Arc<Host>> {
        let now = Instant::now();
        let mut hosts = lock(&self.hosts);
        if let Some((h, used)) = hosts.get_mut(&dst) {
            *used = now;
            return Some(h.clone());
        }
        if hosts.len() >= MAX_HOSTS {
            let oldest = hosts
                .iter()
                .filter(|(_, (h, _))| h.active_rq.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(a, _)| *a);
            hosts.remove(&oldest?);
        }
        let ep = Endpoint {
            addr: dst,
            ..Endpoint::default()
        };
        let h = Arc::new(Host::new(ep, limits.clone()));
        hosts.insert(dst, (h.clone(), now));
        Some(h)
    }

    /// Drops hosts unused for `cleanup_interval` and without requests in flight.
    pub fn purge(&self, now: Instant) {
        lock(&self.hosts).retain(|_, (h, used)| {
            h.active_rq.load(Ordering::Relaxed) > 0
                || now.saturating_duration_since(*used) < self.cleanup_interval
        });
    }

    pub fn snapshot(&self) -> Vec<Arc<Host>> {
        let mut v: Vec<Arc<Host>> = lock(&self.hosts).values().map(|(h, _)| h.clone()).collect();
        v.sort_by_key(|h| h.addr);
        v
    }
}

/// One cleanup task per map (the map outlives config versions of its cluster).
pub async fn cleanup(map: Weak<OriginalDstHosts>) {
    let interval = match map.upgrade() {
        Some(m) if !m.cleaner.swap(true, Ordering::AcqRel) => m.cleanup_interval,
        _ => return,
    };
    loop {
        tokio::time::sleep(interval.max(Duration::from_millis(10))).await;
        let Some(m) = map.upgrade() else { return };
        m.purge(Instant::now());
    }
}
