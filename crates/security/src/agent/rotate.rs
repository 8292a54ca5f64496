//! Keeping a workload's certificate fresh: renew at about half its remaining life (with a
//! little jitter so a fleet started together does not renew together), retry failures with a
//! capped backoff while the current certificate still serves, deliver each new one.

use std::time::{Duration, SystemTime};

use super::{Issued, KeyAlgorithm, obtain};
use crate::service::CaClient;
use crate::spiffe::SpiffeId;

/// How the rotation loop behaves.
#[derive(Debug, Clone)]
pub struct RotationOptions {
    pub identity: SpiffeId,
    pub key_algorithm: KeyAlgorithm,
    /// The validity asked for (Istio's `SECRET_TTL`, 24 h); the CA may give less.
    pub requested_ttl: Duration,
    /// First retry delay after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl RotationOptions {
    pub fn new(identity: SpiffeId) -> Self {
        RotationOptions {
            identity,
            key_algorithm: KeyAlgorithm::default(),
            requested_ttl: crate::ca::DEFAULT_WORKLOAD_TTL,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// How long to wait before renewing a certificate obtained at `obtained_at`: half of the time
/// it had left then, shifted by up to ±5% of it (`jitter` in [-1, 1]).
pub fn renewal_delay(issued: &Issued, obtained_at: SystemTime, jitter: f64) -> Duration {
    let life = issued
        .not_after
        .duration_since(obtained_at)
        .unwrap_or_default();
    let fraction = 0.5 + 0.05 * jitter.clamp(-1.0, 1.0);
    let due = life.mul_f64(fraction);
    due.saturating_sub(obtained_at.elapsed().unwrap_or_default())
}

/// Obtains a certificate, hands it to `deliver`, and renews it forever (until the task is
/// dropped). Failures are logged and retried; the current certificate stays in use meanwhile.
pub async fn run_rotation(
    mut client: CaClient,
    options: RotationOptions,
    mut deliver: impl FnMut(Issued) + Send,
) {
    let mut backoff = options.min_backoff;
    let mut current_expiry: Option<SystemTime> = None;
    loop {
        let started = SystemTime::now();
        match obtain(
            &mut client,
            &options.identity,
            options.key_algorithm,
            options.requested_ttl,
        )
        .await
        {
            Ok(issued) => {
                backoff = options.min_backoff;
                let delay = renewal_delay(&issued, started, fastrand::f64() * 2.0 - 1.0);
                tracing::info!(
                    identity = %options.identity,
                    not_after = ?unix_seconds(issued.not_after),
                    renew_in = ?delay,
                    "workload certificate obtained"
                );
                current_expiry = Some(issued.not_after);
                deliver(issued);
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                let still_valid = current_expiry.is_some_and(|t| t > SystemTime::now());
                tracing::warn!(
                    identity = %options.identity,
                    error = %e,
                    retry_in = ?backoff,
                    current_certificate_valid = still_valid,
                    "cannot obtain a workload certificate"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

/// Seconds since the epoch, for logs.
fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(not_after: SystemTime) -> Issued {
        Issued {
            chain_pem: String::new(),
            key_pem: String::new(),
            root_pem: String::new(),
            not_before: not_after - Duration::from_secs(3600),
            not_after,
        }
    }

    #[test]
    fn renews_at_about_half_the_remaining_life() {
        let now = SystemTime::now();
        let cert = issued(now + Duration::from_secs(24 * 3600));
        let mid = renewal_delay(&cert, now, 0.0).as_secs_f64();
        assert!((mid - 12.0 * 3600.0).abs() < 5.0, "{mid}");
        let early = renewal_delay(&cert, now, -1.0).as_secs_f64();
        let late = renewal_delay(&cert, now, 1.0).as_secs_f64();
        assert!((early - 0.45 * 24.0 * 3600.0).abs() < 5.0, "{early}");
        assert!((late - 0.55 * 24.0 * 3600.0).abs() < 5.0, "{late}");
    }

    #[test]
    fn an_expired_certificate_is_renewed_at_once() {
        let now = SystemTime::now();
        let cert = issued(now - Duration::from_secs(1));
        assert_eq!(renewal_delay(&cert, now, 0.0), Duration::ZERO);
    }
}
