//! The state-of-the-world ADS method, with responses written from shared packed resources.
//!
//! A `DiscoveryResponse` owns its `Any`s, and tonic encodes each message into a per-stream
//! buffer that keeps the size of the largest message for the life of the stream: sending one
//! view's resources to N proxies would copy every resource N times and hold about one
//! response's worth of memory per connection. Here a response is a [`SharedResponse`] of
//! `Arc<Any>`s, and [`SotwBody`] writes it as the gRPC message of the equivalent
//! `DiscoveryResponse`, lazily: small resources are copied into chunks of at most
//! [`CHUNK`] bytes, large ones are handed to HTTP/2 as the shared bytes themselves. A
//! connection then holds at most one chunk of its own, whatever the size of the mesh.
//! [`SotwService`] serves `StreamAggregatedResources` this way and hands every other method of
//! the ADS service (delta) to the generated server.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::Frame;
use prost::Message;
use prost::encoding::{self, WireType};
use tokio::sync::{mpsc, oneshot};
use tonic::codec::Codec;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::NamedService;
use tonic::{Request, Status, Streaming};
use weft_xds::pb::envoy::config::core::v3::ControlPlane;
use weft_xds::pb::envoy::service::discovery::v3::DiscoveryResponse;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryServiceServer, SERVICE_NAME,
};
use weft_xds::pb::google::protobuf::Any;

use crate::ads::AdsServer;
use crate::request::SotwRequest;

const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/// Small resources are gathered into chunks of about this size (HTTP/2 sends each body chunk
/// as its own DATA frames, so one per resource would cost a frame per resource).
pub const CHUNK: usize = 32 * 1024;
/// Resource values at least this large are sent as the shared bytes, not copied.
const SHARE_FROM: usize = 8 * 1024;

/// A `DiscoveryResponse` whose resources are shared with every other connection of the view.
#[derive(Debug, Default)]
pub struct SharedResponse {
    pub version_info: String,
    pub resources: Vec<Arc<Any>>,
    pub type_url: String,
    pub nonce: String,
    pub control_plane: Option<ControlPlane>,
    /// Dropped, which wakes its receiver, once the transport starts writing the response:
    /// the connection holds its push slot until then.
    pub taken: Option<oneshot::Sender<()>>,
}

// Field numbers of envoy.service.discovery.v3.DiscoveryResponse and google.protobuf.Any.
const VERSION_INFO: u32 = 1;
const RESOURCES: u32 = 2;
const TYPE_URL: u32 = 4;
const NONCE: u32 = 5;
const CONTROL_PLANE: u32 = 6;
const ANY_TYPE_URL: u32 = 1;
const ANY_VALUE: u32 = 2;

fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(s.len() as u64) + s.len()
    }
}

fn put_string(tag: u32, s: &str, buf: &mut BytesMut) {
    if !s.is_empty() {
        encoding::encode_key(tag, WireType::LengthDelimited, buf);
        encoding::encode_varint(s.len() as u64, buf);
        buf.put_slice(s.as_bytes());
    }
}

impl SharedResponse {
    /// Length of the encoded message.
    pub fn encoded_len(&self) -> usize {
        let resources: usize = self
            .resources
            .iter()
            .map(|a| encoding::message::encoded_len(RESOURCES, a.as_ref()))
            .sum();
        string_len(VERSION_INFO, &self.version_info) + resources + self.tail_len()
    }

    fn tail_len(&self) -> usize {
        string_len(TYPE_URL, &self.type_url)
            + string_len(NONCE, &self.nonce)
            + self
                .control_plane
                .as_ref()
                .map_or(0, |cp| encoding::message::encoded_len(CONTROL_PLANE, cp))
    }

    fn put_tail(&self, buf: &mut BytesMut) {
        put_string(TYPE_URL, &self.type_url, buf);
        put_string(NONCE, &self.nonce, buf);
        if let Some(cp) = &self.control_plane {
            encoding::message::encode(CONTROL_PLANE, cp, buf);
        }
    }
}

/// The value of a shared `Any`, as bytes HTTP/2 can send without a copy.
struct SharedValue(Arc<Any>);

impl AsRef<[u8]> for SharedValue {
    fn as_ref(&self) -> &[u8] {
        &self.0.value
    }
}

/// One response being written: the gRPC frame header and the fields before the resources,
/// the resources, then the fields after them, in the order prost encodes them.
struct Writing {
    response: SharedResponse,
    next: usize,
    started: bool,
    finished: bool,
    shared: Option<Bytes>,
}

impl Writing {
    fn new(response: SharedResponse) -> Self {
        Writing {
            response,
            next: 0,
            started: false,
            finished: false,
            shared: None,
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(shared) = self.shared.take() {
            return Some(shared);
        }
        if self.finished {
            return None;
        }
        let mut chunk = BytesMut::with_capacity(CHUNK);
        if !self.started {
            self.started = true;
            let len = u32::try_from(self.response.encoded_len()).unwrap_or(u32::MAX);
            chunk.put_u8(0); // not compressed
            chunk.put_u32(len);
            put_string(VERSION_INFO, &self.response.version_info, &mut chunk);
        }
        while let Some(any) = self.response.resources.get(self.next) {
            self.next += 1;
            encoding::encode_key(RESOURCES, WireType::LengthDelimited, &mut chunk);
            encoding::encode_varint(any.encoded_len() as u64, &mut chunk);
            put_string(ANY_TYPE_URL, &any.type_url, &mut chunk);
            if any.value.is_empty() {
                continue;
            }
            encoding::encode_key(ANY_VALUE, WireType::LengthDelimited, &mut chunk);
            encoding::encode_varint(any.value.len() as u64, &mut chunk);
            if any.value.len() >= SHARE_FROM {
                self.shared = Some(Bytes::from_owner(SharedValue(any.clone())));
                return Some(chunk.freeze());
            }
            chunk.put_slice(&any.value);
            if chunk.len() >= CHUNK {
                return Some(chunk.freeze());
            }
        }
        self.finished = true;
        self.response.put_tail(&mut chunk);
        Some(chunk.freeze())
    }
}

/// The response body of one SotW stream: its connection's queued responses, then the gRPC
/// status as trailers.
pub(crate) struct SotwBody {
    responses: mpsc::Receiver<Result<SharedResponse, Status>>,
    writing: Option<Writing>,
    done: bool,
}

impl SotwBody {
    pub fn new(responses: mpsc::Receiver<Result<SharedResponse, Status>>) -> Self {
        SotwBody {
            responses,
            writing: None,
            done: false,
        }
    }
}

fn trailers(status: &Status) -> Frame<Bytes> {
    let mut map = http::HeaderMap::new();
    if status.add_header(&mut map).is_err() {
        map.insert(Status::GRPC_STATUS, http::HeaderValue::from_static("13"));
    }
    Frame::trailers(map)
}

impl Body for SotwBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        loop {
            if let Some(writing) = self.writing.as_mut() {
                if let Some(chunk) = writing.next_chunk() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                self.writing = None;
            }
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(self.responses.poll_recv(cx)) {
                Some(Ok(mut response)) => {
                    drop(response.taken.take());
                    self.writing = Some(Writing::new(response));
                }
                Some(Err(status)) => {
                    self.done = true;
                    return Poll::Ready(Some(Ok(trailers(&status))));
                }
                None => {
                    self.done = true;
                    return Poll::Ready(Some(Ok(trailers(&Status::ok("")))));
                }
            }
        }
    }
}

pub(crate) type Responses = mpsc::Receiver<Result<SharedResponse, Status>>;

/// The ADS service as registered with the gRPC server: SotW here, the rest generated.
#[derive(Clone)]
pub(crate) struct SotwService {
    ads: AdsServer,
    generated: AggregatedDiscoveryServiceServer<AdsServer>,
}

impl SotwService {
    pub fn new(ads: AdsServer, generated: AggregatedDiscoveryServiceServer<AdsServer>) -> Self {
        SotwService { ads, generated }
    }
}

impl NamedService for SotwService {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> Service<http::Request<B>> for SotwService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != SOTW_PATH {
            return self.generated.call(req);
        }
        let ads = self.ads.clone();
        Box::pin(async move {
            let decoder =
                tonic_prost::ProstCodec::<DiscoveryResponse, SotwRequest>::default().decoder();
            let max = Some(crate::ads::MAX_REQUEST_BYTES);
            let request = Request::from_http(
                req.map(|body| Streaming::new_request(decoder, body, None, max)),
            );
            let body = SotwBody::new(ads.open_sotw(request));
            let mut response = http::Response::new(tonic::body::Body::new(body));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                tonic::metadata::GRPC_CONTENT_TYPE,
            );
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn any(n: u8, size: usize) -> Any {
        Any {
            type_url: weft_xds::type_url::CLUSTER.into(),
            value: vec![n; size],
        }
    }

    /// The frames of `response` written by a body, then the trailers' status.
    async fn write(response: SharedResponse) -> (Vec<Bytes>, http::HeaderMap) {
        let (tx, rx) = mpsc::channel(1);
        tx.send(Ok(response)).await.expect("queued");
        drop(tx);
        let mut body = SotwBody::new(rx);
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame.expect("frame").into_data() {
                Ok(data) => chunks.push(data),
                Err(frame) => return (chunks, frame.into_trailers().expect("trailers")),
            }
        }
        panic!("no trailers");
    }

    fn pair(resources: Vec<Any>) -> (DiscoveryResponse, SharedResponse) {
        let owned = DiscoveryResponse {
            version_info: "v1".into(),
            resources: resources.clone(),
            type_url: weft_xds::type_url::CLUSTER.into(),
            nonce: "7-1".into(),
            control_plane: Some(ControlPlane {
                identifier: "weft".into(),
            }),
            ..Default::default()
        };
        let shared = SharedResponse {
            version_info: "v1".into(),
            resources: resources.into_iter().map(Arc::new).collect(),
            type_url: owned.type_url.clone(),
            nonce: owned.nonce.clone(),
            control_plane: owned.control_plane.clone(),
            taken: None,
        };
        (owned, shared)
    }

    #[tokio::test]
    async fn writes_exactly_the_grpc_message_of_a_discovery_response() {
        let mut resources: Vec<Any> = (0..200).map(|i| any(i as u8, 300)).collect();
        resources.insert(7, any(1, SHARE_FROM * 3));
        resources.push(Any::default());
        let (owned, shared) = pair(resources);
        assert_eq!(shared.encoded_len(), owned.encoded_len());
        let big = shared.resources[7].clone();
        let (chunks, trailers) = write(shared).await;
        let wire: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut expected = vec![0u8];
        expected.extend_from_slice(&(owned.encoded_len() as u32).to_be_bytes());
        expected.extend_from_slice(&owned.encode_to_vec());
        assert_eq!(wire, expected);
        assert_eq!(trailers[Status::GRPC_STATUS], "0");
        assert!(
            chunks.iter().all(|c| c.len() <= CHUNK + SHARE_FROM * 3),
            "chunks stay small"
        );
        assert!(
            chunks.iter().any(|c| c.as_ptr() == big.value.as_ptr()),
            "a large value goes out as the shared bytes"
        );
    }

    #[tokio::test]
    async fn an_empty_response_and_an_error_status() {
        let (owned, shared) = pair(Vec::new());
        let (chunks, _) = write(shared).await;
        assert_eq!(chunks.concat()[5..], owned.encode_to_vec());
        let (tx, rx) = mpsc::channel(1);
        tx.send(Err(Status::invalid_argument("no node")))
            .await
            .expect("queued");
        let mut body = SotwBody::new(rx);
        let frame = body.frame().await.expect("frame").expect("ok");
        let trailers = frame.into_trailers().expect("trailers");
        assert_eq!(trailers[Status::GRPC_STATUS], "3");
    }
}
