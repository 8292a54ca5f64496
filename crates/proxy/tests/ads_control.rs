//! The real proxy following the real control plane over delta ADS: Services, Pods and a
//! VirtualService in a watched config directory become listeners, routes, clusters and
//! endpoints of a sidecar (capture mode `NONE`, so its HTTP proxy listener is bound on its own
//! address); a VirtualService added later and a Pod removed later each arrive as a delta
//! update that carries only what changed.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;
mod control_fixture;

use control_fixture::{control_plane, temp_dir};
use std::net::SocketAddr;
use std::time::Duration;

use ads_server::fixtures::wait_until;
use weft_xds::type_url;

/// The sidecar's own address: its HTTP proxy listener is bound there.
const SIDECAR_IP: &str = "127.0.0.9";

/// Services `one` and `two`, each with a Pod at 127.0.0.1 whose port is the backend's.
fn services(one: SocketAddr, two: SocketAddr, with_pod_two: bool) -> String {
    let service = |name: &str, ip: &str, port: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  clusterIP: {ip}\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: {port}}}]\n---\n"
        )
    };
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-0, namespace: default, labels: {{app: {name}}}}}\n\
             spec: {{containers: [{{name: app}}]}}\nstatus: {{phase: Running, podIP: 127.0.0.1}}\n---\n"
        )
    };
    let mut out =
        service("one", "10.96.0.31", one.port()) + &service("two", "10.96.0.32", two.port());
    out += &pod("one");
    if with_pod_two {
        out += &pod("two");
    }
    out
}

fn route_one_to_two(two: SocketAddr) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: one, namespace: default}}\n\
         spec:\n  hosts: [one]\n  http: [{{route: [{{destination: {{host: two, port: {{number: {}}}}}}}]}}]\n",
        two.port()
    )
}

fn bootstrap(xds: SocketAddr) -> String {
    let admin = common::free_port();
    format!(
        r#"
node:
  id: sidecar~{SIDECAR_IP}~client.default~default.svc.cluster.local
  cluster: client.default
  metadata: {{ NAMESPACE: default, INTERCEPTION_MODE: NONE }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
dynamic_resources:
  ads_config:
    api_type: DELTA_GRPC
    transport_api_version: V3
    grpc_services: [{{ envoy_grpc: {{ cluster_name: xds-grpc }} }}]
  cds_config: {{ ads: {{}}, resource_api_version: V3 }}
  lds_config: {{ ads: {{}}, resource_api_version: V3 }}
static_resources:
  clusters:{}"#,
        common::cluster("xds-grpc", &[xds], "    http2_protocol_options: {}")
    )
}

/// Status and backend name of `GET /` for `authority` through the sidecar's HTTP proxy
/// listener, or why there was none.
async fn through(proxy: SocketAddr, authority: &str) -> Result<(u16, String), String> {
    if tokio::net::TcpStream::connect(proxy).await.is_err() {
        return Err("not listening".into());
    }
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        common::get(proxy, authority, "/", &[]),
    )
    .await
    .map_err(|_| "timeout".to_string())?;
    let backend = serde_json::from_str::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["backend"].as_str().map(str::to_string))
        .unwrap_or_default();
    Ok((r.status, backend))
}

fn ok(name: &str) -> Result<(u16, String), String> {
    Ok((200, name.to_string()))
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().into()).collect(),
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_drives_the_proxy_over_delta_ads() {
    let one = common::backend("one").await;
    let two = common::backend("two").await;
    let dir = temp_dir("delta-control");
    std::fs::write(dir.join("services.yaml"), services(one, two, true)).unwrap();
    let http_port = common::free_port();
    let cp = control_plane(&dir, http_port).await;
    let proxy = common::proxy(&bootstrap(cp.xds_address)).await;
    let listener: SocketAddr = format!("{SIDECAR_IP}:{http_port}").parse().unwrap();
    let (auth_one, auth_two) = (format!("one:{}", one.port()), format!("two:{}", two.port()));

    wait_until("service one through the sidecar", || async {
        through(listener, &auth_one).await == ok("one")
    })
    .await;
    assert_eq!(through(listener, &auth_two).await, ok("two"));
    let status = common::admin(&proxy, "/debug/ads").await.json();
    assert_eq!(status["mode"], "delta", "{status}");
    let eds_two = format!("outbound|{}||two.default.svc.cluster.local", two.port());
    let eds = &status["types"][type_url::CLUSTER_LOAD_ASSIGNMENT];
    assert!(keys(&eds["resource_names"]).contains(&eds_two), "{status}");
    let rds = &status["types"][type_url::ROUTE_CONFIGURATION];
    assert!(
        keys(&rds["resources"]).contains(&"http_proxy".to_string()),
        "{status}"
    );
    let rds_responses = rds["responses"].as_u64().unwrap();

    // A VirtualService sends one's traffic to two: only the route configuration changes.
    std::fs::write(dir.join("vs.yaml"), route_one_to_two(two)).unwrap();
    wait_until("one routed to two", || async {
        through(listener, &auth_one).await == ok("two")
    })
    .await;
    let status = common::admin(&proxy, "/debug/ads").await.json();
    let rds = &status["types"][type_url::ROUTE_CONFIGURATION];
    assert!(
        rds["responses"].as_u64().unwrap() > rds_responses,
        "{status}"
    );
    assert_eq!(keys(&rds["last_resources"]), vec!["http_proxy"], "{status}");
    assert!(keys(&rds["last_removed"]).is_empty(), "{status}");

    // Pod two goes away: its service's endpoints update, nothing else.
    std::fs::write(dir.join("services.yaml"), services(one, two, false)).unwrap();
    wait_until("two without endpoints", || async {
        matches!(through(listener, &auth_two).await, Ok((503, _)))
    })
    .await;
    assert_eq!(through(listener, &auth_one).await.map(|r| r.0), Ok(503));
    let status = common::admin(&proxy, "/debug/ads").await.json();
    let eds = &status["types"][type_url::CLUSTER_LOAD_ASSIGNMENT];
    assert_eq!(
        keys(&eds["last_resources"]),
        vec![eds_two.clone()],
        "{status}"
    );
    assert!(keys(&eds["resources"]).contains(&eds_two), "{status}");

    proxy.shutdown(Duration::from_millis(100)).await;
    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
