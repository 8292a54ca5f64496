//! The downstream request body as the forwarding path needs it: absent, teed (streamed to the
//! attempt while a copy of up to 64 KiB is kept for retries and mirrors), or streamed once.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper::body::Incoming;

use super::replay::{self, ReplayError, ReplayGuard};
use super::tee::{MAX_BUFFERED_BODY, Tee};

#[derive(Debug)]
pub enum RequestBody {
    /// No body; the original (ended) `Incoming` serves the first send.
    Empty(Option<Incoming>),
    Teed(Tee),
    /// Sent as is, once (no retry policy or mirror, or announced larger than the limit).
    Untouched(Option<Incoming>),
}

pub type AttemptBody = (Incoming, Option<ReplayGuard>);

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
    pub async fn next(&mut self) -> Option<Result<AttemptBody, ReplayError>> {
        match self {
            RequestBody::Empty(original) => match original.take() {
                Some(b) => Some(Ok((b, None))),
                None => Some(replay_bytes(Bytes::new()).await),
            },
            RequestBody::Teed(t) => {
                let body = t.attempt_body();
                let replayed = replay::incoming(body, t.content_length).await;
                Some(replayed.map(|(b, g)| (b, Some(g))))
            }
            RequestBody::Untouched(b) => b.take().map(|b| Ok((b, None))),
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

/// A replayed copy of complete bytes.
pub async fn replay_bytes(data: Bytes) -> Result<AttemptBody, ReplayError> {
    let len = data.len() as u64;
    let res = if data.is_empty() {
        replay::incoming(Empty::<Bytes>::new(), Some(0)).await
    } else {
        replay::incoming(Full::new(data), Some(len)).await
    };
    res.map(|(b, g)| (b, Some(g)))
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
