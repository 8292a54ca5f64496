//! Fault injection, CORS and `require_tls` end to end on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

const FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const CORS_POLICY: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

fn hcm(port: u16, routes: &str, log: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" }} }}
          http_filters:
          - name: envoy.filters.http.fault
            typed_config: {{ "@type": {FAULT} }}
          - name: envoy.filters.http.cors
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors }}
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
{routes}
"#
    );
    listener("http", port, &filter)
}

fn routes() -> String {
    format!(
        r#"            - name: api
              domains: ["api.example.com"]
              typed_per_filter_config:
                envoy.filters.http.cors:
                  "@type": {CORS_POLICY}
                  allow_origin_string_match: [{{ exact: "https://example.com" }}, {{ safe_regex: {{ regex: "https://.*\\.example\\.org" }} }}]
                  allow_methods: "GET,POST"
                  allow_headers: x-token
                  expose_headers: x-trace
                  max_age: "600"
                  allow_credentials: true
              routes:
              - name: abort-all
                match: {{ prefix: "/abort" }}
                direct_response: {{ status: 200, body: {{ inline_string: ok }} }}
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": {FAULT}
                    abort: {{ http_status: 503, percentage: {{ numerator: 100 }} }}
              - name: abort-some
                match: {{ prefix: "/some" }}
                direct_response: {{ status: 200, body: {{ inline_string: ok }} }}
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": {FAULT}
                    abort: {{ http_status: 418, percentage: {{ numerator: 300000, denominator: MILLION }} }}
              - name: delay
                match: {{ prefix: "/delay" }}
                route: {{ cluster: a }}
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": {FAULT}
                    delay: {{ fixed_delay: 0.3s, percentage: {{ numerator: 100 }} }}
              - name: limited
                match: {{ prefix: "/limited" }}
                direct_response: {{ status: 200, body: {{ inline_string: ok }} }}
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": {FAULT}
                    max_active_faults: 1
                    delay: {{ fixed_delay: 1s, percentage: {{ numerator: 100 }} }}
              - name: grpc
                match: {{ prefix: "/pkg.Svc" }}
                route: {{ cluster: a }}
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": {FAULT}
                    abort: {{ grpc_status: 14, percentage: {{ numerator: 100 }} }}
              - name: default
                match: {{ prefix: "/" }}
                route: {{ cluster: a }}
            - name: secure
              domains: ["secure.example.com"]
              require_tls: ALL
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: a }}
            - name: internal
              domains: ["internal.example.com"]
              require_tls: EXTERNAL_ONLY
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: a }}"#
    )
}

fn log_path(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("weft-filters-{port}.log"))
}

/// Waits (bounded) until the access log has a line starting with `prefix`.
async fn log_line(port: u16, prefix: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log_path(port)).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.starts_with(prefix)) {
            return l.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    String::new()
}

async fn setup() -> (weft_proxy::Proxy, SocketAddr) {
    let a = backend("a").await;
    let port = free_port();
    let log = log_path(port);
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[hcm(port, &routes(), &log.display().to_string())],
        &[cluster("a", &[a], "")],
    );
    let p = proxy(&yaml).await;
    (p, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Sends `n` GETs on one keep-alive connection and returns their statuses.
async fn statuses(addr: SocketAddr, host: &str, path: &str, n: usize) -> Vec<u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let req = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        out.push(resp.status().as_u16());
        let _ = resp.into_body().collect().await.unwrap();
    }
    out
}

#[tokio::test]
async fn fault_abort_always_and_by_percentage() {
    let (p, addr) = setup().await;
    let r = get(addr, "api.example.com", "/abort", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (503, "fault filter abort"));
    let all = statuses(addr, "api.example.com", "/abort", 50).await;
    assert!(all.iter().all(|s| *s == 503), "{all:?}");
    // 30 % of 2000 requests: expect 600, allow ±5 % of the sample (±100, ~5 standard deviations).
    let some = statuses(addr, "api.example.com", "/some", 2000).await;
    let aborted = some.iter().filter(|s| **s == 418).count();
    let passed = some.iter().filter(|s| **s == 200).count();
    assert_eq!(aborted + passed, 2000);
    assert!((500..=700).contains(&aborted), "aborted {aborted} of 2000");
    let line = log_line(addr.port(), "/abort ").await;
    assert_eq!(line, "/abort 503 FI fault_filter_abort");
    drop(p);
    let _ = std::fs::remove_file(log_path(addr.port()));
}

#[tokio::test]
async fn fault_delay_then_forward() {
    let (_p, addr) = setup().await;
    let started = Instant::now();
    let r = get(addr, "api.example.com", "/delay", &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["backend"], "a");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let line = log_line(addr.port(), "/delay ").await;
    assert_eq!(line, "/delay 200 DI via_upstream");
    let _ = std::fs::remove_file(log_path(addr.port()));
}

#[tokio::test]
async fn grpc_fault_abort_is_trailers_only() {
    let (_p, addr) = setup().await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri("http://api.example.com/pkg.Svc/Method")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\x00")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["grpc-status"], "14");
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap();
    assert!(body.to_bytes().is_empty());
}

#[tokio::test]
async fn header_faults_need_configuration() {
    let (_p, addr) = setup().await;
    // No header_abort configured: the header is ignored.
    let r = get(
        addr,
        "api.example.com",
        "/",
        &[("x-envoy-fault-abort-request", "500")],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn cors_preflight_simple_and_foreign_origins() {
    let (_p, addr) = setup().await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/x")
        .header("host", "api.example.com")
        .header("origin", "https://a.example.org")
        .header("access-control-request-method", "POST")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://a.example.org");
    assert_eq!(h["access-control-allow-methods"], "GET,POST");
    assert_eq!(h["access-control-allow-headers"], "x-token");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h.get("x-backend").is_none(),
        "preflight must not be forwarded"
    );

    let r = get(
        addr,
        "api.example.com",
        "/x",
        &[("origin", "https://example.com")],
    )
    .await;
    assert_eq!(r.json()["backend"], "a");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("x-trace"));

    let r = get(
        addr,
        "api.example.com",
        "/x",
        &[("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(r.json()["backend"], "a");
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn require_tls_redirects_to_https() {
    let (_p, addr) = setup().await;
    let r = get(addr, "secure.example.com", "/p?q=1", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://secure.example.com/p?q=1")
    );
    // EXTERNAL_ONLY: a loopback peer is internal and is served.
    let r = get(addr, "internal.example.com", "/p", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn max_active_faults_limits_concurrent_faults() {
    let (_p, addr) = setup().await;
    let timed = |delay_first: Duration| async move {
        tokio::time::sleep(delay_first).await;
        let started = Instant::now();
        let r = get(addr, "api.example.com", "/limited", &[]).await;
        (r.status, started.elapsed())
    };
    // The second request starts while the first is still delayed: it gets no fault.
    let (a, b) = tokio::join!(timed(Duration::ZERO), timed(Duration::from_millis(300)));
    assert_eq!((a.0, b.0), (200, 200));
    assert!(a.1 >= Duration::from_secs(1), "{a:?}");
    assert!(b.1 < Duration::from_millis(700), "{b:?}");
    // Once the first is done, faults are injected again.
    let (status, elapsed) = timed(Duration::ZERO).await;
    assert_eq!(status, 200);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
}
