//! Outlier detection as a pure state machine per host: consecutive-error counters, ejection and
//! return after the ejection time. The data path feeds attempt results in and asks for sweeps;
//! time is passed in so the machine is testable with simulated time.
//!
//! Envoy semantics kept here: without `split_external_local_origin_errors` a local failure
//! (connect failure, reset, timeout) counts as a 503/504 for both the 5xx and gateway-failure
//! counters; with it, local failures only count towards `consecutive_local_origin_failure`.
//! An ejection lasts `base_ejection_time × times ejected`, capped at `max_ejection_time`; each
//! sweep in which a returned host stays healthy lowers that multiplier by one.
//!
//! Each host also counts requests and successes per interval (`Volume`, one for external and
//! one for local-origin results) for the success-rate and failure-percentage detectors of the
//! sweep (`rates`).

mod rates;

use std::time::{Duration, Instant};

use super::policy::OutlierConfig;
pub use rates::{Origin, RateSweep, SuccessRateStats, Volume, rate_outliers};

/// What one attempt on a host came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Response headers with this status.
    Status(u16),
    ConnectFailure,
    Reset,
    Timeout,
}

/// Why a host crossed a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EjectReason {
    Consecutive5xx,
    ConsecutiveGatewayFailure,
    ConsecutiveLocalOriginFailure,
    SuccessRate,
    FailurePercentage,
    LocalOriginSuccessRate,
    LocalOriginFailurePercentage,
}

impl EjectReason {
    /// The enforcement percent of this detector.
    pub fn enforcing(self, cfg: &OutlierConfig) -> u32 {
        match self {
            Self::Consecutive5xx => cfg.enforcing_consecutive_5xx,
            Self::ConsecutiveGatewayFailure => cfg.enforcing_consecutive_gateway_failure,
            Self::ConsecutiveLocalOriginFailure => cfg.enforcing_consecutive_local_origin_failure,
            Self::SuccessRate => cfg.success_rate.enforcing,
            Self::FailurePercentage => cfg.failure_percentage.enforcing,
            Self::LocalOriginSuccessRate => cfg.success_rate.enforcing_local_origin,
            Self::LocalOriginFailurePercentage => cfg.failure_percentage.enforcing_local_origin,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HostOutlier {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    consecutive_local: u32,
    /// Ejection multiplier: how many times in a row the host was ejected.
    times_ejected: u32,
    ejected_at: Option<Instant>,
    /// This interval's external results (HTTP status; local failures too when not split).
    external: Volume,
    /// This interval's local-origin results (only with `split_external_local_origin_errors`).
    local: Volume,
}

fn is_gateway(status: u16) -> bool {
    matches!(status, 502..=504)
}

impl HostOutlier {
    pub fn is_ejected(&self) -> bool {
        self.ejected_at.is_some()
    }

    pub fn times_ejected(&self) -> u32 {
        self.times_ejected
    }

    /// Counts one attempt; returns the detector whose threshold was just reached.
    pub fn observe(&mut self, cfg: &OutlierConfig, obs: Observation) -> Option<EjectReason> {
        let split = cfg.split_external_local_origin_errors;
        let status = match obs {
            Observation::Status(s) => {
                self.consecutive_local = 0;
                if split {
                    // Getting a response means the connection to the host worked.
                    self.local.record(true);
                }
                s
            }
            _ if split => {
                self.local.record(false);
                self.consecutive_local += 1;
                return (self.consecutive_local == cfg.consecutive_local_origin_failure)
                    .then_some(EjectReason::ConsecutiveLocalOriginFailure);
            }
            Observation::Timeout => 504,
            Observation::ConnectFailure | Observation::Reset => 503,
        };
        self.external.record(status < 500);
        if status < 500 {
            self.consecutive_5xx = 0;
            self.consecutive_gateway = 0;
            return None;
        }
        self.consecutive_5xx += 1;
        if is_gateway(status) {
            self.consecutive_gateway += 1;
        } else {
            self.consecutive_gateway = 0;
        }
        if self.consecutive_5xx == cfg.consecutive_5xx {
            return Some(EjectReason::Consecutive5xx);
        }
        (is_gateway(status) && self.consecutive_gateway == cfg.consecutive_gateway_failure)
            .then_some(EjectReason::ConsecutiveGatewayFailure)
    }

    /// Ejects the host (the caller checked `may_eject` and enforcement).
    pub fn eject(&mut self, now: Instant) {
        self.times_ejected = self.times_ejected.saturating_add(1);
        self.ejected_at = Some(now);
        self.consecutive_5xx = 0;
        self.consecutive_gateway = 0;
        self.consecutive_local = 0;
        self.external = Volume::default();
        self.local = Volume::default();
    }

    /// This interval's volumes for the rate detectors (`None` while ejected); starts the next
    /// interval.
    pub fn take_volume(&mut self, origin: Origin) -> Option<Volume> {
        let v = std::mem::take(match origin {
            Origin::External => &mut self.external,
            Origin::LocalOrigin => &mut self.local,
        });
        (!self.is_ejected()).then_some(v)
    }

    /// How long the current (or next) ejection lasts.
    pub fn ejection_time(&self, cfg: &OutlierConfig) -> Duration {
        cfg.base_ejection_time
            .saturating_mul(self.times_ejected.max(1))
            .min(cfg.max_ejection_time)
    }

    /// The interval sweep: returns the host when its time is up (true) and otherwise lowers
    /// the multiplier of a healthy host.
    pub fn sweep(&mut self, cfg: &OutlierConfig, now: Instant) -> bool {
        match self.ejected_at {
            Some(at) if now.saturating_duration_since(at) >= self.ejection_time(cfg) => {
                self.ejected_at = None;
                true
            }
            Some(_) => false,
            None => {
                self.times_ejected = self.times_ejected.saturating_sub(1);
                false
            }
        }
    }
}

/// Whether one more host may be ejected: always when none is (Envoy ejects at least one host
/// even when `max_ejection_percent` of the cluster rounds down to zero), otherwise while the
/// ejected share stays below `max_ejection_percent`.
pub fn may_eject(ejected: usize, total: usize, max_ejection_percent: u32) -> bool {
    ejected == 0 || (ejected * 100) < total * max_ejection_percent as usize
}

#[cfg(test)]
mod tests {
    use super::super::policy::{FailurePercentageConfig, SuccessRateConfig};
    use super::*;

    pub(super) fn cfg() -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: 3,
            consecutive_gateway_failure: 2,
            consecutive_local_origin_failure: 2,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(70),
            max_ejection_percent: 10,
            enforcing_consecutive_5xx: 100,
            enforcing_consecutive_gateway_failure: 0,
            enforcing_consecutive_local_origin_failure: 100,
            split_external_local_origin_errors: false,
            success_rate: SuccessRateConfig {
                minimum_hosts: 5,
                request_volume: 100,
                stdev_factor: 1900,
                enforcing: 100,
                enforcing_local_origin: 100,
            },
            failure_percentage: FailurePercentageConfig {
                threshold: 85,
                minimum_hosts: 5,
                request_volume: 50,
                enforcing: 0,
                enforcing_local_origin: 0,
            },
        }
    }

    #[test]
    fn consecutive_5xx_reaches_threshold_and_success_resets() {
        let c = cfg();
        let mut h = HostOutlier::default();
        assert_eq!(h.observe(&c, Observation::Status(500)), None);
        assert_eq!(h.observe(&c, Observation::Status(200)), None);
        assert_eq!(h.observe(&c, Observation::Status(500)), None);
        assert_eq!(h.observe(&c, Observation::Status(500)), None);
        assert_eq!(
            h.observe(&c, Observation::Status(500)),
            Some(EjectReason::Consecutive5xx)
        );
    }

    #[test]
    fn gateway_failures_and_local_errors_mapped_to_5xx() {
        let c = cfg();
        let mut h = HostOutlier::default();
        assert_eq!(h.observe(&c, Observation::ConnectFailure), None);
        assert_eq!(
            h.observe(&c, Observation::Timeout),
            Some(EjectReason::ConsecutiveGatewayFailure)
        );
        // A 500 is not a gateway failure: it breaks that run but counts as the third 5xx.
        assert_eq!(
            h.observe(&c, Observation::Status(500)),
            Some(EjectReason::Consecutive5xx)
        );
    }

    #[test]
    fn split_local_origin_errors_count_apart() {
        let c = OutlierConfig {
            split_external_local_origin_errors: true,
            ..cfg()
        };
        let mut h = HostOutlier::default();
        assert_eq!(h.observe(&c, Observation::Status(503)), None);
        assert_eq!(h.observe(&c, Observation::Reset), None);
        assert_eq!(
            h.observe(&c, Observation::ConnectFailure),
            Some(EjectReason::ConsecutiveLocalOriginFailure)
        );
        assert_eq!(h.observe(&c, Observation::Status(500)), None);
    }

    #[test]
    fn ejection_time_grows_with_each_ejection_and_is_capped() {
        let c = cfg();
        let t0 = Instant::now();
        let mut h = HostOutlier::default();
        h.eject(t0);
        assert!(h.is_ejected());
        assert!(!h.sweep(&c, t0 + Duration::from_secs(29)));
        assert!(h.sweep(&c, t0 + Duration::from_secs(30)));
        assert!(!h.is_ejected());
        let t1 = t0 + Duration::from_secs(31);
        h.eject(t1);
        assert_eq!(h.ejection_time(&c), Duration::from_secs(60));
        assert!(!h.sweep(&c, t1 + Duration::from_secs(59)));
        assert!(h.sweep(&c, t1 + Duration::from_secs(60)));
        h.eject(t1);
        assert_eq!(h.ejection_time(&c), Duration::from_secs(70), "capped");
        // Healthy sweeps lower the multiplier again.
        assert!(h.sweep(&c, t1 + Duration::from_secs(70)));
        assert_eq!(h.times_ejected(), 3);
        h.sweep(&c, t1 + Duration::from_secs(80));
        h.sweep(&c, t1 + Duration::from_secs(90));
        assert_eq!(h.times_ejected(), 1);
    }

    #[test]
    fn volumes_count_per_origin_and_reset_each_interval() {
        let c = cfg();
        let mut h = HostOutlier::default();
        h.observe(&c, Observation::Status(200));
        h.observe(&c, Observation::Status(503));
        h.observe(&c, Observation::Timeout);
        let v = h.take_volume(Origin::External);
        assert_eq!(
            v,
            Some(Volume {
                total: 3,
                success: 1
            })
        );
        assert_eq!(h.take_volume(Origin::External), Some(Volume::default()));
        assert_eq!(h.take_volume(Origin::LocalOrigin), Some(Volume::default()));
        let split = OutlierConfig {
            split_external_local_origin_errors: true,
            ..c
        };
        h.observe(&split, Observation::Status(503));
        h.observe(&split, Observation::Reset);
        assert_eq!(
            h.take_volume(Origin::External),
            Some(Volume {
                total: 1,
                success: 0
            })
        );
        assert_eq!(
            h.take_volume(Origin::LocalOrigin),
            Some(Volume {
                total: 2,
                success: 1
            })
        );
        h.observe(&c, Observation::Status(200));
        h.eject(Instant::now());
        assert_eq!(
            h.take_volume(Origin::External),
            None,
            "ejected hosts do not qualify"
        );
    }

    #[test]
    fn max_ejection_percent_allows_at_least_one() {
        assert!(may_eject(0, 3, 10));
        assert!(!may_eject(1, 3, 10));
        assert!(may_eject(1, 3, 50));
        assert!(!may_eject(2, 3, 50));
        assert!(may_eject(9, 10, 100));
    }
}
