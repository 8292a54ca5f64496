//! Priority levels and the panic threshold (Envoy's semantics): a level's health is its
//! healthy share × the overprovisioning factor, capped at 100; levels take traffic in order of
//! their health, normalised when the total is below 100. When the normalised total is below 100
//! a level whose healthy share is under the panic threshold balances across all its hosts.

/// Host counts of one priority level (or locality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub healthy: u64,
    pub total: u64,
}

impl Level {
    /// Health score in percent (0..=100).
    pub fn health(&self, overprovisioning: u32) -> u64 {
        if self.total == 0 {
            return 0;
        }
        (self.healthy * u64::from(overprovisioning) / self.total).min(100)
    }
}

/// The level for a request and whether it is in panic. `point` is uniform in `0..100`.
pub fn choose(
    levels: &[Level],
    overprovisioning: u32,
    panic_threshold: f64,
    point: u64,
) -> Option<(usize, bool)> {
    let health: Vec<u64> = levels.iter().map(|l| l.health(overprovisioning)).collect();
    let total: u64 = health.iter().sum::<u64>().min(100);
    if total == 0 {
        // Nothing healthy anywhere: the first level with hosts, in panic (if panic is on).
        let first = levels.iter().position(|l| l.total > 0)?;
        return (panic_threshold > 0.0).then_some((first, true));
    }
    let mut acc = 0u64;
    let mut chosen = None;
    for (i, h) in health.iter().enumerate() {
        acc += h * 100 / total;
        if point < acc {
            chosen = Some(i);
            break;
        }
    }
    // Rounding leftovers go to the first healthy level.
    let i = chosen.or_else(|| health.iter().position(|h| *h > 0))?;
    let l = levels[i];
    let healthy_percent = l.healthy as f64 * 100.0 / l.total.max(1) as f64;
    let panic = total < 100 && healthy_percent < panic_threshold;
    Some((i, panic))
}

/// Effective locality weights: `weight × health`, so a degraded locality takes less.
pub fn locality_weights(localities: &[(u32, Level)], overprovisioning: u32) -> Vec<u32> {
    localities
        .iter()
        .map(|(w, l)| {
            let eff = u64::from(*w) * l.health(overprovisioning);
            u32::try_from(eff).unwrap_or(u32::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(healthy: u64, total: u64) -> Level {
        Level { healthy, total }
    }

    fn share_of_p0(levels: &[Level]) -> u64 {
        (0..100)
            .filter(|p| choose(levels, 140, 50.0, *p).map(|c| c.0) == Some(0))
            .count() as u64
    }

    #[test]
    fn overprovisioned_priority_keeps_all_traffic() {
        // 80% healthy × 1.4 > 100.
        assert_eq!(share_of_p0(&[lv(8, 10), lv(10, 10)]), 100);
    }

    #[test]
    fn degraded_priority_spills_to_the_next() {
        // 50% × 1.4 = 70% stays, 30% goes to P1.
        assert_eq!(share_of_p0(&[lv(5, 10), lv(10, 10)]), 70);
        assert_eq!(
            choose(&[lv(0, 10), lv(10, 10)], 140, 50.0, 0),
            Some((1, false))
        );
    }

    #[test]
    fn panic_when_total_health_is_low() {
        // Alone and 30% healthy: health 42 < 100 and 30% < 50% → panic.
        assert_eq!(choose(&[lv(3, 10)], 140, 50.0, 10), Some((0, true)));
        // 40% healthy is above a 20% threshold.
        assert_eq!(choose(&[lv(4, 10)], 140, 20.0, 10), Some((0, false)));
        // No healthy host at all: panic on the first level, or nothing with panic disabled.
        assert_eq!(
            choose(&[lv(0, 0), lv(0, 4)], 140, 50.0, 10),
            Some((1, true))
        );
        assert_eq!(choose(&[lv(0, 4)], 140, 0.0, 10), None);
        // Enough health below: no panic even though P0 is mostly down.
        assert_eq!(
            choose(&[lv(3, 10), lv(10, 10)], 140, 50.0, 0),
            Some((0, false))
        );
    }

    #[test]
    fn locality_weight_scales_with_health() {
        let w = locality_weights(&[(1, lv(10, 10)), (1, lv(2, 10)), (3, lv(10, 10))], 140);
        assert_eq!(w, vec![100, 28, 300]);
    }
}
