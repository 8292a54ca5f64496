//! The downstream request body as the forwarding path needs it: absent, teed (streamed to the
//! attempt while a copy of up to 64 KiB is kept for retries and mirrors), or streamed once.

use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;

use super::tee::{MAX_BUFFERED_BODY, Tee};
use super::upstream_body::UpstreamBody;

#[derive(Debug)]
pub enum RequestBody {
    /// No body; the original (ended) `Incoming` serves the first send.
    Empty(Option<Incoming>),
    Teed(Tee),
    /// Sent as is, once (no retry policy or mirror, or announced larger than the limit).
    Untouched(Option<Incoming>),
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
pub fn prepare(body: Incoming, content_length: Option<u64>, want_copy: bool) -> RequestBody {
    use http_body::Body as _;
    if body.is_end_stream() {
        return RequestBody::Empty(Some(body));
    }
    if !want_copy || content_length.is_some_and(|n| n > MAX_BUFFERED_BODY as u64) {
        return RequestBody::Untouched(Some(body));
    }
    RequestBody::Teed(Tee::new(body, content_length))
}
