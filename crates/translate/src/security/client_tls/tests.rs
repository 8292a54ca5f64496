//! Auto mTLS per endpoint and explicit DestinationRule modes, seen through the translated
//! clusters and load assignments of a sidecar.

use std::sync::Arc;

use weft_config::model::mesh::MeshConfig;
use weft_registry::{Registry, RegistryOptions};
use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::core::v3::address;
use weft_xds::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint};

use super::SOCKET_MATCH_NAMESPACE;
use crate::{Context, NodeMetadata, Proxy, Resources, generate_for};

const CLUSTER: &str = "outbound|9080||ratings.default.svc.cluster.local";

/// The `ratings` service with one pod per `(ip, labels)`.
fn mesh_with_ratings(pods: &[(&str, &str)], extra: &str) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: default}\n\
         spec: {clusterIP: 10.96.0.21, selector: {app: ratings}, ports: [{name: http, port: 9080}]}\n",
    );
    for (i, (ip, labels)) in pods.iter().enumerate() {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\n\
             metadata: {{name: ratings-{i}, namespace: default, labels: {{app: ratings{labels}}}}}\n\
             spec: {{serviceAccountName: ratings, containers: [{{name: app}}]}}\n\
             status: {{phase: Running, podIP: {ip}}}\n"
        ));
    }
    yaml.push_str(extra);
    yaml
}

const SIDECAR: &str = ", security.istio.io/tlsMode: istio";

fn translate(yaml: &str, mesh: &str) -> Resources {
    let loaded = weft_config::load_str("test.yaml", yaml, &Default::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.problems);
    let registry = Arc::new(Registry::build(
        &loaded.objects,
        &RegistryOptions::default(),
    ));
    let mesh = MeshConfig::from_yaml("mesh", mesh).expect("mesh");
    let ctx = Context::new(&loaded.objects, registry, mesh);
    let proxy = Proxy::parse(
        "sidecar~10.1.0.9~client.default~default.svc.cluster.local",
        &NodeMetadata::default(),
    )
    .expect("proxy");
    generate_for(&ctx, &proxy)
}

fn cluster(r: &Resources) -> &Cluster {
    r.clusters
        .iter()
        .find(|c| c.name == CLUSTER)
        .expect("ratings cluster")
}

/// `(address, tlsMode metadata)` of every endpoint of the ratings cluster.
fn endpoint_modes(r: &Resources) -> Vec<(String, Option<serde_json::Value>)> {
    let la: &ClusterLoadAssignment = r
        .endpoints
        .iter()
        .find(|la| la.cluster_name == CLUSTER)
        .expect("ratings assignment");
    let mut out: Vec<_> = la
        .endpoints
        .iter()
        .flat_map(|l| &l.lb_endpoints)
        .map(|lb| {
            let Some(lb_endpoint::HostIdentifier::Endpoint(ep)) = &lb.host_identifier else {
                panic!("endpoint without address");
            };
            let Some(address::Address::SocketAddress(sa)) =
                ep.address.as_ref().and_then(|a| a.address.as_ref())
            else {
                panic!("not a socket address");
            };
            let md = lb
                .metadata
                .as_ref()
                .and_then(|m| m.filter_metadata.get(SOCKET_MATCH_NAMESPACE))
                .map(weft_xds::struct_to_json);
            (sa.address.clone(), md)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn match_names(c: &Cluster) -> Vec<&str> {
    c.transport_socket_matches
        .iter()
        .map(|m| m.name.as_str())
        .collect()
}

fn istio() -> Option<serde_json::Value> {
    Some(serde_json::json!({"tlsMode": "istio"}))
}

#[test]
fn mixed_endpoints_choose_tls_per_endpoint() {
    let r = translate(
        &mesh_with_ratings(&[("10.1.0.21", SIDECAR), ("10.1.0.22", "")], ""),
        "",
    );
    let c = cluster(&r);
    assert!(c.transport_socket.is_none());
    assert_eq!(match_names(c), ["tlsMode-istio", "tlsMode-disabled"]);
    let istio_match = &c.transport_socket_matches[0];
    assert_eq!(
        istio_match.r#match.as_ref().map(weft_xds::struct_to_json),
        istio()
    );
    let socket = istio_match.transport_socket.as_ref().expect("tls socket");
    assert_eq!(socket.name, "envoy.transport_sockets.tls");
    let plain = c.transport_socket_matches[1].transport_socket.as_ref();
    assert_eq!(
        plain.map(|s| s.name.as_str()),
        Some("envoy.transport_sockets.raw_buffer")
    );
    assert_eq!(
        endpoint_modes(&r),
        [("10.1.0.21".into(), istio()), ("10.1.0.22".into(), None)]
    );
}

#[test]
fn an_endpoint_whose_workload_disables_mtls_gets_no_tls_mode() {
    let disable = "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
        metadata: {name: plain, namespace: default}\n\
        spec: {selector: {matchLabels: {legacy: \"yes\"}}, mtls: {mode: DISABLE}}\n";
    let pods = [
        ("10.1.0.21", SIDECAR),
        (
            "10.1.0.23",
            ", legacy: \"yes\", security.istio.io/tlsMode: istio",
        ),
    ];
    let r = translate(&mesh_with_ratings(&pods, disable), "");
    assert_eq!(match_names(cluster(&r)).len(), 2);
    assert_eq!(
        endpoint_modes(&r),
        [("10.1.0.21".into(), istio()), ("10.1.0.23".into(), None)]
    );
}

#[test]
fn no_sidecar_endpoint_means_plaintext_without_matches() {
    let r = translate(&mesh_with_ratings(&[("10.1.0.22", "")], ""), "");
    let c = cluster(&r);
    assert!(c.transport_socket.is_none() && c.transport_socket_matches.is_empty());
    assert_eq!(endpoint_modes(&r), [("10.1.0.22".into(), None)]);
}

#[test]
fn auto_mtls_can_be_turned_off_mesh_wide() {
    let r = translate(
        &mesh_with_ratings(&[("10.1.0.21", SIDECAR)], ""),
        "{enableAutoMtls: false}",
    );
    let c = cluster(&r);
    assert!(c.transport_socket.is_none() && c.transport_socket_matches.is_empty());
    assert_eq!(endpoint_modes(&r), [("10.1.0.21".into(), None)]);
}

fn rule(mode: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {{name: ratings, namespace: default}}\n\
         spec: {{host: ratings, trafficPolicy: {{tls: {{mode: {mode}}}}}}}\n"
    )
}

#[test]
fn an_explicit_istio_mutual_rule_overrides_auto_mtls() {
    let pods = [("10.1.0.21", SIDECAR), ("10.1.0.22", "")];
    let r = translate(&mesh_with_ratings(&pods, &rule("ISTIO_MUTUAL")), "");
    let c = cluster(&r);
    assert!(c.transport_socket_matches.is_empty());
    assert_eq!(
        c.transport_socket.as_ref().map(|s| s.name.as_str()),
        Some("envoy.transport_sockets.tls")
    );
    assert_eq!(
        endpoint_modes(&r),
        [("10.1.0.21".into(), None), ("10.1.0.22".into(), None)]
    );
}

#[test]
fn an_explicit_disable_rule_overrides_auto_mtls() {
    let r = translate(
        &mesh_with_ratings(&[("10.1.0.21", SIDECAR)], &rule("DISABLE")),
        "",
    );
    let c = cluster(&r);
    assert!(c.transport_socket.is_none() && c.transport_socket_matches.is_empty());
}
