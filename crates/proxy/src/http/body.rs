//! The response body sent downstream: a local reply or the upstream's streamed body (data and
//! trailers passed through), counting bytes and running a completion hook exactly once when
//! the body ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Called with (bytes sent, whether the body reached its end).
pub type OnDone = Box<dyn FnOnce(u64, bool) + Send + 'static>;

pub struct ProxyBody {
    inner: Inner,
    sent: u64,
    on_done: Option<OnDone>,
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyBody")
            .field("sent", &self.sent)
            .finish()
    }
}

enum Inner {
    Full(Option<Bytes>),
    Upstream(Incoming),
}

impl ProxyBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        let b = data.into();
        Self {
            inner: Inner::Full((!b.is_empty()).then_some(b)),
            sent: 0,
            on_done: None,
        }
    }

    pub fn upstream(body: Incoming) -> Self {
        Self {
            inner: Inner::Upstream(body),
            sent: 0,
            on_done: None,
        }
    }

    /// Adds a completion hook; hooks run in the order they were added.
    pub fn on_done(mut self, f: OnDone) -> Self {
        self.on_done = Some(match self.on_done.take() {
            None => f,
            Some(prev) => Box::new(move |n, c| {
                prev(n, c);
                f(n, c);
            }),
        });
        self
    }

    fn finish(&mut self, complete: bool) {
        if let Some(f) = self.on_done.take() {
            f(self.sent, complete);
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let done = self.is_end_stream();
        self.finish(done);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = match &mut self.inner {
            Inner::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.sent += d.len() as u64;
                }
            }
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(d) => d.is_none(),
            Inner::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Upstream(b) => b.size_hint(),
        }
    }
}
