//! Circuit-breaker counters of one cluster, shared by its config versions and hosts: open
//! requests, pending requests and retries, each held by a permit that gives its slot back when
//! dropped. Unlimited thresholds (Istio's 4294967295) take no counter at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_proxy_config::runtime::cluster::Breakers;

use super::Overflow;
use crate::stats::ClusterLimitStats;

#[derive(Debug, Default)]
pub struct Limits {
    rq_open: AtomicU64,
    pending: AtomicU64,
    retries: AtomicU64,
    pub stats: Arc<ClusterLimitStats>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Request,
    Pending,
    Retry,
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<Limits>,
    kind: Kind,
    max: u64,
    track_remaining: bool,
}

impl Limits {
    pub fn new(stats: Arc<ClusterLimitStats>) -> Self {
        Self {
            stats,
            ..Self::default()
        }
    }

    fn counter(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::Request => &self.rq_open,
            Kind::Pending => &self.pending,
            Kind::Retry => &self.retries,
        }
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Takes a slot under `max`, or `None` when the threshold is reached.
    fn take(self: &Arc<Self>, kind: Kind, max: u64, track_remaining: bool) -> Option<Slot> {
        let now = self.counter(kind).fetch_add(1, Ordering::AcqRel) + 1;
        if now > max {
            self.counter(kind).fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        self.gauges(kind, now, max, track_remaining);
        Some(Slot {
            limits: self.clone(),
            kind,
            max,
            track_remaining,
        })
    }

    fn gauges(&self, kind: Kind, now: u64, max: u64, track_remaining: bool) {
        let open = i64::from(now >= max);
        let remaining = i64::try_from(max.saturating_sub(now)).unwrap_or(i64::MAX);
        match kind {
            Kind::Request => {
                self.stats.rq_open.set(open);
                if track_remaining {
                    self.stats.remaining_rq.set(remaining);
                }
            }
            Kind::Pending => {
                self.stats.rq_pending_open.set(open);
            }
            Kind::Retry => {
                self.stats.rq_retry_open.set(open);
                if track_remaining {
                    self.stats.remaining_retries.set(remaining);
                }
            }
        }
    }

    /// A slot for one more in-flight request (`max_requests`).
    pub fn request(self: &Arc<Self>, b: &Breakers) -> Result<Option<Slot>, Overflow> {
        let Some(max) = b.max_requests else {
            return Ok(None);
        };
        match self.take(Kind::Request, max, b.track_remaining) {
            Some(s) => Ok(Some(s)),
            None => {
                self.stats.upstream_rq_pending_overflow.inc();
                Err(Overflow)
            }
        }
    }

    /// A slot for a request waiting for a connection (`max_pending_requests`).
    pub fn pend(self: &Arc<Self>, b: &Breakers) -> Result<Option<Slot>, Overflow> {
        let Some(max) = b.max_pending_requests else {
            return Ok(None);
        };
        match self.take(Kind::Pending, max, b.track_remaining) {
            Some(s) => Ok(Some(s)),
            None => {
                self.stats.upstream_rq_pending_overflow.inc();
                Err(Overflow)
            }
        }
    }

    /// A slot for one retry (`retry_budget` or `max_retries`); `active` is the cluster's
    /// in-flight request count.
    pub fn retry(self: &Arc<Self>, b: &Breakers, active: u64) -> Result<Option<Slot>, Overflow> {
        let Some(max) = b.retry_limit(active + self.pending()) else {
            return Ok(None);
        };
        match self.take(Kind::Retry, max, b.track_remaining) {
            Some(s) => Ok(Some(s)),
            None => {
                self.stats.upstream_rq_retry_overflow.inc();
                Err(Overflow)
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let now = self
            .limits
            .counter(self.kind)
            .fetch_sub(1, Ordering::AcqRel)
            - 1;
        self.limits
            .gauges(self.kind, now, self.max, self.track_remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(max_requests: u64, max_retries: u64) -> Breakers {
        Breakers {
            max_requests: Some(max_requests),
            max_retries: Some(max_retries),
            track_remaining: true,
            ..Breakers::default()
        }
    }

    #[test]
    fn request_slots_are_bounded_and_given_back() {
        let l = Arc::new(Limits::default());
        let b = limited(2, 1);
        let a = l.request(&b).expect("first");
        let c = l.request(&b).expect("second");
        assert!(l.request(&b).is_err());
        assert_eq!(l.stats.upstream_rq_pending_overflow.get(), 1);
        assert_eq!(l.stats.rq_open.get(), 1);
        assert_eq!(l.stats.remaining_rq.get(), 0);
        drop(a);
        assert_eq!(l.stats.rq_open.get(), 0);
        assert!(l.request(&b).is_ok());
        drop(c);
    }

    #[test]
    fn retries_use_budget_or_max_retries() {
        let l = Arc::new(Limits::default());
        let b = limited(10, 1);
        let r = l.retry(&b, 0).expect("one retry");
        assert!(l.retry(&b, 0).is_err());
        assert_eq!(l.stats.upstream_rq_retry_overflow.get(), 1);
        drop(r);
        let budget = Breakers {
            retry_budget: Some(weft_proxy_config::runtime::cluster::policy::RetryBudget {
                budget_percent: 50.0,
                min_retry_concurrency: 1,
            }),
            ..b
        };
        let held: Vec<_> = (0..5)
            .map(|_| l.retry(&budget, 10).expect("budget"))
            .collect();
        assert!(l.retry(&budget, 10).is_err());
        drop(held);
    }

    #[test]
    fn unlimited_takes_no_counter() {
        let l = Arc::new(Limits::default());
        let b = Breakers {
            max_requests: None,
            ..Breakers::default()
        };
        for _ in 0..10_000 {
            assert!(matches!(l.request(&b), Ok(None)));
        }
        assert_eq!(l.rq_open.load(Ordering::Relaxed), 0);
    }
}
