//! HTTP/2 upstreams and gRPC-style trailers through the proxy, plus the access log.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

type GrpcBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// An h2c-only server that answers like a gRPC service: a data frame, then trailers.
async fn grpc_backend() -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let version = format!("{:?}", req.version());
                    let path = req.uri().path().to_string();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let mut trailers = hyper::HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    trailers.insert(
                        "grpc-message",
                        format!("{version} {path} {}", body.len()).parse().unwrap(),
                    );
                    let frames = vec![
                        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi"))),
                        Ok(Frame::trailers(trailers)),
                    ];
                    let mut resp: Response<GrpcBody> =
                        Response::new(StreamBody::new(futures_util::stream::iter(frames)));
                    resp.headers_mut()
                        .insert("content-type", "application/grpc".parse().unwrap());
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

fn hcm(port: u16, cluster: &str, log: &str) -> String {
    let filter = format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: grpc
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/nothing-here" }}
                direct_response: {{ status: 200 }}
              - match: {{ prefix: "/retry.Svc/", grpc: {{}} }}
                route:
                  cluster: {cluster}
                  retry_policy: {{ retry_on: "unavailable,5xx", num_retries: 2 }}
              - match: {{ prefix: "/", grpc: {{}} }}
                route: {{ cluster: {cluster} }}
"#
    );
    listener("grpc", port, &filter)
}

const H2_EXPLICIT: &str = r#"    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }"#;

async fn grpc_call(addr: SocketAddr) -> (u16, Bytes, Option<hyper::HeaderMap>) {
    grpc_call_to(addr, "/pkg.Svc/Method").await
}

async fn grpc_call_to(addr: SocketAddr, path: &str) -> (u16, Bytes, Option<hyper::HeaderMap>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\x03abc")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    (status, collected.to_bytes(), trailers)
}

#[tokio::test]
async fn grpc_over_h2_upstream_keeps_trailers_and_logs() {
    let g = grpc_backend().await;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("weft-access-{port}.log"));
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[hcm(port, "g", &log.display().to_string())],
        &[cluster("g", &[g], H2_EXPLICIT)],
    );
    let p = proxy(&yaml).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (status, body, trailers) = grpc_call(addr).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"\0\0\0\0\x02hi");
    let trailers = trailers.expect("trailers passed through");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "HTTP/2.0 /pkg.Svc/Method 8");
    // A second call shares the one upstream HTTP/2 connection.
    let _ = grpc_call(addr).await;
    let stats = admin(&p, "/stats").await.body;
    assert!(stats.contains("cluster.g.upstream_cx_total: 1"), "{stats}");
    assert!(stats.contains("cluster.g.upstream_rq_total: 2"), "{stats}");
    // Access log, Istio's default format.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = text.lines().next().unwrap_or_default();
    assert!(
        line.contains("\"POST /pkg.Svc/Method HTTP/2.0\" 200 - via_upstream"),
        "{line}"
    );
    assert!(line.contains(&format!("\"{g}\" g ")), "{line}");
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn http2_protocol_options_on_cluster_selects_h2_and_logs_flags() {
    let g = grpc_backend().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = free_port();
    let log = std::env::temp_dir().join(format!("weft-access-{port}.log"));
    let _ = std::fs::remove_file(&log);
    let yaml = bootstrap(
        &[hcm(port, "g", &log.display().to_string())],
        &[
            cluster("g", &[g], "    http2_protocol_options: {}"),
            cluster("dead", &[dead], ""),
        ],
    );
    let _p = proxy(&yaml).await;
    let (status, _, trailers) = grpc_call(SocketAddr::from(([127, 0, 0, 1], port))).await;
    assert_eq!(status, 200);
    assert_eq!(trailers.expect("trailers")["grpc-status"], "0");
    // HTTP/1.1 request to a route-less path: 404 NR in the log.
    let r = get(SocketAddr::from(([127, 0, 0, 1], port)), "x", "/plain", &[]).await;
    assert_eq!(r.status, 404);
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(" 404 NR route_not_found ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text.contains("\"GET /plain HTTP/1.1\" 404 NR route_not_found "),
        "{text}"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn grpc_with_a_retry_policy_keeps_body_and_trailers() {
    let g = grpc_backend().await;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("weft-access-{port}.log"));
    let yaml = bootstrap(
        &[hcm(port, "g", &log.display().to_string())],
        &[cluster("g", &[g], H2_EXPLICIT)],
    );
    let _p = proxy(&yaml).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (status, body, trailers) = grpc_call_to(addr, "/retry.Svc/Method").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"\0\0\0\0\x02hi");
    let trailers = trailers.expect("trailers passed through");
    // The upstream got the whole 8-byte request body over HTTP/2.
    assert_eq!(trailers["grpc-message"], "HTTP/2.0 /retry.Svc/Method 8");
    let _ = std::fs::remove_file(&log);
}
