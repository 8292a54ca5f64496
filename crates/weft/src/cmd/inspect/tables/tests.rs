use serde_json::json;

use super::*;

fn dump() -> Value {
    json!({"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "static_clusters": [{"cluster": {"name": "xds-grpc"}}],
         "dynamic_active_clusters": [
            {"cluster": {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "type": "EDS"}},
            {"cluster": {"name": "inbound|9080||"}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
         "dynamic_listeners": [{"name": "127.10.0.3_15080", "active_state": {"listener": {
            "address": {"socket_address": {"address": "127.10.0.3", "port_value": 15080}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
               "typed_config": {"rds": {"route_config_name": "http_proxy"}}}]}]}}},
            {"name": "l2", "active_state": {"listener": {
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
            "filter_chains": [{"filter_chain_match": {"destination_port": 9080},
               "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {"cluster": "inbound|9080||"}}]}]}}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
         "dynamic_route_configs": [{"route_config": {"name": "http_proxy", "virtual_hosts": [
            {"name": "reviews:9080", "domains": ["reviews:9080", "reviews.default:9080"],
             "routes": [{"match": {"prefix": "/"}}]}]}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
         "dynamic_endpoint_configs": [{"endpoint_config": {"cluster_name": "outbound|9080||reviews.default.svc.cluster.local",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.10.0.4", "port_value": 9080}}}},
                                            {"endpoint": {"address": {"socket_address": {"address": "127.10.0.5", "port_value": 9080}}}, "health_status": "UNHEALTHY"}]}]}}]}
    ]})
}

#[test]
fn cluster_table_splits_istio_names() {
    let t = clusters(&dump());
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("SERVICE FQDN"), "{t}");
    assert!(
        lines[1].starts_with("xds-grpc") && lines[1].ends_with("STATIC"),
        "{t}"
    );
    assert!(lines[2].contains("reviews.default.svc.cluster.local") && lines[2].contains("9080"));
    assert!(lines[2].contains("v1") && lines[2].contains("outbound") && lines[2].ends_with("EDS"));
    assert!(
        lines[3].starts_with("-") || lines[3].contains("inbound"),
        "{t}"
    );
}

#[test]
fn listener_table_shows_match_and_destination() {
    let t = listeners(&dump());
    assert!(
        t.contains("127.10.0.3") && t.contains("15080") && t.contains("Route: http_proxy"),
        "{t}"
    );
    assert!(
        t.contains("port 9080") && t.contains("Cluster: inbound|9080||"),
        "{t}"
    );
}

#[test]
fn route_and_endpoint_tables() {
    let r = routes(&dump());
    assert!(
        r.contains("reviews:9080 + 1 more...") && r.contains("/*"),
        "{r}"
    );
    let e = endpoints(&dump());
    assert!(
        e.contains("127.10.0.4:9080") && e.contains("HEALTHY"),
        "{e}"
    );
    assert!(
        e.contains("127.10.0.5:9080") && e.contains("UNHEALTHY"),
        "{e}"
    );
}

#[test]
fn proxy_status_states() {
    let syncz = json!([{
        "node_id": "sidecar~127.10.0.4~reviews-v1-0.default~default.svc.cluster.local",
        "kind": "sidecar",
        "types": {
            "cds": {"sent_version": "a", "acked_version": "a"},
            "lds": {"sent_version": "b", "acked_version": "a", "nacked": {"version": "b", "nonce": "1", "message": "Listener x: bad"}},
            "eds": {"sent_version": "c"}
        }
    }]);
    let t = proxy_status(&syncz);
    let row = t.lines().nth(1).expect("row");
    assert!(row.starts_with("reviews-v1-0.default"), "{t}");
    assert!(t.starts_with("NAME"), "{t}");
    let cells: Vec<&str> = row
        .split("     ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells[1..8],
        [
            "Kubernetes",
            "SYNCED",
            "NACK",
            "STALE",
            "NOT SENT",
            "NOT SENT",
            "weft-control"
        ],
        "{t}"
    );
    assert_eq!(
        nacks(&syncz),
        vec![
            "sidecar~127.10.0.4~reviews-v1-0.default~default.svc.cluster.local lds: Listener x: bad"
        ]
    );
}

#[test]
fn secrets_table_lists_chains_and_bundles() {
    let certs = serde_json::json!({"certificates": [
        {"ca_cert": [], "cert_chain": [{"path": "default", "serial_number": "1a2b",
            "days_until_expiration": "0", "valid_from": "2026-12-02T06:00:00Z",
            "expiration_time": "2026-12-03T06:00:00Z"}]},
        {"ca_cert": [{"path": "ROOTCA", "serial_number": "ff",
            "days_until_expiration": "3650", "valid_from": "2026-12-02T00:00:00Z",
            "expiration_time": "2036-11-30T00:00:00Z"}], "cert_chain": []}
    ]});
    let out = secrets(&certs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("RESOURCE NAME"), "{out}");
    assert!(
        lines[1].starts_with("default") && lines[1].contains("Cert Chain"),
        "{out}"
    );
    assert!(
        lines[1].contains("1a2b") && lines[1].contains("false"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("ROOTCA") && lines[2].contains("CA"),
        "{out}"
    );
    assert!(
        lines[2].contains("true") && lines[2].contains("2036-11-30"),
        "{out}"
    );
}
