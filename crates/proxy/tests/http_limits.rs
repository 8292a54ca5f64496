//! Limits of the HTTP path end to end: circuit-breaker overflow answered 503 `UO`, request
//! header limits (431), malformed requests (400) and header / idle timeouts, with raw TCP
//! clients where the client must be able to misbehave.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

fn log_path(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("weft-limits-{port}.log"))
}

/// A connection manager with an access log, `extra` HCM fields and one route to `cluster`.
fn hcm(port: u16, cluster: &str, extra: &str, route_extra: &str) -> String {
    let log = log_path(port);
    let _ = std::fs::remove_file(&log);
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
{extra}
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" }} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: {cluster} {route_extra} }}
"#,
        log = log.display()
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
