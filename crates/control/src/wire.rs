//! The state-of-the-world ADS method with responses that point at shared packed resources.
//!
//! A `DiscoveryResponse` owns its `Any`s, so sending one view's resources to N proxies would
//! copy every resource N times before encoding. [`SharedResponse`] holds `Arc<Any>`s instead
//! and encodes to exactly the bytes of the equivalent `DiscoveryResponse`; [`SotwService`]
//! serves the `StreamAggregatedResources` method with it and hands every other method of the
//! ADS service (delta) to the generated server.

use std::sync::Arc;
use std::task::{Context, Poll};

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};
use weft_xds::pb::envoy::config::core::v3::ControlPlane;
use weft_xds::pb::envoy::service::discovery::v3::DiscoveryRequest;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryServiceServer, SERVICE_NAME,
};
use weft_xds::pb::google::protobuf::Any;

use crate::ads::AdsServer;

const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/// A `DiscoveryResponse` whose resources are shared. Encode-only: the server never decodes one.
#[derive(Debug, Default)]
pub struct SharedResponse {
    pub version_info: String,
    pub resources: Vec<Arc<Any>>,
    pub type_url: String,
    pub nonce: String,
    pub control_plane: Option<ControlPlane>,
    /// Dropped, which wakes its receiver, once the transport has taken (encoded) the
    /// response: the connection holds its push slot until then.
    #[allow(dead_code, reason = "never sent on: its drop is the signal")]
    pub taken: Option<oneshot::Sender<()>>,
}

// Field numbers of envoy.service.discovery.v3.DiscoveryResponse.
const VERSION_INFO: u32 = 1;
const RESOURCES: u32 = 2;
const TYPE_URL: u32 = 4;
const NONCE: u32 = 5;
const CONTROL_PLANE: u32 = 6;

impl prost::Message for SharedResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.version_info.is_empty() {
            encoding::string::encode(VERSION_INFO, &self.version_info, buf);
        }
        for any in &self.resources {
            encoding::message::encode(RESOURCES, any.as_ref(), buf);
        }
        if !self.type_url.is_empty() {
            encoding::string::encode(TYPE_URL, &self.type_url, buf);
        }
        if !self.nonce.is_empty() {
            encoding::string::encode(NONCE, &self.nonce, buf);
        }
        if let Some(cp) = &self.control_plane {
            encoding::message::encode(CONTROL_PLANE, cp, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        let string = |tag, s: &String| {
            if s.is_empty() {
                0
            } else {
                encoding::string::encoded_len(tag, s)
            }
        };
        let resources: usize = self
            .resources
            .iter()
            .map(|a| encoding::message::encoded_len(RESOURCES, a.as_ref()))
            .sum();
        string(VERSION_INFO, &self.version_info)
            + resources
            + string(TYPE_URL, &self.type_url)
            + string(NONCE, &self.nonce)
            + self
                .control_plane
                .as_ref()
                .map_or(0, |cp| encoding::message::encoded_len(CONTROL_PLANE, cp))
    }

    fn clear(&mut self) {
        *self = SharedResponse::default();
    }
}

pub(crate) type SotwStream = ReceiverStream<Result<SharedResponse, Status>>;

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

struct SotwMethod(AdsServer);

impl StreamingService<DiscoveryRequest> for SotwMethod {
    type Response = SharedResponse;
    type ResponseStream = SotwStream;
    type Future = BoxFuture<Response<SotwStream>, Status>;

    fn call(&mut self, request: Request<Streaming<DiscoveryRequest>>) -> Self::Future {
        let ads = self.0.clone();
        Box::pin(async move { Ok(ads.open_sotw(request)) })
    }
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
        let method = SotwMethod(self.ads.clone());
        Box::pin(async move {
            let codec = tonic_prost::ProstCodec::<SharedResponse, DiscoveryRequest>::default();
            let mut grpc = Grpc::new(codec)
                .max_decoding_message_size(crate::ads::MAX_REQUEST_BYTES)
                .max_encoding_message_size(usize::MAX);
            Ok(grpc.streaming(method, req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use weft_xds::pb::envoy::service::discovery::v3::DiscoveryResponse;

    fn any(n: u8) -> Any {
        Any {
            type_url: weft_xds::type_url::CLUSTER.into(),
            value: vec![n; 300],
        }
    }

    #[test]
    fn encodes_exactly_like_a_discovery_response() {
        let owned = DiscoveryResponse {
            version_info: "v1".into(),
            resources: vec![any(1), any(2)],
            type_url: weft_xds::type_url::CLUSTER.into(),
            nonce: "7-1".into(),
            control_plane: Some(ControlPlane {
                identifier: "weft".into(),
            }),
            ..Default::default()
        };
        let shared = SharedResponse {
            version_info: "v1".into(),
            resources: vec![Arc::new(any(1)), Arc::new(any(2))],
            type_url: weft_xds::type_url::CLUSTER.into(),
            nonce: "7-1".into(),
            control_plane: owned.control_plane.clone(),
            taken: None,
        };
        assert_eq!(shared.encode_to_vec(), owned.encode_to_vec());
        assert_eq!(shared.encoded_len(), owned.encoded_len());
        let empty = SharedResponse::default();
        assert_eq!(
            empty.encode_to_vec(),
            DiscoveryResponse::default().encode_to_vec()
        );
    }
}
