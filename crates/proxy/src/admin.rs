//! The admin API (Envoy's endpoints that Istio tooling uses): readiness, server info, stats in
//! Envoy text and Prometheus form, clusters, listeners, config dump, health-check toggles,
//! log level and quit.

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::state::Shared;

type LogHandler = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;
static LOG_HANDLER: OnceLock<LogHandler> = OnceLock::new();

/// Lets the binary change the log level from `/logging?level=...` (the subscriber lives there).
pub fn set_log_handler(f: LogHandler) {
    let _ = LOG_HANDLER.set(f);
}

const HELP: &[(&str, &str)] = &[
    ("/clusters", "upstream cluster status"),
    ("/certs", "print certs on machine"),
    ("/config_dump", "dump current Envoy configs"),
    (
        "/debug/ads",
        "ADS stream: per-type ACKed version, nonce, names, last NACK",
    ),
    (
        "/healthcheck/fail",
        "cause the server to fail health checks (POST)",
    ),
    (
        "/healthcheck/ok",
        "cause the server to pass health checks (POST)",
    ),
    ("/help", "print out list of admin commands"),
    ("/listeners", "print listener info"),
    ("/logging", "query/change logging levels (POST ?level=)"),
    ("/quitquitquit", "exit the server (POST)"),
    (
        "/ready",
        "print server state, return 200 if LIVE, otherwise return 503",
    ),
    ("/server_info", "print server version/status information"),
    ("/stats", "print server stats (?filter=)"),
    (
        "/stats/prometheus",
        "print server stats in prometheus format",
    ),
];

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub async fn serve(shared: Arc<Shared>, sock: TcpListener) {
    loop {
        let Ok((stream, _)) = sock.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

fn json(body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = text(
        StatusCode::OK,
        serde_json::to_string_pretty(body).unwrap_or_default(),
    );
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn query_param<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn route(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let post = req.method() == Method::POST;
    match req.uri().path() {
        "/ready" => ready(shared),
        "/server_info" => json(&server_info(shared)),
        "/stats" => match query_param(req, "format") {
            Some("prometheus") => text(StatusCode::OK, shared.stats.render_prometheus()),
            _ => text(
                StatusCode::OK,
                shared.stats.render_text(query_param(req, "filter")),
            ),
        },
        "/stats/prometheus" => text(StatusCode::OK, shared.stats.render_prometheus()),
        "/clusters" => text(StatusCode::OK, clusters(shared)),
        "/listeners" => listeners(shared, query_param(req, "format") == Some("json")),
        "/config_dump" => json(&crate::dump::config_dump(shared)),
        "/certs" => json(&crate::tls::certs::certs_json(
            &shared.secrets,
            &shared.live.load().snap,
        )),
        "/debug/ads" => json(&serde_json::to_value(&*crate::lock(&shared.ads)).unwrap_or_default()),
        "/quitquitquit" if post => {
            shared.quit.notify_one();
            text(StatusCode::OK, "OK\n")
        }
        "/healthcheck/fail" if post => {
            shared.healthy.store(false, Ordering::Relaxed);
            text(StatusCode::OK, "OK\n")
        }
        "/healthcheck/ok" if post => {
            shared.healthy.store(true, Ordering::Relaxed);
            text(StatusCode::OK, "OK\n")
        }
        "/logging" => logging(query_param(req, "level"), post),
        "/quitquitquit" | "/healthcheck/fail" | "/healthcheck/ok" => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "This endpoint requires POST\n",
        ),
        "/help" | "/" => {
            let mut out = String::from("admin commands are:\n");
            for (p, d) in HELP {
                let _ = writeln!(out, "  {p}: {d}");
            }
            text(StatusCode::OK, out)
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "invalid path. admin commands are listed at /help\n",
        ),
    }
}

fn state_name(shared: &Shared) -> &'static str {
    if !shared.ready.load(Ordering::Relaxed) {
        "PRE_INITIALIZING"
    } else if !shared.healthy.load(Ordering::Relaxed) {
        "DRAINING"
    } else {
        "LIVE"
    }
}

fn ready(shared: &Shared) -> Response<Full<Bytes>> {
    let s = state_name(shared);
    let status = if s == "LIVE" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    text(status, format!("{s}\n"))
}

fn server_info(shared: &Shared) -> serde_json::Value {
    let node = shared.bootstrap.node.clone().unwrap_or_default();
    serde_json::json!({
        "version": concat!("weft/", env!("CARGO_PKG_VERSION")),
        "state": state_name(shared),
        "hot_restart_version": "disabled",
        "uptime_current_epoch": format!("{}s", shared.stats.uptime_secs()),
        "uptime_all_epochs": format!("{}s", shared.stats.uptime_secs()),
        "node": node,
    })
}

fn clusters(shared: &Shared) -> String {
    let live = shared.live.load();
    let mut names: Vec<&String> = live.clusters.keys().collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let c = &live.clusters[name];
        let _ = writeln!(out, "{name}::observability_name::{}", c.cfg.stat_name);
        breaker_lines(&mut out, name, &c.cfg.breakers);
        if c.cfg.outlier.is_some() {
            outlier_lines(&mut out, name, c);
        }
        for h in c.hosts() {
            host_lines(&mut out, name, &h);
        }
    }
    out
}

/// The last sweep's success-rate average and ejection threshold per origin; -1 (as Envoy)
/// when the detector did not run for want of hosts with enough requests.
fn outlier_lines(out: &mut String, name: &str, c: &crate::upstream::UpstreamCluster) {
    use weft_proxy_config::runtime::cluster::outlier::Origin;
    for (prefix, origin) in [
        ("", Origin::External),
        ("local_origin_", Origin::LocalOrigin),
    ] {
        let figures = c.sweep_figures.get(origin);
        let average = figures.map_or(-1.0, |f| f.average);
        let threshold = figures.map_or(-1.0, |f| f.ejection_threshold);
        let _ = writeln!(
            out,
            "{name}::outlier::{prefix}success_rate_average::{average}"
        );
        let _ = writeln!(
            out,
            "{name}::outlier::{prefix}success_rate_ejection_threshold::{threshold}"
        );
    }
}

/// `default_priority::max_connections::N` …; unlimited prints Envoy's 4294967295.
fn breaker_lines(out: &mut String, name: &str, b: &weft_proxy_config::runtime::cluster::Breakers) {
    let n = |v: Option<u64>| v.unwrap_or(u64::from(u32::MAX));
    let retries = if b.retry_budget.is_some() {
        None
    } else {
        b.max_retries
    };
    for (what, v) in [
        ("max_connections", b.max_connections),
        ("max_pending_requests", b.max_pending_requests),
        ("max_requests", b.max_requests),
        ("max_retries", retries),
    ] {
        let _ = writeln!(out, "{name}::default_priority::{what}::{}", n(v));
    }
}

fn host_lines(out: &mut String, name: &str, h: &crate::upstream::Host) {
    let a = h.addr;
    let get = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    let counters = [
        ("cx_active", get(&h.cx_active)),
        ("cx_connect_fail", get(&h.cx_connect_fail)),
        ("cx_total", get(&h.cx_total)),
        ("rq_active", get(&h.active_rq)),
        ("rq_error", get(&h.rq_error)),
        ("rq_total", get(&h.rq_total)),
    ];
    for (stat, v) in counters {
        let _ = writeln!(out, "{name}::{a}::{stat}::{v}");
    }
    let _ = writeln!(out, "{name}::{a}::health_flags::{}", h.health_flags());
    let _ = writeln!(out, "{name}::{a}::weight::{}", h.weight);
    let _ = writeln!(out, "{name}::{a}::priority::{}", h.ep.priority);
}

fn listeners(shared: &Shared, as_json: bool) -> Response<Full<Bytes>> {
    let live = shared.live.load();
    if as_json {
        let items: Vec<_> = live
            .snap
            .listeners
            .values()
            .map(|l| serde_json::json!({"name": l.name, "local_address": {"socket_address": {"address": l.addr.ip().to_string(), "port_value": l.addr.port()}}}))
            .collect();
        return json(&serde_json::json!({ "listener_statuses": items }));
    }
    let mut out = String::new();
    for l in live.snap.listeners.values() {
        let _ = writeln!(out, "{}::{}", l.name, l.addr);
    }
    text(StatusCode::OK, out)
}

fn logging(level: Option<&str>, post: bool) -> Response<Full<Bytes>> {
    match (level, post, LOG_HANDLER.get()) {
        (Some(l), true, Some(h)) => match h(l) {
            Ok(msg) => text(StatusCode::OK, format!("{msg}\n")),
            Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        },
        (Some(_), true, None) => text(
            StatusCode::NOT_IMPLEMENTED,
            "log level changes are not wired in this process\n",
        ),
        (Some(_), false, _) => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "This endpoint requires POST\n",
        ),
        (None, _, Some(h)) => text(StatusCode::OK, format!("{}\n", h("").unwrap_or_default())),
        (None, _, None) => text(StatusCode::OK, "active loggers: default\n"),
    }
}
