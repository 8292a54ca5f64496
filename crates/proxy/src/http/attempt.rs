//! Upstream attempts of one forwarded request: host choice (avoiding hosts already tried when
//! the retry policy says so), one exchange through the host's pool with its per-try timeout,
//! the outcome report, and the retry loop with back-off and retry permits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use hyper::body::Incoming;
use weft_proxy_config::runtime::retry::{AttemptResult, RetryPolicy};

use super::request_body::RequestBody;
use super::upstream_body::UpstreamBody;
use crate::pool::{ConnectError, Sender};
use crate::upstream::{ActiveRequest, AttemptOutcome, Host, PickContext, UpstreamCluster};

pub static X_ENVOY_ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");

/// The upstream request without its body, so that every attempt can be built from it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

impl RequestHead {
    pub fn with_body(&self, body: UpstreamBody) -> Request<UpstreamBody> {
        self.clone().into_request(body)
    }

    fn into_request(self, body: UpstreamBody) -> Request<UpstreamBody> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        req
    }

    /// The head for one attempt: the last one possible takes it, earlier ones copy it (a
    /// request without retries never copies its headers).
    fn for_attempt(&mut self, last: bool) -> RequestHead {
        if last {
            std::mem::replace(
                self,
                RequestHead {
                    method: http::Method::GET,
                    uri: http::Uri::from_static("/"),
                    version: self.version,
                    headers: HeaderMap::new(),
                },
            )
        } else {
            self.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Connect(ConnectError),
    #[error("upstream reset: {0}")]
    Reset(hyper::Error),
    #[error("upstream request timeout")]
    Timeout,
    #[error("no healthy upstream")]
    NoHost,
    /// The cluster's connection and pending-request limits are both reached (flag UO): the
    /// host is not at fault, so this is neither an outlier event nor a retriable failure.
    #[error("upstream overflow")]
    Overflow,
    #[error("{0}")]
    Body(String),
}

impl Failure {
    fn outcome(&self) -> Option<AttemptOutcome> {
        match self {
            Failure::Connect(_) => Some(AttemptOutcome::ConnectFailure),
            Failure::Reset(_) => Some(AttemptOutcome::Reset),
            Failure::Timeout => Some(AttemptOutcome::Timeout),
            Failure::NoHost | Failure::Overflow | Failure::Body(_) => None,
        }
    }

    fn as_result(&self) -> Option<AttemptResult<'static>> {
        match self {
            Failure::Connect(_) => Some(AttemptResult::ConnectFailure),
            Failure::Reset(e) => {
                // hyper does not expose the h2 reset reason; its debug form names it.
                let text = format!("{e:?}").to_ascii_lowercase();
                Some(AttemptResult::Reset {
                    refused: text.contains("refused_stream") || text.contains("refused stream"),
                    before_request: e.is_canceled(),
                })
            }
            Failure::Timeout => Some(AttemptResult::Timeout),
            Failure::NoHost | Failure::Overflow | Failure::Body(_) => None,
        }
    }
}

/// A response that came back, with what its body's completion must release.
#[derive(Debug)]
pub struct Answer {
    pub response: Response<Incoming>,
    pub host: Arc<Host>,
    pub h1: Option<hyper::client::conn::http1::SendRequest<UpstreamBody>>,
    pub active: ActiveRequest,
    /// Time to response headers of this attempt.
    pub elapsed: Duration,
}

/// The end of the attempt loop.
#[derive(Debug)]
pub struct Attempts {
    pub result: Result<Answer, Failure>,
    pub attempts: u32,
    /// Retries were allowed and all of them were used (response flag URX).
    pub exhausted: bool,
}

/// What the attempts of one request share.
#[derive(Debug)]
pub struct AttemptPlan<'a> {
    pub cluster: &'a UpstreamCluster,
    pub retry: Option<&'a RetryPolicy>,
    pub hash: Option<u64>,
    pub original_dst: Option<SocketAddr>,
    pub attempt_count_header: bool,
}

/// The load balancer's input for one attempt, and how often to re-pick an avoided host.
fn pick_context<'a>(
    hash: Option<u64>,
    original_dst: Option<SocketAddr>,
    retry: Option<&RetryPolicy>,
    tried: &'a [SocketAddr],
) -> (PickContext<'a>, u32) {
    let (avoid, reselect) = match retry {
        Some(p) if p.previous_hosts => (tried, p.host_selection_max_attempts),
        _ => (&[][..], 0),
    };
    let ctx = PickContext {
        hash,
        original_dst,
        avoid,
    };
    (ctx, reselect)
}

fn pick_host(plan: &AttemptPlan<'_>, tried: &[SocketAddr]) -> Option<Arc<Host>> {
    let (ctx, reselect) = pick_context(plan.hash, plan.original_dst, plan.retry, tried);
    let avoid = ctx.avoid;
    let mut host = plan.cluster.pick(&ctx)?;
    for _ in 0..reselect {
        if !avoid.contains(&host.addr) {
            break;
        }
        host = plan.cluster.pick(&ctx)?;
    }
    Some(host)
}

async fn exchange(
    plan: &AttemptPlan<'_>,
    host: &Arc<Host>,
    req: Request<UpstreamBody>,
) -> Result<
    (
        Response<Incoming>,
        Option<hyper::client::conn::http1::SendRequest<UpstreamBody>>,
    ),
    Failure,
> {
    let cluster = plan.cluster;
    let sender = host
        .pool
        .checkout(host, &cluster.cfg, &cluster.stats, cluster.tls_for(host))
        .await
        .map_err(|e| match e {
            ConnectError::Overflow => Failure::Overflow,
            e => Failure::Connect(e),
        })?;
    match sender {
        Sender::H1(mut s) => {
            let resp = s.send_request(req).await.map_err(Failure::Reset)?;
            Ok((resp, Some(s)))
        }
        Sender::H2(mut s) => Ok((s.send_request(req).await.map_err(Failure::Reset)?, None)),
    }
}

/// One attempt on one host, with the per-try timeout.
async fn attempt_once(
    plan: &AttemptPlan<'_>,
    head: RequestHead,
    host: Arc<Host>,
    body: UpstreamBody,
    number: u32,
) -> Result<Answer, Failure> {
    let mut req = head.into_request(body);
    if plan.attempt_count_header
        && let Ok(v) = HeaderValue::from_str(&number.to_string())
    {
        req.headers_mut().insert(X_ENVOY_ATTEMPT_COUNT.clone(), v);
    }
    let active = ActiveRequest::new(host.clone(), plan.cluster.stats.clone());
    plan.cluster.stats.upstream_rq_total.inc();
    let per_try = plan.retry.and_then(|p| p.per_try_timeout);
    let started = Instant::now();
    let result = {
        // Pinned in place: the timeout wraps a pointer instead of moving the exchange.
        let exchanged = std::pin::pin!(exchange(plan, &host, req));
        match per_try {
            Some(t) => tokio::time::timeout(t, exchanged)
                .await
                .unwrap_or(Err(Failure::Timeout)),
            None => exchanged.await,
        }
    };
    match result {
        Ok((response, h1)) => {
            let status = response.status().as_u16();
            plan.cluster.stats.count_status(status);
            plan.cluster.report(&host, AttemptOutcome::Status(status));
            Ok(Answer {
                response,
                host,
                h1,
                active,
                elapsed: started.elapsed(),
            })
        }
        // Counted as `upstream_rq_pending_overflow` by the breaker that refused it.
        Err(Failure::Overflow) => Err(Failure::Overflow),
        Err(e) => {
            host.rq_error
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(o) = e.outcome() {
                plan.cluster.report(&host, o);
            }
            if matches!(e, Failure::Timeout) {
                plan.cluster.stats.upstream_rq_timeout.inc();
            }
            Err(e)
        }
    }
}

fn retriable(policy: Option<&RetryPolicy>, result: &Result<Answer, Failure>) -> bool {
    let Some(p) = policy else { return false };
    match result {
        Ok(a) => p.should_retry(&AttemptResult::Response {
            status: a.response.status().as_u16(),
            headers: a.response.headers(),
        }),
        Err(e) => e.as_result().is_some_and(|r| p.should_retry(&r)),
    }
}

/// Runs the first attempt and the retries the policy allows; `tried` collects the hosts.
pub async fn run(
    plan: &AttemptPlan<'_>,
    mut head: RequestHead,
    body: &mut RequestBody,
    tried: &mut Vec<SocketAddr>,
) -> Attempts {
    let stats = &plan.cluster.stats;
    let retries = match plan.retry {
        Some(p) if body.replayable() => p.num_retries,
        _ => 0,
    };
    // `replayable` is asked again before each retry: a teed body can still outgrow the buffer.
    let mut number = 0;
    let mut _retry_permit = None;
    loop {
        number += 1;
        let result = match (pick_host(plan, tried), body.next()) {
            (None, _) => {
                stats.upstream_cx_none_healthy.inc();
                Err(Failure::NoHost)
            }
            (_, None) => Err(Failure::Body("request body already sent".into())),
            (Some(host), Some(b)) => {
                tried.push(host.addr);
                let head = head.for_attempt(number > retries);
                attempt_once(plan, head, host, b, number).await
            }
        };
        let done = |result, exhausted| Attempts {
            result,
            attempts: number,
            exhausted,
        };
        if !retriable(plan.retry, &result) {
            if number > 1 && result.is_ok() {
                stats.upstream_rq_retry_success.inc();
            }
            return done(result, false);
        }
        if number > retries {
            if retries > 0 {
                stats.upstream_rq_retry_limit_exceeded.inc();
            }
            return done(result, retries > 0);
        }
        if !body.replayable() {
            // The body outgrew the retry buffer while it streamed: no retry, as in Envoy.
            return done(result, false);
        }
        // The slot of the retry that just failed is free again before the next one asks,
        // as in Envoy: the limit is on parallel retries, not on one request's retries.
        _retry_permit = None;
        let Some(permit) = plan.cluster.retry_permit() else {
            stats.upstream_rq_retry_overflow.inc();
            return done(result, false);
        };
        _retry_permit = Some(permit);
        drop(result);
        stats.upstream_rq_retry.inc();
        if let Some(p) = plan.retry {
            let pause = p.back_off(number, |n| fastrand::u64(0..n.max(1)));
            tokio::time::sleep(pause.min(Duration::from_secs(60))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_proxy_config::error::At;
    use weft_proxy_config::model::route as m;
    use weft_proxy_config::runtime::hash::{HashInput, compile_hash_policy, compute_hash};
    use weft_proxy_config::runtime::retry::compile_retry;

    use super::*;

    #[test]
    fn hash_and_tried_hosts_reach_the_load_balancer() {
        let hp: m::HashPolicy =
            serde_json::from_value(serde_json::json!({"header": {"header_name": "x-user"}}))
                .expect("model");
        let policies = [compile_hash_policy(&At::new("t"), &hp).expect("compile")];
        let mut headers = HeaderMap::new();
        headers.insert("x-user", HeaderValue::from_static("alice"));
        let input = HashInput {
            headers: &headers,
            path: "/",
            source_ip: None,
        };
        let hash = compute_hash(&policies, &input, &mut String::new).hash;
        assert_eq!(
            hash,
            Some(weft_proxy_config::runtime::hash::fnv1a(b"alice"))
        );
        let rp: m::RetryPolicy = serde_json::from_value(serde_json::json!({
            "retry_on": "5xx",
            "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts"}],
            "host_selection_retry_max_attempts": 3
        }))
        .expect("model");
        let retry = compile_retry(&At::new("t"), &rp).expect("compile");
        let tried: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().expect("addr")];
        let (ctx, reselect) = pick_context(hash, None, Some(&retry), &tried);
        assert_eq!((ctx.hash, ctx.avoid, reselect), (hash, &tried[..], 3));
        let (ctx, reselect) = pick_context(hash, None, None, &tried);
        assert!(ctx.avoid.is_empty() && reselect == 0 && ctx.hash == hash);
    }
}
