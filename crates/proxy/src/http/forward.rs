//! Forwarding a routed request upstream: cluster and host choice, rewrites and header
//! mutations, connection pool, route timeout and the error replies with their response flags.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::lb::pick_weighted;
use weft_proxy_config::runtime::UpstreamProtocol;
use weft_proxy_config::runtime::hash::{HashInput, HashOutcome, NewCookie, compute_hash};
use weft_proxy_config::runtime::headers::HeaderOps;
use weft_proxy_config::runtime::route::{ClusterChoice, Forward, Route, RouteTable, VirtualHost};

use super::attempt::{self, Answer, AttemptPlan, Attempts, Failure, RequestHead};
use super::request_body;
use super::request_body::DownstreamBody;
use super::{Ctx, Outcome, ProxyBody, mirror, reply, upgrade};
use crate::state::Live;
use crate::upstream::RequestPermit;

static X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
static X_ENVOY_ORIGINAL_PATH: HeaderName = HeaderName::from_static("x-envoy-original-path");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

const CONNECT_FAILURE: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
const CONNECTION_TERMINATION: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";
const OVERFLOW: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: overflow";

pub(super) fn fail(
    status: u16,
    body: &str,
    flags: &'static str,
    details: &'static str,
) -> (Response<ProxyBody>, Outcome) {
    (
        reply::local(status, body),
        Outcome {
            flags,
            details: details.into(),
        },
    )
}

/// The request as routed, with what the connection manager knows about it.
pub struct Routed<'a> {
    pub table: &'a RouteTable,
    pub vh: &'a VirtualHost,
    pub route: &'a Route,
}

pub async fn forward(
    ctx: &Ctx,
    live: &Arc<Live>,
    routed: &Routed<'_>,
    f: &Forward,
    mut req: Request<DownstreamBody>,
    rec: &mut LogRecord,
) -> (Response<ProxyBody>, Outcome) {
    if req.method() == http::Method::CONNECT {
        return super::connect::terminate(ctx, live, f, req, rec).await;
    }
    let (cluster_name, wc_ops) = choose_cluster(&f.clusters);
    if ctx.logging() {
        rec.upstream_cluster = cluster_name.to_string();
    }
    let Some(cluster) = live.clusters.get(cluster_name) else {
        ctx.stats.no_cluster.inc();
        return fail(503, "", "NC", "cluster_not_found");
    };
    let Ok(permit) = cluster.request_permit() else {
        return fail(503, OVERFLOW, "UO", "upstream_overflow");
    };
    let hashed = request_hash(ctx, f, &req, &rec.path);
    let timeout = f
        .stream_duration
        .effective_timeout(f.timeout, req.headers());
    // Consumed here, as Envoy's router does: the upstream never sees the override.
    req.headers_mut()
        .remove(&weft_proxy_config::runtime::route_policy::UPSTREAM_RQ_TIMEOUT_MS);
    let downstream_version = req.version();
    let content_length = content_length(req.headers());
    let upgrade = upgrade::prepare(ctx, f, cluster.cfg.protocol, &mut req);
    let (mut head, body) =
        build_upstream_request(req, routed, f, wc_ops, cluster.cfg.protocol, &rec.authority);
    if let Some(u) = &upgrade {
        u.restore(&mut head.headers);
    }
    let want_buffer = f.retry.is_some() || !f.mirrors.is_empty();
    let mut body = request_body::prepare(body, content_length, want_buffer);
    // An upgrade is not mirrored: a shadow cannot share the spliced connection.
    if upgrade.is_none()
        && let Some(source) = body.mirror_source()
    {
        mirror::spawn_mirrors(live, &f.mirrors, &head, &source, timeout);
    }
    let plan = AttemptPlan {
        cluster,
        retry: f.retry.as_deref(),
        hash: hashed.hash,
        original_dst: Some(ctx.meta.local),
        attempt_count_header: routed.vh.attempt_count_upstream,
    };
    let Some(attempts) = run_within(&plan, head, &mut body, timeout, rec).await else {
        cluster.stats.upstream_rq_timeout.inc();
        rec.upstream_failure = Failure::Timeout.to_string();
        return fail(504, "upstream request timeout", "UT", "response_timeout");
    };
    let count = routed
        .vh
        .attempt_count_downstream
        .then_some(attempts.attempts);
    let (mut resp, outcome) = respond(attempts, permit, upgrade, downstream_version, wc_ops, rec);
    decorate(resp.headers_mut(), count, hashed.set_cookie);
    (resp, outcome)
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

/// The attempts within the route timeout (`None` when it fired); records the last host tried.
async fn run_within(
    plan: &AttemptPlan<'_>,
    head: RequestHead,
    body: &mut request_body::RequestBody,
    timeout: Option<std::time::Duration>,
    rec: &mut LogRecord,
) -> Option<Attempts> {
    let mut tried = Vec::new();
    // Pinned in place: the timeout wraps a pointer instead of moving the attempts' state.
    let attempts = {
        let run = std::pin::pin!(attempt::run(plan, head, body, &mut tried));
        match timeout {
            Some(t) => tokio::time::timeout(t, run).await.ok(),
            None => Some(run.await),
        }
    };
    rec.upstream_host = tried.last().copied();
    attempts
}

/// The route's hash policies over the request; a generated cookie value is random.
fn request_hash(ctx: &Ctx, f: &Forward, req: &Request<DownstreamBody>, path: &str) -> HashOutcome {
    let input = HashInput {
        headers: req.headers(),
        path,
        source_ip: Some(ctx.meta.peer.ip()),
    };
    compute_hash(&f.hash_policies, &input, &mut || {
        format!("{:016x}", fastrand::u64(..))
    })
}

/// `x-envoy-attempt-count` (when the virtual host asks for it) and a generated hash cookie.
fn decorate(h: &mut HeaderMap, attempt_count: Option<u32>, cookie: Option<NewCookie>) {
    if let Some(n) = attempt_count
        && let Ok(v) = HeaderValue::from_str(&n.to_string())
    {
        h.insert(attempt::X_ENVOY_ATTEMPT_COUNT.clone(), v);
    }
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c.set_cookie_value())
    {
        h.append(header::SET_COOKIE, v);
    }
}

/// Turns the last attempt into the downstream response.
fn respond(
    attempts: Attempts,
    permit: RequestPermit,
    upgrade: Option<upgrade::Requested>,
    downstream_version: Version,
    wc_ops: Option<&HeaderOps>,
    rec: &mut LogRecord,
) -> (Response<ProxyBody>, Outcome) {
    let answer = match attempts.result {
        Ok(a) => a,
        Err(e) => {
            let (status, body, flags, details) = failure_reply(&e, attempts.exhausted);
            rec.upstream_failure = e.to_string();
            return fail(status, body, flags, details);
        }
    };
    let Answer {
        mut response,
        host,
        mut h1,
        active,
        elapsed,
    } = answer;
    // The circuit breaker counts the request until its response body is done, or for an
    // upgrade until the splice ends.
    let (switched, held) = upgrade::switch(upgrade, &mut response, (active, permit));
    if switched.is_some() {
        // The connection now belongs to the splice.
        h1 = None;
    }
    let (mut parts, body) = response.into_parts();
    // Answer in the downstream's protocol, not the upstream's (an HTTP/1.0 upstream, say).
    parts.version = downstream_version;
    strip_hop_by_hop(&mut parts.headers);
    if let Some(token) = switched {
        upgrade::restore_response(&mut parts.headers, token);
    }
    let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    parts.headers.insert(
        X_ENVOY_UPSTREAM_SERVICE_TIME.clone(),
        HeaderValue::from(millis),
    );
    if let Some(ops) = wc_ops {
        ops.response.apply(&mut parts.headers);
    }
    let body = ProxyBody::upstream(body).on_done(Box::new(move |_, complete| {
        if let (true, Some(s)) = (complete, h1) {
            host.pool.checkin(s);
        }
        drop(held);
    }));
    let flags = if attempts.exhausted { "URX" } else { "-" };
    (
        Response::from_parts(parts, body),
        Outcome {
            flags,
            details: "via_upstream".into(),
        },
    )
}

fn failure_reply(e: &Failure, exhausted: bool) -> (u16, &'static str, &'static str, &'static str) {
    let flag = |plain, with_urx| if exhausted { with_urx } else { plain };
    match e {
        Failure::Connect(crate::pool::ConnectError::Tls(_)) => (
            503,
            CONNECT_FAILURE,
            flag("UF", "UF,URX"),
            "upstream_reset_before_response_started{connection_failure,TLS_error}",
        ),
        Failure::Connect(_) => (
            503,
            CONNECT_FAILURE,
            flag("UF", "UF,URX"),
            "upstream_reset_before_response_started{connection_failure}",
        ),
        Failure::Reset(_) => (
            503,
            CONNECTION_TERMINATION,
            flag("UC", "UC,URX"),
            "upstream_reset_before_response_started{connection_termination}",
        ),
        Failure::Timeout => (
            504,
            "upstream request timeout",
            flag("UT", "UT,URX"),
            "upstream_per_try_timeout",
        ),
        Failure::NoHost => (503, "no healthy upstream", "UH", "no_healthy_upstream"),
        Failure::Overflow => (503, OVERFLOW, "UO", "upstream_overflow"),
        Failure::Body(_) => (503, CONNECTION_TERMINATION, "UC", "upstream_body_error"),
    }
}

pub(super) fn choose_cluster(c: &ClusterChoice) -> (&str, Option<&HeaderOps>) {
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
    req: Request<DownstreamBody>,
    routed: &Routed<'_>,
    f: &Forward,
    wc_ops: Option<&HeaderOps>,
    protocol: UpstreamProtocol,
    authority: &str,
) -> (RequestHead, DownstreamBody) {
    let route = routed.route;
    let (mut parts, body) = req.into_parts();
    let original = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let rewritten = rewrite_path(route, f, original);
    if rewritten.is_some()
        && let Ok(v) = HeaderValue::from_str(original)
    {
        parts.headers.insert(X_ENVOY_ORIGINAL_PATH.clone(), v);
    }
    let host = f
        .host_rewrite
        .clone()
        .or_else(|| HeaderValue::from_str(authority).ok())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"));
    strip_hop_by_hop(&mut parts.headers);
    set_target(&mut parts, protocol, host, rewritten.as_deref());
    for ops in [
        wc_ops,
        Some(&route.headers),
        Some(&routed.vh.headers),
        Some(&routed.table.headers),
    ]
    .into_iter()
    .flatten()
    {
        ops.request.apply(&mut parts.headers);
    }
    let head = RequestHead {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
    };
    (head, body)
}

/// The route's prefix or regex rewrite of the path, `None` when the path goes as it came.
fn rewrite_path(route: &Route, f: &Forward, original: &str) -> Option<String> {
    let path = if let (Some(rw), Some(prefix)) = (&f.prefix_rewrite, route.matched_prefix())
        && original
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        format!("{rw}{}", &original[prefix.len()..])
    } else if let Some(rw) = &f.regex_rewrite {
        rw.apply(original)
    } else {
        return None;
    };
    (path != original).then_some(path)
}

/// Version, URI and host for the upstream protocol; `path` is the rewritten path, if any.
fn set_target(
    parts: &mut http::request::Parts,
    protocol: UpstreamProtocol,
    host: HeaderValue,
    path: Option<&str>,
) {
    match protocol {
        UpstreamProtocol::Http1 => {
            parts.version = Version::HTTP_11;
            parts.uri = match path {
                Some(p) => p.parse().unwrap_or_else(|_| Uri::from_static("/")),
                // Origin form from the request's own path: no re-parse, the bytes are shared.
                None => parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone())),
            };
            parts.headers.insert(header::HOST, host);
        }
        UpstreamProtocol::Http2 => {
            parts.version = Version::HTTP_2;
            let h = host.to_str().unwrap_or("unknown");
            let p = path.unwrap_or_else(|| parts.uri.path_and_query().map_or("/", |p| p.as_str()));
            parts.uri = format!("http://{h}{p}")
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"));
            parts.headers.remove(header::HOST);
        }
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == header::TRANSFER_ENCODING
        || *name == header::UPGRADE
        || *name == header::TE
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
}

/// Removes connection-specific headers (RFC 9110 §7.6.1); `te: trailers` is kept for gRPC.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most requests carry none: one pass over the names decides that without hashing.
    if !h.keys().any(is_hop_by_hop) {
        return;
    }
    // `connection: keep-alive` or `close`, the usual values, name nothing else to remove.
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close"))
        .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        &header::CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ] {
        h.remove(n);
    }
    let te_trailers = h
        .get(header::TE)
        .map(|v| v.to_str().is_ok_and(|v| v.contains("trailers")));
    match te_trailers {
        Some(true) => {
            h.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        Some(false) => {
            h.remove(header::TE);
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "secret"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn te_trailers_survives_for_grpc() {
        let mut h = headers(&[
            ("te", "trailers, deflate"),
            ("content-type", "application/grpc"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get("te").unwrap(), "trailers");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn headers_without_hop_by_hop_names_are_untouched() {
        let mut h = headers(&[("host", "a"), ("x-request-id", "b"), ("accept", "*/*")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }
}
