use std::collections::BTreeMap;
use std::sync::Arc;

use weft_config::model::mesh::MeshConfig;
use weft_registry::Registry;

use super::*;

fn ctx(yaml: &str) -> Context {
    let loaded = weft_config::load_str("test.yaml", yaml, &Default::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.problems);
    Context::new(
        &loaded.objects,
        Arc::new(Registry::default()),
        MeshConfig::default(),
    )
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), app.to_string())])
}

const POLICIES: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ns, namespace: legacy}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: db, namespace: legacy}
spec:
  selector: {matchLabels: {app: db}}
  mtls: {mode: UNSET}
  portLevelMtls:
    "3306": {mode: DISABLE}
    "9000": {mode: STRICT}
"#;

#[test]
fn nothing_configured_is_permissive() {
    let c = ctx("");
    assert_eq!(
        peer_mode(&c, "default", &labels("x"), 80),
        PeerMode::Permissive
    );
}

#[test]
fn mesh_then_namespace_then_workload_then_port() {
    let c = ctx(POLICIES);
    // Mesh-wide STRICT reaches namespaces without their own policy.
    assert_eq!(
        peer_mode(&c, "default", &labels("web"), 80),
        PeerMode::Strict
    );
    // The namespace policy overrides the mesh.
    assert_eq!(
        peer_mode(&c, "legacy", &labels("web"), 80),
        PeerMode::Permissive
    );
    // UNSET at workload level inherits the namespace's PERMISSIVE; ports override it.
    assert_eq!(
        peer_mode(&c, "legacy", &labels("db"), 80),
        PeerMode::Permissive
    );
    assert_eq!(
        peer_mode(&c, "legacy", &labels("db"), 3306),
        PeerMode::Disable
    );
    assert_eq!(
        peer_mode(&c, "legacy", &labels("db"), 9000),
        PeerMode::Strict
    );
}

#[test]
fn selector_policies_only_apply_in_their_namespace() {
    let c = ctx(POLICIES);
    assert_eq!(
        peer_mode(&c, "default", &labels("db"), 3306),
        PeerMode::Strict
    );
}

#[test]
fn oldest_policy_wins_at_one_level() {
    let c = ctx(r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: newer, namespace: default, creationTimestamp: "2024-02-01T00:00:00Z"}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: older, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
"#);
    assert_eq!(peer_mode(&c, "default", &labels("x"), 80), PeerMode::Strict);
}

#[test]
fn chains_per_mode() {
    let filters = vec![crate::listener::tcp_proxy_filter("x", "x")];
    let strict = inbound_chains(PeerMode::Strict, 9080, filters.clone(), filters.clone());
    assert_eq!(strict.len(), 1);
    assert!(strict[0].transport_socket.is_some());
    let disable = inbound_chains(PeerMode::Disable, 9080, filters.clone(), filters.clone());
    assert!(disable[0].transport_socket.is_none());
    let permissive = inbound_chains(PeerMode::Permissive, 9080, filters.clone(), filters);
    let protocols: Vec<_> = permissive
        .iter()
        .map(|c| {
            let m = c.filter_chain_match.as_ref().expect("match");
            (m.transport_protocol.as_str(), c.transport_socket.is_some())
        })
        .collect();
    assert_eq!(
        protocols,
        [("tls", true), ("tls", false), ("raw_buffer", false)]
    );
}
