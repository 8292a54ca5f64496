//! A request body that streams to the current upstream attempt while keeping a copy of what
//! went by (up to `MAX_BUFFERED_BODY`), so that a retry can start over with the same bytes and
//! then keep streaming the rest. Forwarding does not wait for the whole body, so streaming
//! requests (gRPC client or bidirectional streams) are never held back by the retry buffer.
//!
//! Only the handle of the latest attempt reads the downstream body: starting a new attempt
//! ends the previous handle, so no data can go to an abandoned attempt.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::Notify;

/// Requests whose body goes beyond this are not retried or mirrored.
pub const MAX_BUFFERED_BODY: usize = 64 * 1024;

/// The downstream body being teed (boxed so that tests can tee a body of their own).
type Source = UnsyncBoxBody<Bytes, hyper::Error>;

#[derive(Debug)]
struct State {
    source: Source,
    chunks: Vec<Bytes>,
    total: usize,
    /// More than `MAX_BUFFERED_BODY` went by: the copy is incomplete.
    overflow: bool,
    done: bool,
    failed: bool,
    generation: u64,
}

#[derive(Debug, Clone)]
pub struct Tee {
    state: Arc<Mutex<State>>,
    finished: Arc<Notify>,
    pub content_length: Option<u64>,
}

/// The body of one attempt: the copy so far, then the rest from downstream.
#[derive(Debug)]
pub struct TeeBody {
    tee: Tee,
    generation: u64,
    cursor: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("downstream request body failed")]
pub struct DownstreamBodyError;

impl Tee {
    pub fn new<B>(source: B, content_length: Option<u64>) -> Self
    where
        B: Body<Data = Bytes, Error = hyper::Error> + Send + 'static,
    {
        let state = State {
            source: source.boxed_unsync(),
            chunks: Vec::new(),
            total: 0,
            overflow: false,
            done: false,
            failed: false,
            generation: 0,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            finished: Arc::new(Notify::new()),
            content_length,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a new attempt can still get the whole body.
    pub fn replayable(&self) -> bool {
        let s = self.lock();
        !s.overflow && !s.failed
    }

    /// A body for a new attempt; earlier handles end.
    pub fn attempt_body(&self) -> TeeBody {
        let mut s = self.lock();
        s.generation += 1;
        TeeBody {
            tee: self.clone(),
            generation: s.generation,
            cursor: 0,
        }
    }

    /// The whole body once downstream has sent it, unless it is too large, failed, or does
    /// not finish within `limit` (nobody else may be reading it).
    pub async fn complete(&self, limit: Duration) -> Option<Bytes> {
        let wait = async {
            loop {
                let notified = self.finished.notified();
                {
                    let s = self.lock();
                    if s.overflow || s.failed {
                        return None;
                    }
                    if s.done {
                        let mut out = BytesMut::with_capacity(s.total);
                        s.chunks.iter().for_each(|c| out.extend_from_slice(c));
                        return Some(out.freeze());
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.ok().flatten()
    }
}

impl State {
    fn keep(&mut self, data: &Bytes) {
        if self.overflow {
            return;
        }
        self.total += data.len();
        if self.total > MAX_BUFFERED_BODY {
            self.overflow = true;
            self.chunks = Vec::new();
        } else {
            self.chunks.push(data.clone());
        }
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = DownstreamBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, DownstreamBodyError>>> {
        let this = &mut *self;
        let mut s = this.tee.lock();
        if s.generation != this.generation {
            return Poll::Ready(None);
        }
        if this.cursor < s.chunks.len() {
            this.cursor += 1;
            return Poll::Ready(Some(Ok(Frame::data(s.chunks[this.cursor - 1].clone()))));
        }
        if s.done {
            return Poll::Ready(None);
        }
        if s.failed {
            return Poll::Ready(Some(Err(DownstreamBodyError)));
        }
        let polled = Pin::new(&mut s.source).poll_frame(cx);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                s.done = true;
                drop(s);
                this.tee.finished.notify_waiters();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(_))) => {
                s.failed = true;
                drop(s);
                this.tee.finished.notify_waiters();
                Poll::Ready(Some(Err(DownstreamBodyError)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    s.keep(d);
                    this.cursor = s.chunks.len();
                }
                // With a known length the last frame ends the body; nobody polls for `None`.
                s.done = s.source.is_end_stream();
                if s.done || s.overflow {
                    drop(s);
                    this.tee.finished.notify_waiters();
                }
                // Request trailers are passed on but not kept for retries (gRPC sends none).
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let s = self.tee.lock();
        s.generation != self.generation || (s.done && self.cursor >= s.chunks.len())
    }

    fn size_hint(&self) -> SizeHint {
        match self.tee.content_length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// A downstream body sent in chunks of at most 16 KiB, as a connection would deliver it.
    fn source(data: Vec<u8>) -> impl Body<Data = Bytes, Error = hyper::Error> + Send + 'static {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = Bytes::from(data)
            .chunks(16 * 1024)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames))
            .map_err(|e: Infallible| match e {})
    }

    async fn next_data(b: &mut TeeBody) -> Option<Bytes> {
        b.frame()
            .await
            .map(|f| f.expect("frame").into_data().expect("data"))
    }

    #[tokio::test]
    async fn a_new_attempt_replays_then_streams_and_ends_the_old_one() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let tee = Tee::new(source(data.clone()), None);
        let mut first = tee.attempt_body();
        let got = next_data(&mut first).await.expect("some data");
        assert!(!got.is_empty());
        let second = tee.attempt_body();
        assert!(
            next_data(&mut first).await.is_none(),
            "superseded handle ends"
        );
        let all = second.collect().await.expect("collect").to_bytes();
        assert_eq!(&all[..], &data[..]);
        assert!(tee.replayable());
        assert_eq!(
            tee.complete(Duration::from_secs(5)).await.as_deref(),
            Some(&data[..])
        );
    }

    #[tokio::test]
    async fn large_bodies_stream_but_are_not_kept() {
        let data = vec![1u8; MAX_BUFFERED_BODY + 10];
        let tee = Tee::new(source(data.clone()), None);
        let all = tee
            .attempt_body()
            .collect()
            .await
            .expect("collect")
            .to_bytes();
        assert_eq!(all.len(), data.len());
        assert!(!tee.replayable());
        assert_eq!(tee.complete(Duration::from_secs(1)).await, None);
    }
}
