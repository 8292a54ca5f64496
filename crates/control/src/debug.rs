//! The debug and metrics HTTP server (istiod's port 15014): `/debug/syncz`, `/debug/configz`,
//! `/debug/registryz`, `/metrics`, `/ready`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tracing::debug;

use crate::metrics::Metrics;
use crate::status::SyncStatus;

/// A JSON view computed on each request.
pub type JsonView = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What the debug server shows.
#[derive(Clone)]
pub struct DebugState {
    pub status: Arc<SyncStatus>,
    pub metrics: Arc<Metrics>,
    /// Accepted and rejected configuration.
    pub configz: JsonView,
    /// The service registry.
    pub registryz: JsonView,
}

impl std::fmt::Debug for DebugState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugState").finish_non_exhaustive()
    }
}

/// Serves the debug endpoints on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: DebugState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &req)) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, error = %e, "debug connection ended");
            }
        });
    }
}

/// Answers one request; pure apart from reading `state`.
pub fn handle(state: &DebugState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    route(state, req.method(), req.uri().path())
}

fn route(state: &DebugState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match path {
        "/debug/syncz" => json(&serde_json::to_value(state.status.snapshot()).unwrap_or_default()),
        "/debug/configz" => json(&(state.configz)()),
        "/debug/registryz" => json(&(state.registryz)()),
        "/metrics" | "/stats/prometheus" => {
            let mut r = text(StatusCode::OK, state.metrics.encode());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        "/ready" => text(StatusCode::OK, "ready\n".into()),
        "/debug" | "/debug/" => text(
            StatusCode::OK,
            "/debug/syncz\n/debug/configz\n/debug/registryz\n/metrics\n/ready\n".into(),
        ),
        _ => text(StatusCode::NOT_FOUND, format!("no such endpoint: {path}\n")),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_default();
    body.push('\n');
    let mut r = text(StatusCode::OK, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn state() -> DebugState {
        DebugState {
            status: SyncStatus::new(),
            metrics: Arc::new(Metrics::new()),
            configz: Arc::new(|| serde_json::json!({"accepted": []})),
            registryz: Arc::new(|| serde_json::json!({"services": []})),
        }
    }

    async fn body(r: Response<Full<Bytes>>) -> String {
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf8")
    }

    #[tokio::test]
    async fn routes() {
        let s = state();
        let r = route(&s, &Method::GET, "/debug/configz");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).await.contains("accepted"));
        let r = route(&s, &Method::GET, "/metrics");
        assert!(body(r).await.contains("# TYPE pilot_xds gauge"));
        assert_eq!(
            route(&s, &Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            route(&s, &Method::POST, "/debug/syncz").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
