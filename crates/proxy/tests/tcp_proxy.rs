//! TCP proxying end to end on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo_server(tag: &'static str) -> std::net::SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut out = tag.as_bytes().to_vec();
                    out.extend_from_slice(&buf[..n]);
                    if s.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn tcp_filter(body: &str) -> String {
    format!(
        "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          stat_prefix: tcp\n{body}\n"
    )
}

async fn roundtrip(port: u16, msg: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(msg.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn tcp_proxy_round_robin_across_endpoints() {
    let (a, b) = (echo_server("a:").await, echo_server("b:").await);
    let port = free_port();
    let yaml = bootstrap(
        &[listener(
            "tcp",
            port,
            &tcp_filter("          cluster: echo"),
        )],
        &[cluster("echo", &[a, b], "    lb_policy: ROUND_ROBIN")],
    );
    let p = proxy(&yaml).await;
    let mut got = Vec::new();
    for i in 0..4 {
        got.push(roundtrip(port, &format!("m{i}")).await);
    }
    assert_eq!(got, vec!["a:m0", "b:m1", "a:m2", "b:m3"]);
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("tcp.tcp.downstream_cx_total: 4"), "{stats}");
    assert!(
        stats.contains("cluster.echo.upstream_cx_total: 4"),
        "{stats}"
    );
}

#[tokio::test]
async fn tcp_proxy_weighted_clusters_and_refused_upstream() {
    let a = echo_server("a:").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = free_port();
    let port2 = free_port();
    let weighted = tcp_filter(
        "          weighted_clusters:\n            clusters:\n            - { name: one, weight: 100 }\n            - { name: two, weight: 0 }",
    );
    let yaml = bootstrap(
        &[
            listener("w", port, &weighted),
            listener("dead", port2, &tcp_filter("          cluster: dead")),
        ],
        &[
            cluster("one", &[a], ""),
            cluster("two", &[dead], ""),
            cluster("dead", &[dead], ""),
        ],
    );
    let p = proxy(&yaml).await;
    for _ in 0..3 {
        assert_eq!(roundtrip(port, "x").await, "a:x");
    }
    // The refused upstream closes the downstream connection without data.
    let mut s = TcpStream::connect(("127.0.0.1", port2)).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    let stats = admin(&p, "/stats").await.body;
    assert!(
        stats.contains("cluster.dead.upstream_cx_connect_fail: 1"),
        "{stats}"
    );
}

#[tokio::test]
async fn tcp_proxy_idle_timeout_closes_connection() {
    let a = echo_server("a:").await;
    let port = free_port();
    let yaml = bootstrap(
        &[listener(
            "tcp",
            port,
            &tcp_filter("          cluster: echo\n          idle_timeout: 0.3s"),
        )],
        &[cluster("echo", &[a], "")],
    );
    let p = proxy(&yaml).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"a:hi");
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed after idle timeout");
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("tcp.tcp.idle_timeout: 1"), "{stats}");
}
