//! RBAC end to end on loopback: a real proxy from a bootstrap in front of a real upstream,
//! HTTP requests allowed and denied by path, method, header and source address, DENY before
//! ALLOW, a per-route override, and a TCP listener whose network RBAC closes denied
//! connections before anything is opened upstream.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const RBAC: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const NET_RBAC: &str = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

fn log_path(tag: &str, port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("weft-rbac-{tag}-{port}.log"))
}

/// Waits (bounded) until the access log has a line containing `needle`.
async fn log_line(path: &std::path::Path, needle: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no log line with {needle:?} in {}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

/// `extra`: more connection manager fields (indented 10 spaces).
fn http_listener(name: &str, port: u16, log: &std::path::Path, extra: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
{extra}
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" }} }}
          http_filters:
          - name: rbac-deny
            typed_config:
              "@type": {RBAC}
              rules:
                action: DENY
                policies:
                  deny-delete:
                    permissions: [{{ header: {{ name: ":method", string_match: {{ exact: DELETE }} }} }}]
                    principals: [{{ any: true }}]
                  deny-source:
                    permissions: [{{ any: true }}]
                    principals: [{{ direct_remote_ip: {{ address_prefix: 127.0.0.3, prefix_len: 32 }} }}]
                  deny-forwarded:
                    permissions: [{{ any: true }}]
                    principals: [{{ remote_ip: {{ address_prefix: 198.51.100.0, prefix_len: 24 }} }}]
          - name: rbac-allow
            typed_config:
              "@type": {RBAC}
              rules:
                action: ALLOW
                policies:
                  public-read:
                    permissions:
                    - and_rules:
                        rules:
                        - url_path: {{ path: {{ prefix: /public }} }}
                        - header: {{ name: ":method", string_match: {{ exact: GET }} }}
                    principals: [{{ any: true }}]
                  blue-team:
                    permissions: [{{ any: true }}]
                    principals: [{{ header: {{ name: x-team, string_match: {{ exact: blue }} }} }}]
              shadow_rules:
                action: DENY
                policies:
                  shadow-all:
                    permissions: [{{ any: true }}]
                    principals: [{{ any: true }}]
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: /open }}
                route: {{ cluster: app }}
                typed_per_filter_config:
                  rbac-allow: {{ "@type": {PER_ROUTE} }}
              - match: {{ prefix: /override }}
                route: {{ cluster: app }}
                typed_per_filter_config:
                  rbac-allow:
                    "@type": {PER_ROUTE}
                    rbac:
                      rules:
                        policies:
                          only-ok:
                            permissions: [{{ url_path: {{ path: {{ exact: /override/ok }} }} }}]
                            principals: [{{ any: true }}]
              - match: {{ prefix: / }}
                route: {{ cluster: app }}
"#,
        log = log.display()
    );
    listener(name, port, &filter)
}

/// One request from `source` (a loopback address) on a fresh connection.
async fn request_from(
    source: &str,
    proxy: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let stream = sock.connect(proxy).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "app.example");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn assert_denied(r: &Reply, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.body);
    assert_eq!(r.body, "RBAC: access denied", "{what}");
    assert!(
        r.header("x-backend").is_none(),
        "{what}: reached the upstream"
    );
}

fn assert_upstream(r: &Reply, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.body);
    assert_eq!(r.header("x-backend"), Some("app"), "{what}");
}

#[tokio::test]
async fn http_rbac_allows_and_denies_requests() {
    let app = backend("app").await;
    let port = free_port();
    let log = log_path("http", port);
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[http_listener("ingress", port, &log, "")],
        &[cluster("app", &[app], "")],
    );
    let p = proxy(&yaml).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let go = |m: &'static str, path: &'static str, h: &'static [(&'static str, &'static str)]| {
        request_from("127.0.0.1", addr, m, path, h)
    };

    assert_upstream(
        &go("GET", "/public/a", &[]).await,
        "path and method allowed",
    );
    let r = go("GET", "/private", &[]).await;
    assert_denied(&r, "no ALLOW policy matches");
    let line = log_line(&log, "GET /private 403").await;
    assert!(
        line.ends_with("403 - rbac_access_denied_matched_policy[none]"),
        "{line}"
    );
    assert_denied(&go("POST", "/public/a", &[]).await, "method not allowed");
    assert_upstream(
        &go("POST", "/private", &[("x-team", "blue")]).await,
        "header allowed",
    );
    let r = go("DELETE", "/private", &[("x-team", "blue")]).await;
    assert_denied(&r, "DENY runs before ALLOW");
    let line = log_line(&log, "DELETE /private 403").await;
    assert!(
        line.ends_with("rbac_access_denied_matched_policy[deny-delete]"),
        "{line}"
    );
    let from_denied = request_from("127.0.0.3", addr, "GET", "/public/a", &[]).await;
    assert_denied(&from_denied, "source address denied");
    let forged = go("GET", "/public/b", &[("x-forwarded-for", "198.51.100.9")]).await;
    assert_upstream(
        &forged,
        "x-forwarded-for is not trusted without trusted hops",
    );

    assert_upstream(
        &go("PUT", "/open/x", &[]).await,
        "ALLOW disabled on the route",
    );
    assert_denied(&go("DELETE", "/open/x", &[]).await, "DENY still on");
    assert_upstream(&go("GET", "/override/ok", &[]).await, "route rules allow");
    assert_denied(
        &go("GET", "/override/no", &[("x-team", "blue")]).await,
        "route rules replace the filter's",
    );

    let stats = admin(&p, "/stats").await.body;
    // Both filters count into the same stats: rbac-deny allowed 8 and denied 3; rbac-allow
    // (skipped on /open, without shadow rules on /override) allowed 4, denied 3, shadow 5.
    assert!(stats.contains("http.ingress.rbac.denied: 6\n"), "{stats}");
    assert!(stats.contains("http.ingress.rbac.allowed: 12\n"), "{stats}");
    assert!(
        stats.contains("http.ingress.rbac.shadow_denied: 5\n"),
        "{stats}"
    );
    let prom = admin(&p, "/stats/prometheus").await.body;
    assert!(
        prom.contains("envoy_http_rbac_denied_total{envoy_http_conn_manager_prefix=\"ingress\"} 6"),
        "{prom}"
    );
}

#[tokio::test]
async fn remote_ip_comes_from_trusted_forwarded_for_hops_only() {
    let app = backend("app").await;
    let port = free_port();
    let log = log_path("xff", port);
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[http_listener(
            "edge",
            port,
            &log,
            "          xff_num_trusted_hops: 1",
        )],
        &[cluster("app", &[app], "")],
    );
    let _p = proxy(&yaml).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // One trusted proxy in front: the client is the second entry from the right.
    let xff = [("x-forwarded-for", "198.51.100.9, 10.0.0.1")];
    let r = request_from("127.0.0.1", addr, "GET", "/public/a", &xff).await;
    assert_denied(&r, "client behind a trusted hop is denied");
    let line = log_line(&log, "GET /public/a 403").await;
    assert!(line.ends_with("[deny-forwarded]"), "{line}");
    let xff = [("x-forwarded-for", "10.0.0.1, 198.51.100.9")];
    let r = request_from("127.0.0.1", addr, "GET", "/public/a", &xff).await;
    assert_upstream(&r, "the untrusted last hop is not the client");
}

/// An echo server that counts the connections it accepted.
async fn counting_echo() -> (SocketAddr, Arc<AtomicUsize>) {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = sock.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
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
    (addr, accepted)
}

fn tcp_listener(port: u16, log: &std::path::Path) -> String {
    format!(
        r#"
  - name: tcp
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.rbac
        typed_config:
          "@type": {NET_RBAC}
          stat_prefix: tcp.
          rules:
            action: DENY
            policies:
              deny-source:
                permissions: [{{ any: true }}]
                principals: [{{ direct_remote_ip: {{ address_prefix: 127.0.0.3, prefix_len: 32 }} }}]
      - name: envoy.filters.network.rbac
        typed_config:
          "@type": {NET_RBAC}
          stat_prefix: tcp.
          rules:
            action: ALLOW
            policies:
              this-port:
                permissions: [{{ destination_port: {port} }}]
                principals: [{{ any: true }}]
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: echo
          cluster: echo
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %RESPONSE_FLAGS% %CONNECTION_TERMINATION_DETAILS%\n" }} }}
"#,
        log = log.display()
    )
}

/// Sends `msg` from `source` and returns what came back before the connection closed.
async fn exchange_from(source: &str, port: u16, msg: &[u8]) -> Vec<u8> {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut s: TcpStream = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let _ = s.write_all(msg).await;
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the proxy answered or closed within 5s")
        .unwrap_or(0);
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn network_rbac_closes_denied_connections_before_upstream() {
    let (echo, accepted) = counting_echo().await;
    let port = free_port();
    let log = log_path("tcp", port);
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(&[tcp_listener(port, &log)], &[cluster("echo", &[echo], "")]);
    let p = proxy(&yaml).await;

    assert_eq!(exchange_from("127.0.0.1", port, b"hello").await, b"hello");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let denied = exchange_from("127.0.0.3", port, b"let me in").await;
    assert!(
        denied.is_empty(),
        "a denied connection is closed: {denied:?}"
    );
    let line = log_line(&log, "127.0.0.3").await;
    assert_eq!(
        line,
        "127.0.0.3 - rbac_access_denied_matched_policy[deny-source]"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "no upstream connection for a denied one"
    );
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("tcp.rbac.denied: 1\n"), "{stats}");
    // The allowed connection passed both filters.
    assert!(stats.contains("tcp.rbac.allowed: 2\n"), "{stats}");
}
