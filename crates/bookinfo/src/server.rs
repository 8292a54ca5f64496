//! A small HTTP/1.1 server: accepts connections, reads each request whole (bodies are tiny
//! here) and hands it to a [`Handler`]; plus response builders.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::Error;

/// Requests with a larger body are refused.
const MAX_BODY: usize = 64 * 1024;

/// A request, read whole.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub type Response = http::Response<Full<Bytes>>;

/// One Bookinfo service.
pub trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, req: Request) -> impl Future<Output = Response> + Send;
}

/// Binds `address:port` (port 0 picks a free one).
pub async fn bind(address: &str, port: u16) -> Result<TcpListener, Error> {
    TcpListener::bind((address, port))
        .await
        .map_err(|source| Error::Bind {
            address: format!("{address}:{port}"),
            source,
        })
}

/// Serves `handler` on `listener` until the task is dropped.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(dispatch(handler, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection: {e}");
            }
        });
    }
}

/// Binds and serves in a background task; returns the bound address (for tests and `main`).
pub async fn spawn<H: Handler>(address: &str, port: u16, handler: H) -> Result<SocketAddr, Error> {
    let listener = bind(address, port).await?;
    let local = listener.local_addr().map_err(|source| Error::Bind {
        address: format!("{address}:{port}"),
        source,
    })?;
    tokio::spawn(serve(listener, Arc::new(handler)));
    Ok(local)
}

async fn dispatch<H: Handler>(handler: Arc<H>, req: http::Request<Incoming>) -> Response {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts.headers,
        body,
    };
    let (method, path) = (request.method.clone(), request.path.clone());
    let response = handler.handle(request).await;
    tracing::info!("{method} {path} {}", response.status().as_u16());
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    with_type(status, "application/json", Bytes::from(body))
}

/// An HTML response.
pub fn html(status: StatusCode, page: String) -> Response {
    with_type(status, "text/html; charset=utf-8", Bytes::from(page))
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    with_type(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

/// A 302 to `location`, optionally setting a cookie.
pub fn redirect(location: &'static str, cookie: Option<String>) -> Response {
    let mut response = text(StatusCode::FOUND, "");
    let headers = response.headers_mut();
    headers.insert(LOCATION, http::HeaderValue::from_static(location));
    if let Some(value) = cookie.and_then(|c| http::HeaderValue::from_str(&c).ok()) {
        headers.insert(SET_COOKIE, value);
    }
    response
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}
