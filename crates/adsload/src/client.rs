//! One simulated proxy: one HTTP/2 connection, one SotW ADS stream, subscribing as Envoy does.
//!
//! CDS and LDS are requested as wildcards; the EDS names are the EDS clusters of the last CDS
//! response and the RDS names the `rds.route_config_name`s of the last LDS response. Every
//! response is ACKed with its version and nonce (nothing is ever NACKed: the client does not
//! judge the resources) and reported to the collector with its size and timestamps.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weft_xds::pb::envoy::config::cluster::v3::{Cluster, cluster};
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::envoy::config::listener::v3::Listener;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use weft_xds::{type_url, unpack};

/// The four xDS types a sidecar subscribes to, in the order of the per-type arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cluster = 0,
    Listener = 1,
    Endpoint = 2,
    Route = 3,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Cluster, Kind::Listener, Kind::Endpoint, Kind::Route];

    pub fn url(self) -> &'static str {
        match self {
            Kind::Cluster => type_url::CLUSTER,
            Kind::Listener => type_url::LISTENER,
            Kind::Endpoint => type_url::CLUSTER_LOAD_ASSIGNMENT,
            Kind::Route => type_url::ROUTE_CONFIGURATION,
        }
    }

    fn from_url(url: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| weft_xds::same_type(k.url(), url))
    }

    /// The short name used on the command line and in the JSON output.
    pub fn short(self) -> &'static str {
        match self {
            Kind::Cluster => "cds",
            Kind::Listener => "lds",
            Kind::Endpoint => "eds",
            Kind::Route => "rds",
        }
    }

    pub fn from_short(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.short() == s)
    }
}

/// What a client tells the collector.
#[derive(Debug)]
pub enum Event {
    /// A response was received at `received` and ACKed at `acked`.
    Acked {
        client: usize,
        kind: Kind,
        version: String,
        received: Instant,
        acked: Instant,
        bytes: u64,
    },
    /// Every subscribed type has been ACKed at least once on the current stream.
    Synced { client: usize },
    /// The stream ended or failed; the client reconnects after a pause.
    Disconnected { client: usize, error: String },
}

/// Per-stream subscription state.
#[derive(Default)]
struct StreamState {
    names: [Vec<String>; 4],
    acked: [Option<String>; 4],
    nonce: [String; 4],
    synced: bool,
}

impl StreamState {
    fn request(&self, kind: Kind, node: Option<Node>) -> DiscoveryRequest {
        let i = kind as usize;
        DiscoveryRequest {
            version_info: self.acked[i].clone().unwrap_or_default(),
            node,
            resource_names: self.names[i].clone(),
            type_url: kind.url().to_string(),
            response_nonce: self.nonce[i].clone(),
            ..Default::default()
        }
    }

    /// Synced once CDS and LDS are ACKed and so is every non-empty EDS/RDS subscription.
    fn is_synced(&self) -> bool {
        Kind::ALL.into_iter().all(|k| {
            let i = k as usize;
            self.acked[i].is_some()
                || (matches!(k, Kind::Endpoint | Kind::Route) && self.names[i].is_empty())
        })
    }
}

/// Runs client `id` until `until`, reconnecting after errors.
pub async fn run(
    id: usize,
    address: Arc<str>,
    node: Node,
    events: mpsc::UnboundedSender<Event>,
    until: Instant,
) {
    while Instant::now() < until {
        let error = match stream(id, &address, node.clone(), &events).await {
            Ok(()) => "the server closed the stream".to_string(),
            Err(e) => e,
        };
        if events
            .send(Event::Disconnected { client: id, error })
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn stream(
    id: usize,
    address: &str,
    node: Node,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let (tx, rx) = mpsc::channel(16);
    let mut st = StreamState::default();
    send(&tx, st.request(Kind::Cluster, Some(node))).await?;
    send(&tx, st.request(Kind::Listener, None)).await?;
    let mut client =
        AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
    let mut responses = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("open stream: {s}"))?
        .into_inner();
    while let Some(resp) = responses
        .message()
        .await
        .map_err(|s| format!("stream: {s}"))?
    {
        let received = Instant::now();
        on_response(id, &mut st, &tx, resp, received, events).await?;
    }
    Ok(())
}

async fn on_response(
    id: usize,
    st: &mut StreamState,
    tx: &mpsc::Sender<DiscoveryRequest>,
    resp: DiscoveryResponse,
    received: Instant,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), String> {
    let Some(kind) = Kind::from_url(&resp.type_url) else {
        return Ok(());
    };
    let bytes = u64::try_from(resp.encoded_len()).unwrap_or(u64::MAX);
    let i = kind as usize;
    st.nonce[i] = resp.nonce.clone();
    let follow = match kind {
        Kind::Cluster => Some((Kind::Endpoint, eds_names(&resp))),
        Kind::Listener => Some((Kind::Route, rds_names(&resp))),
        Kind::Endpoint | Kind::Route => None,
    };
    // The ACK goes first, so a follow-up subscription never carries this type's old nonce.
    st.acked[i] = Some(resp.version_info.clone());
    send(tx, st.request(kind, None)).await?;
    let acked = Instant::now();
    if let Some((sub, names)) = follow
        && st.names[sub as usize] != names
    {
        st.names[sub as usize] = names;
        send(tx, st.request(sub, None)).await?;
    }
    let _ = events.send(Event::Acked {
        client: id,
        kind,
        version: resp.version_info,
        received,
        acked,
        bytes,
    });
    if !st.synced && st.is_synced() {
        st.synced = true;
        let _ = events.send(Event::Synced { client: id });
    }
    Ok(())
}

async fn send(tx: &mpsc::Sender<DiscoveryRequest>, req: DiscoveryRequest) -> Result<(), String> {
    tx.send(req)
        .await
        .map_err(|_| "the request stream closed".to_string())
}

/// The EDS service names of the EDS clusters in a CDS response, sorted.
fn eds_names(resp: &DiscoveryResponse) -> Vec<String> {
    let eds = cluster::DiscoveryType::Eds as i32;
    let mut names = BTreeSet::new();
    for any in &resp.resources {
        let Ok(c) = unpack::<Cluster>(any) else {
            continue;
        };
        if c.cluster_discovery_type == Some(cluster::ClusterDiscoveryType::Type(eds)) {
            let service = c
                .eds_cluster_config
                .map(|e| e.service_name)
                .filter(|s| !s.is_empty());
            names.insert(service.unwrap_or(c.name));
        }
    }
    names.into_iter().collect()
}

/// The route configuration names the listeners of an LDS response load over RDS, sorted.
fn rds_names(resp: &DiscoveryResponse) -> Vec<String> {
    let mut names = BTreeSet::new();
    for any in &resp.resources {
        let Ok(l) = unpack::<Listener>(any) else {
            continue;
        };
        let chains = l.filter_chains.iter().chain(l.default_filter_chain.iter());
        for filter in chains.flat_map(|c| c.filters.iter()) {
            let Some(typed) = filter_typed_config(filter) else {
                continue;
            };
            if let Ok(hcm) = unpack::<HttpConnectionManager>(typed)
                && let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier
            {
                names.insert(rds.route_config_name);
            }
        }
    }
    names.into_iter().collect()
}

fn filter_typed_config(
    f: &weft_xds::pb::envoy::config::listener::v3::Filter,
) -> Option<&weft_xds::pb::google::protobuf::Any> {
    use weft_xds::pb::envoy::config::listener::v3::filter::ConfigType;
    match &f.config_type {
        Some(ConfigType::TypedConfig(any)) => Some(any),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_needs_cds_lds_and_every_non_empty_subscription() {
        let mut st = StreamState::default();
        st.acked[Kind::Cluster as usize] = Some("c1".into());
        st.acked[Kind::Listener as usize] = Some("l1".into());
        assert!(st.is_synced(), "no EDS/RDS names: nothing more to wait for");
        st.names[Kind::Endpoint as usize] = vec!["outbound|80||a".into()];
        assert!(!st.is_synced());
        st.acked[Kind::Endpoint as usize] = Some("e1".into());
        assert!(st.is_synced());
    }

    #[test]
    fn kinds_round_trip_through_urls_and_short_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_url(k.url()), Some(k));
            assert_eq!(Kind::from_short(k.short()), Some(k));
        }
        assert_eq!(Kind::from_url(type_url::SECRET), None);
    }
}
