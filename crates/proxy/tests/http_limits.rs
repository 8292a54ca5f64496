//! Limits of the HTTP path end to end: circuit-breaker overflow answered 503 `UO`, request
//! header limits (431), malformed requests (400) and header / idle timeouts, with raw TCP
//! clients where the client must be able to misbehave; the trusted `x-envoy-upstream-rq-timeout-ms`
//! override.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn log_path(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("weft-limits-{port}.log"))
}

/// A connection manager with an access log, `extra` HCM fields and one route to `cluster`.
fn hcm(port: u16, cluster: &str, extra: &str, route_extra: &str) -> String {
    let log = log_path(port);
    let _ = std::fs::remove_file(&log);
    let access_log = format!(
        r#"          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" }} }}"#,
        log = log.display()
    );
    let filter = router_hcm(
        &format!("{extra}\n{access_log}"),
        &catch_all_route(cluster, route_extra),
    );
    listener("http", port, &filter)
}

async fn stat(p: &weft_proxy::Proxy, name: &str) -> i64 {
    let body = admin(p, &format!("/stats?filter={name}")).await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Waits (bounded) until the access log has `n` lines.
async fn log_lines(port: u16, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..200 {
        let text = std::fs::read_to_string(log_path(port)).unwrap_or_default();
        lines = text.lines().map(str::to_string).collect();
        if lines.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lines
}

#[tokio::test]
async fn overflow_answers_503_uo_without_retry_or_ejection() {
    let b = backend("slow").await;
    let port = free_port();
    let c = cluster(
        "slow",
        &[b],
        "    circuit_breakers: { thresholds: [ { max_connections: 1, max_pending_requests: 1 } ] }\n    outlier_detection: { consecutive_5xx: 2, interval: 0.1s, max_ejection_percent: 100 }",
    );
    let retry =
        r#", retry_policy: { retry_on: "connect-failure,refused-stream,5xx", num_retries: 3 }"#;
    let l = hcm(port, "slow", "", retry);
    let p = proxy(&bootstrap(&[l], &[c])).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let tasks: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { get(addr, "x", "/slow", &[]).await }))
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 503 {
            assert!(r.body.contains("overflow"), "{}", r.body);
        }
        statuses.push(r.status);
    }
    statuses.sort_unstable();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let overflow = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        ok >= 1 && overflow >= 1 && ok + overflow == 5,
        "{statuses:?}"
    );
    let lines = log_lines(port, 5).await;
    let uo = lines
        .iter()
        .filter(|l| l.ends_with(" 503 UO upstream_overflow"))
        .count();
    assert_eq!(uo, overflow, "{lines:?}");
    assert_eq!(
        stat(&p, "cluster.slow.upstream_rq_pending_overflow").await,
        overflow as i64
    );
    assert_eq!(stat(&p, "cluster.slow.upstream_rq_retry").await, 0);
    assert_eq!(stat(&p, "cluster.slow.upstream_cx_connect_fail").await, 0);
    assert_eq!(
        stat(
            &p,
            "cluster.slow.outlier_detection.ejections_enforced_total"
        )
        .await,
        0
    );
    assert_eq!(
        get(addr, "x", "/", &[]).await.status,
        200,
        "host not ejected"
    );
}

/// Sends `request` on a fresh connection and reads until the proxy closes it; panics when the
/// connection is still open after 10 s.
async fn exchange_raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The proxy may answer and close before it has read everything: a failed write is fine.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the proxy closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

fn request_with(headers: &[(String, String)]) -> Vec<u8> {
    let mut r = String::from("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

async fn limited_proxy(extra: &str) -> (weft_proxy::Proxy, SocketAddr) {
    let b = backend("b").await;
    let port = free_port();
    let p = proxy(&bootstrap(
        &[hcm(port, "b", extra, "")],
        &[cluster("b", &[b], "")],
    ))
    .await;
    (p, ([127, 0, 0, 1], port).into())
}

#[tokio::test]
async fn headers_over_the_size_limit_get_431_and_a_closed_connection() {
    let (p, addr) = limited_proxy("          max_request_headers_kb: 16").await;
    let small = request_with(&[("x-big".into(), "a".repeat(10 * 1024))]);
    let ok = exchange_raw(addr, &small).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let large = request_with(&[("x-big".into(), "a".repeat(20 * 1024))]);
    let reply = exchange_raw(addr, &large).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert_eq!(
        stat(&p, "http.ingress.downstream_cx_protocol_error").await,
        1
    );
}

#[tokio::test]
async fn too_many_headers_get_431() {
    let (p, addr) =
        limited_proxy("          common_http_protocol_options: { max_headers_count: 8 }").await;
    let few: Vec<(String, String)> = (0..4).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let ok = exchange_raw(addr, &request_with(&few)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let many: Vec<(String, String)> = (0..20).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let reply = exchange_raw(addr, &request_with(&many)).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert_eq!(
        stat(&p, "http.ingress.downstream_cx_protocol_error").await,
        1
    );
}

#[tokio::test]
async fn malformed_requests_get_400_and_are_counted() {
    let (p, addr) = limited_proxy("").await;
    let reply = exchange_raw(addr, b"GET / HTTP/1.1\r\nhost x\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let reply = exchange_raw(addr, b"G\x01T / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert_eq!(
        stat(&p, "http.ingress.downstream_cx_protocol_error").await,
        2
    );
}

#[tokio::test]
async fn request_headers_timeout_closes_a_slow_client() {
    let (p, addr) = limited_proxy("          request_headers_timeout: 0.3s").await;
    let started = std::time::Instant::now();
    let reply = exchange_raw(addr, b"GET / HTTP/1.1\r\nhost: x\r\n").await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed by the timeout"
    );
    // hyper closes the connection without an answer (Envoy may send 408 first).
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );
    assert_eq!(
        stat(&p, "http.ingress.downstream_rq_header_timeout").await,
        1
    );
    let ok = exchange_raw(addr, &request_with(&[])).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test]
async fn trusted_callers_override_the_route_timeout_by_header() {
    let backend_addr = backend("slow").await;
    let port = free_port();
    let yaml = bootstrap(
        &[hcm(
            port,
            "slow",
            "          use_remote_address: true",
            ", timeout: 10s",
        )],
        &[cluster("slow", &[backend_addr], "")],
    );
    let _p = proxy(&yaml).await;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Loopback is an internal address, so the caller's x-envoy-* headers are trusted.
    let started = std::time::Instant::now();
    let r = get(
        addr,
        "svc",
        "/slow",
        &[("x-envoy-upstream-rq-timeout-ms", "200")],
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the 200 ms override applied, not the route's 10 s: {:?}",
        started.elapsed()
    );
    let r = get(
        addr,
        "svc",
        "/",
        &[
            ("x-envoy-upstream-rq-timeout-ms", "5000"),
            ("x-envoy-trace", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = &r.json()["headers"];
    assert!(
        seen.get("x-envoy-upstream-rq-timeout-ms").is_none(),
        "the router consumes the override: {seen}"
    );
    assert_eq!(
        seen["x-envoy-trace"], "1",
        "internal x-envoy-* headers pass: {seen}"
    );
}
