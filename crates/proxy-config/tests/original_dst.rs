//! How a listener learns the original destination: `use_original_dst` (restore and hand over,
//! as on `virtualOutbound`) and the `original_dst` listener filter (restore only, as on
//! `virtualInbound`). The capture path itself is tested in crates/weft/tests/capture_netns.rs.

use weft_proxy_config::bootstrap::load_str;

const SIDECAR: &str = r#"
static_resources:
  listeners:
  - name: virtualOutbound
    address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
    use_original_dst: true
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: PassthroughCluster
          cluster: PassthroughCluster
  - name: virtualInbound
    address: { socket_address: { address: 0.0.0.0, port_value: 15006 } }
    listener_filters:
    - name: envoy.filters.listener.original_dst
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst }
    filter_chains:
    - filter_chain_match: { destination_port: 9080 }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: inbound
          cluster: PassthroughCluster
  clusters:
  - name: PassthroughCluster
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 1s
"#;

#[test]
fn use_original_dst_and_the_original_dst_filter_are_told_apart() {
    let (_, snap) = load_str("sidecar.yaml", SIDECAR).expect("loads");
    let outbound = &snap.listeners["virtualOutbound"];
    assert!(outbound.use_original_dst);
    assert!(!outbound.original_dst_filter);
    let inbound = &snap.listeners["virtualInbound"];
    assert!(
        !inbound.use_original_dst,
        "the filter must not hand connections over"
    );
    assert!(
        inbound.original_dst_filter,
        "chains must match the original port"
    );
}
