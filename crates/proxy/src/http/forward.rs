//! Forwarding a routed request upstream: cluster and host choice, rewrites and header
//! mutations, connection pool, route timeout and the error replies with their response flags.

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::lb::pick_weighted;
use weft_proxy_config::runtime::UpstreamProtocol;
use weft_proxy_config::runtime::headers::HeaderOps;
use weft_proxy_config::runtime::route::{ClusterChoice, Forward, Route, RouteTable, VirtualHost};

use super::{Ctx, Outcome, ProxyBody, reply};
use crate::pool::{ConnectError, Sender};
use crate::state::Live;
use crate::upstream::ActiveRequest;

const CONNECT_FAILURE: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
const CONNECTION_TERMINATION: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";

fn fail(
    status: u16,
    body: &str,
    flags: &'static str,
    details: &'static str,
) -> (Response<ProxyBody>, Outcome) {
    (reply::local(status, body), Outcome { flags, details })
}

#[allow(clippy::too_many_arguments)]
pub async fn forward(
    ctx: &Ctx,
    live: &Arc<Live>,
    table: &RouteTable,
    vh: &VirtualHost,
    route: &Route,
    f: &Forward,
    req: Request<Incoming>,
    rec: &mut LogRecord,
) -> (Response<ProxyBody>, Outcome) {
    let (cluster_name, wc_ops) = choose_cluster(&f.clusters);
    rec.upstream_cluster = cluster_name.to_string();
    let Some(cluster) = live.clusters.get(cluster_name) else {
        ctx.stats.no_cluster.inc();
        return fail(503, "", "NC", "cluster_not_found");
    };
    let Some(host) = cluster.pick(&crate::upstream::PickContext {
        original_dst: Some(ctx.meta.local),
        ..Default::default()
    }) else {
        cluster.stats.upstream_cx_none_healthy.inc();
        return fail(503, "no healthy upstream", "UH", "no_healthy_upstream");
    };
    rec.upstream_host = Some(host.addr);
    let downstream_version = req.version();
    let mut req = build_upstream_request(req, route, f, cluster.cfg.protocol, &rec.authority);
    for ops in [
        wc_ops,
        Some(&route.headers),
        Some(&vh.headers),
        Some(&table.headers),
    ]
    .into_iter()
    .flatten()
    {
        ops.request.apply(req.headers_mut());
    }
    let active = ActiveRequest::new(host.clone(), cluster.stats.clone());
    cluster.stats.upstream_rq_total.inc();
    let started = Instant::now();
    let exchange = async {
        let sender = host
            .pool
            .checkout(&host, &cluster.cfg, &cluster.stats)
            .await
            .map_err(Failure::Connect)?;
        match sender {
            Sender::H1(mut s) => {
                let resp = s.send_request(req).await.map_err(Failure::Reset)?;
                Ok((resp, Some(s)))
            }
            Sender::H2(mut s) => Ok((s.send_request(req).await.map_err(Failure::Reset)?, None)),
        }
    };
    let result = match f.timeout {
        Some(t) => tokio::time::timeout(t, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout)),
        None => exchange.await,
    };
    let (resp, h1) = match result {
        Ok(r) => r,
        Err(e) => {
            host.rq_error
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (status, body, flags, details) = e.reply();
            if flags == "UT" {
                cluster.stats.upstream_rq_timeout.inc();
            }
            cluster.stats.count_status(status);
            rec.upstream_failure = e.to_string();
            return fail(status, body, flags, details);
        }
    };
    cluster.stats.count_status(resp.status().as_u16());
    let (mut parts, body) = resp.into_parts();
    // Answer in the downstream's protocol, not the upstream's (an HTTP/1.0 upstream, say).
    parts.version = downstream_version;
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(v) = HeaderValue::from_str(&started.elapsed().as_millis().to_string()) {
        parts
            .headers
            .insert(HeaderName::from_static("x-envoy-upstream-service-time"), v);
    }
    if let Some(ops) = wc_ops {
        ops.response.apply(&mut parts.headers);
    }
    let pool_host = host.clone();
    let body = ProxyBody::upstream(body).on_done(Box::new(move |_, complete| {
        if let (true, Some(s)) = (complete, h1) {
            pool_host.pool.checkin(s);
        }
        drop(active);
    }));
    (
        Response::from_parts(parts, body),
        Outcome {
            flags: "-",
            details: "via_upstream",
        },
    )
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Connect(ConnectError),
    #[error("upstream reset: {0}")]
    Reset(hyper::Error),
    #[error("upstream request timeout")]
    Timeout,
}

impl Failure {
    fn reply(&self) -> (u16, &'static str, &'static str, &'static str) {
        match self {
            Failure::Connect(_) => (
                503,
                CONNECT_FAILURE,
                "UF",
                "upstream_reset_before_response_started{connection_failure}",
            ),
            Failure::Reset(_) => (
                503,
                CONNECTION_TERMINATION,
                "UC",
                "upstream_reset_before_response_started{connection_termination}",
            ),
            Failure::Timeout => (504, "upstream request timeout", "UT", "response_timeout"),
        }
    }
}

fn choose_cluster(c: &ClusterChoice) -> (&str, Option<&HeaderOps>) {
    match c {
        ClusterChoice::Single(name) => (name, None),
        ClusterChoice::Weighted(list) => {
            let weights: Vec<u32> = list.iter().map(|w| w.weight).collect();
            let i = pick_weighted(&weights, |n| fastrand::u64(0..n)).unwrap_or(0);
            (&list[i].name, Some(&list[i].headers))
        }
    }
}

fn build_upstream_request(
    req: Request<Incoming>,
    route: &Route,
    f: &Forward,
    protocol: UpstreamProtocol,
    authority: &str,
) -> Request<Incoming> {
    let (mut parts, body) = req.into_parts();
    let original = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut path = original.clone();
    if let (Some(rw), Some(prefix)) = (&f.prefix_rewrite, route.matched_prefix())
        && original
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        path = format!("{rw}{}", &original[prefix.len()..]);
        if let Ok(v) = HeaderValue::from_str(&original) {
            parts
                .headers
                .insert(HeaderName::from_static("x-envoy-original-path"), v);
        }
    }
    let host = f
        .host_rewrite
        .clone()
        .or_else(|| HeaderValue::from_str(authority).ok())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"));
    strip_hop_by_hop(&mut parts.headers);
    match protocol {
        UpstreamProtocol::Http1 => {
            parts.version = Version::HTTP_11;
            parts.uri = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
            parts.headers.insert(header::HOST, host);
        }
        UpstreamProtocol::Http2 => {
            parts.version = Version::HTTP_2;
            let h = host.to_str().unwrap_or("unknown");
            parts.uri = format!("http://{h}{path}")
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"));
            parts.headers.remove(header::HOST);
        }
    }
    Request::from_parts(parts, body)
}

/// Removes connection-specific headers (RFC 9110 §7.6.1); `te: trailers` is kept for gRPC.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().to_ascii_lowercase().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ] {
        h.remove(n);
    }
    let te_trailers = h
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("trailers"));
    h.remove(header::TE);
    if te_trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}
