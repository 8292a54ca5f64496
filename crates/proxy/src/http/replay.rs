//! Materialises a request body as hyper's `Incoming`, which is the only body type the upstream
//! pool's senders take (`SendRequest<Incoming>`, in `pool.rs`). A retried, mirrored or partly
//! buffered request needs a body the proxy built itself; it is turned into an `Incoming` by
//! sending it over an in-memory HTTP/1.1 connection (a `tokio::io::duplex` pair) to a local
//! hyper server whose request body is handed back. The exchange ends when the returned guard
//! is dropped. Once the pool accepts a boxed body, this module can go.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// Large enough for a whole buffered (≤ 64 KiB) body plus its head.
const DUPLEX_BUFFER: usize = 128 * 1024;

/// Keeps the in-memory exchange behind a replayed body alive; drop it when the upstream
/// attempt is over.
#[derive(Debug)]
pub struct ReplayGuard {
    _done: oneshot::Sender<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("in-memory body exchange failed: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("in-memory body exchange ended early")]
    Ended,
}

type Slot<T> = Arc<Mutex<Option<T>>>;

fn take<T>(slot: &Slot<T>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Turns `body` (of `len` bytes when known) into an `Incoming` streaming the same data.
pub async fn incoming<B>(body: B, len: Option<u64>) -> Result<(Incoming, ReplayGuard), ReplayError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (client_io, server_io) = tokio::io::duplex(DUPLEX_BUFFER);
    let (body_tx, body_rx) = oneshot::channel::<Incoming>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let body_tx: Slot<_> = Arc::new(Mutex::new(Some(body_tx)));
    let done_rx: Slot<_> = Arc::new(Mutex::new(Some(done_rx)));
    let svc = service_fn(move |req: Request<Incoming>| {
        let (tx, done) = (take(&body_tx), take(&done_rx));
        async move {
            if let Some(tx) = tx {
                let _ = tx.send(req.into_body());
            }
            if let Some(done) = done {
                let _ = done.await;
            }
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }
    });
    tokio::spawn(
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), svc),
    );
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await?;
    tokio::spawn(conn);
    let mut req = Request::post("/").header(http::header::HOST, "replay");
    if let Some(n) = len {
        req = req.header(http::header::CONTENT_LENGTH, n);
    }
    let req = req.body(body).map_err(|_| ReplayError::Ended)?;
    tokio::spawn(async move {
        let _ = sender.send_request(req).await;
    });
    let body = body_rx.await.map_err(|_| ReplayError::Ended)?;
    Ok((body, ReplayGuard { _done: done_tx }))
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn replays_bytes_and_empty_bodies() {
        let data = Bytes::from(vec![7u8; 70_000]);
        let (body, guard) = incoming(Full::new(data.clone()), Some(data.len() as u64))
            .await
            .expect("replay");
        let got = body.collect().await.expect("collect").to_bytes();
        assert_eq!(got, data);
        drop(guard);
        let (body, _guard) = incoming(Empty::<Bytes>::new(), Some(0))
            .await
            .expect("replay");
        assert!(body.collect().await.expect("collect").to_bytes().is_empty());
    }
}
