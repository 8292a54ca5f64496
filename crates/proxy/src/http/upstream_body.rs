//! The body of an upstream request, as the connection pools send it: the downstream body
//! streamed as is, a teed body (the retry copy followed by the rest from downstream), complete
//! bytes (a mirror's copy) or nothing. An enum rather than a boxed body, so that forwarding a
//! request allocates nothing for its body.

use std::pin::Pin;
use std::task::{Context, Poll};

use super::request_body::DownstreamBody;
use super::tee::{DownstreamBodyError, TeeBody};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

#[derive(Debug)]
pub enum UpstreamBody {
    Streamed(DownstreamBody),
    Teed(TeeBody),
    Full(Option<Bytes>),
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamBodyError {
    #[error("downstream request body failed: {0}")]
    Downstream(#[from] hyper::Error),
    #[error(transparent)]
    Teed(#[from] DownstreamBodyError),
}

impl UpstreamBody {
    pub fn empty() -> Self {
        UpstreamBody::Full(None)
    }

    pub fn full(data: Bytes) -> Self {
        UpstreamBody::Full((!data.is_empty()).then_some(data))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamBodyError>>> {
        match self.get_mut() {
            UpstreamBody::Streamed(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            UpstreamBody::Teed(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            UpstreamBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Streamed(b) => b.is_end_stream(),
            UpstreamBody::Teed(b) => b.is_end_stream(),
            UpstreamBody::Full(d) => d.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Streamed(b) => b.size_hint(),
            UpstreamBody::Teed(b) => b.size_hint(),
            UpstreamBody::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
