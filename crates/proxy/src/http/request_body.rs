//! The downstream request body as the forwarding path needs it: absent, teed (streamed to the
//! attempt while a copy of up to 64 KiB is kept for retries and mirrors), or streamed once;
//! each frame counts as stream activity for the stream timeouts.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::timeouts::StreamActivity;

/// The downstream request's body: hyper's, with its frames recorded as stream activity.
#[derive(Debug)]
pub struct DownstreamBody {
    inner: Incoming,
    activity: Arc<StreamActivity>,
}

impl DownstreamBody {
    pub fn new(inner: Incoming, activity: Arc<StreamActivity>) -> Self {
        if inner.is_end_stream() {
            activity.request_done();
        }
        Self { inner, activity }
    }
}

impl Body for DownstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => {
                self.activity.touch();
                if self.inner.is_end_stream() {
                    self.activity.request_done();
                }
            }
            Poll::Ready(None) => self.activity.request_done(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use super::tee::{MAX_BUFFERED_BODY, Tee};
use super::upstream_body::UpstreamBody;

#[derive(Debug)]
pub enum RequestBody {
    /// No body; the original (ended) body serves the first send.
    Empty(Option<DownstreamBody>),
    Teed(Tee),
    /// Sent as is, once (no retry policy or mirror, or announced larger than the limit).
    Untouched(Option<DownstreamBody>),
}

impl RequestBody {
    /// Whether one more attempt could carry the whole body.
    pub fn replayable(&self) -> bool {
        match self {
            RequestBody::Empty(_) => true,
            RequestBody::Teed(t) => t.replayable(),
            RequestBody::Untouched(_) => false,
        }
    }

    /// The body for the next attempt, or `None` once a one-shot body has been used.
    pub fn next(&mut self) -> Option<UpstreamBody> {
        match self {
            RequestBody::Empty(original) => Some(
                original
                    .take()
                    .map_or_else(UpstreamBody::empty, UpstreamBody::Streamed),
            ),
            RequestBody::Teed(t) => Some(UpstreamBody::Teed(t.attempt_body())),
            RequestBody::Untouched(b) => b.take().map(UpstreamBody::Streamed),
        }
    }

    /// A handle on the same body for a mirror task.
    pub fn mirror_source(&self) -> Option<MirrorSource> {
        match self {
            RequestBody::Empty(_) => Some(MirrorSource::Empty),
            RequestBody::Teed(t) => Some(MirrorSource::Teed(t.clone())),
            RequestBody::Untouched(_) => None,
        }
    }
}

/// What a mirror copies its body from.
#[derive(Debug, Clone)]
pub enum MirrorSource {
    Empty,
    Teed(Tee),
}

impl MirrorSource {
    pub async fn complete(&self, limit: Duration) -> Option<Bytes> {
        match self {
            MirrorSource::Empty => Some(Bytes::new()),
            MirrorSource::Teed(t) => t.complete(limit).await,
        }
    }
}

/// Decides how the body travels: teed when it may be sent again (`want_copy`) and is not
/// announced larger than the limit, else untouched.
pub fn prepare(body: DownstreamBody, content_length: Option<u64>, want_copy: bool) -> RequestBody {
    if body.is_end_stream() {
        return RequestBody::Empty(Some(body));
    }
    if !want_copy || content_length.is_some_and(|n| n > MAX_BUFFERED_BODY as u64) {
        return RequestBody::Untouched(Some(body));
    }
    RequestBody::Teed(Tee::new(body, content_length))
}
