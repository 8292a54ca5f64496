//! Request mirroring (`request_mirror_policies`): a copy of a request whose body was kept whole goes to the
//! shadow cluster with `-shadow` appended to the host of its authority; it is fire and
//! forget, its response is dropped and it never affects the main response.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::header::{self, HeaderValue};
use weft_proxy_config::runtime::route_policy::Mirror;

use super::attempt::RequestHead;
use super::request_body::MirrorSource;
use super::upstream_body::UpstreamBody;
use crate::pool::Sender;
use crate::state::Live;
use crate::upstream::{ActiveRequest, AttemptOutcome, PickContext, UpstreamCluster};

/// Bounds a mirrored request when the route has no timeout.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(15);

/// `host[:port]` → `host-shadow[:port]`.
pub fn shadow_authority(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((h, p))
            if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') =>
        {
            format!("{h}-shadow:{p}")
        }
        _ => format!("{authority}-shadow"),
    }
}

fn shadow_head(head: &RequestHead) -> RequestHead {
    let mut head = head.clone();
    if let Some(host) = head.headers.get(header::HOST).and_then(|v| v.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(&shadow_authority(host))
    {
        head.headers.insert(header::HOST, v);
    }
    if let Some(a) = head.uri.authority() {
        let shadow = shadow_authority(a.as_str());
        let mut parts = head.uri.clone().into_parts();
        if let Ok(a) = shadow.parse() {
            parts.authority = Some(a);
        }
        if let Ok(u) = Uri::from_parts(parts) {
            head.uri = u;
        }
    }
    head
}

pub fn spawn_mirrors(
    live: &Arc<Live>,
    mirrors: &[Mirror],
    head: &RequestHead,
    source: &MirrorSource,
    timeout: Option<Duration>,
) {
    for m in mirrors {
        if !m
            .fraction
            .hit(fastrand::u32(0..m.fraction.denominator.max(1)))
        {
            continue;
        }
        let Some(cluster) = live.clusters.get(&m.cluster).cloned() else {
            tracing::debug!(cluster = %m.cluster, "mirror cluster not found");
            continue;
        };
        let (head, source) = (shadow_head(head), source.clone());
        let limit = timeout.unwrap_or(MIRROR_TIMEOUT);
        tokio::spawn(send_mirror(cluster, head, source, limit));
    }
}

/// One mirrored request: wait for the whole body, pick a host, send, drop the response.
async fn send_mirror(
    cluster: Arc<UpstreamCluster>,
    head: RequestHead,
    source: MirrorSource,
    limit: Duration,
) {
    // Only a body that downstream sent completely (and within the limit) is copied.
    let Some(body) = source.complete(limit).await else {
        return;
    };
    let Ok(_permit) = cluster.request_permit() else {
        return;
    };
    let Some(host) = cluster.pick(&PickContext::default()) else {
        cluster.stats.upstream_cx_none_healthy.inc();
        return;
    };
    let _active = ActiveRequest::new(host.clone(), cluster.stats.clone());
    cluster.stats.upstream_rq_total.inc();
    let send = async {
        let sender = host
            .pool
            .checkout(&host, &cluster.cfg, &cluster.stats, cluster.tls_for(&host))
            .await
            .ok()?;
        let req = head.with_body(UpstreamBody::full(body));
        let resp = match sender {
            Sender::H1(mut s) => s.send_request(req).await.ok()?,
            Sender::H2(mut s) => s.send_request(req).await.ok()?,
        };
        Some(resp.status().as_u16())
    };
    let outcome = match tokio::time::timeout(limit, send).await {
        Ok(Some(status)) => {
            cluster.stats.count_status(status);
            AttemptOutcome::Status(status)
        }
        Ok(None) => AttemptOutcome::Reset,
        Err(_) => AttemptOutcome::Timeout,
    };
    cluster.report(&host, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_hosts() {
        assert_eq!(
            shadow_authority("api.example.com"),
            "api.example.com-shadow"
        );
        assert_eq!(shadow_authority("api:8080"), "api-shadow:8080");
        assert_eq!(shadow_authority("[::1]:80"), "[::1]-shadow:80");
    }
}
