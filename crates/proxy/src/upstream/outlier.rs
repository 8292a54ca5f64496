//! Outlier detection on the data path: attempt outcomes go into each host's state machine
//! (weft-proxy-config `HostOutlier`), consecutive-error thresholds eject at once, and a sweep
//! every `interval` returns hosts whose ejection time is over and runs the success-rate and
//! failure-percentage detectors over the interval's per-host volumes. Every ejection is
//! bounded by `max_ejection_percent` and the detector's enforcement percent.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, Weak};
use std::time::Instant;

use weft_proxy_config::runtime::cluster::OutlierConfig;
use weft_proxy_config::runtime::cluster::outlier::{
    EjectReason, HostOutlier, Observation, Origin, SuccessRateStats, may_eject, rate_outliers,
};

use super::{AttemptOutcome, Host, UpstreamCluster, lock};
use crate::stats::ClusterLimitStats;

/// The success-rate figures of the last sweep, external and local-origin (admin `/clusters`).
#[derive(Debug, Default)]
pub struct SweepFigures(Mutex<[Option<SuccessRateStats>; 2]>);

impl SweepFigures {
    pub fn get(&self, origin: Origin) -> Option<SuccessRateStats> {
        lock(&self.0)[origin as usize]
    }
}

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
        EjectReason::SuccessRate => (
            &s.ejections_detected_success_rate,
            &s.ejections_enforced_success_rate,
        ),
        EjectReason::FailurePercentage => (
            &s.ejections_detected_failure_percentage,
            &s.ejections_enforced_failure_percentage,
        ),
        EjectReason::LocalOriginSuccessRate => (
            &s.ejections_detected_local_origin_success_rate,
            &s.ejections_enforced_local_origin_success_rate,
        ),
        EjectReason::LocalOriginFailurePercentage => (
            &s.ejections_detected_local_origin_failure_percentage,
            &s.ejections_enforced_local_origin_failure_percentage,
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
    if let Some(reason) = state.observe(cfg, observation(outcome)) {
        enforce(c, cfg, host, &mut state, reason, Instant::now());
    }
}

/// A detector chose `host` (not ejected): counts it, rolls its enforcement percent and ejects
/// when `max_ejection_percent` allows.
fn enforce(
    c: &UpstreamCluster,
    cfg: &OutlierConfig,
    host: &Host,
    state: &mut HostOutlier,
    reason: EjectReason,
    now: Instant,
) {
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
    state.eject(now);
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
        sweep_once(&c, &cfg, Instant::now());
    }
}

/// One interval: returns hosts whose time is up (as Envoy, before the rate detectors run, so
/// they take part with this interval's volumes), then ejects the rate detectors' outliers.
fn sweep_once(c: &UpstreamCluster, cfg: &OutlierConfig, now: Instant) {
    let hosts = c.hosts();
    let mut external = Vec::with_capacity(hosts.len());
    let mut local = Vec::with_capacity(hosts.len());
    for h in &hosts {
        let mut state = lock(&h.outlier);
        if state.sweep(cfg, now) {
            h.ejected.store(false, Ordering::Relaxed);
            tracing::debug!(cluster = %c.cfg.name, host = %h.addr, "host returned");
        }
        external.push(state.take_volume(Origin::External));
        local.push(state.take_volume(Origin::LocalOrigin));
    }
    let found = rate_outliers(&external, cfg, Origin::External);
    let mut detected = found.detected;
    let mut figures = [found.success_rate, None];
    if cfg.split_external_local_origin_errors {
        let found = rate_outliers(&local, cfg, Origin::LocalOrigin);
        detected.extend(found.detected);
        figures[Origin::LocalOrigin as usize] = found.success_rate;
    }
    *lock(&c.sweep_figures.0) = figures;
    for (i, reason) in detected {
        let host = &hosts[i];
        let mut state = lock(&host.outlier);
        // A host two detectors chose is ejected once.
        if !state.is_ejected() {
            enforce(c, cfg, host, &mut state, reason, now);
        }
    }
    let active = hosts.iter().filter(|h| h.is_ejected()).count();
    c.limits.stats.ejections_active.set(active as i64);
}
