//! Cluster features end to end on loopback: STRICT_DNS, circuit breakers, outlier ejection
//! and return, `/clusters` health flags.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn http_listener(port: u16, cluster: &str) -> String {
    let filter = router_hcm("", &catch_all_route(cluster, ""));
    listener("http", port, &filter)
}

fn tcp_listener(port: u16, cluster: &str) -> String {
    let filter = format!(
        "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          stat_prefix: tcp\n          cluster: {cluster}\n"
    );
    listener("tcp", port, &filter)
}

async fn echo_server() -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `msg` through the proxy; `None` when the proxy closed the connection instead.
async fn echo(port: u16, msg: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(msg.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

async fn stat(p: &weft_proxy::Proxy, name: &str) -> i64 {
    let body = admin(p, &format!("/stats?filter={name}")).await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[tokio::test]
async fn strict_dns_cluster_resolves_localhost() {
    let backend = backend("dns").await;
    let port = free_port();
    let cluster = format!(
        r#"
  - name: dns
    type: STRICT_DNS
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY
    dns_refresh_rate: 0.2s
    respect_dns_ttl: true
    load_assignment:
      cluster_name: dns
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: localhost, port_value: {} }} }} }}
"#,
        backend.port()
    );
    let p = proxy(&bootstrap(&[http_listener(port, "dns")], &[cluster])).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while Instant::now() < deadline {
        status = get(addr, "x", "/", &[]).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "the resolved host answers");
    let clusters = admin(&p, "/clusters").await.body;
    let host = format!("dns::127.0.0.1:{}::health_flags::healthy", backend.port());
    assert!(clusters.contains(&host), "{clusters}");
    assert_eq!(stat(&p, "cluster.dns.membership_total").await, 1);
}

#[tokio::test]
async fn tcp_max_connections_refuses_with_overflow() {
    let echo_addr = echo_server().await;
    let port = free_port();
    let c = cluster(
        "echo",
        &[echo_addr],
        "    circuit_breakers: { thresholds: [ { max_connections: 1 } ] }",
    );
    let p = proxy(&bootstrap(&[tcp_listener(port, "echo")], &[c])).await;
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    held.write_all(b"one").await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), held.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"one");
    assert_eq!(echo(port, "two").await, None, "second connection overflows");
    assert_eq!(stat(&p, "cluster.echo.upstream_cx_overflow").await, 1);
    let clusters = admin(&p, "/clusters").await.body;
    assert!(
        clusters.contains("echo::default_priority::max_connections::1\n"),
        "{clusters}"
    );
    drop(held);
    // Once the first is gone, connections flow again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = echo(port, "three").await;
    }
    assert_eq!(got.as_deref(), Some("three"));
}

/// Connections accepted together race for the last slots: exactly `max_connections` of them
/// may reach the upstream, however their connects interleave.
#[tokio::test]
async fn tcp_max_connections_holds_under_simultaneous_connects() {
    let echo_addr = echo_server().await;
    let port = free_port();
    let c = cluster(
        "echo",
        &[echo_addr],
        "    circuit_breakers: { thresholds: [ { max_connections: 2 } ] }",
    );
    let p = proxy(&bootstrap(&[tcp_listener(port, "echo")], &[c])).await;
    // Blocking connects without yielding to the runtime: all twelve wait in the accept queue
    // together, so the proxy starts their upstream connects side by side.
    let mut clients = Vec::new();
    for _ in 0..12 {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nonblocking(true).unwrap();
        clients.push(TcpStream::from_std(s).unwrap());
    }
    for s in &mut clients {
        let _ = s.write_all(b"ping").await;
    }
    let mut echoed = 0;
    for s in &mut clients {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        if matches!(read, Ok(Ok(n)) if n > 0) {
            echoed += 1;
        }
    }
    assert_eq!(
        echoed, 2,
        "only max_connections upstream connections are made"
    );
    assert_eq!(stat(&p, "cluster.echo.upstream_cx_overflow").await, 10);
    assert_eq!(stat(&p, "cluster.echo.upstream_cx_active").await, 2);
}

#[tokio::test]
async fn http_pending_overflow_when_connections_are_exhausted() {
    let b = backend("slow").await;
    let port = free_port();
    let c = cluster(
        "slow",
        &[b],
        "    circuit_breakers: { thresholds: [ { max_connections: 1, max_pending_requests: 1 } ] }",
    );
    let p = proxy(&bootstrap(&[http_listener(port, "slow")], &[c])).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let first = tokio::spawn(async move { get(addr, "x", "/slow", &[]).await.status });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = tokio::spawn(async move { get(addr, "x", "/", &[]).await.status });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let third = get(addr, "x", "/", &[]).await;
    assert_eq!(third.status, 503, "{}", third.body);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "overflow is immediate"
    );
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(
        second.await.unwrap(),
        200,
        "the pending request got the connection"
    );
    assert_eq!(
        stat(&p, "cluster.slow.upstream_rq_pending_overflow").await,
        1
    );
    assert!(stat(&p, "cluster.slow.upstream_cx_overflow").await >= 2);
}

#[tokio::test]
async fn outlier_detection_ejects_a_failing_host_and_returns_it() {
    let live = echo_server().await;
    // Bound but not listening: connections are refused and the port stays ours.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = reserved.local_addr().unwrap();
    let port = free_port();
    let c = cluster(
        "pair",
        &[dead, live],
        "    lb_policy: ROUND_ROBIN\n    outlier_detection: { consecutive_5xx: 2, interval: 0.1s, base_ejection_time: 0.4s, max_ejection_percent: 50 }",
    );
    let p = proxy(&bootstrap(&[tcp_listener(port, "pair")], &[c])).await;
    // Round robin alternates: the dead host fails twice, then it is ejected.
    let mut failures = 0;
    for i in 0..4 {
        if echo(port, &format!("m{i}")).await.is_none() {
            failures += 1;
        }
    }
    assert_eq!(failures, 2);
    let flags = format!("pair::{dead}::health_flags::/failed_outlier_check");
    let clusters = admin(&p, "/clusters").await.body;
    assert!(clusters.contains(&flags), "{clusters}");
    assert!(clusters.contains("pair::outlier::success_rate_average::-1"));
    for i in 0..6 {
        assert_eq!(echo(port, &format!("e{i}")).await, Some(format!("e{i}")));
    }
    assert_eq!(
        stat(
            &p,
            "cluster.pair.outlier_detection.ejections_enforced_consecutive_5xx"
        )
        .await,
        1
    );
    assert_eq!(
        stat(&p, "cluster.pair.outlier_detection.ejections_active").await,
        1
    );
    // After base_ejection_time and a sweep the host is back.
    let deadline = Instant::now() + Duration::from_secs(5);
    let healthy = format!("pair::{dead}::health_flags::healthy");
    let mut back = false;
    while Instant::now() < deadline && !back {
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = admin(&p, "/clusters").await.body.contains(&healthy);
    }
    assert!(back, "ejected host returns after the ejection time");
    assert_eq!(
        stat(&p, "cluster.pair.outlier_detection.ejections_active").await,
        0
    );
}
