//! HTTP/1.1 upgrades (websocket) through the connection manager, over raw TCP: an allowed
//! upgrade gets the backend's 101 and then bytes round-trip both ways through the splice; an
//! upgrade that is not allowed reaches the backend without its upgrade headers.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

/// Reads until the end of an HTTP head (bounded by size and `LIMIT`).
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tokio::time::timeout(LIMIT, s.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A backend that answers an `Upgrade: websocket` request with 101 and then echoes bytes,
/// and anything else with 200 `no-upgrade`.
async fn ws_backend() -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let head = read_head(&mut s).await.to_ascii_lowercase();
                if head.contains("upgrade: websocket") && head.contains("connection: upgrade") {
                    let reply = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
                    s.write_all(reply.as_bytes()).await.unwrap();
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                } else {
                    let reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nno-upgrade";
                    let _ = s.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    addr
}

fn hcm(port: u16, hcm_extra: &str, route_extra: &str) -> String {
    let filter = router_hcm(hcm_extra, &catch_all_route("ws", route_extra));
    listener("http", port, &filter)
}

async fn start(hcm_extra: &str, route_extra: &str) -> (weft_proxy::Proxy, SocketAddr) {
    let b = ws_backend().await;
    let port = free_port();
    let yaml = bootstrap(
        &[hcm(port, hcm_extra, route_extra)],
        &[cluster("ws", &[b], "")],
    );
    (proxy(&yaml).await, ([127, 0, 0, 1], port).into())
}

const UPGRADE_REQUEST: &str =
    "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

async fn echo(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(LIMIT, s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .expect("echo");
    got
}

#[tokio::test]
async fn websocket_upgrade_splices_both_ways() {
    let (_p, addr) = start(
        "          upgrade_configs: [ { upgrade_type: websocket } ]",
        "",
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert_eq!(echo(&mut s, b"hello").await, b"hello");
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(echo(&mut s, &big).await, big);
}

#[tokio::test]
async fn upgrade_not_configured_or_disabled_on_the_route_is_stripped() {
    let disabled = ", upgrade_configs: [ { upgrade_type: websocket, enabled: false } ]";
    for (hcm_extra, route_extra) in [
        ("", ""),
        (
            "          upgrade_configs: [ { upgrade_type: websocket } ]",
            disabled,
        ),
    ] {
        let (_p, addr) = start(hcm_extra, route_extra).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 10];
        tokio::time::timeout(LIMIT, s.read_exact(&mut body))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&body, b"no-upgrade");
    }
}

#[tokio::test]
async fn route_enables_an_upgrade_the_manager_lists_as_disabled() {
    let (_p, addr) = start(
        "          upgrade_configs: [ { upgrade_type: websocket, enabled: false } ]",
        ", upgrade_configs: [ { upgrade_type: websocket } ]",
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(echo(&mut s, b"ping").await, b"ping");
}
