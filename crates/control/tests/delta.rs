//! Incremental (delta) ADS over loopback: only changed and removed resources are sent.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use weft_control::{
    AdsOptions, AdsServer, Metrics, ProxyResources, Push, PushReason, StaticGenerator, SyncStatus,
    TypedResources,
};
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use weft_xds::pb::google::protobuf::Any;
use weft_xds::pb::google::rpc::Status as RpcStatus;
use weft_xds::type_url::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT};

fn clusters(items: &[(&str, u8)]) -> Arc<Push> {
    static VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let set = TypedResources::new(items.iter().map(|(n, b)| {
        let any = Any {
            type_url: CLUSTER.into(),
            value: vec![*b; 4],
        };
        (n.to_string(), Arc::new(any))
    }));
    let mut r = ProxyResources::default();
    r.types.insert(CLUSTER.into(), set);
    let v = VERSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Arc::new(Push::new(
        v,
        PushReason::Config,
        Arc::new(StaticGenerator(Arc::new(r))),
    ))
}

async fn next(rx: &mut tonic::Streaming<DeltaDiscoveryResponse>) -> DeltaDiscoveryResponse {
    tokio::time::timeout(Duration::from_secs(5), rx.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("open")
}

fn names(r: &DeltaDiscoveryResponse) -> Vec<&str> {
    r.resources.iter().map(|x| x.name.as_str()).collect()
}

#[tokio::test]
async fn delta_sends_changes_and_removals() {
    let (pushes, rx) = watch::channel(clusters(&[("a", 1), ("b", 1)]));
    let status = SyncStatus::new();
    let server = AdsServer::new(
        rx,
        status.clone(),
        Arc::new(Metrics::new()),
        AdsOptions::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));

    let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let (tx, req_rx) = mpsc::channel(8);
    let mut rx = client
        .delta_aggregated_resources(ReceiverStream::new(req_rx))
        .await
        .expect("stream")
        .into_inner();
    let node = Node {
        id: "sidecar~10.0.0.1~a.default~default.svc.cluster.local".into(),
        ..Default::default()
    };
    let request = |url: &str, nonce: &str, error: Option<&str>| DeltaDiscoveryRequest {
        node: Some(node.clone()),
        type_url: url.into(),
        response_nonce: nonce.into(),
        error_detail: error.map(|m| RpcStatus {
            code: 3,
            message: m.into(),
            details: vec![],
        }),
        ..Default::default()
    };

    tx.send(request(CLUSTER, "", None)).await.expect("send");
    let first = next(&mut rx).await;
    assert_eq!(names(&first), vec!["a", "b"]);
    tx.send(request(CLUSTER, &first.nonce, None))
        .await
        .expect("ack");

    // b changes, a goes away, c appears.
    pushes.send_replace(clusters(&[("b", 2), ("c", 1)]));
    let second = next(&mut rx).await;
    assert_eq!(names(&second), vec!["b", "c"]);
    assert_eq!(second.removed_resources, vec!["a".to_string()]);
    tx.send(request(CLUSTER, &second.nonce, Some("cluster c: bad")))
        .await
        .expect("nack");

    // Nothing changed: nothing sent.
    pushes.send_replace(clusters(&[("b", 2), ("c", 1)]));
    let quiet = tokio::time::timeout(Duration::from_millis(300), rx.message()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    let s = status.snapshot();
    assert_eq!(
        s[0].types["cds"]
            .nacked
            .as_ref()
            .map(|n| n.message.as_str()),
        Some("cluster c: bad")
    );

    // Named types start empty; subscribing to a name answers even without resources.
    let mut eds = request(CLUSTER_LOAD_ASSIGNMENT, "", None);
    eds.resource_names_subscribe = vec!["missing".into()];
    tx.send(eds).await.expect("send");
    let r = next(&mut rx).await;
    assert_eq!(r.type_url, CLUSTER_LOAD_ASSIGNMENT);
    assert!(r.resources.is_empty());
}
