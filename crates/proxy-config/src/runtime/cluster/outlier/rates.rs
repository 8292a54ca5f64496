//! The interval detectors: success rate and failure percentage, as pure functions of the
//! request volumes each host had since the previous sweep.
//!
//! Envoy semantics kept here: only hosts that are not ejected and had at least the detector's
//! `request_volume` requests qualify; a detector runs only when at least `minimum_hosts`
//! qualify. Success rate ejects hosts whose rate is below `mean − stdev × stdev_factor/1000`
//! (population standard deviation over the qualifying hosts); failure percentage ejects hosts
//! whose failed share is at least `threshold` percent.

use super::super::policy::OutlierConfig;
use super::EjectReason;

/// Requests one host had since the previous sweep, and how many of them succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Volume {
    pub total: u64,
    pub success: u64,
}

impl Volume {
    pub fn record(&mut self, success: bool) {
        self.total += 1;
        self.success += u64::from(success);
    }

    /// Success rate in percent; `None` below `min_total` requests (and always for none, so a
    /// `request_volume` of 0 does not divide by zero).
    pub fn success_rate(&self, min_total: u32) -> Option<f64> {
        (self.total >= u64::from(min_total.max(1)))
            .then(|| 100.0 * self.success as f64 / self.total as f64)
    }
}

/// Which error family a sweep looks at: external (HTTP status, and without
/// `split_external_local_origin_errors` also local failures) or local-origin only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    External,
    LocalOrigin,
}

/// The success-rate figures of one sweep (shown by the admin `/clusters` page).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuccessRateStats {
    pub average: f64,
    pub ejection_threshold: f64,
}

/// What one sweep of one origin found: hosts (by index) to eject with the detector that chose
/// them, in detection order; a host both detectors chose appears twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateSweep {
    pub detected: Vec<(usize, EjectReason)>,
    pub success_rate: Option<SuccessRateStats>,
}

/// Runs both interval detectors over `volumes` (`None` for ejected hosts).
pub fn rate_outliers(volumes: &[Option<Volume>], cfg: &OutlierConfig, origin: Origin) -> RateSweep {
    let (sr_reason, fp_reason) = match origin {
        Origin::External => (EjectReason::SuccessRate, EjectReason::FailurePercentage),
        Origin::LocalOrigin => (
            EjectReason::LocalOriginSuccessRate,
            EjectReason::LocalOriginFailurePercentage,
        ),
    };
    let mut out = RateSweep::default();
    let sr = &cfg.success_rate;
    let rates = qualifying(volumes, sr.request_volume);
    if rates.len() >= sr.minimum_hosts as usize && !rates.is_empty() {
        let stats = success_rate_stats(&rates, sr.stdev_factor);
        out.detected.extend(
            rates
                .iter()
                .filter(|(_, rate)| *rate < stats.ejection_threshold)
                .map(|(i, _)| (*i, sr_reason)),
        );
        out.success_rate = Some(stats);
    }
    let fp = &cfg.failure_percentage;
    let rates = qualifying(volumes, fp.request_volume);
    if rates.len() >= fp.minimum_hosts as usize {
        out.detected.extend(
            rates
                .iter()
                .filter(|(_, rate)| 100.0 - rate >= f64::from(fp.threshold))
                .map(|(i, _)| (*i, fp_reason)),
        );
    }
    out
}

/// (host index, success rate) of hosts with enough requests.
fn qualifying(volumes: &[Option<Volume>], request_volume: u32) -> Vec<(usize, f64)> {
    volumes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, v.as_ref()?.success_rate(request_volume)?)))
        .collect()
}

fn success_rate_stats(rates: &[(usize, f64)], stdev_factor: u32) -> SuccessRateStats {
    let n = rates.len() as f64;
    let average = rates.iter().map(|(_, r)| r).sum::<f64>() / n;
    let variance = rates
        .iter()
        .map(|(_, r)| (r - average).powi(2))
        .sum::<f64>()
        / n;
    SuccessRateStats {
        average,
        ejection_threshold: average - variance.sqrt() * f64::from(stdev_factor) / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cfg;
    use super::*;

    fn vol(total: u64, success: u64) -> Option<Volume> {
        Some(Volume { total, success })
    }

    #[test]
    fn success_rate_ejects_the_host_far_below_the_mean() {
        let c = cfg();
        let volumes = [
            vol(100, 100),
            vol(100, 99),
            vol(100, 100),
            vol(200, 100),
            vol(100, 98),
        ];
        let sweep = rate_outliers(&volumes, &c, Origin::External);
        assert_eq!(sweep.detected, vec![(3, EjectReason::SuccessRate)]);
        let stats = sweep.success_rate.expect("enough hosts");
        assert!((stats.average - 89.4).abs() < 1e-9);
        // Rates 100, 99, 100, 50, 98: population stdev ≈ 19.714, so 89.4 − 1.9 × 19.714.
        assert!(
            (stats.ejection_threshold - 51.9435).abs() < 0.001,
            "{stats:?}"
        );
    }

    #[test]
    fn success_rate_needs_minimum_hosts_with_request_volume() {
        let mut c = cfg();
        c.failure_percentage.minimum_hosts = 100;
        // Of 7 hosts one is below the volume and one is ejected: 5 qualify, rates
        // 100, 100, 100, 100, 0 (mean 80, stdev 40, threshold 4).
        let volumes = [
            vol(100, 100),
            vol(99, 0),
            vol(100, 100),
            None,
            vol(100, 100),
            vol(150, 150),
            vol(100, 0),
        ];
        let sweep = rate_outliers(&volumes, &c, Origin::External);
        assert_eq!(sweep.detected, vec![(6, EjectReason::SuccessRate)]);
        c.success_rate.minimum_hosts = 6;
        assert_eq!(
            rate_outliers(&volumes, &c, Origin::External),
            RateSweep::default()
        );
    }

    #[test]
    fn three_hosts_cannot_push_one_below_the_threshold() {
        // With few hosts the outlier itself widens the stdev: 100, 100, 0 gives a negative
        // threshold, so even a host failing everything stays (as in Envoy).
        let mut c = cfg();
        c.success_rate.minimum_hosts = 3;
        let sweep = rate_outliers(
            &[vol(100, 100), vol(100, 100), vol(100, 0)],
            &c,
            Origin::External,
        );
        assert!(sweep.detected.is_empty());
        assert!(sweep.success_rate.expect("ran").ejection_threshold < 0.0);
    }

    #[test]
    fn equal_rates_eject_nobody() {
        let c = cfg();
        let volumes = [vol(100, 50); 6];
        let sweep = rate_outliers(&volumes, &c, Origin::External);
        assert!(sweep.detected.is_empty());
        assert_eq!(sweep.success_rate.map(|s| s.ejection_threshold), Some(50.0));
    }

    #[test]
    fn failure_percentage_at_threshold_ejects_with_its_own_volume() {
        let mut c = cfg();
        c.success_rate.minimum_hosts = 100;
        c.failure_percentage.minimum_hosts = 3;
        // 85% failed (ejected, threshold is inclusive), 84% failed, and a host under 50 requests.
        let volumes = [vol(100, 15), vol(100, 16), vol(49, 0), vol(50, 50)];
        let sweep = rate_outliers(&volumes, &c, Origin::LocalOrigin);
        assert_eq!(
            sweep.detected,
            vec![(0, EjectReason::LocalOriginFailurePercentage)]
        );
        assert_eq!(sweep.success_rate, None);
        c.failure_percentage.minimum_hosts = 4;
        assert!(
            rate_outliers(&volumes, &c, Origin::External)
                .detected
                .is_empty()
        );
    }

    #[test]
    fn zero_request_volume_skips_idle_hosts() {
        let mut c = cfg();
        c.success_rate.request_volume = 0;
        c.success_rate.minimum_hosts = 1;
        let sweep = rate_outliers(&[vol(0, 0), None], &c, Origin::External);
        assert_eq!(sweep, RateSweep::default());
    }
}
