//! CONNECT termination end to end: a `connect_matcher` route whose CONNECT upgrade has
//! `connect_config` answers 200 and tunnels to its cluster (checked with a raw client and with
//! curl's `--proxytunnel`); CONNECT never matches path routes; a route that does not
//! terminate CONNECT answers 403; an unreachable cluster answers 503 UF.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The listener: CONNECT (via `connect_matcher`) to `tunnel`, with `connect_upgrade` as the
/// route's upgrade_configs; any other request to `plain`.
fn connect_listener(port: u16, connect_upgrade: &str) -> String {
    let routes = format!(
        r#"              - match: {{ connect_matcher: {{}} }}
                route: {{ cluster: tunnel {connect_upgrade} }}
{}"#,
        catch_all_route("plain", "")
    );
    let filter = router_hcm(
        "          upgrade_configs: [{ upgrade_type: CONNECT }]",
        &routes,
    );
    listener("http", port, &filter)
}

const TERMINATE: &str = ", upgrade_configs: [{ upgrade_type: CONNECT, connect_config: {} }]";

async fn start(connect_upgrade: &str, tunnel: SocketAddr) -> (weft_proxy::Proxy, SocketAddr) {
    let plain = backend("plain").await;
    let port = free_port();
    let p = proxy(&bootstrap(
        &[connect_listener(port, connect_upgrade)],
        &[
            cluster("tunnel", &[tunnel], ""),
            cluster("plain", &[plain], ""),
        ],
    ))
    .await;
    (p, ([127, 0, 0, 1], port).into())
}

/// Sends a CONNECT and returns the stream with the proxy's answer head.
async fn connect(addr: SocketAddr, target: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test]
async fn connect_is_terminated_and_tunnels_to_the_routes_cluster() {
    let tunnel = backend("tunnel").await;
    let (_p, addr) = start(TERMINATE, tunnel).await;
    // The CONNECT authority is only matched; the route's cluster decides where bytes go.
    let (mut s, head) = connect(addr, "anywhere.example:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s.write_all(b"GET /through HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""backend":"tunnel""#), "{out}");
    assert!(out.contains(r#""path":"/through""#), "{out}");
}

#[tokio::test]
async fn curl_proxytunnel_reaches_the_backend() {
    if !curl_or_skip() {
        return;
    }
    let tunnel = backend("tunnel").await;
    let (_p, addr) = start(TERMINATE, tunnel).await;
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-p", "-x"])
        .arg(format!("http://{addr}"))
        .arg("http://svc.example/via-curl")
        .output()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(body.contains(r#""backend":"tunnel""#), "{body}");
    assert!(body.contains(r#""path":"/via-curl""#), "{body}");
}

#[tokio::test]
async fn connect_needs_a_terminating_route() {
    let tunnel = backend("tunnel").await;
    let (p, addr) = start("", tunnel).await;
    let (_s, head) = connect(addr, "x:443").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    // Path routes never take CONNECT, and connect_matcher never takes other methods.
    let r = get(addr, "svc", "/", &[]).await;
    assert_eq!(r.json()["backend"], "plain");
    drop(p);
}

#[tokio::test]
async fn an_unreachable_cluster_answers_503_uf() {
    let dead: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (_p, addr) = start(TERMINATE, dead).await;
    let (_s, head) = connect(addr, "x:443").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
}

#[tokio::test]
async fn connect_without_connect_config_is_rejected() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], 9).into();
    let yaml = bootstrap(
        &[connect_listener(
            port,
            ", upgrade_configs: [{ upgrade_type: CONNECT }]",
        )],
        &[
            cluster("tunnel", &[addr], ""),
            cluster("plain", &[addr], ""),
        ],
    );
    let err = match weft_proxy_config::bootstrap::load_str("test.yaml", &yaml) {
        Err(e) => e.to_string(),
        Ok((b, snap)) => match weft_proxy::Proxy::start(b, snap).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("forwarding CONNECT upstream is not supported"),
        },
    };
    assert!(err.contains("upgrade_configs[0].connect_config"), "{err}");
}
