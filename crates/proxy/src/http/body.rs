//! The response body sent downstream: a local reply or the upstream's streamed body (data and
//! trailers passed through), counting bytes and running a completion hook exactly once when
//! the body ends or is dropped. A streamed body enforces the stream timeouts once the
//! response has started: the stream is reset, as Envoy does after headers went out.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::timeouts::{StreamActivity, StreamExpiry};

/// Called with (bytes sent, whether the body reached its end).
pub type OnDone = Box<dyn FnOnce(u64, bool) + Send + 'static>;

pub struct ProxyBody {
    inner: Inner,
    sent: u64,
    on_done: Option<OnDone>,
    timeouts: Option<TimeoutWatch>,
}

/// The stream's timers while its response streams.
struct TimeoutWatch {
    activity: Arc<StreamActivity>,
    /// Armed the first time the upstream is quiet: a body that streams without pausing
    /// never registers a timer.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// What ends a response stream early.
#[derive(Debug, thiserror::Error)]
pub enum ResponseBodyError {
    #[error("upstream response body failed: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("{}", .0.body())]
    Timeout(StreamExpiry),
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
            timeouts: None,
        }
    }

    pub fn upstream(body: Incoming) -> Self {
        Self {
            inner: Inner::Upstream(body),
            sent: 0,
            on_done: None,
            timeouts: None,
        }
    }

    /// Enforces the stream's timeouts while an upstream body streams.
    pub fn with_timeouts(mut self, activity: Arc<StreamActivity>) -> Self {
        if matches!(self.inner, Inner::Upstream(_)) {
            self.timeouts = Some(TimeoutWatch {
                activity,
                sleep: None,
            });
        }
        self
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

impl ProxyBody {
    /// While the upstream is quiet: the timeout that passed, else the timer armed for the
    /// next deadline (activity elsewhere, such as request frames, moves it on).
    fn poll_timeouts(&mut self, cx: &mut Context<'_>) -> Poll<StreamExpiry> {
        let Some(t) = &mut self.timeouts else {
            return Poll::Pending;
        };
        loop {
            if let Some(sleep) = &mut t.sleep
                && sleep.as_mut().poll(cx).is_pending()
            {
                return Poll::Pending;
            }
            match t.activity.check(Instant::now()) {
                Err(why) => return Poll::Ready(why),
                Ok(Some(at)) => match &mut t.sleep {
                    Some(sleep) => sleep.as_mut().reset(at.into()),
                    None => t.sleep = Some(Box::pin(tokio::time::sleep_until(at.into()))),
                },
                Ok(None) => {
                    self.timeouts = None;
                    return Poll::Pending;
                }
            }
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
    type Error = ResponseBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseBodyError>>> {
        let polled = match &mut self.inner {
            Inner::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Inner::Upstream(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(ResponseBodyError::from))),
        };
        let polled = match polled {
            Poll::Pending => match self.poll_timeouts(cx) {
                Poll::Ready(why) => Poll::Ready(Some(Err(ResponseBodyError::Timeout(why)))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.sent += d.len() as u64;
                }
                if let Some(t) = &self.timeouts {
                    t.activity.touch();
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
