//! The ADS server end to end over loopback with a tonic ADS client: subscription, ACK, pushes
//! of changed types only, NACK bookkeeping, a stuck proxy, garbage on the port.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use weft_control::{
    AdsOptions, AdsServer, Metrics, ProxyResources, Push, PushReason, StaticGenerator, SyncStatus,
    TypedResources,
};
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use weft_xds::pb::google::protobuf::Any;
use weft_xds::pb::google::rpc::Status as RpcStatus;
use weft_xds::type_url::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT};

const NODE: &str = "sidecar~10.0.0.5~reviews-v1-1.default~default.svc.cluster.local";
const WAIT: Duration = Duration::from_secs(5);

fn resources(clusters: &[(&str, usize)], endpoints: &[&str]) -> Arc<ProxyResources> {
    let sized: Vec<(&str, usize)> = endpoints.iter().map(|n| (*n, 3)).collect();
    resources_sized(clusters, &sized)
}

/// Clusters and endpoints whose encoded content is `size` bytes (a new size: new content).
fn resources_sized(clusters: &[(&str, usize)], endpoints: &[(&str, usize)]) -> Arc<ProxyResources> {
    let set = |url: &str, items: Vec<(String, usize)>| {
        TypedResources::new(items.into_iter().map(|(n, size)| {
            let any = Any {
                type_url: url.to_string(),
                value: vec![n.len() as u8; size],
            };
            (n, Arc::new(any))
        }))
    };
    let mut r = ProxyResources::default();
    let c = clusters.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    r.types.insert(CLUSTER.into(), set(CLUSTER, c));
    let e = endpoints.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    r.types.insert(
        CLUSTER_LOAD_ASSIGNMENT.into(),
        set(CLUSTER_LOAD_ASSIGNMENT, e),
    );
    Arc::new(r)
}

fn push(version: u64, reason: PushReason, r: Arc<ProxyResources>) -> Arc<Push> {
    Arc::new(Push::new(version, reason, Arc::new(StaticGenerator(r))))
}

struct Harness {
    addr: std::net::SocketAddr,
    pushes: watch::Sender<Arc<Push>>,
    status: Arc<SyncStatus>,
    metrics: Arc<Metrics>,
}

async fn start(options: AdsOptions, initial: Arc<ProxyResources>) -> Harness {
    let (pushes, rx) = watch::channel(push(1, PushReason::Initial, initial));
    let status = SyncStatus::new();
    let metrics = Arc::new(Metrics::new());
    let server = AdsServer::new(rx, status.clone(), metrics.clone(), options);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    Harness {
        addr,
        pushes,
        status,
        metrics,
    }
}

struct Client {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
    /// What each type is subscribed to; an ACK repeats it, as Envoy's do.
    names: std::collections::HashMap<String, Vec<String>>,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let (tx, rx) = mpsc::channel(16);
        let rx = client
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .expect("stream")
            .into_inner();
        Client {
            tx,
            rx,
            names: Default::default(),
        }
    }

    async fn send(&self, req: DiscoveryRequest) {
        self.tx.send(req).await.expect("send");
    }

    async fn subscribe(&mut self, url: &str, names: &[&str]) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        self.names.insert(url.to_string(), names.clone());
        self.send(DiscoveryRequest {
            node: Some(Node {
                id: NODE.into(),
                ..Default::default()
            }),
            type_url: url.into(),
            resource_names: names,
            ..Default::default()
        })
        .await;
    }

    async fn ack(&self, resp: &DiscoveryResponse) {
        self.send(DiscoveryRequest {
            version_info: resp.version_info.clone(),
            type_url: resp.type_url.clone(),
            response_nonce: resp.nonce.clone(),
            resource_names: self.names.get(&resp.type_url).cloned().unwrap_or_default(),
            ..Default::default()
        })
        .await;
    }

    async fn next(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("response in time")
            .expect("stream ok")
            .expect("not closed")
    }

    async fn nothing_within(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.rx.message()).await {
            Err(_) => true,
            Ok(got) => {
                eprintln!("unexpected: {got:?}");
                false
            }
        }
    }
}

#[tokio::test]
async fn subscribe_ack_and_push_only_changed_types() {
    let h = start(AdsOptions::default(), resources(&[("a", 4)], &["a"])).await;
    let mut c = Client::connect(h.addr).await;
    c.subscribe(CLUSTER, &[]).await;
    let cds = c.next().await;
    assert_eq!(cds.type_url, CLUSTER);
    assert_eq!(cds.resources.len(), 1);
    c.ack(&cds).await;
    c.subscribe(CLUSTER_LOAD_ASSIGNMENT, &["a"]).await;
    let eds = c.next().await;
    assert_eq!(eds.resources.len(), 1);
    c.ack(&eds).await;

    // Same content again: nothing is sent.
    h.pushes
        .send_replace(push(2, PushReason::Config, resources(&[("a", 4)], &["a"])));
    assert!(c.nothing_within(Duration::from_millis(300)).await);

    // A new cluster: CDS only, since the subscribed endpoints did not change.
    let next = resources(&[("a", 4), ("b", 4)], &["a"]);
    h.pushes.send_replace(push(3, PushReason::Config, next));
    let cds2 = c.next().await;
    assert_eq!(cds2.type_url, CLUSTER);
    assert_eq!(cds2.resources.len(), 2);
    assert_ne!(cds2.version_info, cds.version_info);
    c.ack(&cds2).await;
    assert!(c.nothing_within(Duration::from_millis(300)).await);

    let syncz = h.status.snapshot();
    assert_eq!(syncz.len(), 1);
    assert_eq!(
        syncz[0].types["cds"].acked_version.as_deref(),
        Some(cds2.version_info.as_str())
    );
    assert!(h.metrics.encode().contains("pilot_xds 1"));
}

#[tokio::test]
async fn endpoint_push_sends_eds_only() {
    let h = start(AdsOptions::default(), resources(&[("a", 4)], &["a"])).await;
    let mut c = Client::connect(h.addr).await;
    c.subscribe(CLUSTER, &[]).await;
    let cds = c.next().await;
    c.ack(&cds).await;
    c.subscribe(CLUSTER_LOAD_ASSIGNMENT, &["a", "b"]).await;
    let eds = c.next().await;
    c.ack(&eds).await;
    // Clusters changed too, but an endpoints push only looks at EDS.
    let next = resources(&[("a", 4), ("c", 1)], &["a", "b"]);
    h.pushes.send_replace(push(2, PushReason::Endpoints, next));
    let eds2 = c.next().await;
    assert_eq!(eds2.type_url, CLUSTER_LOAD_ASSIGNMENT);
    // Incremental EDS: only the assignment that is new or changed ("b"), not "a" again.
    assert_eq!(eds2.resources.len(), 1, "{eds2:?}");
    assert!(c.nothing_within(Duration::from_millis(300)).await);
    c.ack(&eds2).await;
    // "a" changes: only "a" is sent; a request (not a push) still gets every subscribed one.
    let next = resources_sized(&[("a", 4), ("c", 1)], &[("a", 7), ("b", 3)]);
    h.pushes.send_replace(push(3, PushReason::Endpoints, next));
    let eds3 = c.next().await;
    assert_eq!(eds3.resources.len(), 1);
    assert_eq!(eds3.resources[0].value.len(), 7);
    c.ack(&eds3).await;
    c.subscribe(CLUSTER_LOAD_ASSIGNMENT, &["a", "b", "z"]).await;
    let eds4 = c.next().await;
    assert_eq!(eds4.resources.len(), 2, "a request is answered in full");
}

#[tokio::test]
async fn nack_is_kept_with_its_message() {
    let h = start(AdsOptions::default(), resources(&[("a", 4)], &[])).await;
    let mut c = Client::connect(h.addr).await;
    c.subscribe(CLUSTER, &[]).await;
    let cds = c.next().await;
    c.send(DiscoveryRequest {
        version_info: String::new(),
        type_url: CLUSTER.into(),
        response_nonce: cds.nonce.clone(),
        error_detail: Some(RpcStatus {
            code: 3,
            message: "cluster a: unknown lb policy".into(),
            details: vec![],
        }),
        ..Default::default()
    })
    .await;
    // A NACK is not answered; the next change is.
    assert!(c.nothing_within(Duration::from_millis(300)).await);
    let syncz = h.status.snapshot();
    let nack = syncz[0].types["cds"].nacked.clone().expect("nack recorded");
    assert_eq!(nack.message, "cluster a: unknown lb policy");
    assert_eq!(nack.version, cds.version_info);
    assert!(
        h.metrics
            .encode()
            .contains("pilot_total_xds_rejects_total{type=\"cds\"} 1")
    );
    h.pushes
        .send_replace(push(2, PushReason::Config, resources(&[("b", 4)], &[])));
    let fixed = c.next().await;
    c.ack(&fixed).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = h.status.snapshot()[0].types["cds"].clone();
    assert!(t.nacked.is_none(), "{t:?}");
}

#[tokio::test]
async fn invalid_node_is_rejected() {
    let h = start(AdsOptions::default(), resources(&[], &[])).await;
    let mut c = Client::connect(h.addr).await;
    c.send(DiscoveryRequest {
        node: Some(Node {
            id: "not-a-node-id".into(),
            ..Default::default()
        }),
        type_url: CLUSTER.into(),
        ..Default::default()
    })
    .await;
    let err = tokio::time::timeout(WAIT, c.rx.message())
        .await
        .expect("in time")
        .expect_err("rejected");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(h.status.is_empty());
}

#[tokio::test]
async fn garbage_on_the_port_does_no_harm() {
    let h = start(AdsOptions::default(), resources(&[("a", 4)], &[])).await;
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0xffu8; 4096][..],
    ] {
        let mut s = tokio::net::TcpStream::connect(h.addr)
            .await
            .expect("connect");
        let _ = s.write_all(junk).await;
        drop(s);
    }
    let mut c = Client::connect(h.addr).await;
    c.subscribe(CLUSTER, &[]).await;
    assert_eq!(c.next().await.resources.len(), 1);
}

#[tokio::test]
async fn stuck_proxy_does_not_block_others() {
    let options = AdsOptions {
        send_queue: 1,
        send_timeout: Duration::from_secs(2),
        ..AdsOptions::default()
    };
    // Each CDS response is 2 MiB, far beyond HTTP/2 flow-control windows.
    let big = |n: &str| resources(&[(n, 2 << 20)], &[]);
    let h = start(options, big("a")).await;
    let mut stuck = Client::connect(h.addr).await;
    stuck.subscribe(CLUSTER, &[]).await;
    let mut live = Client::connect(h.addr).await;
    live.subscribe(CLUSTER, &[]).await;
    let first = live.next().await;
    live.ack(&first).await;
    for (v, name) in [(2, "b"), (3, "c"), (4, "d")] {
        h.pushes
            .send_replace(push(v, PushReason::Config, big(name)));
        let started = std::time::Instant::now();
        let r = live.next().await;
        assert!(started.elapsed() < Duration::from_secs(2));
        live.ack(&r).await;
    }
    // The stuck one is dropped after its send timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.status.len(), 1, "{:?}", h.status.snapshot());
    assert!(
        h.metrics
            .encode()
            .contains("pilot_xds_write_timeout_total 1")
    );
    drop(stuck);
}

#[tokio::test]
async fn throttled_pushes_reach_every_proxy() {
    let options = AdsOptions {
        push_concurrency: 1,
        ..AdsOptions::default()
    };
    let h = start(options, resources(&[("a", 4)], &[])).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = Client::connect(h.addr).await;
        c.subscribe(CLUSTER, &[]).await;
        let first = c.next().await;
        c.ack(&first).await;
        clients.push((c, first.version_info));
    }
    h.pushes.send_replace(push(
        2,
        PushReason::Config,
        resources(&[("a", 4), ("b", 4)], &[]),
    ));
    for (c, first) in &mut clients {
        let r = c.next().await;
        assert_ne!(&r.version_info, first);
        assert_eq!(r.resources.len(), 2);
    }
}

#[tokio::test]
async fn a_stuck_proxy_gives_its_push_slot_back() {
    let options = AdsOptions {
        send_timeout: Duration::from_secs(1),
        push_concurrency: 1,
        ..AdsOptions::default()
    };
    // 2 MiB responses: the stuck proxy's pushes stay queued, never taken by the transport.
    let big = |n: &str| resources(&[(n, 2 << 20)], &[]);
    let h = start(options, big("a")).await;
    let mut stuck = Client::connect(h.addr).await;
    stuck.subscribe(CLUSTER, &[]).await;
    let mut live = Client::connect(h.addr).await;
    live.subscribe(CLUSTER, &[]).await;
    let first = live.next().await;
    live.ack(&first).await;
    // Whichever of the two takes the one slot first, a slot the stuck proxy kept would
    // stop the live one from getting one of these pushes.
    for (v, name) in [(2, "b"), (3, "c")] {
        h.pushes
            .send_replace(push(v, PushReason::Config, big(name)));
        let r = live.next().await;
        assert!(r.resources.len() == 1 && r.version_info != first.version_info);
        live.ack(&r).await;
    }
    // The stuck proxy is closed once a push waited a send timeout to be taken.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.status.len(), 1, "{:?}", h.status.snapshot());
    drop(stuck);
}
