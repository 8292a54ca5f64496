//! Path normalization end to end, with a raw client so paths arrive exactly as written: a
//! route for `/admin` catches `/public/../admin`, `/%61dmin` and `//admin`; the upstream sees
//! the normalized path; broken escapes get 400; escaped slashes follow the configured action.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(escaped: &str) -> (weft_proxy::Proxy, SocketAddr) {
    let b = backend("app").await;
    let port = free_port();
    let extra = format!(
        "          normalize_path: true\n          merge_slashes: true\n          path_with_escaped_slashes_action: {escaped}"
    );
    let routes = format!(
        r#"              - match: {{ prefix: "/admin" }}
                direct_response: {{ status: 403, body: {{ inline_string: "admin is closed" }} }}
{}"#,
        catch_all_route("app", "")
    );
    let filter = router_hcm(&extra, &routes);
    let p = proxy(&bootstrap(
        &[listener("http", port, &filter)],
        &[cluster("app", &[b], "")],
    ))
    .await;
    (p, ([127, 0, 0, 1], port).into())
}

/// One request with `path` exactly as given; the whole answer.
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn disguised_paths_reach_the_route_for_what_they_mean() {
    let (_p, addr) = start("KEEP_UNCHANGED").await;
    for path in [
        "/admin",
        "/public/../admin",
        "/%61dmin/x",
        "//admin",
        "/./admin",
        "/a\\..\\admin",
    ] {
        let reply = raw_get(addr, path).await;
        assert!(reply.starts_with("HTTP/1.1 403"), "{path}: {reply}");
        assert!(reply.ends_with("admin is closed"), "{path}: {reply}");
    }
    let reply = raw_get(addr, "/x/./y/../z//w?q=/../keep").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.contains(r#""path":"/x/z/w?q=/../keep""#),
        "the upstream sees the normalized path, query untouched: {reply}"
    );
    let reply = raw_get(addr, "/bad%zz").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let reply = raw_get(addr, "/a%2Fb").await;
    assert!(reply.contains(r#""path":"/a%2Fb""#), "kept: {reply}");
}

#[tokio::test]
async fn escaped_slashes_are_rejected_forwarded_or_redirected() {
    let (_p1, reject) = start("REJECT_REQUEST").await;
    let reply = raw_get(reject, "/ok%2F..%2Fadmin").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let (_p2, forward) = start("UNESCAPE_AND_FORWARD").await;
    let reply = raw_get(forward, "/ok%2F..%2Fadmin").await;
    assert!(
        reply.starts_with("HTTP/1.1 403"),
        "unescaped, then normalized: {reply}"
    );
    let (_p3, redirect) = start("UNESCAPE_AND_REDIRECT").await;
    let reply = raw_get(redirect, "/a%2Fb?x=1").await;
    assert!(reply.starts_with("HTTP/1.1 307"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("location: /a/b?x=1"),
        "{reply}"
    );
}
