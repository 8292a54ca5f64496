//! The downstream request body as the forwarding path needs it: buffered (≤ 64 KiB, so it can
//! be sent again by retries and mirrors) or streamed once.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, Empty, Full, StreamBody};
use hyper::body::Incoming;

use super::replay::{self, ReplayError, ReplayGuard};

/// Requests with larger bodies are streamed and never retried or mirrored.
pub const MAX_BUFFERED_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub enum RequestBody {
    /// The whole body (possibly empty); the original `Incoming` is used once if it is kept.
    Buffered {
        data: Bytes,
        original: Option<Incoming>,
    },
    /// Too large to buffer: what was read so far, then the rest.
    Streaming {
        prefix: VecDeque<Bytes>,
        rest: Incoming,
    },
    /// Not looked at: sent as is, once.
    Untouched(Incoming),
}

impl RequestBody {
    /// Whether the body can be sent more than once.
    pub fn replayable(&self) -> bool {
        matches!(self, RequestBody::Buffered { .. })
    }

    /// A copy for one more send, or `None` once a one-shot body has been used.
    pub async fn next(&mut self) -> Option<Result<(Incoming, Option<ReplayGuard>), ReplayError>> {
        match self {
            RequestBody::Buffered { original, .. } if original.is_some() => {
                original.take().map(|b| Ok((b, None)))
            }
            RequestBody::Buffered { data, .. } => Some(replay_bytes(data.clone()).await),
            RequestBody::Streaming { .. } | RequestBody::Untouched(_) => {
                match std::mem::replace(self, RequestBody::empty_used()) {
                    RequestBody::Untouched(b) => Some(Ok((b, None))),
                    RequestBody::Streaming { prefix, rest } => {
                        let head = futures_util::stream::iter(
                            prefix
                                .into_iter()
                                .map(|b| Ok::<_, hyper::Error>(Frame::data(b))),
                        );
                        let body = StreamBody::new(head.chain(BodyStream::new(rest)));
                        Some(
                            replay::incoming(body, None)
                                .await
                                .map(|(b, g)| (b, Some(g))),
                        )
                    }
                    RequestBody::Buffered { .. } => None,
                }
            }
        }
    }

    /// Marks a one-shot body as consumed (no data, no original).
    fn empty_used() -> Self {
        RequestBody::Buffered {
            data: Bytes::new(),
            original: None,
        }
    }
}

/// A replayed copy of buffered bytes.
pub async fn replay_bytes(data: Bytes) -> Result<(Incoming, Option<ReplayGuard>), ReplayError> {
    let len = data.len() as u64;
    let res = if data.is_empty() {
        replay::incoming(Empty::<Bytes>::new(), Some(0)).await
    } else {
        replay::incoming(Full::new(data), Some(len)).await
    };
    res.map(|(b, g)| (b, Some(g)))
}

/// Reads the body when it may need to be sent again (`want_buffer`), up to
/// `MAX_BUFFERED_BODY`; a larger (or announced larger) body is streamed instead.
pub async fn prepare(
    mut body: Incoming,
    content_length: Option<u64>,
    want_buffer: bool,
) -> Result<RequestBody, hyper::Error> {
    use http_body::Body as _;
    if body.is_end_stream() {
        return Ok(RequestBody::Buffered {
            data: Bytes::new(),
            original: Some(body),
        });
    }
    if !want_buffer || content_length.is_some_and(|n| n > MAX_BUFFERED_BODY as u64) {
        return Ok(RequestBody::Untouched(body));
    }
    let mut chunks = VecDeque::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        // Request trailers are rare (gRPC sends none); a buffered body drops them.
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        total += data.len();
        chunks.push_back(data);
        if total > MAX_BUFFERED_BODY {
            return Ok(RequestBody::Streaming {
                prefix: chunks,
                rest: body,
            });
        }
    }
    let mut buf = bytes::BytesMut::with_capacity(total);
    for c in chunks {
        buf.extend_from_slice(&c);
    }
    Ok(RequestBody::Buffered {
        data: buf.freeze(),
        original: None,
    })
}
