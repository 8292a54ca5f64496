//! Retries, attempt counts, request bodies, mirrors and hash-policy cookies end to end.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

/// What a recording backend saw: per request the `host`, `x-envoy-attempt-count` and body size.
#[derive(Debug, Clone, Default)]
struct Seen {
    host: String,
    attempt: Option<String>,
    body_len: usize,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A backend answering every request with `status` after reading the whole body.
async fn recorder(status: u16) -> (SocketAddr, Log) {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                return;
            };
            let l = l.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let l = l.clone();
                    async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        };
                        let host = header("host").unwrap_or_default();
                        let attempt = header("x-envoy-attempt-count");
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().len())
                            .unwrap_or(0);
                        l.lock().unwrap().push(Seen {
                            host,
                            attempt,
                            body_len: body,
                        });
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"done")));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

fn hcm(port: u16, log: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n" }} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
            - name: api
              domains: ["api.example.com"]
              include_request_attempt_count: true
              include_attempt_count_in_response: true
              retry_policy: {{ retry_on: "5xx", num_retries: 2, retry_back_off: {{ base_interval: 0.001s }} }}
              routes:
              - name: flaky
                match: {{ prefix: "/flaky" }}
                route:
                  cluster: flaky
                  retry_policy:
                    retry_on: "gateway-error,connect-failure"
                    num_retries: 3
                    retry_host_predicate: [{{ name: envoy.retry_host_predicates.previous_hosts }}]
                    host_selection_retry_max_attempts: 5
                    retry_back_off: {{ base_interval: 0.001s }}
              - name: bad
                match: {{ prefix: "/bad" }}
                route: {{ cluster: bad }}
              - name: mirror
                match: {{ prefix: "/mirror" }}
                route:
                  cluster: good
                  request_mirror_policies:
                  - cluster: shadow
                    runtime_fraction: {{ default_value: {{ numerator: 100 }} }}
              - name: slow
                match: {{ prefix: "/slow" }}
                route:
                  cluster: slow
                  retry_policy: {{ retry_on: "5xx", num_retries: 1, per_try_timeout: 0.2s, retry_back_off: {{ base_interval: 0.001s }} }}
              - name: stream
                match: {{ prefix: "/stream" }}
                route: {{ cluster: slow }}
              - name: sticky
                match: {{ prefix: "/sticky" }}
                route:
                  cluster: good
                  hash_policy:
                  - cookie: {{ name: sticky, ttl: 60s, path: / }}
"#
    );
    listener("http", port, &filter)
}

struct Setup {
    proxy: weft_proxy::Proxy,
    addr: SocketAddr,
    bad: Log,
    good: Log,
    shadow: Log,
    log: std::path::PathBuf,
}

async fn setup() -> Setup {
    let (bad_addr, bad) = recorder(503).await;
    let (good_addr, good) = recorder(200).await;
    let (shadow_addr, shadow) = recorder(200).await;
    let slow = backend("slow").await;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("weft-retry-{port}.log"));
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[hcm(port, &log.display().to_string())],
        &[
            cluster("flaky", &[bad_addr, good_addr], ""),
            cluster("bad", &[bad_addr], ""),
            cluster("good", &[good_addr], ""),
            cluster("shadow", &[shadow_addr], ""),
            cluster("slow", &[slow], ""),
        ],
    );
    let proxy = proxy(&yaml).await;
    Setup {
        proxy,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        bad,
        good,
        shadow,
        log,
    }
}

async fn one_shot<B>(addr: SocketAddr, req: Request<B>) -> Reply
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (parts, b) = s.send_request(req).await.unwrap().into_parts();
    let body = b.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends `body` with a content length, or chunked (no length known in advance).
async fn send(addr: SocketAddr, method: &str, path: &str, body: Bytes, chunked: bool) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.example.com");
    if chunked {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = body
            .chunks(16 * 1024)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        one_shot(addr, req.body(body).unwrap()).await
    } else {
        one_shot(addr, req.body(Full::new(body)).unwrap()).await
    }
}

async fn log_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    text.lines().map(str::to_string).collect()
}

fn stat(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn retry_moves_to_another_host_after_503() {
    let s = setup().await;
    for _ in 0..4 {
        let r = get(s.addr, "api.example.com", "/flaky", &[]).await;
        assert_eq!((r.status, r.body.as_str()), (200, "done"));
    }
    let bad = seen(&s.bad);
    let good = seen(&s.good);
    assert_eq!(good.len(), 4, "{good:?}");
    assert!(
        !bad.is_empty(),
        "round robin sends some first attempts to the 503 host"
    );
    // Every request that hit the bad host first was answered by its second attempt.
    let retried = good
        .iter()
        .filter(|g| g.attempt.as_deref() == Some("2"))
        .count();
    assert_eq!(retried, bad.len(), "bad {bad:?} good {good:?}");
    assert!(bad.iter().all(|b| b.attempt.as_deref() == Some("1")));
    let stats = admin(&s.proxy, "/stats").await.body;
    assert_eq!(
        stat(&stats, "cluster.flaky.upstream_rq_retry"),
        bad.len() as u64,
        "{stats}"
    );
    assert_eq!(
        stat(&stats, "cluster.flaky.upstream_rq_retry_success"),
        bad.len() as u64
    );
}

#[tokio::test]
async fn retries_exhausted_give_urx() {
    let s = setup().await;
    let r = get(s.addr, "api.example.com", "/bad", &[]).await;
    assert_eq!(r.status, 503);
    // Virtual-host policy: 1 + 2 retries.
    assert_eq!(seen(&s.bad).len(), 3);
    assert_eq!(r.header("x-envoy-attempt-count"), Some("3"));
    let stats = admin(&s.proxy, "/stats").await.body;
    assert_eq!(stat(&stats, "cluster.bad.upstream_rq_retry"), 2, "{stats}");
    assert_eq!(
        stat(&stats, "cluster.bad.upstream_rq_retry_limit_exceeded"),
        1,
        "{stats}"
    );
    assert_eq!(stat(&stats, "cluster.bad.upstream_rq_5xx"), 3, "{stats}");
    let lines = log_lines(&s.log, 1).await;
    assert_eq!(
        lines.first().map(String::as_str),
        Some("/bad 503 URX"),
        "{lines:?}"
    );
    let _ = std::fs::remove_file(&s.log);
}

#[tokio::test]
async fn small_bodies_are_replayed_large_ones_sent_once() {
    let s = setup().await;
    let small = Bytes::from(vec![b's'; 1000]);
    let r = send(s.addr, "POST", "/bad", small, false).await;
    assert_eq!(r.status, 503);
    let bad = seen(&s.bad);
    assert_eq!(bad.len(), 3);
    assert!(bad.iter().all(|b| b.body_len == 1000), "{bad:?}");
    for chunked in [false, true] {
        let before = seen(&s.bad).len();
        let large = Bytes::from(vec![b'l'; 100 * 1024]);
        let r = send(s.addr, "POST", "/bad", large, chunked).await;
        assert_eq!(r.status, 503);
        let bad = seen(&s.bad);
        assert_eq!(bad.len(), before + 1, "not retried (chunked: {chunked})");
        assert_eq!(bad.last().unwrap().body_len, 100 * 1024);
        assert_eq!(r.header("x-envoy-attempt-count"), Some("1"));
    }
}

#[tokio::test]
async fn mirror_reaches_shadow_cluster() {
    let s = setup().await;
    let r = send(
        s.addr,
        "POST",
        "/mirror",
        Bytes::from_static(b"copy me"),
        false,
    )
    .await;
    assert_eq!(r.status, 200);
    let mut shadow = Vec::new();
    for _ in 0..100 {
        shadow = seen(&s.shadow);
        if !shadow.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shadow.len(), 1, "{shadow:?}");
    assert_eq!(shadow[0].host, "api.example.com-shadow");
    assert_eq!(shadow[0].body_len, 7);
    assert_eq!(seen(&s.good)[0].host, "api.example.com");
}

#[tokio::test]
async fn cookie_hash_policy_sets_a_cookie() {
    let s = setup().await;
    let r = get(s.addr, "api.example.com", "/sticky", &[]).await;
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").unwrap_or_default().to_string();
    assert!(cookie.starts_with("sticky=\""), "{cookie}");
    assert!(
        cookie.ends_with("; Max-Age=60; Path=/; HttpOnly"),
        "{cookie}"
    );
    let r = get(
        s.addr,
        "api.example.com",
        "/sticky",
        &[("cookie", "sticky=abc")],
    )
    .await;
    assert!(r.header("set-cookie").is_none());
}

#[tokio::test]
async fn per_try_timeout_is_retried_then_gives_ut() {
    let s = setup().await;
    let started = std::time::Instant::now();
    let r = get(s.addr, "api.example.com", "/slow", &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(
        (r.status, r.body.as_str()),
        (504, "upstream request timeout")
    );
    // Two tries of 0.2 s each, well before the backend's 2 s answer.
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1900), "{elapsed:?}");
    let stats = admin(&s.proxy, "/stats").await.body;
    assert_eq!(
        stat(&stats, "cluster.slow.upstream_rq_timeout"),
        2,
        "{stats}"
    );
    let lines = log_lines(&s.log, 1).await;
    assert_eq!(
        lines.first().map(String::as_str),
        Some("/slow 504 UT,URX"),
        "{lines:?}"
    );
    let _ = std::fs::remove_file(&s.log);
}

#[tokio::test]
async fn streaming_body_is_forwarded_before_it_ends() {
    let s = setup().await;
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let req = Request::builder()
        .method("POST")
        .uri("/stream")
        .header("host", "api.example.com")
        .body(body)
        .unwrap();
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    // The route has a retry policy, yet the answer comes while the body is still open.
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("response before the request body ended")
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The backend answered without reading the body, so the rest may be refused.
    let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"rest")))).await;
    drop(tx);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["backend"], "slow");
}
