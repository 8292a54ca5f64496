//! The ADS gRPC service (`envoy.service.discovery.v3.AggregatedDiscoveryService`): one task per
//! stream, each with a bounded send queue, pushing from the latest published [`Push`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
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
use crate::diffs::Diffs;
use crate::intern::NameLists;
use crate::metrics::Metrics;
use crate::push::Push;
use crate::request::SotwRequest;
use crate::status::SyncStatus;
use crate::wire::{Responses, SotwService};

/// The largest request the server decodes (an EDS subscription of many clusters is large).
pub(crate) const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Tuning of the ADS server.
#[derive(Debug, Clone)]
pub struct AdsOptions {
    /// Responses queued per connection before the connection's task waits for the proxy.
    pub send_queue: usize,
    /// How long a connection may wait for its proxy to read before it is closed.
    pub send_timeout: Duration,
    /// Connections that push at the same time (istiod's `PILOT_PUSH_THROTTLE`); the others
    /// wait for a slot. A slot is held until the transport has taken the push's last
    /// response, or for at most `send_timeout`. 0: no limit.
    pub push_concurrency: usize,
}

impl Default for AdsOptions {
    fn default() -> Self {
        AdsOptions {
            send_queue: 8,
            send_timeout: Duration::from_secs(10),
            push_concurrency: 100,
        }
    }
}

pub(crate) struct Shared {
    pub pushes: watch::Receiver<Arc<Push>>,
    pub status: Arc<SyncStatus>,
    pub metrics: Arc<Metrics>,
    pub options: AdsOptions,
    /// Push slots (see [`AdsOptions::push_concurrency`]); `None` without a limit.
    pub push_slots: Option<Arc<Semaphore>>,
    /// Subscription name lists, shared by the connections that asked for the same names.
    pub names: NameLists,
    /// What changed between two generations, per type, for incremental RDS/EDS pushes.
    pub diffs: Diffs,
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
        let push_slots = (options.push_concurrency > 0)
            .then(|| Arc::new(Semaphore::new(options.push_concurrency)));
        AdsServer {
            shared: Arc::new(Shared {
                pushes,
                status,
                metrics,
                options,
                push_slots,
                names: NameLists::default(),
                diffs: Diffs::default(),
                next_connection: AtomicU64::new(0),
            }),
        }
    }

    /// Starts the task of one SotW stream and returns the stream of its responses.
    pub(crate) fn open_sotw(&self, request: Request<Streaming<SotwRequest>>) -> Responses {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.shared.options.send_queue.max(1));
        let connection = Connection::new(self.shared.clone(), tx, peer);
        tokio::spawn(connection.run(inbound));
        rx
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
        let generated = AggregatedDiscoveryServiceServer::new(self.clone())
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(usize::MAX);
        let service = SotwService::new(self, generated);
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
        // `SotwService` answers this method with shared responses before it gets here.
        drop(request);
        Err(Status::unimplemented(
            "served by the shared-response SotW method",
        ))
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
