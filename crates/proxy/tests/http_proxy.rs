//! HTTP/1.1 and h2c proxying end to end on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;

fn hcm(port: u16, routes: &str, extra: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
{extra}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
{routes}
"#
    );
    listener("http", port, &filter)
}

const ROUTES: &str = r#"            response_headers_to_add:
            - header: { key: x-global, value: "1" }
            virtual_hosts:
            - name: api
              domains: ["api.example.com", "api.example.com:*"]
              request_headers_to_add:
              - header: { key: x-vhost, value: api }
              routes:
              - name: canary
                match: { prefix: "/", headers: [{ name: x-canary, exact_match: "yes" }] }
                route: { cluster: b }
              - name: rewrite
                match: { prefix: "/old/" }
                route: { cluster: a, prefix_rewrite: "/new/", host_rewrite_literal: rewritten.local }
              - name: weighted
                match: { path: "/weighted" }
                route:
                  weighted_clusters:
                    clusters:
                    - { name: a, weight: 0 }
                    - { name: b, weight: 10, request_headers_to_add: [{ header: { key: x-wc, value: b } }] }
              - name: slow
                match: { path: "/slow" }
                route: { cluster: a, timeout: 0.2s }
              - name: dead
                match: { prefix: "/dead" }
                route: { cluster: dead }
              - name: empty
                match: { prefix: "/empty" }
                route: { cluster: empty }
              - name: unknown
                match: { prefix: "/unknown" }
                route: { cluster: nope }
              - name: redirect
                match: { prefix: "/go" }
                redirect: { https_redirect: true, response_code: FOUND }
              - name: direct
                match: { path: "/direct", query_parameters: [{ name: x, string_match: { exact: "1" } }] }
                direct_response: { status: 418, body: { inline_string: teapot } }
              - name: default
                match: { prefix: "/" }
                route: { cluster: a }
                request_headers_to_remove: [x-secret]
                response_headers_to_add:
                - header: { key: x-route, value: default }
                response_headers_to_remove: [x-backend-remove]
            - name: wild
              domains: ["*.wild.test"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: b }
"#;

async fn setup() -> (weft_proxy::Proxy, SocketAddr) {
    let (a, b) = (backend("a").await, backend("b").await);
    let empty_ep: &[SocketAddr] = &[];
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = free_port();
    let yaml = bootstrap(
        &[hcm(port, ROUTES, "          use_remote_address: true")],
        &[
            cluster("a", &[a], ""),
            cluster("b", &[b], ""),
            cluster("dead", &[dead], ""),
            cluster("empty", empty_ep, ""),
        ],
    )
    .replace("      - lb_endpoints:\n\n", "      - lb_endpoints: []\n\n");
    let p = proxy(&yaml).await;
    (p, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test]
async fn routes_by_domain_path_and_headers() {
    let (p, addr) = setup().await;
    let r = get(addr, "api.example.com", "/hello?q=1", &[("x-secret", "s")]).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["backend"], "a");
    assert_eq!(j["path"], "/hello?q=1");
    assert_eq!(j["headers"]["x-vhost"], "api");
    assert!(j["headers"].get("x-secret").is_none(), "removed: {j}");
    assert_eq!(j["headers"]["x-forwarded-proto"], "http");
    assert_eq!(j["headers"]["x-forwarded-for"], "127.0.0.1");
    assert!(
        j["headers"]["x-request-id"]
            .as_str()
            .is_some_and(|s| s.len() == 36),
        "{j}"
    );
    assert_eq!(r.header("x-route"), Some("default"));
    assert_eq!(r.header("x-global"), Some("1"));
    assert_eq!(r.header("server"), Some("envoy"));
    assert!(r.header("x-envoy-upstream-service-time").is_some());

    let r = get(addr, "api.example.com:8080", "/", &[("x-canary", "yes")]).await;
    assert_eq!(r.json()["backend"], "b");
    let r = get(addr, "x.wild.test", "/", &[]).await;
    assert_eq!(r.json()["backend"], "b");
    let r = get(addr, "other.test", "/", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("http.ingress.no_route: 1"), "{stats}");
    assert!(stats.contains("cluster.a.upstream_rq_2xx: 1"), "{stats}");
    // The manager uses the remote address: the caller (loopback, internal) keeps the request
    // id it sent, and x-forwarded-proto is what the proxy saw.
    let sent = [
        ("x-request-id", "caller-id-1"),
        ("x-forwarded-proto", "https"),
    ];
    let j = get(addr, "api.example.com", "/", &sent).await.json();
    assert_eq!(j["headers"]["x-request-id"], "caller-id-1");
    assert_eq!(j["headers"]["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn rewrites_weighted_redirect_direct() {
    let (_p, addr) = setup().await;
    let r = get(addr, "api.example.com", "/old/x", &[]).await;
    let j = r.json();
    assert_eq!(j["path"], "/new/x");
    assert_eq!(j["headers"]["host"], "rewritten.local");
    assert_eq!(j["headers"]["x-envoy-original-path"], "/old/x");
    let r = get(addr, "api.example.com", "/weighted", &[]).await;
    assert_eq!(r.json()["backend"], "b");
    assert_eq!(r.json()["headers"]["x-wc"], "b");
    let r = get(addr, "api.example.com", "/go/there?a=1", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://api.example.com/go/there?a=1")
    );
    let r = get(addr, "api.example.com", "/direct?x=1", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (418, "teapot"));
    let r = get(addr, "api.example.com", "/direct?x=2", &[]).await;
    assert_eq!(r.json()["backend"], "a", "query mismatch falls through");
}

#[tokio::test]
async fn upstream_failures_have_envoy_statuses() {
    let (p, addr) = setup().await;
    let r = get(addr, "api.example.com", "/dead", &[]).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("connection failure"), "{}", r.body);
    let r = get(addr, "api.example.com", "/empty", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (503, "no healthy upstream"));
    let r = get(addr, "api.example.com", "/unknown", &[]).await;
    assert_eq!(r.status, 503);
    let r = get(addr, "api.example.com", "/slow", &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (504, "upstream request timeout")
    );
    let stats = admin(&p, "/stats").await.body;
    assert!(
        stats.contains("cluster.a.upstream_rq_timeout: 1"),
        "{stats}"
    );
    assert!(
        stats.contains("cluster.dead.upstream_cx_connect_fail: 1"),
        "{stats}"
    );
    assert!(
        stats.contains("cluster.empty.upstream_cx_none_healthy: 1"),
        "{stats}"
    );
    assert!(stats.contains("http.ingress.no_cluster: 1"), "{stats}");
}

#[tokio::test]
async fn keep_alive_reuses_upstream_connection() {
    let (p, addr) = setup().await;
    for _ in 0..5 {
        assert_eq!(get(addr, "api.example.com", "/k", &[]).await.status, 200);
    }
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("cluster.a.upstream_rq_total: 5"), "{stats}");
    assert!(stats.contains("cluster.a.upstream_cx_total: 1"), "{stats}");
}

#[tokio::test]
async fn h2c_downstream_with_curl() {
    if !curl_or_skip() {
        return;
    }
    let (_p, addr) = setup().await;
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-H",
            "host: api.example.com",
            "-D",
            "-",
        ])
        .arg(format!("http://{addr}/h2"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("\"backend\":\"a\""), "{text}");
    assert!(
        text.contains("\"version\":\"HTTP/1.1\""),
        "upstream stays HTTP/1.1: {text}"
    );
}
