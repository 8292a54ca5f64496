//! Outlier detection on the data path: attempt outcomes go into each host's state machine
//! (weft-proxy-config `HostOutlier`), thresholds eject at once (bounded by
//! `max_ejection_percent` and the enforcement percents), and a sweep every `interval` returns
//! hosts whose ejection time is over.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Instant;

use weft_proxy_config::runtime::cluster::OutlierConfig;
use weft_proxy_config::runtime::cluster::outlier::{EjectReason, Observation, may_eject};

use super::{AttemptOutcome, Host, UpstreamCluster, lock};
use crate::stats::ClusterLimitStats;

fn observation(o: AttemptOutcome) -> Observation {
    match o {
        AttemptOutcome::Status(s) => Observation::Status(s),
        AttemptOutcome::ConnectFailure => Observation::ConnectFailure,
        AttemptOutcome::Reset => Observation::Reset,
        AttemptOutcome::Timeout => Observation::Timeout,
    }
}

fn count_detected(s: &ClusterLimitStats, r: EjectReason, enforced: bool) {
    let (detected, enforced_counter) = match r {
        EjectReason::Consecutive5xx => (
            &s.ejections_detected_consecutive_5xx,
            &s.ejections_enforced_consecutive_5xx,
        ),
        EjectReason::ConsecutiveGatewayFailure => (
            &s.ejections_detected_consecutive_gateway_failure,
            &s.ejections_enforced_consecutive_gateway_failure,
        ),
        EjectReason::ConsecutiveLocalOriginFailure => (
            &s.ejections_detected_consecutive_local_origin_failure,
            &s.ejections_enforced_consecutive_local_origin_failure,
        ),
    };
    detected.inc();
    if enforced {
        enforced_counter.inc();
    }
}

pub fn report(c: &UpstreamCluster, cfg: &OutlierConfig, host: &Host, outcome: AttemptOutcome) {
    let mut state = lock(&host.outlier);
    if state.is_ejected() {
        return;
    }
    let Some(reason) = state.observe(cfg, observation(outcome)) else {
        return;
    };
    let stats = &c.limits.stats;
    let enforced = fastrand::u32(0..100) < reason.enforcing(cfg);
    count_detected(stats, reason, enforced);
    if !enforced {
        return;
    }
    let hosts = c.hosts();
    let ejected = hosts.iter().filter(|h| h.is_ejected()).count();
    if !may_eject(ejected, hosts.len(), cfg.max_ejection_percent) {
        stats.ejections_overflow.inc();
        return;
    }
    state.eject(Instant::now());
    host.ejected.store(true, Ordering::Relaxed);
    stats.ejections_total.inc();
    stats.ejections_enforced_total.inc();
    stats.ejections_active.set((ejected + 1) as i64);
    tracing::debug!(cluster = %c.cfg.name, host = %host.addr, ?reason, "host ejected");
}

pub async fn sweep(cluster: Weak<UpstreamCluster>, cfg: OutlierConfig) {
    loop {
        tokio::time::sleep(cfg.interval).await;
        let Some(c) = cluster.upgrade() else { return };
        let now = Instant::now();
        let mut active = 0;
        for h in c.hosts() {
            let mut state = lock(&h.outlier);
            if state.sweep(&cfg, now) {
                h.ejected.store(false, Ordering::Relaxed);
                tracing::debug!(cluster = %c.cfg.name, host = %h.addr, "host returned");
            }
            active += usize::from(state.is_ejected());
        }
        c.limits.stats.ejections_active.set(active as i64);
    }
}
