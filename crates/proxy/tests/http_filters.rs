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

fn hcm(port: u16, routes: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
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

async fn setup() -> (weft_proxy::Proxy, SocketAddr) {
    let a = backend("a").await;
    let port = free_port();
    let yaml = bootstrap(&[hcm(port, &routes())], &[cluster("a", &[a], "")]);
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
    drop(p);
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
