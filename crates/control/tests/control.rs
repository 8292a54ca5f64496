//! The whole control plane in process: a config directory, the ADS server and the debug
//! endpoints, driven by a tonic ADS client over loopback.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};
use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::envoy::config::listener::v3::Listener;
use weft_xds::pb::envoy::config::route::v3::RouteConfiguration;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use weft_xds::pb::google::rpc::Status as RpcStatus;
use weft_xds::type_url::{CLUSTER, LISTENER, ROUTE_CONFIGURATION};

const NODE: &str = "sidecar~10.1.0.99~client.default~default.svc.cluster.local";

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
spec: {containers: [{name: app}]}
status: {phase: Running, podIP: 10.1.0.11}
"#;

const SUBSETS: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
"#;

const ROUTE_TO_V1: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
"#;

const INVALID: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}, weight: 150}]}]
"#;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-control-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn start(dir: &std::path::Path) -> ControlPlane {
    let opts = ControlOptions {
        config_dir: dir.to_path_buf(),
        extra_config_dirs: Vec::new(),
        mesh: MeshConfig::default().with_defaults(),
        xds_address: "127.0.0.1:0".parse().expect("addr"),
        http_address: "127.0.0.1:0".parse().expect("addr"),
        poll_interval: Duration::from_millis(50),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        ads: AdsOptions::default(),
        ca: None,
    };
    ControlPlane::start(opts).await.expect("start")
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

struct Client {
    node: Node,
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: tonic::Streaming<DiscoveryResponse>,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let node = Node {
            id: NODE.into(),
            ..Default::default()
        };
        Client::connect_as(addr, node).await
    }

    async fn connect_as(addr: std::net::SocketAddr, node: Node) -> Client {
        let mut c = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let (tx, rx) = mpsc::channel(16);
        let rx = c
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .expect("stream")
            .into_inner();
        Client { node, tx, rx }
    }

    async fn request(
        &self,
        url: &str,
        names: &[&str],
        ack: Option<&DiscoveryResponse>,
        error: Option<&str>,
    ) {
        let req = DiscoveryRequest {
            node: Some(self.node.clone()),
            type_url: url.into(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
            version_info: ack
                .filter(|_| error.is_none())
                .map(|r| r.version_info.clone())
                .unwrap_or_default(),
            response_nonce: ack.map(|r| r.nonce.clone()).unwrap_or_default(),
            error_detail: error.map(|m| RpcStatus {
                code: 3,
                message: m.into(),
                details: vec![],
            }),
            ..Default::default()
        };
        self.tx.send(req).await.expect("send");
    }

    async fn next(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("response in time")
            .expect("stream ok")
            .expect("open")
    }
}

fn cluster_names(r: &DiscoveryResponse) -> Vec<String> {
    r.resources
        .iter()
        .map(|a| weft_xds::unpack::<Cluster>(a).expect("cluster").name)
        .collect()
}

#[tokio::test]
async fn file_changes_reach_a_subscribed_proxy() {
    let dir = temp_dir("push");
    std::fs::write(dir.join("services.yaml"), SERVICES).expect("write");
    let cp = start(&dir).await;
    let mut c = Client::connect(cp.xds_address).await;

    c.request(CLUSTER, &[], None, None).await;
    let cds = c.next().await;
    assert!(
        cluster_names(&cds)
            .contains(&"outbound|9080||reviews.default.svc.cluster.local".to_string())
    );
    c.request(CLUSTER, &[], Some(&cds), None).await;
    c.request(LISTENER, &[], None, None).await;
    let lds = c.next().await;
    assert_eq!(lds.type_url, LISTENER);
    c.request(LISTENER, &[], Some(&lds), None).await;
    c.request(ROUTE_CONFIGURATION, &["9080"], None, None).await;
    let rds = c.next().await;
    c.request(ROUTE_CONFIGURATION, &["9080"], Some(&rds), None)
        .await;

    // A DestinationRule adds a subset cluster: CDS is pushed.
    std::fs::write(dir.join("dr.yaml"), SUBSETS).expect("write");
    let cds2 = c.next().await;
    assert_eq!(cds2.type_url, CLUSTER);
    assert!(
        cluster_names(&cds2)
            .contains(&"outbound|9080|v1|reviews.default.svc.cluster.local".to_string())
    );
    c.request(CLUSTER, &[], Some(&cds2), None).await;

    // A VirtualService changes the route: RDS is pushed, and the proxy rejects it.
    std::fs::write(dir.join("vs.yaml"), ROUTE_TO_V1).expect("write");
    let rds2 = c.next().await;
    assert_eq!(rds2.type_url, ROUTE_CONFIGURATION);
    let rc: RouteConfiguration = weft_xds::unpack(&rds2.resources[0]).expect("route");
    assert!(format!("{rc:?}").contains("outbound|9080|v1|reviews"));
    c.request(
        ROUTE_CONFIGURATION,
        &["9080"],
        Some(&rds2),
        Some("route 9080: test rejection"),
    )
    .await;

    // An invalid object is rejected and listed; the good set keeps serving.
    std::fs::write(dir.join("broken.yaml"), INVALID).expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let configz = http_get(cp.http_address, "/debug/configz").await;
    assert!(
        configz.contains("broken") && configz.contains("weight"),
        "{configz}"
    );
    let syncz = http_get(cp.http_address, "/debug/syncz").await;
    assert!(syncz.contains("route 9080: test rejection"), "{syncz}");
    let registryz = http_get(cp.http_address, "/debug/registryz").await;
    assert!(registryz.contains("10.1.0.11"), "{registryz}");
    let metrics = http_get(cp.http_address, "/metrics").await;
    assert!(
        metrics.contains("pilot_total_xds_rejects_total{type=\"rds\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("weft_rejected_configs 1"), "{metrics}");
    assert!(metrics.contains("pilot_xds 1"), "{metrics}");

    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

const GRPC_SERVICE: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  endpoints: [{address: 10.1.0.21}]
"#;

fn listener_names(r: &DiscoveryResponse) -> Vec<String> {
    r.resources
        .iter()
        .map(|a| weft_xds::unpack::<Listener>(a).expect("listener").name)
        .collect()
}

/// A proxyless gRPC client subscribes to LDS and CDS by name (not wildcard) and gets exactly
/// the resources it names, also when it adds a name in an ACK.
#[tokio::test]
async fn proxyless_grpc_client_gets_named_listeners_and_clusters() {
    let dir = temp_dir("proxyless");
    std::fs::write(dir.join("echo.yaml"), GRPC_SERVICE).expect("write");
    let cp = start(&dir).await;
    let node = Node {
        id: NODE.into(),
        metadata: Some(weft_xds::struct_from_json(
            &serde_json::json!({"GENERATOR": "grpc"}),
        )),
        ..Default::default()
    };
    let mut c = Client::connect_as(cp.xds_address, node).await;
    let target = "echo.default.svc.cluster.local:7070";

    c.request(LISTENER, &[target], None, None).await;
    let lds = c.next().await;
    assert_eq!(listener_names(&lds), vec![target.to_string()]);
    let l: Listener = weft_xds::unpack(&lds.resources[0]).expect("listener");
    assert!(l.api_listener.is_some(), "{l:?}");

    c.request(LISTENER, &[target, "nothing.example:1"], Some(&lds), None)
        .await;
    let again = c.next().await;
    assert_eq!(listener_names(&again), vec![target.to_string()]);
    c.request(LISTENER, &[target, "nothing.example:1"], Some(&again), None)
        .await;

    let cluster = "outbound|7070||echo.default.svc.cluster.local";
    c.request(CLUSTER, &[cluster], None, None).await;
    let cds = c.next().await;
    assert_eq!(cds.type_url, CLUSTER);
    assert_eq!(cluster_names(&cds), vec![cluster.to_string()]);

    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
