//! Debouncing of configuration changes into pushes: Istio's `PILOT_DEBOUNCE_AFTER` (a quiet
//! period, 100 ms) and `PILOT_DEBOUNCE_MAX` (an upper bound, 10 s).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

/// How long to wait for a burst of changes to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebounceOptions {
    /// A push happens once no change arrived for this long...
    pub quiet: Duration,
    /// ...or this long after the first change of the burst, whichever comes first.
    pub max: Duration,
}

impl Default for DebounceOptions {
    fn default() -> Self {
        DebounceOptions {
            quiet: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// Waits for the next change of `rx` and then for the burst it starts to end. Returns when the
/// burst started, or `None` when the sender is gone.
pub async fn next_burst<T>(rx: &mut watch::Receiver<T>, opts: DebounceOptions) -> Option<Instant> {
    rx.changed().await.ok()?;
    rx.mark_unchanged();
    let started = Instant::now();
    let hard_deadline = started + opts.max;
    let mut deadline = (started + opts.quiet).min(hard_deadline);
    loop {
        tokio::select! {
            () = sleep_until(deadline) => return Some(started),
            changed = rx.changed() => {
                if changed.is_err() {
                    return Some(started);
                }
                rx.mark_unchanged();
                deadline = (Instant::now() + opts.quiet).min(hard_deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DebounceOptions {
        DebounceOptions {
            quiet: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_quiet_period() {
        let (tx, mut rx) = watch::channel(0);
        let task = tokio::spawn(async move {
            let start = next_burst(&mut rx, opts()).await.expect("burst");
            (start, Instant::now())
        });
        let t0 = Instant::now();
        for i in 1..=5 {
            tx.send(i).expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, flushed) = task.await.expect("join");
        // Last change at ~200 ms, so the flush is ~100 ms later.
        let waited = flushed - t0;
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_millis(400), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_at_max_under_constant_change() {
        let (tx, mut rx) = watch::channel(0);
        let task = tokio::spawn(async move {
            next_burst(&mut rx, opts()).await.expect("burst");
            Instant::now()
        });
        let t0 = Instant::now();
        for i in 1..=40 {
            tx.send(i).expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
            if task.is_finished() {
                break;
            }
        }
        let flushed = task.await.expect("join");
        let waited = flushed - t0;
        assert!(waited >= Duration::from_millis(1000), "{waited:?}");
        assert!(waited < Duration::from_millis(1100), "{waited:?}");
    }

    #[tokio::test]
    async fn ends_when_sender_is_gone() {
        let (tx, mut rx) = watch::channel(0);
        drop(tx);
        assert!(next_burst(&mut rx, opts()).await.is_none());
    }
}
