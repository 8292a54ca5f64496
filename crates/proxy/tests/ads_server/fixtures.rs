//! Resources, bootstraps and polling shared by the ADS tests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft_xds::pack;
use weft_xds::pb::envoy::config::cluster::v3 as cl;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::endpoint::v3 as ep;
use weft_xds::pb::envoy::config::listener::v3 as li;
use weft_xds::pb::envoy::config::route::v3 as rt;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

use crate::common;

pub fn addr(a: SocketAddr) -> core::Address {
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

pub fn listener(name: &str, port: u16, http_filter: Any) -> (String, String, Any) {
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

pub fn route(cluster: &str) -> (String, String, Any) {
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

pub fn eds_cluster(name: &str, backend: SocketAddr) -> Vec<(String, String, Any)> {
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

pub fn bootstrap(ads: SocketAddr, api_type: &str) -> String {
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
    api_type: {api_type}
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
pub async fn backend_of(port: u16) -> Result<String, String> {
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
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
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
