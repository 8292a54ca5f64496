//! AuthorizationPolicy end to end: the real control plane translates policies from a watched
//! config directory into RBAC filters of a sidecar's inbound listener (capture mode `NONE`,
//! bound on the sidecar's own address), and the real proxy enforces them on requests to the
//! workload behind it; adding and changing a policy takes effect without restarting anything.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;
mod control_fixture;

use control_fixture::{control_plane, temp_dir};
use std::net::SocketAddr;
use std::time::Duration;

use ads_server::fixtures::wait_until;

/// The sidecar's pod address: its inbound listener is bound there.
const POD_IP: &str = "127.0.0.19";

/// Service `web` on the backend's port, its Pod at the sidecar's address.
fn workload(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
         spec:\n  clusterIP: 10.96.0.41\n  selector: {{app: web}}\n  ports: [{{name: http, port: {port}}}]\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: web-0, namespace: default, labels: {{app: web}}}}\n\
         spec: {{containers: [{{name: app}}]}}\nstatus: {{phase: Running, podIP: {POD_IP}}}\n"
    )
}

fn bootstrap(xds: SocketAddr) -> String {
    let admin = common::free_port();
    format!(
        r#"
node:
  id: sidecar~{POD_IP}~web-0.default~default.svc.cluster.local
  cluster: web.default
  metadata: {{ NAMESPACE: default, INTERCEPTION_MODE: NONE, APP_IP: 127.0.0.1, LABELS: {{ app: web }} }}
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

/// Status of `METHOD path` through the sidecar's inbound listener, or why there was none.
async fn status(inbound: SocketAddr, path: &str) -> Result<u16, String> {
    if tokio::net::TcpStream::connect(inbound).await.is_err() {
        return Err("not listening".into());
    }
    tokio::time::timeout(
        Duration::from_secs(2),
        common::get(inbound, "web.default.svc.cluster.local", path, &[]),
    )
    .await
    .map(|r| r.status)
    .map_err(|_| "timeout".to_string())
}

const DENY_ADMIN: &str = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
    metadata: {name: deny-admin, namespace: default}\n\
    spec:\n  selector: {matchLabels: {app: web}}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin*]}}]}]\n";

const ALLOW_HEALTH: &str = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
    metadata: {name: allow-health, namespace: default}\n\
    spec:\n  rules: [{to: [{operation: {methods: [GET], paths: [/health]}}]}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_policies_from_the_control_plane_are_enforced() {
    let web = common::backend("web").await;
    let dir = temp_dir("rbac-control");
    std::fs::write(dir.join("workload.yaml"), workload(web.port())).unwrap();
    let cp = control_plane(&dir, common::free_port()).await;
    let proxy = common::proxy(&bootstrap(cp.xds_address)).await;
    let inbound: SocketAddr = format!("{POD_IP}:{}", web.port()).parse().unwrap();

    wait_until("the inbound listener without policies", || async {
        status(inbound, "/admin/x").await == Ok(200)
    })
    .await;

    std::fs::write(dir.join("deny.yaml"), DENY_ADMIN).unwrap();
    wait_until("DENY /admin*", || async {
        status(inbound, "/admin/x").await == Ok(403)
    })
    .await;
    assert_eq!(status(inbound, "/other").await, Ok(200), "no ALLOW policy");

    std::fs::write(dir.join("allow.yaml"), ALLOW_HEALTH).unwrap();
    wait_until("ALLOW only GET /health", || async {
        status(inbound, "/other").await == Ok(403)
    })
    .await;
    assert_eq!(status(inbound, "/health").await, Ok(200));
    assert_eq!(status(inbound, "/admin/x").await, Ok(403));

    let stats = common::admin(&proxy, "/stats").await.body;
    let prefix = format!("http.inbound|{}||.rbac.denied", web.port());
    assert!(stats.contains(&prefix), "{stats}");

    proxy.shutdown(Duration::from_millis(100)).await;
    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
