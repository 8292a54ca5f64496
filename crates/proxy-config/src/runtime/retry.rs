//! Compiled retry policies (route or virtual host): which attempt results are retried, how
//! many times, per-try timeouts, host avoidance and the jittered exponential back-off.

use std::time::Duration;

use http::HeaderMap;

use super::matcher::{HeaderMatcher, compile_header};
use crate::error::{At, Result};
use crate::model::route as m;

pub const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";
const PREVIOUS_HOSTS_TYPE: &str =
    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
const DEFAULT_BASE_INTERVAL: Duration = Duration::from_millis(25);

/// One `retry_on` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    Status5xx,
    GatewayError,
    Reset,
    ResetBeforeRequest,
    ConnectFailure,
    Retriable4xx,
    RefusedStream,
    RetriableStatusCodes,
    RetriableHeaders,
    /// A gRPC status (in the response headers) that is retried.
    Grpc(u32),
}

impl RetryOn {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "5xx" => Self::Status5xx,
            "gateway-error" => Self::GatewayError,
            "reset" => Self::Reset,
            "reset-before-request" => Self::ResetBeforeRequest,
            "connect-failure" => Self::ConnectFailure,
            "retriable-4xx" => Self::Retriable4xx,
            "refused-stream" => Self::RefusedStream,
            "retriable-status-codes" => Self::RetriableStatusCodes,
            "retriable-headers" => Self::RetriableHeaders,
            "cancelled" => Self::Grpc(1),
            "deadline-exceeded" => Self::Grpc(4),
            "resource-exhausted" => Self::Grpc(8),
            "internal" => Self::Grpc(13),
            "unavailable" => Self::Grpc(14),
            _ => return None,
        })
    }
}

/// What one upstream attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy)]
pub enum AttemptResult<'a> {
    Response {
        status: u16,
        headers: &'a HeaderMap,
    },
    ConnectFailure,
    /// Reset or closed before response headers; `refused` for an h2 REFUSED_STREAM,
    /// `before_request` when the request was never written.
    Reset {
        refused: bool,
        before_request: bool,
    },
    /// The per-try timeout fired.
    Timeout,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub on: Vec<RetryOn>,
    pub num_retries: u32,
    pub per_try_timeout: Option<Duration>,
    /// `previous_hosts`: later attempts avoid the hosts already tried.
    pub previous_hosts: bool,
    /// How often host selection is redone when it returns a host to avoid.
    pub host_selection_max_attempts: u32,
    pub status_codes: Vec<u16>,
    pub headers: Vec<HeaderMatcher>,
    pub base_interval: Duration,
    pub max_interval: Duration,
}

pub fn compile_retry(at: &At<'_>, r: &m::RetryPolicy) -> Result<RetryPolicy> {
    let mut on = Vec::new();
    for name in r
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        on.push(RetryOn::parse(name).ok_or_else(|| {
            at.field("retry_on")
                .err(format!("unknown or unsupported retry condition {name:?}"))
        })?);
    }
    let previous_hosts =
        previous_hosts(&at.field("retry_host_predicate"), &r.retry_host_predicate)?;
    let status_codes = r
        .retriable_status_codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            u16::try_from(*c)
                .ok()
                .filter(|c| (100..600).contains(c))
                .ok_or_else(|| {
                    at.field("retriable_status_codes")
                        .index(i)
                        .err("not an HTTP status")
                })
        })
        .collect::<Result<_>>()?;
    let headers = r
        .retriable_headers
        .iter()
        .enumerate()
        .map(|(i, h)| compile_header(&at.field("retriable_headers").index(i), h))
        .collect::<Result<_>>()?;
    let (base_interval, max_interval) =
        back_off(&at.field("retry_back_off"), r.retry_back_off.as_ref())?;
    Ok(RetryPolicy {
        on,
        num_retries: r.num_retries.unwrap_or(1),
        per_try_timeout: r.per_try_timeout.map(|d| d.0).filter(|d| !d.is_zero()),
        previous_hosts,
        host_selection_max_attempts: r
            .host_selection_retry_max_attempts
            .map_or(1, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
        status_codes,
        headers,
        base_interval,
        max_interval,
    })
}

/// Whether the `previous_hosts` predicate is configured (the only one supported).
fn previous_hosts(at: &At<'_>, predicates: &[m::RetryHostPredicate]) -> Result<bool> {
    for (i, p) in predicates.iter().enumerate() {
        let type_ok = match &p.typed_config {
            None => p.name == PREVIOUS_HOSTS,
            Some(v) => v.get("@type").and_then(|t| t.as_str()).is_some_and(|t| {
                t.rsplit('/').next() == Some(PREVIOUS_HOSTS_TYPE)
                    && v.as_object().is_some_and(|o| o.len() == 1)
            }),
        };
        if !type_ok {
            return Err(at
                .index(i)
                .err("only the previous_hosts predicate is supported"));
        }
    }
    Ok(!predicates.is_empty())
}

fn back_off(at: &At<'_>, b: Option<&m::RetryBackOff>) -> Result<(Duration, Duration)> {
    let base = b
        .and_then(|b| b.base_interval)
        .map_or(DEFAULT_BASE_INTERVAL, |d| d.0);
    if base.is_zero() {
        return Err(at.field("base_interval").err("must be greater than 0"));
    }
    let max = b.and_then(|b| b.max_interval).map_or(base * 10, |d| d.0);
    if max < base {
        return Err(at
            .field("max_interval")
            .err("must not be less than base_interval"));
    }
    Ok((base, max))
}

fn grpc_status(h: &HeaderMap) -> Option<u32> {
    h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

impl RetryPolicy {
    fn has(&self, c: RetryOn) -> bool {
        self.on.contains(&c)
    }

    /// Whether an attempt with this result is retried (retries left aside).
    pub fn should_retry(&self, r: &AttemptResult<'_>) -> bool {
        use RetryOn as O;
        match *r {
            AttemptResult::ConnectFailure => {
                self.has(O::ConnectFailure) || self.has(O::Status5xx) || self.has(O::GatewayError)
            }
            AttemptResult::Reset {
                refused,
                before_request,
            } => {
                self.has(O::Reset)
                    || self.has(O::Status5xx)
                    || self.has(O::GatewayError)
                    || (refused && self.has(O::RefusedStream))
                    || (before_request && self.has(O::ResetBeforeRequest))
            }
            AttemptResult::Timeout => {
                self.has(O::Status5xx) || self.has(O::GatewayError) || self.has(O::Reset)
            }
            AttemptResult::Response { status, headers } => self.retry_response(status, headers),
        }
    }

    fn retry_response(&self, status: u16, headers: &HeaderMap) -> bool {
        use RetryOn as O;
        (self.has(O::Status5xx) && status >= 500)
            || (self.has(O::GatewayError) && (502..=504).contains(&status))
            || (self.has(O::Retriable4xx) && status == 409)
            || (self.has(O::RetriableStatusCodes) && self.status_codes.contains(&status))
            || (self.has(O::RetriableHeaders) && self.headers.iter().any(|m| m.matches(headers)))
            || grpc_status(headers).is_some_and(|g| self.has(O::Grpc(g)))
    }

    /// The pause before retry number `retry` (1-based): uniform in
    /// `0..base × (2^retry − 1)`, capped at the maximum interval ("full jitter").
    /// `roll(n)` returns a uniform value in `0..n`.
    pub fn back_off(&self, retry: u32, roll: impl FnOnce(u64) -> u64) -> Duration {
        let base = self.base_interval.as_millis().max(1) as u64;
        let max = self.max_interval.as_millis().max(1) as u64;
        let factor = 1u64
            .checked_shl(retry.min(62))
            .map_or(u64::MAX, |f| f - 1)
            .max(1);
        let upper = base.saturating_mul(factor).min(max);
        Duration::from_millis(roll(upper).min(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Result<RetryPolicy> {
        let r: m::RetryPolicy = serde_json::from_value(json).expect("model");
        compile_retry(&At::new("RouteConfiguration r").field("retry_policy"), &r)
    }

    fn resp(status: u16, headers: &HeaderMap) -> AttemptResult<'_> {
        AttemptResult::Response { status, headers }
    }

    #[test]
    fn retry_on_parsing() {
        let p = policy(serde_json::json!({"retry_on": "5xx, connect-failure,unavailable"}))
            .expect("ok");
        assert_eq!(
            p.on,
            vec![
                RetryOn::Status5xx,
                RetryOn::ConnectFailure,
                RetryOn::Grpc(14)
            ]
        );
        assert_eq!(p.num_retries, 1);
        assert_eq!(
            (p.base_interval, p.max_interval),
            (Duration::from_millis(25), Duration::from_millis(250))
        );
        let e = policy(serde_json::json!({"retry_on": "5xx,sometimes"})).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "RouteConfiguration r: retry_policy.retry_on: unknown or unsupported retry condition \"sometimes\""
        );
        let e = policy(serde_json::json!({"retry_host_predicate": [{"name": "other"}]}))
            .expect_err("bad");
        assert!(
            e.to_string()
                .contains("retry_policy.retry_host_predicate[0]"),
            "{e}"
        );
    }

    #[test]
    fn retry_decisions() {
        let h = HeaderMap::new();
        let gw = policy(serde_json::json!({"retry_on": "gateway-error"})).expect("ok");
        assert!(gw.should_retry(&resp(503, &h)) && !gw.should_retry(&resp(500, &h)));
        assert!(gw.should_retry(&AttemptResult::ConnectFailure));
        let codes = policy(serde_json::json!({"retry_on": "retriable-status-codes,retriable-4xx", "retriable_status_codes": [418]})).expect("ok");
        assert!(codes.should_retry(&resp(418, &h)) && codes.should_retry(&resp(409, &h)));
        assert!(
            !codes.should_retry(&resp(503, &h)) && !codes.should_retry(&AttemptResult::Timeout)
        );
        let refused = policy(serde_json::json!({"retry_on": "refused-stream"})).expect("ok");
        assert!(refused.should_retry(&AttemptResult::Reset {
            refused: true,
            before_request: false
        }));
        assert!(!refused.should_retry(&AttemptResult::Reset {
            refused: false,
            before_request: true
        }));
        let grpc =
            policy(serde_json::json!({"retry_on": "cancelled,resource-exhausted"})).expect("ok");
        let mut gh = HeaderMap::new();
        gh.insert("grpc-status", "8".parse().expect("v"));
        assert!(grpc.should_retry(&resp(200, &gh)));
        gh.insert("grpc-status", "14".parse().expect("v"));
        assert!(!grpc.should_retry(&resp(200, &gh)));
        let hdr = policy(serde_json::json!({"retry_on": "retriable-headers", "retriable_headers": [{"name": "x-retry", "exact_match": "yes"}]})).expect("ok");
        let mut rh = HeaderMap::new();
        rh.insert("x-retry", "yes".parse().expect("v"));
        assert!(hdr.should_retry(&resp(200, &rh)) && !hdr.should_retry(&resp(500, &h)));
    }

    #[test]
    fn back_off_bounds() {
        let p = policy(serde_json::json!({"retry_on": "5xx", "retry_back_off": {"base_interval": "0.1s", "max_interval": "0.5s"}})).expect("ok");
        let upper = |retry| {
            let mut seen = 0;
            p.back_off(retry, |n| {
                seen = n;
                n - 1
            });
            seen
        };
        assert_eq!(
            (upper(1), upper(2), upper(3), upper(10)),
            (100, 300, 500, 500)
        );
        assert_eq!(p.back_off(1, |_| 0), Duration::ZERO);
        assert_eq!(p.back_off(40, |n| n - 1), Duration::from_millis(499));
        let e = policy(
            serde_json::json!({"retry_back_off": {"base_interval": "1s", "max_interval": "0.5s"}}),
        )
        .expect_err("bad");
        assert!(e.to_string().contains("retry_back_off.max_interval"), "{e}");
    }
}
