//! Protocol detection on a listener with `http_inspector`, against a server-first protocol
//! (the server speaks first, SMTP-style, so the inspector never sees client bytes):
//! `listener_filters_timeout` and `continue_on_listener_filters_timeout` as Envoy applies them.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GREETING: &[u8] = b"220 weft-test ESMTP ready\r\n";

/// A server-first backend: greets every connection before reading anything.
async fn greeting_server() -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(GREETING).await;
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf).await;
            });
        }
    });
    addr
}

/// HTTP/1.1 (as detected) goes to the connection manager, anything else to tcp_proxy.
fn detecting_listener(port: u16, timeout: &str, continue_on_timeout: bool) -> String {
    let hcm = router_hcm("", &catch_all_route("web", ""));
    format!(
        r#"
  - name: detect
    stat_prefix: detect
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    listener_filters:
    - name: envoy.filters.listener.http_inspector
      typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }}
    listener_filters_timeout: {timeout}
    continue_on_listener_filters_timeout: {continue_on_timeout}
    filter_chains:
    - filter_chain_match: {{ application_protocols: [http/1.1] }}
      filters:
      - name: hcm
        typed_config:
{hcm}
    default_filter_chain:
      filters:
      - name: tcp
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: smtp
          cluster: smtp
"#
    )
}

async fn start(timeout: &str, continue_on_timeout: bool) -> (weft_proxy::Proxy, u16) {
    let web = backend("web").await;
    let smtp = greeting_server().await;
    let port = free_port();
    let yaml = bootstrap(
        &[detecting_listener(port, timeout, continue_on_timeout)],
        &[cluster("web", &[web], ""), cluster("smtp", &[smtp], "")],
    );
    (proxy(&yaml).await, port)
}

/// Connects and waits for the server to speak: the bytes read (empty when the proxy closed)
/// and how long that took.
async fn await_greeting(port: u16) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = vec![0u8; 128];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the proxy neither forwarded nor closed")
        .unwrap_or(0);
    buf.truncate(n);
    (buf, started.elapsed())
}

#[tokio::test]
async fn server_first_protocol_reaches_the_default_chain_once_detection_times_out() {
    let (_p, port) = start("0.3s", true).await;
    let (got, took) = await_greeting(port).await;
    assert_eq!(got, GREETING, "the greeting comes through tcp_proxy");
    assert!(
        took >= Duration::from_millis(250),
        "not before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "soon after the timeout: {took:?}"
    );
    // The same listener still detects and routes HTTP.
    let reply = get(([127, 0, 0, 1], port).into(), "any", "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-backend"], "web");
}

#[tokio::test]
async fn detection_timeout_without_continue_closes_the_connection() {
    let (p, port) = start("0.3s", false).await;
    let (got, took) = await_greeting(port).await;
    assert!(got.is_empty(), "closed, not forwarded: {got:?}");
    assert!(
        took >= Duration::from_millis(250),
        "closed at the timeout: {took:?}"
    );
    assert_eq!(
        admin_stat(&p, "listener.detect.downstream_pre_cx_timeout").await,
        Some(1)
    );
}

#[tokio::test]
async fn zero_timeout_waits_for_the_client_however_long_it_takes() {
    let (_p, port) = start("0s", true).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // Longer than any detection timeout used above: with 0s there is none.
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.write_all(b"GET / HTTP/1.1\r\nhost: any\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-backend: web"), "detected as HTTP: {text}");
}
