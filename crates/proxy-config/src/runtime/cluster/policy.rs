//! Compiled traffic policies of a cluster: circuit-breaker thresholds, outlier detection and
//! the load-balancer settings that need validation (ring size, Maglev table size).

use std::time::Duration;

use crate::error::{At, Result};
use crate::model::cluster as m;

/// Istio's "unlimited": a threshold at or above this is not enforced (costs nothing).
pub const UNLIMITED: u32 = u32::MAX;

/// Circuit-breaker thresholds of the DEFAULT routing priority; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakers {
    pub max_connections: Option<u64>,
    pub max_pending_requests: Option<u64>,
    pub max_requests: Option<u64>,
    pub max_retries: Option<u64>,
    /// When set it replaces `max_retries`.
    pub retry_budget: Option<RetryBudget>,
    pub track_remaining: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    /// Percent of active plus pending requests that may be retries.
    pub budget_percent: f64,
    pub min_retry_concurrency: u64,
}

impl Default for Breakers {
    /// Envoy's defaults when a cluster sets no thresholds.
    fn default() -> Self {
        Self {
            max_connections: Some(1024),
            max_pending_requests: Some(1024),
            max_requests: Some(1024),
            max_retries: Some(3),
            retry_budget: None,
            track_remaining: false,
        }
    }
}

impl Breakers {
    /// How many retries may be in flight given the cluster's active and pending requests.
    pub fn retry_limit(&self, active_and_pending: u64) -> Option<u64> {
        match self.retry_budget {
            Some(b) => {
                let by_budget = (active_and_pending as f64 * b.budget_percent / 100.0) as u64;
                Some(by_budget.max(b.min_retry_concurrency))
            }
            None => self.max_retries,
        }
    }
}

fn limit(v: Option<u32>, default: Option<u64>) -> Option<u64> {
    match v {
        None => default,
        Some(UNLIMITED) => None,
        Some(n) => Some(u64::from(n)),
    }
}

pub fn breakers(at: &At<'_>, cb: Option<&m::CircuitBreakers>) -> Result<Breakers> {
    let d = Breakers::default();
    let Some(cb) = cb else { return Ok(d) };
    let mut out = d;
    for (i, t) in cb.thresholds.iter().enumerate() {
        let tat = at.field("circuit_breakers.thresholds").index(i);
        // HIGH priority thresholds are accepted; every route uses DEFAULT.
        if t.priority != m::RoutingPriority::Default {
            continue;
        }
        let retry_budget = match &t.retry_budget {
            None => None,
            Some(b) => {
                let budget_percent = b.budget_percent.map_or(20.0, |p| p.value);
                if !(0.0..=100.0).contains(&budget_percent) {
                    return Err(tat
                        .field("retry_budget.budget_percent")
                        .err("must be between 0 and 100"));
                }
                Some(RetryBudget {
                    budget_percent,
                    min_retry_concurrency: u64::from(b.min_retry_concurrency.unwrap_or(3)),
                })
            }
        };
        out = Breakers {
            max_connections: limit(t.max_connections, d.max_connections),
            max_pending_requests: limit(t.max_pending_requests, d.max_pending_requests),
            max_requests: limit(t.max_requests, d.max_requests),
            max_retries: limit(t.max_retries, d.max_retries),
            retry_budget,
            track_remaining: t.track_remaining,
        };
    }
    Ok(out)
}

/// Outlier detection settings with Envoy's defaults filled in. Enforcement values are percents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    pub consecutive_5xx: u32,
    pub consecutive_gateway_failure: u32,
    pub consecutive_local_origin_failure: u32,
    pub interval: Duration,
    pub base_ejection_time: Duration,
    pub max_ejection_time: Duration,
    pub max_ejection_percent: u32,
    pub enforcing_consecutive_5xx: u32,
    pub enforcing_consecutive_gateway_failure: u32,
    pub enforcing_consecutive_local_origin_failure: u32,
    pub split_external_local_origin_errors: bool,
    pub success_rate: SuccessRateConfig,
    pub failure_percentage: FailurePercentageConfig,
}

/// Success-rate ejection (evaluated at each interval sweep). Enforcement values are percents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessRateConfig {
    pub minimum_hosts: u32,
    pub request_volume: u32,
    /// The stdev multiplier × 1000 (Envoy's integer encoding: 1900 means 1.9).
    pub stdev_factor: u32,
    pub enforcing: u32,
    pub enforcing_local_origin: u32,
}

/// Failure-percentage ejection (evaluated at each interval sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePercentageConfig {
    pub threshold: u32,
    pub minimum_hosts: u32,
    pub request_volume: u32,
    pub enforcing: u32,
    pub enforcing_local_origin: u32,
}

pub fn outlier(at: &At<'_>, o: Option<&m::OutlierDetection>) -> Result<Option<OutlierConfig>> {
    let Some(o) = o else { return Ok(None) };
    let at = at.field("outlier_detection");
    let percent = |name: &str, v: Option<u32>, default: u32| percent(&at, name, v, default);
    let base = o
        .base_ejection_time
        .map_or(Duration::from_secs(30), |d| d.0);
    let max = o
        .max_ejection_time
        .map_or(Duration::from_secs(300), |d| d.0);
    let interval = o.interval.map_or(Duration::from_secs(10), |d| d.0);
    if interval.is_zero() {
        return Err(at.field("interval").err("must be positive"));
    }
    Ok(Some(OutlierConfig {
        consecutive_5xx: o.consecutive_5xx.unwrap_or(5),
        consecutive_gateway_failure: o.consecutive_gateway_failure.unwrap_or(5),
        consecutive_local_origin_failure: o.consecutive_local_origin_failure.unwrap_or(5),
        interval,
        base_ejection_time: base,
        max_ejection_time: max.max(base),
        max_ejection_percent: percent("max_ejection_percent", o.max_ejection_percent, 10)?,
        enforcing_consecutive_5xx: percent(
            "enforcing_consecutive_5xx",
            o.enforcing_consecutive_5xx,
            100,
        )?,
        enforcing_consecutive_gateway_failure: percent(
            "enforcing_consecutive_gateway_failure",
            o.enforcing_consecutive_gateway_failure,
            0,
        )?,
        enforcing_consecutive_local_origin_failure: percent(
            "enforcing_consecutive_local_origin_failure",
            o.enforcing_consecutive_local_origin_failure,
            100,
        )?,
        split_external_local_origin_errors: o.split_external_local_origin_errors,
        success_rate: success_rate(&at, o)?,
        failure_percentage: failure_percentage(&at, o)?,
    }))
}

/// A percent field with its default; above 100 is a NACK (Envoy's `lte: 100`).
fn percent(at: &At<'_>, name: &str, v: Option<u32>, default: u32) -> Result<u32> {
    let v = v.unwrap_or(default);
    if v > 100 {
        return Err(at.field(name).err("must be at most 100"));
    }
    Ok(v)
}

fn success_rate(at: &At<'_>, o: &m::OutlierDetection) -> Result<SuccessRateConfig> {
    Ok(SuccessRateConfig {
        minimum_hosts: o.success_rate_minimum_hosts.unwrap_or(5),
        request_volume: o.success_rate_request_volume.unwrap_or(100),
        stdev_factor: o.success_rate_stdev_factor.unwrap_or(1900),
        enforcing: percent(at, "enforcing_success_rate", o.enforcing_success_rate, 100)?,
        enforcing_local_origin: percent(
            at,
            "enforcing_local_origin_success_rate",
            o.enforcing_local_origin_success_rate,
            100,
        )?,
    })
}

fn failure_percentage(at: &At<'_>, o: &m::OutlierDetection) -> Result<FailurePercentageConfig> {
    Ok(FailurePercentageConfig {
        threshold: percent(
            at,
            "failure_percentage_threshold",
            o.failure_percentage_threshold,
            85,
        )?,
        minimum_hosts: o.failure_percentage_minimum_hosts.unwrap_or(5),
        request_volume: o.failure_percentage_request_volume.unwrap_or(50),
        enforcing: percent(
            at,
            "enforcing_failure_percentage",
            o.enforcing_failure_percentage,
            0,
        )?,
        enforcing_local_origin: percent(
            at,
            "enforcing_failure_percentage_local_origin",
            o.enforcing_failure_percentage_local_origin,
            0,
        )?,
    })
}

/// Envoy's bounds on the ring: default minimum 1024 entries, maximum 8M.
pub const DEFAULT_MIN_RING: u64 = 1024;
pub const DEFAULT_MAX_RING: u64 = 8 * 1024 * 1024;
/// Envoy's default Maglev table size (a prime).
pub const DEFAULT_MAGLEV_TABLE: u64 = 65537;
/// Largest table Envoy accepts.
const MAX_MAGLEV_TABLE: u64 = 5_000_011;

pub fn ring_sizes(at: &At<'_>, r: Option<&m::RingHashLbConfig>) -> Result<(u64, u64)> {
    let Some(r) = r else {
        return Ok((DEFAULT_MIN_RING, DEFAULT_MAX_RING));
    };
    let at = at.field("ring_hash_lb_config");
    if r.hash_function == m::HashFunction::MurmurHash2 {
        return Err(at
            .field("hash_function")
            .err("MURMUR_HASH_2 is not supported (XX_HASH is)"));
    }
    let min = r.minimum_ring_size.unwrap_or(DEFAULT_MIN_RING);
    let max = r.maximum_ring_size.unwrap_or(DEFAULT_MAX_RING);
    if min == 0 || min > DEFAULT_MAX_RING {
        return Err(at
            .field("minimum_ring_size")
            .err("must be between 1 and 8388608"));
    }
    if max < min || max > DEFAULT_MAX_RING {
        return Err(at
            .field("maximum_ring_size")
            .err("must be at least minimum_ring_size and at most 8388608"));
    }
    Ok((min, max))
}

pub fn maglev_size(at: &At<'_>, mg: Option<&m::MaglevLbConfig>) -> Result<u64> {
    let size = mg
        .and_then(|m| m.table_size)
        .unwrap_or(DEFAULT_MAGLEV_TABLE);
    if !is_prime(size) || size > MAX_MAGLEV_TABLE {
        return Err(at
            .field("maglev_lb_config.table_size")
            .err(format!("{size} must be a prime number at most 5000011")));
    }
    Ok(size)
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_thresholds_cost_nothing() {
        let cb = m::CircuitBreakers {
            thresholds: vec![m::Thresholds {
                max_connections: Some(UNLIMITED),
                max_requests: Some(7),
                ..Default::default()
            }],
        };
        let b = breakers(&At::new("Cluster c"), Some(&cb)).expect("breakers");
        assert_eq!(b.max_connections, None);
        assert_eq!(b.max_requests, Some(7));
        assert_eq!(b.max_pending_requests, Some(1024));
        assert_eq!(b.max_retries, Some(3));
    }

    #[test]
    fn retry_budget_replaces_max_retries() {
        let b = Breakers {
            retry_budget: Some(RetryBudget {
                budget_percent: 20.0,
                min_retry_concurrency: 3,
            }),
            ..Breakers::default()
        };
        assert_eq!(b.retry_limit(0), Some(3));
        assert_eq!(b.retry_limit(100), Some(20));
        assert_eq!(Breakers::default().retry_limit(100), Some(3));
    }

    #[test]
    fn maglev_table_must_be_prime() {
        let at = At::new("Cluster c");
        assert_eq!(maglev_size(&at, None), Ok(65537));
        let bad = m::MaglevLbConfig {
            table_size: Some(65536),
        };
        let e = maglev_size(&at, Some(&bad)).expect_err("not prime");
        assert_eq!(e.path, "maglev_lb_config.table_size");
    }

    #[test]
    fn outlier_defaults() {
        let o = outlier(&At::new("Cluster c"), Some(&m::OutlierDetection::default()))
            .expect("ok")
            .expect("some");
        assert_eq!(o.consecutive_5xx, 5);
        assert_eq!(o.interval, Duration::from_secs(10));
        assert_eq!(o.base_ejection_time, Duration::from_secs(30));
        assert_eq!(o.max_ejection_time, Duration::from_secs(300));
        assert_eq!(o.max_ejection_percent, 10);
        assert_eq!(o.enforcing_consecutive_gateway_failure, 0);
        let sr = o.success_rate;
        assert_eq!(
            (sr.minimum_hosts, sr.request_volume, sr.stdev_factor),
            (5, 100, 1900)
        );
        assert_eq!((sr.enforcing, sr.enforcing_local_origin), (100, 100));
        let fp = o.failure_percentage;
        assert_eq!(
            (fp.threshold, fp.minimum_hosts, fp.request_volume),
            (85, 5, 50)
        );
        assert_eq!((fp.enforcing, fp.enforcing_local_origin), (0, 0));
    }

    #[test]
    fn outlier_percent_over_100_is_nacked_with_its_path() {
        let at = At::new("Cluster c");
        let bad = m::OutlierDetection {
            failure_percentage_threshold: Some(101),
            ..Default::default()
        };
        let e = outlier(&at, Some(&bad)).expect_err("over 100");
        assert_eq!(e.path, "outlier_detection.failure_percentage_threshold");
        let bad = m::OutlierDetection {
            enforcing_local_origin_success_rate: Some(150),
            ..Default::default()
        };
        let e = outlier(&at, Some(&bad)).expect_err("over 100");
        assert_eq!(
            e.path,
            "outlier_detection.enforcing_local_origin_success_rate"
        );
    }
}
