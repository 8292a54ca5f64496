#![allow(clippy::unwrap_used)]

use weft_xds::pack;
use weft_xds::pb::envoy::config::cluster::v3 as cl;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::endpoint::v3 as ep;
use weft_xds::pb::envoy::config::listener::v3 as li;
use weft_xds::pb::envoy::config::route::v3 as rt;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use weft_xds::pb::google::protobuf::{Any, Duration};

use super::*;
use crate::runtime::cluster::{Discovery, build_cluster, build_endpoints};
use crate::runtime::listener::build_listener;
use crate::runtime::route::build_route_table;
use crate::runtime::{NetworkKind, RouteSource};

fn addr(ip: &str, port: u32) -> core::Address {
    core::Address {
        address: Some(core::address::Address::SocketAddress(core::SocketAddress {
            address: ip.into(),
            port_specifier: Some(core::socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

fn rds_manager(typed_filter: Any) -> hcm::HttpConnectionManager {
    hcm::HttpConnectionManager {
        stat_prefix: "in".into(),
        route_specifier: Some(hcm::http_connection_manager::RouteSpecifier::Rds(
            hcm::Rds {
                route_config_name: "r1".into(),
                config_source: None,
            },
        )),
        http_filters: vec![hcm::HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(hcm::http_filter::ConfigType::TypedConfig(typed_filter)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn listener_of(manager: &hcm::HttpConnectionManager) -> li::Listener {
    li::Listener {
        name: "l1".into(),
        address: Some(addr("127.0.0.1", 10000)),
        filter_chains: vec![li::FilterChain {
            filters: vec![li::Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(li::filter::ConfigType::TypedConfig(pack(manager))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn hcm_listener(typed_filter: Any) -> li::Listener {
    listener_of(&rds_manager(typed_filter))
}

#[test]
fn manager_upgrades_and_header_limits_convert() {
    use weft_xds::pb::google::protobuf::{BoolValue, UInt32Value};
    let mut m = rds_manager(pack(&Router::default()));
    m.upgrade_configs = vec![hcm::http_connection_manager::UpgradeConfig {
        upgrade_type: "websocket".into(),
        enabled: Some(BoolValue { value: true }),
        ..Default::default()
    }];
    m.max_request_headers_kb = Some(UInt32Value { value: 96 });
    m.common_http_protocol_options = Some(core::HttpProtocolOptions {
        max_headers_count: Some(UInt32Value { value: 50 }),
        ..Default::default()
    });
    m.request_headers_timeout = Some(Duration {
        seconds: 2,
        nanos: 0,
    });
    let built = build_listener(&listener(&listener_of(&m)).unwrap()).unwrap();
    let NetworkKind::Http(h) = &built.chains[0].kind else {
        panic!("not an HCM");
    };
    assert!(crate::runtime::upgrade::upgrade_allowed(
        &h.upgrades,
        &Default::default(),
        "websocket"
    ));
    assert_eq!(
        (h.max_request_headers_bytes, h.max_headers_count),
        (96 * 1024, 50)
    );
    assert_eq!(
        h.request_headers_timeout,
        Some(std::time::Duration::from_secs(2))
    );
    m.upgrade_configs[0].upgrade_type = String::new();
    let err = build_listener(&listener(&listener_of(&m)).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("upgrade_configs[0].upgrade_type"),
        "{err}"
    );
}

#[test]
fn manager_timeouts_take_envoys_defaults_and_zero_disables() {
    use std::time::Duration as D;
    let built_hcm = |m: &hcm::HttpConnectionManager| {
        let built = build_listener(&listener(&listener_of(m)).unwrap()).unwrap();
        let NetworkKind::Http(h) = &built.chains[0].kind else {
            panic!("not an HCM");
        };
        (
            h.stream_idle_timeout,
            h.idle_timeout,
            h.max_connection_duration,
            h.request_timeout,
        )
    };
    let mut m = rds_manager(pack(&Router::default()));
    assert_eq!(
        built_hcm(&m),
        (
            Some(D::from_secs(300)),
            Some(D::from_secs(3600)),
            None,
            None
        )
    );
    let zero = Some(Duration {
        seconds: 0,
        nanos: 0,
    });
    let two = Some(Duration {
        seconds: 2,
        nanos: 0,
    });
    m.stream_idle_timeout = zero;
    m.request_timeout = two;
    m.common_http_protocol_options = Some(core::HttpProtocolOptions {
        idle_timeout: zero,
        max_connection_duration: two,
        ..Default::default()
    });
    let two = Some(D::from_secs(2));
    assert_eq!(built_hcm(&m), (None, None, two, two));
}

#[test]
fn listener_with_rds_converts_and_compiles() {
    let model = listener(&hcm_listener(pack(&Router::default()))).unwrap();
    let built = build_listener(&model).unwrap();
    assert_eq!(built.addr.to_string(), "127.0.0.1:10000");
    let NetworkKind::Http(h) = &built.chains[0].kind else {
        panic!("not http")
    };
    assert!(matches!(&h.routes, RouteSource::Rds(n) if n == "r1"));
}

#[test]
fn listener_rejects_unknown_http_filter_type() {
    let other = Any {
        type_url: "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz".into(),
        value: vec![],
    };
    let err = listener(&hcm_listener(other)).unwrap_err().to_string();
    assert!(
        err.starts_with("Listener l1: filter_chains[0].filters[0].typed_config.http_filters[0].typed_config: unknown HTTP filter type"),
        "{err}"
    );
}

#[test]
fn listener_rejects_unsupported_field() {
    let mut l = hcm_listener(pack(&Router::default()));
    l.reuse_port = true;
    let err = listener(&l).unwrap_err().to_string();
    assert!(err.starts_with("Listener l1: field number"), "{err}");
}

fn route_config() -> rt::RouteConfiguration {
    rt::RouteConfiguration {
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
                        "c1".into(),
                    )),
                    timeout: Some(Duration {
                        seconds: 2,
                        nanos: 0,
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn route_configuration_converts_and_compiles() {
    let model = route_configuration(&route_config()).unwrap();
    let route = &model.virtual_hosts[0].routes[0];
    assert_eq!(route.match_.prefix.as_deref(), Some("/"));
    assert_eq!(route.route.as_ref().unwrap().cluster.as_deref(), Some("c1"));
    build_route_table("RouteConfiguration r1", &model).unwrap();
}

#[test]
fn route_retry_policy_converts_and_rejects_unknown_parts() {
    let mut rc = route_config();
    let rt::route::Action::Route(a) = rc.virtual_hosts[0].routes[0].action.as_mut().unwrap() else {
        panic!()
    };
    a.retry_policy = Some(rt::RetryPolicy {
        retry_on: "5xx,connect-failure".into(),
        num_retries: Some(weft_xds::pb::google::protobuf::UInt32Value { value: 3 }),
        ..Default::default()
    });
    let model = route_configuration(&rc).unwrap();
    let table = build_route_table("RouteConfiguration r1", &model).unwrap();
    let crate::runtime::route::Action::Forward(f) = &table.virtual_hosts[0].routes[0].action else {
        panic!("not forward")
    };
    assert_eq!(f.retry.as_ref().unwrap().num_retries, 3);
    let rt::route::Action::Route(a) = rc.virtual_hosts[0].routes[0].action.as_mut().unwrap() else {
        panic!()
    };
    a.retry_policy.as_mut().unwrap().retry_on = "5xx,bogus".into();
    let model = route_configuration(&rc).unwrap();
    let err = build_route_table("RouteConfiguration r1", &model)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "RouteConfiguration r1: virtual_hosts[0].routes[0].route.retry_policy.retry_on: unknown"
        ),
        "{err}"
    );
    let rt::route::Action::Route(a) = rc.virtual_hosts[0].routes[0].action.as_mut().unwrap() else {
        panic!()
    };
    a.retry_policy.as_mut().unwrap().retry_priority = Some(Default::default());
    let err = route_configuration(&rc).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "RouteConfiguration r1: virtual_hosts[0].routes[0].route.retry_policy: field number"
        ),
        "{err}"
    );
}

fn abort_30_percent() -> weft_xds::pb::envoy::extensions::filters::http::fault::v3::HttpFault {
    use weft_xds::pb::envoy::extensions::filters::http::fault::v3 as fault;
    use weft_xds::pb::envoy::r#type::v3::FractionalPercent;
    fault::HttpFault {
        abort: Some(fault::FaultAbort {
            percentage: Some(FractionalPercent {
                numerator: 30,
                denominator: 0,
            }),
            error_type: Some(fault::fault_abort::ErrorType::HttpStatus(503)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn fault_and_cors_filters_convert() {
    use weft_xds::pb::envoy::extensions::filters::http::cors::v3 as cors;
    let f = abort_30_percent();
    let mut l = hcm_listener(pack(&Router::default()));
    let Some(li::filter::ConfigType::TypedConfig(any)) = &l.filter_chains[0].filters[0].config_type
    else {
        panic!()
    };
    let mut manager: hcm::HttpConnectionManager = weft_xds::unpack(any).unwrap();
    let filter = |name: &str, any: Any| hcm::HttpFilter {
        name: name.into(),
        config_type: Some(hcm::http_filter::ConfigType::TypedConfig(any)),
        ..Default::default()
    };
    manager.http_filters.insert(
        0,
        filter("envoy.filters.http.cors", pack(&cors::Cors::default())),
    );
    manager
        .http_filters
        .insert(0, filter("envoy.filters.http.fault", pack(&f)));
    l.filter_chains[0].filters[0].config_type =
        Some(li::filter::ConfigType::TypedConfig(pack(&manager)));
    let built = build_listener(&listener(&l).unwrap()).unwrap();
    let NetworkKind::Http(h) = &built.chains[0].kind else {
        panic!("not http")
    };
    assert_eq!(h.http_filters.len(), 2);
}

#[test]
fn per_filter_overrides_convert_and_unknown_types_are_rejected() {
    use weft_xds::pb::envoy::extensions::filters::http::cors::v3 as cors;
    use weft_xds::pb::envoy::r#type::matcher::v3 as mt;
    let f = abort_30_percent();
    let mut rc = route_config();
    rc.virtual_hosts[0].routes[0]
        .typed_per_filter_config
        .insert("envoy.filters.http.fault".into(), pack(&f));
    rc.virtual_hosts[0].typed_per_filter_config.insert(
        "envoy.filters.http.cors".into(),
        pack(&cors::CorsPolicy {
            allow_origin_string_match: vec![mt::StringMatcher {
                match_pattern: Some(mt::string_matcher::MatchPattern::Exact(
                    "https://a.com".into(),
                )),
                ..Default::default()
            }],
            ..Default::default()
        }),
    );
    let table =
        build_route_table("RouteConfiguration r1", &route_configuration(&rc).unwrap()).unwrap();
    let route = &table.virtual_hosts[0].routes[0];
    assert!(route.filters.fault("envoy.filters.http.fault").is_some());
    assert!(
        route
            .filters
            .cors("envoy.filters.http.cors")
            .unwrap()
            .origin_allowed("https://a.com")
    );
    rc.virtual_hosts[0].routes[0]
        .typed_per_filter_config
        .insert("x".into(), pack(&Router::default()));
    let err = route_configuration(&rc).unwrap_err().to_string();
    assert!(
        err.starts_with("RouteConfiguration r1: virtual_hosts[0].routes[0].typed_per_filter_config.x: unsupported per-filter config type"),
        "{err}"
    );
}

#[test]
fn eds_cluster_converts_and_compiles() {
    let c = cl::Cluster {
        name: "c1".into(),
        cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(
            cl::cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cl::cluster::EdsClusterConfig {
            eds_config: Some(core::ConfigSource::default()),
            service_name: "svc".into(),
        }),
        lb_policy: cl::cluster::LbPolicy::LeastRequest as i32,
        ..Default::default()
    };
    let built = build_cluster(&cluster(&c).unwrap()).unwrap();
    assert_eq!(
        built.discovery,
        Discovery::Eds {
            service_name: "svc".into()
        }
    );
}

#[test]
fn cluster_rejects_dns_without_endpoints_murmur_and_tls() {
    let mut c = cl::Cluster {
        name: "c1".into(),
        cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(
            cl::cluster::DiscoveryType::StrictDns as i32,
        )),
        ..Default::default()
    };
    let model = cluster(&c).unwrap();
    let err = build_cluster(&model).unwrap_err().to_string();
    assert_eq!(
        err,
        "Cluster c1: load_assignment: is required for STRICT_DNS and LOGICAL_DNS clusters"
    );
    c.cluster_discovery_type = None;
    c.lb_policy = cl::cluster::LbPolicy::RingHash as i32;
    c.lb_config = Some(cl::cluster::LbConfig::RingHashLbConfig(
        cl::cluster::RingHashLbConfig {
            hash_function: cl::cluster::ring_hash_lb_config::HashFunction::MurmurHash2 as i32,
            ..Default::default()
        },
    ));
    let err = build_cluster(&cluster(&c).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Cluster c1: ring_hash_lb_config.hash_function: "),
        "{err}"
    );
    c.transport_socket = Some(core::TransportSocket::default());
    let err = cluster(&c).unwrap_err().to_string();
    assert_eq!(
        err,
        "Cluster c1: transport_socket.typed_config: is required"
    );
}

#[test]
fn istio_passthrough_and_policies_convert() {
    use weft_xds::pb::google::protobuf::UInt32Value;
    let u = |value| Some(UInt32Value { value });
    let c = cl::Cluster {
        name: "PassthroughCluster".into(),
        cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(
            cl::cluster::DiscoveryType::OriginalDst as i32,
        )),
        lb_policy: cl::cluster::LbPolicy::ClusterProvided as i32,
        circuit_breakers: Some(cl::CircuitBreakers {
            thresholds: vec![cl::circuit_breakers::Thresholds {
                max_connections: u(u32::MAX),
                max_requests: u(10),
                track_remaining: true,
                ..Default::default()
            }],
            ..Default::default()
        }),
        outlier_detection: Some(cl::OutlierDetection {
            consecutive_5xx: u(3),
            enforcing_success_rate: u(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let built = build_cluster(&cluster(&c).unwrap()).unwrap();
    assert!(matches!(built.discovery, Discovery::OriginalDst { .. }));
    assert_eq!(built.breakers.max_connections, None);
    assert_eq!(built.breakers.max_requests, Some(10));
    assert_eq!(built.outlier.map(|o| o.consecutive_5xx), Some(3));
    let mut wrong = c.clone();
    wrong.lb_policy = 0;
    let err = build_cluster(&cluster(&wrong).unwrap()).unwrap_err();
    assert_eq!(err.path, "lb_policy");
}

#[test]
fn load_assignment_converts_and_rejects_bad_address() {
    let mut la = ep::ClusterLoadAssignment {
        cluster_name: "svc".into(),
        endpoints: vec![ep::LocalityLbEndpoints {
            lb_endpoints: vec![ep::LbEndpoint {
                host_identifier: Some(ep::lb_endpoint::HostIdentifier::Endpoint(ep::Endpoint {
                    address: Some(addr("10.0.0.1", 80)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let model = load_assignment(&la).unwrap();
    let at = crate::error::At::new("ClusterLoadAssignment svc");
    let eps = build_endpoints(&at, &model).unwrap();
    assert_eq!(eps[0].addr.to_string(), "10.0.0.1:80");
    la.endpoints[0].lb_endpoints[0].host_identifier =
        Some(ep::lb_endpoint::HostIdentifier::EndpointName("x".into()));
    let err = load_assignment(&la).unwrap_err().to_string();
    assert_eq!(
        err,
        "ClusterLoadAssignment svc: endpoints[0].lb_endpoints[0].endpoint_name: named endpoints are not supported"
    );
}

#[test]
fn upstream_bind_config_takes_the_source_address_and_rejects_the_rest() {
    let source = core::SocketAddress {
        address: "127.0.0.6".into(),
        port_specifier: Some(core::socket_address::PortSpecifier::PortValue(0)),
        ..Default::default()
    };
    let mut c = cl::Cluster {
        name: "InboundPassthroughCluster".into(),
        upstream_bind_config: Some(core::BindConfig {
            source_address: Some(source),
            ..Default::default()
        }),
        ..Default::default()
    };
    let built = build_cluster(&cluster(&c).unwrap()).unwrap();
    assert_eq!(built.source_address, Some("127.0.0.6:0".parse().unwrap()));
    if let Some(b) = c.upstream_bind_config.as_mut() {
        b.freebind = Some(weft_xds::pb::google::protobuf::BoolValue { value: true });
    }
    let err = cluster(&c).unwrap_err().to_string();
    assert!(
        err.starts_with("Cluster InboundPassthroughCluster: upstream_bind_config: field number 2 "),
        "{err}"
    );
}
