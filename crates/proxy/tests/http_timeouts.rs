//! The connection manager's stream and connection timeouts end to end: `stream_idle_timeout`
//! (408 before the response, a reset stream after it; a route's `idle_timeout` overrides it;
//! request body frames count as activity), `request_timeout`, and the connection's
//! `idle_timeout` and `max_connection_duration`, with raw TCP clients so the client can stall.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Chunks =
    StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// `/stall`: headers and a first chunk, then nothing for 3 s; `/echo`: the request body's
/// length once all of it arrived; `/slow`: 200 after 1 s.
async fn timing_backend() -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(answer);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

async fn answer(req: Request<Incoming>) -> Result<Response<Chunks>, Infallible> {
    let chunks: Vec<&'static str> = match req.uri().path() {
        "/stall" => vec!["first", "second"],
        "/echo" => {
            let n = req
                .into_body()
                .collect()
                .await
                .map_or(0, |b| b.to_bytes().len());
            return Ok(Response::new(stream_of(
                vec![format!("got {n}")],
                Duration::ZERO,
            )));
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            vec!["slow"]
        }
        _ => vec!["ok"],
    };
    let owned = chunks.into_iter().map(str::to_string).collect();
    Ok(Response::new(stream_of(owned, Duration::from_secs(3))))
}

/// The chunks with `pause` between them.
fn stream_of(chunks: Vec<String>, pause: Duration) -> Chunks {
    let s = futures_util::stream::unfold(
        (chunks.into_iter(), true),
        move |(mut it, first)| async move {
            let next = it.next()?;
            if !first {
                tokio::time::sleep(pause).await;
            }
            Some((Ok(Frame::data(Bytes::from(next))), (it, false)))
        },
    );
    StreamBody::new(Box::pin(s) as futures_util::stream::BoxStream<'static, _>)
}

/// A listener whose connection manager has `extra` fields, an access log of flags, and one
/// route (with `route_extra`) to the timing backend.
async fn timeout_proxy(extra: &str, route_extra: &str) -> (weft_proxy::Proxy, SocketAddr) {
    let b = timing_backend().await;
    let port = free_port();
    let filter = router_hcm(
        extra,
        &catch_all_route("b", &format!(", timeout: 0s {route_extra}")),
    );
    let p = proxy(&bootstrap(
        &[listener("http", port, &filter)],
        &[cluster("b", &[b], "")],
    ))
    .await;
    (p, ([127, 0, 0, 1], port).into())
}

async fn stat(p: &weft_proxy::Proxy, name: &str) -> i64 {
    let body = admin(p, &format!("/stats?filter={name}")).await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Writes `head` then reads until the proxy closes the connection (at most 10 s).
async fn exchange(addr: SocketAddr, head: &[u8]) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    s.write_all(head).await.unwrap();
    (read_to_close(&mut s).await, started.elapsed())
}

async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the proxy closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

const GET_STALL: &[u8] = b"GET /stall HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_quiet_upstream_gets_408_stream_timeout_before_its_response() {
    let (p, addr) = timeout_proxy("          stream_idle_timeout: 0.3s", "").await;
    let (reply, took) = exchange(
        addr,
        b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.ends_with("stream timeout"), "{reply}");
    assert!(
        took < Duration::from_millis(900),
        "fired at 0.3 s: {took:?}"
    );
    assert_eq!(stat(&p, "http.ingress.downstream_rq_idle_timeout").await, 1);
}

#[tokio::test]
async fn a_stalled_response_is_reset_after_its_headers() {
    let (p, addr) = timeout_proxy("          stream_idle_timeout: 0.4s", "").await;
    let (reply, took) = exchange(addr, GET_STALL).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("first"), "{reply}");
    assert!(
        !reply.contains("second"),
        "cut before the late chunk: {reply}"
    );
    assert!(took < Duration::from_secs(2), "reset at 0.4 s: {took:?}");
    assert_eq!(stat(&p, "http.ingress.downstream_rq_idle_timeout").await, 1);
}

#[tokio::test]
async fn a_route_idle_timeout_of_zero_disables_the_stream_timeout() {
    let (p, addr) =
        timeout_proxy("          stream_idle_timeout: 0.3s", ", idle_timeout: 0s").await;
    let (reply, took) = exchange(addr, GET_STALL).await;
    assert!(
        reply.contains("first") && reply.contains("second"),
        "{reply}"
    );
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert_eq!(stat(&p, "http.ingress.downstream_rq_idle_timeout").await, 0);
}

#[tokio::test]
async fn request_body_frames_keep_a_slow_upload_alive() {
    let (_p, addr) = timeout_proxy("          stream_idle_timeout: 0.5s", "").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 6\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    // 6 bytes over 1.2 s, never 0.5 s apart: longer than the timeout, never idle that long.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.write_all(b"x").await.unwrap();
    }
    let reply = read_to_close(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("got 6"), "{reply}");
}

#[tokio::test]
async fn request_timeout_bounds_receiving_the_whole_request() {
    let (p, addr) = timeout_proxy("          request_timeout: 0.4s", "").await;
    let (reply, took) = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhalf",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.ends_with("request timeout"), "{reply}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(stat(&p, "http.ingress.downstream_rq_timeout").await, 1);
}

/// Sends one keep-alive GET and reads its whole (chunked) response; `None` when the proxy
/// had closed the connection before answering.
async fn keep_alive_get(s: &mut TcpStream, path: &str) -> Option<String> {
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"0\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        if n == 0 {
            assert!(
                out.is_empty(),
                "closed mid-response: {}",
                String::from_utf8_lossy(&out)
            );
            return None;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_not_while_a_stream_is_open() {
    let idle = "          common_http_protocol_options: { idle_timeout: 0.3s }";
    let (p, addr) = timeout_proxy(idle, "").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The /slow stream (1 s) outlives the idle timeout: the connection stays.
    let slow = keep_alive_get(&mut s, "/slow").await.unwrap();
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    assert_eq!(stat(&p, "http.ingress.downstream_cx_idle_timeout").await, 0);
    let ended = Instant::now();
    let rest = read_to_close(&mut s).await;
    assert!(rest.is_empty(), "{rest}");
    let took = ended.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "closed after ~0.3 s: {took:?}"
    );
    assert_eq!(stat(&p, "http.ingress.downstream_cx_idle_timeout").await, 1);
}

#[tokio::test]
async fn max_connection_duration_drains_a_busy_connection() {
    let max = "          common_http_protocol_options: { max_connection_duration: 0.5s }";
    let (p, addr) = timeout_proxy(max, "").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut served = 0;
    // Requests every 100 ms: never idle, yet the connection ends soon after 0.5 s.
    loop {
        let Some(reply) = keep_alive_get(&mut s, "/").await else {
            break;
        };
        served += 1;
        if reply.to_ascii_lowercase().contains("connection: close") {
            assert!(read_to_close(&mut s).await.is_empty());
            break;
        }
        assert!(served < 30, "still open after {served} requests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(served >= 3, "served before the drain: {served}");
    assert_eq!(
        stat(&p, "http.ingress.downstream_cx_max_duration_reached").await,
        1
    );
}
