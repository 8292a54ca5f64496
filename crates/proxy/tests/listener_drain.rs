//! Open connections of a replaced listener are drained, as Envoy drains a listener on update:
//! an h2 connection gets GOAWAY, finishes the stream it has open and closes; an idle
//! HTTP/1.1 keep-alive connection closes; new connections get the new config. A publish that
//! leaves the listener unchanged (same built value) drains nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{backend, bootstrap, catch_all_route, cluster, free_port, listener, router_hcm};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn http_listener(port: u16, cluster_name: &str) -> String {
    let filter = router_hcm("", &catch_all_route(cluster_name, ", timeout: 10s"));
    listener("http", port, &filter)
}

fn config(port: u16, route_to: &str, a: SocketAddr, b: SocketAddr) -> String {
    bootstrap(
        &[http_listener(port, route_to)],
        &[cluster("a", &[a], ""), cluster("b", &[b], "")],
    )
}

type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn h2_connection(addr: SocketAddr) -> (H2Sender, tokio::task::JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let done = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, done)
}

async fn h2_get(send: &mut H2Sender, path: &str) -> Result<(u16, String), hyper::Error> {
    let req = Request::builder()
        .uri(format!("http://svc{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    let backend = resp.headers()["x-backend"].to_str().unwrap().to_string();
    resp.into_body().collect().await?;
    Ok((status, backend))
}

/// Publishes `yaml`'s snapshot into the running proxy, as an ADS update would.
fn publish(p: &weft_proxy::Proxy, yaml: &str) {
    let (_, snap) = weft_proxy_config::bootstrap::load_str("update.yaml", yaml).unwrap();
    p.shared().publish(Arc::new(snap));
}

/// Opens an HTTP/1.1 connection, sends one request, reads its response and leaves it idle.
async fn idle_h1(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, b"GET / HTTP/1.1\r\nhost: svc\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "first h1 response"
    );
    s
}

async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn replaced_listener_drains_open_connections() {
    let (a, b) = (backend("a").await, backend("b").await);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = common::proxy(&config(port, "a", a, b)).await;

    let (mut h2, h2_done) = h2_connection(addr).await;
    assert_eq!(h2_get(&mut h2, "/").await.unwrap(), (200, "a".into()));
    let mut h1 = idle_h1(addr).await;

    // A publish that keeps the listener's built value (what ADS does for unchanged
    // resources) drains nothing.
    let same = p.shared().live.load().snap.clone();
    p.shared().publish(same);
    assert!(
        !closed_within(&mut h1, Duration::from_millis(300)).await,
        "an unchanged listener keeps its connections"
    );
    assert_eq!(h2_get(&mut h2, "/").await.unwrap(), (200, "a".into()));

    let mut slow = h2.clone();
    let in_flight = tokio::spawn(async move { h2_get(&mut slow, "/slow").await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    publish(&p, &config(port, "b", a, b));

    assert!(
        closed_within(&mut h1, Duration::from_secs(3)).await,
        "the idle HTTP/1.1 connection of the replaced listener is closed"
    );
    let slow = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight h2 stream finishes within 5s")
        .unwrap();
    assert_eq!(
        slow.unwrap(),
        (200, "a".into()),
        "the stream open at GOAWAY completes on the old route"
    );
    tokio::time::timeout(Duration::from_secs(3), h2_done)
        .await
        .expect("the h2 connection closes after GOAWAY and its last stream")
        .unwrap();
    assert!(
        h2_get(&mut h2, "/").await.is_err(),
        "no new stream on a drained h2 connection"
    );

    let (mut fresh, _done) = h2_connection(addr).await;
    assert_eq!(h2_get(&mut fresh, "/").await.unwrap(), (200, "b".into()));
    let stats = common::admin(&p, "/stats").await.body;
    assert!(
        stats.contains("http.ingress.downstream_cx_drain_close: 2"),
        "both connections counted as drained:\n{stats}"
    );
}

fn tcp_config(port: u16, cluster_name: &str, a: SocketAddr, b: SocketAddr) -> String {
    let filter = format!(
        "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          stat_prefix: tcp\n          cluster: {cluster_name}\n"
    );
    bootstrap(
        &[listener("tcp", port, &filter)],
        &[cluster("a", &[a], ""), cluster("b", &[b], "")],
    )
}

#[tokio::test]
async fn replaced_listener_closes_tcp_connections_after_the_drain_time() {
    let (a, b) = (backend("a").await, backend("b").await);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = common::proxy(&tcp_config(port, "a", a, b)).await;
    p.set_drain_time(Duration::from_millis(500));
    // HTTP over the TCP proxy: the backend keeps the connection open after answering.
    let mut conn = idle_h1(addr).await;

    let same = p.shared().live.load().snap.clone();
    p.shared().publish(same);
    assert!(
        !closed_within(&mut conn, Duration::from_millis(300)).await,
        "an unchanged listener keeps its TCP connections"
    );

    publish(&p, &tcp_config(port, "b", a, b));
    assert!(
        !closed_within(&mut conn, Duration::from_millis(250)).await,
        "a TCP connection lives on during the drain time"
    );
    assert!(
        closed_within(&mut conn, Duration::from_secs(3)).await,
        "and is closed once it has passed"
    );
    let stats = common::admin(&p, "/stats").await.body;
    assert!(
        stats.contains("tcp.tcp.downstream_cx_drain_close: 1"),
        "counted as drained:\n{stats}"
    );
}
