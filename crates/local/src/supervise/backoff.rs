//! Restart back-off: doubling delays, capped, back to the start after a run long enough to
//! count as healthy.

use std::time::Duration;

/// A run at least this long resets the back-off.
pub(crate) const HEALTHY_RUN: Duration = Duration::from_secs(10);

/// A run shorter than this is reported as "exited at once".
pub(crate) const AT_ONCE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next start, given how long the run that just ended lasted.
    pub(crate) fn after_run(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY_RUN {
            self.next = self.initial;
        }
        let delay = self.next.min(self.max);
        self.next = delay.checked_mul(2).unwrap_or(self.max).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(500 * MS, 3000 * MS);
        let delays: Vec<_> = (0..6).map(|_| b.after_run(MS).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000, 3000]);
    }

    #[test]
    fn a_healthy_run_resets_it() {
        let mut b = Backoff::new(100 * MS, 10_000 * MS);
        b.after_run(MS);
        b.after_run(MS);
        assert_eq!(b.after_run(HEALTHY_RUN - MS), 400 * MS);
        assert_eq!(b.after_run(HEALTHY_RUN), 100 * MS);
        assert_eq!(b.after_run(MS), 200 * MS);
    }

    #[test]
    fn huge_values_saturate_at_the_cap() {
        let mut b = Backoff::new(Duration::MAX / 2 + Duration::from_secs(1), Duration::MAX);
        b.after_run(MS);
        assert_eq!(b.after_run(MS), Duration::MAX);
    }
}
