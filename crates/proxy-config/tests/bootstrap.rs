//! Bootstrap loading: positioned errors and static resources.

use weft_proxy_config::bootstrap::load_str;
use weft_proxy_config::runtime::NetworkKind;

const GOOD: &str = r#"
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 15000 }
static_resources:
  listeners:
  - name: tcp
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: backend
          idle_timeout: 10s
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 0.25s
    lb_policy: LEAST_REQUEST
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9000 } } }
        - endpoint: { address: { socket_address: { address: 127.0.0.2, port_value: 9000 } } }
          load_balancing_weight: 3
"#;

#[test]
fn loads_static_listener_and_cluster() {
    let (b, snap) = load_str("b.yaml", GOOD).expect("loads");
    assert_eq!(b.static_resources.listeners.len(), 1);
    let l = &snap.listeners["tcp"];
    assert_eq!(l.addr.to_string(), "127.0.0.1:10000");
    match &l.chains[0].kind {
        NetworkKind::Tcp(t) => assert_eq!(t.idle_timeout, Some(std::time::Duration::from_secs(10))),
        other => panic!("unexpected {other:?}"),
    }
    let c = &snap.clusters["backend"];
    assert_eq!(c.connect_timeout, std::time::Duration::from_millis(250));
    assert_eq!(c.endpoints.len(), 2);
    assert_eq!(c.endpoints[1].weight, 3);
}

#[test]
fn unknown_field_points_at_its_line() {
    let text = GOOD.replace(
        "    lb_policy: LEAST_REQUEST",
        "    lb_policy: LEAST_REQUEST\n    bogus_field: 1",
    );
    let err = load_str("b.yaml", &text).expect_err("unknown field");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "b.yaml:23: static_resources.clusters[0].bogus_field: unknown field `bogus_field`"
        ),
        "{msg}"
    );
}

#[test]
fn bad_value_has_path_and_line() {
    let text = GOOD.replace("connect_timeout: 0.25s", "connect_timeout: 250ms");
    let msg = load_str("b.yaml", &text)
        .expect_err("bad duration")
        .to_string();
    assert!(
        msg.starts_with(
            "b.yaml:21: static_resources.clusters[0].connect_timeout: invalid duration"
        ),
        "{msg}"
    );
}

#[test]
fn semantic_error_names_resource_and_field() {
    let text = GOOD.replace("address: 127.0.0.2", "address: not-an-ip");
    let msg = load_str("b.yaml", &text).expect_err("bad ip").to_string();
    assert_eq!(
        msg,
        "b.yaml:28: Cluster backend: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.address: \"not-an-ip\" is not an IP address (host names need a STRICT_DNS or LOGICAL_DNS cluster)"
    );
    let text = GOOD.replace("          cluster: backend\n", "");
    let msg = load_str("b.yaml", &text)
        .expect_err("no cluster")
        .to_string();
    assert!(msg.contains("Listener tcp: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: one of cluster, weighted_clusters is required"), "{msg}");
}

#[test]
fn unknown_typed_config_is_rejected() {
    let text = GOOD.replace("tcp_proxy.v3.TcpProxy", "redis_proxy.v3.RedisProxy");
    let msg = load_str("b.yaml", &text)
        .expect_err("unknown type")
        .to_string();
    assert!(msg.contains("unknown variant"), "{msg}");
    assert!(
        msg.contains("static_resources.listeners[0].filter_chains[0].filters[0].typed_config"),
        "{msg}"
    );
}

#[test]
fn shipped_example_bootstrap_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/proxy/bootstrap.yaml");
    let (b, snap) =
        weft_proxy_config::bootstrap::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.static_resources.listeners.len(), 2);
    assert!(snap.clusters.contains_key("backend"));
}

#[test]
fn ads_api_type_selects_sotw_or_delta_and_rejects_others() {
    use weft_proxy_config::model::bootstrap::AdsApiType;
    let with = |api: &str| {
        format!(
            "{GOOD}dynamic_resources:\n  ads_config:\n    api_type: {api}\n    grpc_services: [{{ envoy_grpc: {{ cluster_name: backend }} }}]\n"
        )
    };
    let api = |text: &str| {
        let (b, _) = load_str("b.yaml", text).expect("loads");
        b.dynamic_resources.unwrap().ads_api_type().unwrap()
    };
    assert_eq!(api(&with("GRPC")), Some(AdsApiType::Grpc));
    assert_eq!(api(&with("DELTA_GRPC")), Some(AdsApiType::DeltaGrpc));
    let err = load_str("b.yaml", &with("REST")).expect_err("REST is not ADS");
    let line = GOOD.lines().count() + 3;
    assert_eq!(
        err.to_string(),
        format!(
            "b.yaml:{line}: dynamic_resources.ads_config.api_type: \"REST\" is not supported for ADS (GRPC or DELTA_GRPC)"
        )
    );
}

#[test]
fn static_secrets_and_transport_sockets_have_positioned_errors() {
    let secrets = "static_resources:\n  secrets:\n  - name: default\n    tls_certificate:\n      certificate_chain: { inline_string: nope }\n      private_key: { inline_string: nope }\n";
    let err = load_str("b.yaml", secrets).unwrap_err().to_string();
    assert_eq!(
        err,
        "b.yaml:5: Secret default: static_resources.secrets[0].tls_certificate.certificate_chain: no PEM CERTIFICATE block found"
    );
    let dup = "static_resources:\n  secrets:\n  - name: ROOTCA\n    validation_context: { trusted_ca: { inline_string: \"-----BEGIN CERTIFICATE-----\\nA\\n-----END CERTIFICATE-----\" } }\n  - name: ROOTCA\n    validation_context: { trusted_ca: { inline_string: \"-----BEGIN CERTIFICATE-----\\nA\\n-----END CERTIFICATE-----\" } }\n";
    let err = load_str("b.yaml", dup).unwrap_err().to_string();
    assert_eq!(
        err,
        "b.yaml:5: Secret ROOTCA: static_resources.secrets[1].name: duplicate Secret name \"ROOTCA\""
    );
    let unknown = GOOD.replace(
        "    filter_chains:\n    - filters:",
        "    filter_chains:\n    - transport_socket:\n        name: tls\n        typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n          require_sni: true\n      filters:",
    );
    let err = load_str("b.yaml", &unknown).unwrap_err().to_string();
    assert!(err.starts_with("b.yaml:14: static_resources.listeners[0].filter_chains[0].transport_socket.typed_config"), "{err}");
    assert!(err.contains("unknown field `require_sni`"), "{err}");
}
