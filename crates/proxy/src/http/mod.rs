//! The HTTP connection manager: HTTP/1.1 and h2c downstream (hyper's automatic codec), route
//! lookup, local replies (direct responses, redirects, errors with Envoy's response flags),
//! request-id and forwarded headers, stats and access logging per request.

mod attempt;
mod body;
mod connect;
mod filters;
mod forward;
mod forwarded;
mod jwt;
mod mirror;
pub(crate) mod rbac;
mod reply;
mod request_body;
mod tee;
mod timeouts;
mod upgrade;
mod upstream_body;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::model::http::CodecType;
use weft_proxy_config::runtime::route::{Action, RequestView};
use weft_proxy_config::runtime::{Hcm, Listener};

pub use body::ProxyBody;
use request_body::DownstreamBody;
use timeouts::{ConnExpiry, ConnStreams, StreamActivity, StreamExpiry};
pub use upstream_body::UpstreamBody;

use crate::ConnMeta;
use crate::state::{Live, Shared};
use crate::stats::HttpStats;
use crate::tls::Stream;

use forwarded::{X_REQUEST_ID, prepare_request};

struct Ctx {
    shared: Arc<Shared>,
    /// The listener the connection was accepted with: once the snapshot holds another one
    /// under its name, the connection is drained (HTTP/1.1 answers `connection: close`), so
    /// new config (an AuthorizationPolicy, say) reaches pooled connections too, as Envoy drains
    /// the connections of a replaced listener.
    listener: Arc<Listener>,
    hcm: Arc<Hcm>,
    meta: ConnMeta,
    stats: Arc<HttpStats>,
    /// `http.<prefix>.rbac.*`, when the manager has an RBAC filter.
    rbac_stats: Option<Arc<crate::stats::RbacStats>>,
    /// Open streams, for the connection's idle timeout.
    streams: ConnStreams,
    /// The `server` response header, encoded once per connection.
    server_header: Option<HeaderValue>,
}

impl Ctx {
    /// Whether requests are access-logged: the per-request record is filled only then.
    fn logging(&self) -> bool {
        !self.hcm.access_log.is_empty()
    }
}

/// What a request's handling left for the response hooks.
struct Outcome {
    flags: &'static str,
    /// `response_code_details`; owned where it names something (an RBAC policy).
    details: std::borrow::Cow<'static, str>,
}

/// Serves one downstream connection until it closes.
pub async fn serve(
    shared: Arc<Shared>,
    listener: Arc<Listener>,
    hcm: Arc<Hcm>,
    stream: Stream,
    meta: ConnMeta,
) {
    let stats = shared.stats.http(&hcm.stat_prefix);
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    let _ = stream.tcp().set_nodelay(true);
    // ALPN h2 means the client speaks h2 from its first byte; otherwise detect the codec.
    let negotiated_h2 = meta.tls.as_ref().and_then(|t| t.alpn.as_deref()) == Some("h2");
    let has_rbac = hcm.http_filters.iter().any(|f| {
        matches!(
            f.kind,
            weft_proxy_config::runtime::listener::HttpFilterKind::Rbac(_)
        )
    });
    let epochs = shared.config_epoch.subscribe();
    let ctx = Arc::new(Ctx {
        rbac_stats: has_rbac.then(|| shared.stats.http_rbac(&hcm.stat_prefix)),
        shared,
        listener,
        hcm: hcm.clone(),
        meta,
        stats: stats.clone(),
        streams: ConnStreams::new(),
        server_header: HeaderValue::from_str(&hcm.server_name).ok(),
    });
    let drain_ctx = ctx.clone();
    let svc = service_fn(move |req| handle(ctx.clone(), req));
    let mut builder = codec_builder(&hcm);
    if negotiated_h2 {
        builder = builder.http2_only();
    }
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
    if let Err(e) = drain_on_replace(conn, &drain_ctx, epochs).await {
        count_connection_error(&stats, e.as_ref());
        tracing::debug!(error = %e, "downstream connection ended");
    }
    stats.downstream_cx_active.dec();
}

type ConnResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Drives the connection; once a config update replaces its listener, or the connection
/// reaches its idle timeout or maximum duration, shuts it down gracefully as Envoy drains a
/// connection: h2 gets GOAWAY and finishes its open streams, an idle HTTP/1.1 connection
/// closes at once and a busy one after its response.
async fn drain_on_replace<C>(
    conn: C,
    ctx: &Ctx,
    mut epochs: tokio::sync::watch::Receiver<u64>,
) -> ConnResult
where
    C: std::future::Future<Output = ConnResult> + GracefulConnection,
{
    let mut conn = std::pin::pin!(conn);
    let (idle, max) = (ctx.hcm.idle_timeout, ctx.hcm.max_connection_duration);
    let expired = ctx.streams.expired(idle, max);
    let mut expired = std::pin::pin!(expired);
    loop {
        tokio::select! {
            done = conn.as_mut() => return done,
            changed = epochs.changed() => {
                if changed.is_err() || ctx.shared.listener_replaced(&ctx.listener) {
                    ctx.stats.downstream_cx_drain_close.inc();
                    break;
                }
            }
            why = expired.as_mut() => {
                match why {
                    ConnExpiry::Idle => ctx.stats.downstream_cx_idle_timeout.inc(),
                    ConnExpiry::MaxDuration => ctx.stats.downstream_cx_max_duration_reached.inc(),
                };
                break;
            }
        }
    }
    conn.as_mut().shutdown_gracefully();
    conn.await
}

/// hyper's connection types expose `graceful_shutdown` as an inherent method; this names it.
trait GracefulConnection {
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> GracefulConnection for auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: hyper::body::Body + Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// hyper's codec with the manager's limits. hyper answers a request over the header limits
/// 431 and a malformed one 400, then closes the connection.
fn codec_builder(hcm: &Hcm) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // hyper's read buffer cannot be under 8 KiB; it bounds the request line and headers.
        .max_buf_size(hcm.max_request_headers_bytes.max(8192))
        .max_headers(hcm.max_headers_count)
        .header_read_timeout(hcm.request_headers_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(hcm.max_request_headers_bytes).unwrap_or(u32::MAX));
    match hcm.codec {
        CodecType::Auto => builder,
        CodecType::Http1 => builder.http1_only(),
        CodecType::Http2 => builder.http2_only(),
    }
}

/// Envoy's names: a codec error (malformed request, headers over the limits) is
/// `downstream_cx_protocol_error`, headers not received in time `downstream_rq_header_timeout`.
fn count_connection_error(stats: &HttpStats, e: &(dyn std::error::Error + 'static)) {
    let Some(e) = e.downcast_ref::<hyper::Error>() else {
        return;
    };
    if e.is_parse() || e.is_parse_too_large() {
        stats.downstream_cx_protocol_error.inc();
    } else if e.is_timeout() {
        stats.downstream_rq_header_timeout.inc();
    }
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let live = ctx.shared.live.load_full();
    ctx.stats.downstream_rq_total.inc();
    ctx.stats.downstream_rq_active.inc();
    ctx.streams.stream_started();
    match req.version() {
        http::Version::HTTP_2 => ctx.stats.downstream_rq_http2_total.inc(),
        _ => ctx.stats.downstream_rq_http1_total.inc(),
    };
    let hcm = &ctx.hcm;
    let activity = Arc::new(StreamActivity::new(
        hcm.stream_idle_timeout,
        hcm.request_timeout,
    ));
    let mut req = req.map(|b| DownstreamBody::new(b, activity.clone()));
    let req_version = req.version();
    let request_id = prepare_request(&ctx, &mut req);
    let mut rec = log_record(&ctx, &req);
    let (mut resp, outcome) = tokio::select! {
        done = dispatch(&ctx, &live, req, &mut rec, &activity) => done,
        why = activity.expired() => stream_timeout_reply(&ctx, why),
    };
    let h = resp.headers_mut();
    if let Some(v) = &ctx.server_header {
        h.insert(http::header::SERVER, v.clone());
    }
    if req_version < http::Version::HTTP_2 && ctx.shared.listener_replaced(&ctx.listener) {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if ctx.hcm.always_set_request_id_in_response
        && let Some(id) = request_id
    {
        h.insert(X_REQUEST_ID.clone(), id);
    }
    let status = resp.status().as_u16();
    ctx.stats.count_status(status);
    // Without an access log the record is not kept: the response hook only counts.
    let rec = ctx.logging().then(|| {
        rec.response_code = status;
        rec.response_flags = outcome.flags.to_string();
        rec.response_code_details = outcome.details.into_owned();
        rec.response_headers = resp.headers().clone();
        Box::new(rec)
    });
    let done = StreamEnd {
        ctx: ctx.clone(),
        live,
        rec,
        started,
        activity: activity.clone(),
    };
    Ok(resp.map(move |b| {
        b.with_timeouts(activity)
            .on_done(Box::new(move |sent, complete| done.finish(sent, complete)))
    }))
}

/// A stream timeout before the response started: Envoy's 408 local reply.
fn stream_timeout_reply(ctx: &Ctx, why: StreamExpiry) -> (Response<ProxyBody>, Outcome) {
    count_stream_timeout(ctx, why);
    let flags = match why {
        StreamExpiry::Idle => "SI",
        StreamExpiry::Request => "-",
    };
    let details = why.details().into();
    (reply::local(408, why.body()), Outcome { flags, details })
}

fn count_stream_timeout(ctx: &Ctx, why: StreamExpiry) {
    match why {
        StreamExpiry::Idle => ctx.stats.downstream_rq_idle_timeout.inc(),
        StreamExpiry::Request => ctx.stats.downstream_rq_timeout.inc(),
    };
}

/// What is left to do when a response body ends: counters and the access log.
struct StreamEnd {
    ctx: Arc<Ctx>,
    live: Arc<Live>,
    /// The access-log record, when the manager has an access log.
    rec: Option<Box<LogRecord>>,
    started: Instant,
    activity: Arc<StreamActivity>,
}

impl StreamEnd {
    fn finish(mut self, sent: u64, complete: bool) {
        let ctx = &self.ctx;
        ctx.stats.downstream_rq_active.dec();
        ctx.streams.stream_ended();
        // A timeout after the response started resets the stream.
        let timed_out = self.activity.fired().filter(|_| !complete);
        if let Some(why) = timed_out {
            count_stream_timeout(ctx, why);
        }
        let Some(rec) = self.rec.as_deref_mut() else {
            return;
        };
        if timed_out == Some(StreamExpiry::Idle) {
            rec.response_flags = "SI".into();
        }
        rec.bytes_sent = sent;
        rec.duration = self.started.elapsed();
        let rec = &*rec;
        self.live.log(&ctx.hcm.access_log, |s| s.format.render(rec));
    }
}

fn authority(req: &Request<DownstreamBody>) -> String {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub(crate) fn peer_uri_sans(meta: &ConnMeta) -> String {
    meta.tls
        .as_ref()
        .map(|t| t.uri_sans.join(","))
        .unwrap_or_default()
}

/// The request's record: path and authority always (routing reads them), the rest only for
/// an access log, so a manager without one allocates nothing for it.
fn log_record(ctx: &Ctx, req: &Request<DownstreamBody>) -> LogRecord {
    let mut rec = LogRecord {
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        authority: authority(req),
        ..Default::default()
    };
    if ctx.logging() {
        rec.start_time = Some(SystemTime::now());
        rec.method = req.method().to_string();
        rec.protocol = format!("{:?}", req.version());
        rec.downstream_local = Some(ctx.meta.local);
        rec.downstream_remote = Some(ctx.meta.peer);
        rec.server_name = ctx.meta.server_name.clone();
        rec.downstream_peer_uri_san = peer_uri_sans(&ctx.meta);
        rec.request_headers = req.headers().clone();
        rec.bytes_received = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
    }
    rec
}

async fn dispatch(
    ctx: &Ctx,
    live: &Arc<Live>,
    mut req: Request<DownstreamBody>,
    rec: &mut LogRecord,
    activity: &StreamActivity,
) -> (Response<ProxyBody>, Outcome) {
    let no_route = || {
        ctx.stats.no_route.inc();
        (
            reply::local(404, ""),
            Outcome {
                flags: "NR",
                details: "route_not_found".into(),
            },
        )
    };
    if let Some(reply) = filters::normalize_path(ctx, &mut req, &mut rec.path) {
        return reply;
    }
    let Some(table) = live.snap.route_table(&ctx.hcm) else {
        return no_route();
    };
    let Some(vh) = table.find_virtual_host(&rec.authority) else {
        return no_route();
    };
    let Some(route) = vh.find_route(&RequestView {
        path: &rec.path,
        headers: req.headers(),
        method: req.method().as_str(),
        authority: &rec.authority,
        scheme: "http",
    }) else {
        return no_route();
    };
    if ctx.logging() {
        rec.route_name = route.name.clone();
    }
    if let Action::Forward(f) = &route.action
        && let Some(idle) = f.idle_timeout
    {
        activity.set_idle_timeout(idle);
    }
    if let Some(reply) = filters::require_tls(ctx, vh, &rec.authority, &rec.path) {
        return reply;
    }
    let filtered = match filters::run(ctx, route, &mut req).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let routed = forward::Routed {
        table: &table,
        vh,
        route,
    };
    let (mut resp, mut outcome) = run_action(ctx, live, &routed, req, rec).await;
    for ops in [&route.headers, &vh.headers, &table.headers] {
        ops.response.apply(resp.headers_mut());
    }
    if let Some(h) = filtered.cors {
        resp.headers_mut().extend(h);
    }
    if filtered.delayed && outcome.flags == "-" {
        outcome.flags = "DI";
    }
    (resp, outcome)
}

/// The route's action: a direct response, a redirect, or forwarding upstream.
async fn run_action(
    ctx: &Ctx,
    live: &Arc<Live>,
    routed: &forward::Routed<'_>,
    req: Request<DownstreamBody>,
    rec: &mut LogRecord,
) -> (Response<ProxyBody>, Outcome) {
    let local = |resp| {
        (
            resp,
            Outcome {
                flags: "-",
                details: "direct_response".into(),
            },
        )
    };
    match &routed.route.action {
        Action::Direct { status, body } => {
            ctx.stats.rq_direct_response.inc();
            local(reply::local(status.as_u16(), body))
        }
        Action::Redirect(r) => {
            ctx.stats.rq_redirect.inc();
            let (prefix, path) = (routed.route.matched_prefix(), rec.path.clone());
            local(reply::redirect(r, prefix, &rec.authority, &path))
        }
        Action::Forward(f) => forward::forward(ctx, live, routed, f, req, rec).await,
    }
}
