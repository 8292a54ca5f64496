//! The ADS gRPC service (`envoy.service.discovery.v3.AggregatedDiscoveryService`): one task per
//! stream, each with a bounded send queue, pushing from the latest published [`Push`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use weft_security::service::CaService;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use weft_xds::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};

use crate::connection::Connection;
use crate::delta::DeltaConnection;
use crate::metrics::Metrics;
use crate::push::Push;
use crate::status::SyncStatus;

/// Tuning of the ADS server.
#[derive(Debug, Clone)]
pub struct AdsOptions {
    /// Responses queued per connection before the connection's task waits for the proxy.
    pub send_queue: usize,
    /// How long a connection may wait for its proxy to read before it is closed.
    pub send_timeout: Duration,
}

impl Default for AdsOptions {
    fn default() -> Self {
        AdsOptions {
            send_queue: 8,
            send_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Shared {
    pub pushes: watch::Receiver<Arc<Push>>,
    pub status: Arc<SyncStatus>,
    pub metrics: Arc<Metrics>,
    pub options: AdsOptions,
    next_connection: AtomicU64,
}

impl Shared {
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The ADS service; cheap to clone.
#[derive(Clone)]
pub struct AdsServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdsServer")
            .field("connections", &self.shared.status.len())
            .finish()
    }
}

impl AdsServer {
    pub fn new(
        pushes: watch::Receiver<Arc<Push>>,
        status: Arc<SyncStatus>,
        metrics: Arc<Metrics>,
        options: AdsOptions,
    ) -> Self {
        AdsServer {
            shared: Arc::new(Shared {
                pushes,
                status,
                metrics,
                options,
                next_connection: AtomicU64::new(0),
            }),
        }
    }

    /// Serves ADS on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        self.serve_with_ca(listener, None, shutdown).await
    }

    /// Serves ADS and, when given, the certificate-signing service on the same listener (as
    /// istiod serves both on its xDS port).
    pub async fn serve_with_ca(
        self,
        listener: TcpListener,
        ca: Option<CaService>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let service = AggregatedDiscoveryServiceServer::new(self)
            .max_decoding_message_size(16 << 20)
            .max_encoding_message_size(usize::MAX);
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(service)
            .add_optional_service(ca)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
            .await
    }
}

type ResponseStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
type DeltaStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsServer {
    type StreamAggregatedResourcesStream = ResponseStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.shared.options.send_queue.max(1));
        let connection = Connection::new(self.shared.clone(), tx, peer);
        tokio::spawn(connection.run(inbound));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<DeltaStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.shared.options.send_queue.max(1));
        let connection = DeltaConnection::new(self.shared.clone(), tx, peer);
        tokio::spawn(connection.run(inbound));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
