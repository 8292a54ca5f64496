//! The ADS client against an in-process ADS server: initial config, an update that moves
//! traffic, a NACKed bad resource next to an accepted good one, and a server restart.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ads_server::AdsServer;
use weft_xds::pack;
use weft_xds::pb::envoy::config::cluster::v3 as cl;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::endpoint::v3 as ep;
use weft_xds::pb::envoy::config::listener::v3 as li;
use weft_xds::pb::envoy::config::route::v3 as rt;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

fn addr(a: SocketAddr) -> core::Address {
    core::Address {
        address: Some(core::address::Address::SocketAddress(core::SocketAddress {
            address: a.ip().to_string(),
            port_specifier: Some(core::socket_address::PortSpecifier::PortValue(
                a.port().into(),
            )),
            ..Default::default()
        })),
    }
}

fn listener(name: &str, port: u16, http_filter: Any) -> (String, String, Any) {
    let manager = hcm::HttpConnectionManager {
        stat_prefix: name.into(),
        route_specifier: Some(hcm::http_connection_manager::RouteSpecifier::Rds(
            hcm::Rds {
                route_config_name: "r1".into(),
                config_source: Some(core::ConfigSource::default()),
            },
        )),
        http_filters: vec![hcm::HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(hcm::http_filter::ConfigType::TypedConfig(http_filter)),
            ..Default::default()
        }],
        ..Default::default()
    };
    let l = li::Listener {
        name: name.into(),
        address: Some(addr(([127, 0, 0, 1], port).into())),
        filter_chains: vec![li::FilterChain {
            filters: vec![li::Filter {
                name: "hcm".into(),
                config_type: Some(li::filter::ConfigType::TypedConfig(pack(&manager))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    (type_url::LISTENER.into(), name.into(), pack(&l))
}

fn route(cluster: &str) -> (String, String, Any) {
    let r = rt::RouteConfiguration {
        name: "r1".into(),
        virtual_hosts: vec![rt::VirtualHost {
            name: "all".into(),
            domains: vec!["*".into()],
            routes: vec![rt::Route {
                r#match: Some(rt::RouteMatch {
                    path_specifier: Some(rt::route_match::PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(rt::route::Action::Route(rt::RouteAction {
                    cluster_specifier: Some(rt::route_action::ClusterSpecifier::Cluster(
                        cluster.into(),
                    )),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    (type_url::ROUTE_CONFIGURATION.into(), "r1".into(), pack(&r))
}

fn eds_cluster(name: &str, backend: SocketAddr) -> Vec<(String, String, Any)> {
    let c = cl::Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(
            cl::cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cl::cluster::EdsClusterConfig {
            eds_config: Some(core::ConfigSource::default()),
            service_name: format!("{name}.svc"),
        }),
        ..Default::default()
    };
    let la = ep::ClusterLoadAssignment {
        cluster_name: format!("{name}.svc"),
        endpoints: vec![ep::LocalityLbEndpoints {
            lb_endpoints: vec![ep::LbEndpoint {
                host_identifier: Some(ep::lb_endpoint::HostIdentifier::Endpoint(ep::Endpoint {
                    address: Some(addr(backend)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    vec![
        (type_url::CLUSTER.into(), name.into(), pack(&c)),
        (
            type_url::CLUSTER_LOAD_ASSIGNMENT.into(),
            format!("{name}.svc"),
            pack(&la),
        ),
    ]
}

fn bootstrap(ads: SocketAddr) -> String {
    let admin = common::free_port();
    format!(
        r#"
node:
  id: sidecar~127.0.0.1~t.default~default.svc.cluster.local
  cluster: t.default
  metadata: {{ NAMESPACE: default }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{{ envoy_grpc: {{ cluster_name: xds-grpc }} }}]
  cds_config: {{ ads: {{}}, resource_api_version: V3 }}
  lds_config: {{ ads: {{}}, resource_api_version: V3 }}
static_resources:
  clusters:{}"#,
        common::cluster("xds-grpc", &[ads], "    http2_protocol_options: {}")
    )
}

/// The backend that answered, or why there was no answer.
async fn backend_of(port: u16) -> Result<String, String> {
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    if tokio::net::TcpStream::connect(target).await.is_err() {
        return Err("not listening".into());
    }
    let r = tokio::time::timeout(Duration::from_secs(2), common::get(target, "x", "/", &[]))
        .await
        .map_err(|_| "timeout".to_string())?;
    r.json()["backend"]
        .as_str()
        .map(str::to_string)
        .ok_or(format!("status {}", r.status))
}

/// Polls `check` every 50ms for at most 10s.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ads_applies_updates_nacks_bad_resources_and_reconnects() {
    let one = common::backend("one").await;
    let two = common::backend("two").await;
    let (port, port2) = (common::free_port(), common::free_port());
    let server = AdsServer::start(([127, 0, 0, 1], 0).into(), None).await;
    let ads_addr = server.addr;
    let mut v1 = vec![listener("l1", port, pack(&Router::default())), route("c1")];
    v1.extend(eds_cluster("c1", one));
    server.shared.set("1", v1);
    let proxy = common::proxy(&bootstrap(ads_addr)).await;

    check_initial(&server, &proxy, port).await;
    let v2 = move_route(&server, port, one, two).await;
    check_nack(&server, &proxy, v2, port, port2).await;
    restart(server, &proxy, ads_addr, port).await;
}

/// Traffic flows, the node identity and the EDS subscription are as expected.
async fn check_initial(server: &AdsServer, proxy: &weft_proxy::Proxy, port: u16) {
    wait_until("traffic to backend one", || async {
        backend_of(port).await.as_deref() == Ok("one")
    })
    .await;
    let first = server.shared.requests();
    let node = first[0].node.as_ref().expect("node on the first request");
    assert_eq!(
        node.id,
        "sidecar~127.0.0.1~t.default~default.svc.cluster.local"
    );
    let md = weft_xds::struct_to_json(node.metadata.as_ref().unwrap());
    assert_eq!(md["NAMESPACE"], "default");
    let eds_req = first
        .iter()
        .find(|r| r.type_url == type_url::CLUSTER_LOAD_ASSIGNMENT)
        .unwrap();
    assert_eq!(eds_req.resource_names, vec!["c1.svc".to_string()]);
    assert!(common::admin(proxy, "/ready").await.status == 200);
}

/// An update moves the route to a second EDS cluster; returns the resources pushed.
async fn move_route(
    server: &AdsServer,
    port: u16,
    one: SocketAddr,
    two: SocketAddr,
) -> Vec<(String, String, Any)> {
    let mut v2 = vec![listener("l1", port, pack(&Router::default())), route("c2")];
    v2.extend(eds_cluster("c1", one));
    v2.extend(eds_cluster("c2", two));
    server.shared.set("2", v2.clone());
    wait_until("traffic to backend two", || async {
        backend_of(port).await.as_deref() == Ok("two")
    })
    .await;

    v2
}

/// A bad listener is NACKed by name; the good new listener of the same response is applied.
async fn check_nack(
    server: &AdsServer,
    proxy: &weft_proxy::Proxy,
    v2: Vec<(String, String, Any)>,
    port: u16,
    port2: u16,
) {
    let cors = Any {
        type_url: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors".into(),
        value: vec![],
    };
    let mut v3 = v2;
    v3.push(listener("bad", common::free_port(), cors));
    v3.push(listener("l2", port2, pack(&Router::default())));
    server.shared.set("3", v3);
    let nack = || {
        server
            .shared
            .requests()
            .into_iter()
            .find(|r| r.type_url == type_url::LISTENER && r.error_detail.is_some())
    };
    wait_until("a listener NACK", || async { nack().is_some() }).await;
    let nack = nack().unwrap();
    let detail = nack.error_detail.unwrap().message;
    assert!(
        detail.contains("Listener bad: filter_chains[0]"),
        "{detail}"
    );
    assert_eq!(
        nack.version_info, "2",
        "a NACK carries the last ACKed version"
    );
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    wait_until("the good listener of the NACKed response", || async {
        backend_of(port2).await.as_deref() == Ok("two")
    })
    .await;
    let status = common::admin(proxy, "/debug/ads").await.json();
    let lds = &status["types"][type_url::LISTENER];
    assert_eq!(lds["acked_version"], "2", "{status}");
    assert!(
        lds["last_nack"]["error"]
            .as_str()
            .unwrap()
            .contains("Listener bad")
    );
    assert_eq!(
        status["types"][type_url::CLUSTER]["acked_version"],
        "3",
        "{status}"
    );
}

/// The control plane goes away: the proxy keeps serving, then reconnects.
async fn restart(server: AdsServer, proxy: &weft_proxy::Proxy, ads_addr: SocketAddr, port: u16) {
    let shared = server.kill().await;
    wait_until("the proxy to notice the disconnect", || async {
        common::admin(proxy, "/debug/ads").await.json()["connected"] == false
    })
    .await;
    for _ in 0..5 {
        assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    }
    let streams_before = shared.streams();
    let server = AdsServer::start(ads_addr, Some(shared)).await;
    wait_until("a reconnect", || async {
        server.shared.streams() > streams_before
            && common::admin(proxy, "/debug/ads").await.json()["connected"] == true
    })
    .await;
    let last_cds = server
        .shared
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.type_url == type_url::CLUSTER && r.response_nonce.is_empty())
        .unwrap();
    assert_eq!(
        last_cds.version_info, "3",
        "resubscribes with the last ACKed version"
    );
    assert!(
        last_cds.node.is_some(),
        "node on the first request of the new stream"
    );
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
}
