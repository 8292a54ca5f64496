//! Test helpers: loopback backends, an in-process proxy from YAML, small HTTP clients.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use weft_proxy::Proxy;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A backend answering every request with JSON describing it; `/slow` waits 2s, `/status/N`
/// answers N.
pub async fn backend(name: &'static str) -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| answer(name, req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

async fn answer(name: &str, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200u16);
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let version = format!("{:?}", req.version());
    let body =
        serde_json::json!({"backend": name, "path": path, "headers": headers, "version": version});
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("x-backend", name.parse().unwrap());
    Ok(resp)
}

pub async fn proxy(yaml: &str) -> Proxy {
    let (b, snap) =
        weft_proxy_config::bootstrap::load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    Proxy::start(b, snap)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder().uri(path).header("host", host);
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

pub fn listener(name: &str, port: u16, filter: &str) -> String {
    format!(
        r#"
  - name: {name}
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: f
        typed_config:
{filter}"#
    )
}

/// An HTTP connection manager (`stat_prefix: ingress`, the router filter) with `extra` manager
/// fields (YAML lines indented 10 spaces) and one virtual host `*` whose `routes` are given as
/// YAML list items indented 14 spaces.
#[allow(dead_code)]
pub fn router_hcm(extra: &str, routes: &str) -> String {
    format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
{extra}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
{routes}
"#
    )
}

/// One route item for [`router_hcm`]: every path to `cluster`, with `route_extra` fields.
#[allow(dead_code)]
pub fn catch_all_route(cluster: &str, route_extra: &str) -> String {
    format!(
        r#"              - match: {{ prefix: "/" }}
                route: {{ cluster: {cluster} {route_extra} }}"#
    )
}

pub fn cluster(name: &str, addrs: &[SocketAddr], extra: &str) -> String {
    let eps: String = addrs
        .iter()
        .map(|a| {
            format!(
                "\n        - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}",
                a.ip(),
                a.port()
            )
        })
        .collect();
    format!(
        r#"
  - name: {name}
    type: STATIC
    connect_timeout: 0.5s
{extra}
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:{eps}
"#
    )
}

pub fn bootstrap(listeners: &[String], clusters: &[String]) -> String {
    let admin = free_port();
    format!(
        "admin:\n  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}\nstatic_resources:\n  listeners:{}\n  clusters:{}\n",
        listeners.concat(),
        if clusters.is_empty() {
            " []".to_string()
        } else {
            clusters.concat()
        }
    )
}

pub fn has_curl() -> bool {
    std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether curl can be used; without it prints `SKIP`, or fails under
/// WEFT_REQUIRE_ALL_TESTS=1 (CI installs curl).
#[allow(dead_code)]
pub fn curl_or_skip() -> bool {
    if has_curl() {
        return true;
    }
    assert!(
        std::env::var("WEFT_REQUIRE_ALL_TESTS").as_deref() != Ok("1"),
        "WEFT_REQUIRE_ALL_TESTS=1 but curl is not installed"
    );
    eprintln!("SKIP: curl not installed");
    false
}

/// Reads an admin endpoint.
pub async fn admin(p: &Proxy, path: &str) -> Reply {
    get(p.admin_addr(), "admin", path, &[]).await
}

/// What a [`scripted_backend`] saw: when each request arrived, in order.
#[derive(Debug, Default)]
pub struct Hits(std::sync::Mutex<Vec<std::time::Instant>>);

impl Hits {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn times(&self) -> Vec<std::time::Instant> {
        self.0.lock().unwrap().clone()
    }
}

/// A backend whose status for its n-th request (0-based) is `status(n)`, answered after
/// `delay`; every arrival is recorded.
pub async fn scripted_backend(
    status: fn(usize) -> u16,
    delay: Duration,
) -> (SocketAddr, std::sync::Arc<Hits>) {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let hits = std::sync::Arc::new(Hits::default());
    let seen = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let n = {
                            let mut times = seen.0.lock().unwrap();
                            times.push(std::time::Instant::now());
                            times.len() - 1
                        };
                        tokio::time::sleep(delay).await;
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"scripted")));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status(n)).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

/// Sends `total` GETs of `path`, `concurrency` at a time; returns their statuses.
pub async fn burst(addr: SocketAddr, path: &str, total: usize, concurrency: usize) -> Vec<u16> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, path) = (next.clone(), path.to_string());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    statuses.push(get(addr, "x", &path, &[]).await.status);
                }
                statuses
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all
}

/// One counter or gauge from the admin `/stats` text (`None` when absent).
pub async fn admin_stat(p: &Proxy, name: &str) -> Option<i64> {
    let body = admin(p, &format!("/stats?filter={name}")).await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
}
