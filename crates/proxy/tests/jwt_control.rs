//! RequestAuthentication end to end: the real control plane translates a policy from a watched
//! directory into jwt_authn on a sidecar's inbound listener (capture mode `NONE`, so the
//! listener is bound on the sidecar's own address), and the real proxy enforces it in front of
//! the workload: inline keys, and keys fetched from a JWKS service through its EDS cluster.
#![allow(clippy::unwrap_used)]

mod common;
mod control_fixture;
mod jwt_support;

use control_fixture::{control_plane, temp_dir};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwt_support::{Key, claims, jwks_server};

const SIDECAR_IP: &str = "127.0.0.10";

fn service(name: &str, ip: &str, port: u16, pod_ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  clusterIP: {ip}\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: {port}}}]\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-0, namespace: default, labels: {{app: {name}}}}}\n\
         spec: {{containers: [{{name: app}}]}}\nstatus: {{phase: Running, podIP: {pod_ip}}}\n---\n"
    )
}

fn policy(inline_jwks: &str, jwks_port: u16) -> String {
    let inline = serde_json::to_string(inline_jwks).unwrap();
    format!(
        r#"apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: one-jwt, namespace: default}}
spec:
  selector: {{matchLabels: {{app: one}}}}
  jwtRules:
  - issuer: https://local.example
    jwks: {inline}
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{{header: x-team, claim: team}}]
  - issuer: https://remote.example
    jwksUri: http://jwks.default.svc.cluster.local:{jwks_port}/keys.json
    fromHeaders: [{{name: x-remote-token}}]
"#
    )
}

fn bootstrap(xds: SocketAddr) -> String {
    let admin = common::free_port();
    format!(
        r#"
node:
  id: sidecar~{SIDECAR_IP}~one-0.default~default.svc.cluster.local
  cluster: one.default
  metadata: {{ NAMESPACE: default, INTERCEPTION_MODE: NONE, APP_IP: 127.0.0.1, LABELS: {{ app: one }} }}
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

async fn call(addr: SocketAddr, headers: &[(&str, &str)]) -> Option<common::Reply> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let get = common::get(addr, "one.default.svc.cluster.local", "/", headers);
    tokio::time::timeout(Duration::from_secs(3), get).await.ok()
}

/// Waits (bounded) until the policy is in force: a forged token is refused.
async fn wait_for_enforcement(inbound: SocketAddr) {
    let forged = Key::new("l1").token(claims("https://local.example"));
    let forged = format!("Bearer {forged}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = call(inbound, &[("authorization", &forged)]).await;
        if let Some(r) = r.filter(|r| r.status == 401) {
            assert_eq!(r.body, "Jwt verification fails");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jwt_authn never enforced on the inbound listener"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_authentication_from_the_control_plane_is_enforced_by_the_sidecar() {
    let (local, remote) = (Key::new("l1"), Key::new("r1"));
    let jwks_addr = jwks_server(
        Arc::new(Mutex::new(remote.jwks())),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let one = common::backend("one").await;
    let dir = temp_dir("jwt-control");
    let mut config = service("one", "10.96.0.31", one.port(), SIDECAR_IP);
    config += &service("jwks", "10.96.0.32", jwks_addr.port(), "127.0.0.1");
    config += &policy(&local.jwks(), jwks_addr.port());
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let cp = control_plane(&dir, common::free_port()).await;
    let proxy = common::proxy(&bootstrap(cp.xds_address)).await;
    let inbound: SocketAddr = format!("{SIDECAR_IP}:{}", one.port()).parse().unwrap();

    wait_for_enforcement(inbound).await;

    let good = local.token(claims("https://local.example"));
    let r = call(inbound, &[("authorization", &format!("Bearer {good}"))])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["backend"], "one");
    assert_eq!(seen["headers"]["x-team"], "blue");
    assert_eq!(
        seen["headers"]["x-jwt-payload"],
        good.split('.').nth(1).unwrap()
    );
    assert!(seen["headers"].get("authorization").is_none());

    assert_eq!(
        call(inbound, &[]).await.unwrap().status,
        200,
        "no token passes"
    );

    let t = remote.token(claims("https://remote.example"));
    let r = call(inbound, &[("x-remote-token", &t)]).await.unwrap();
    assert_eq!(
        r.status, 200,
        "keys fetched through the jwks service: {}",
        r.body
    );
    let other = Key::new("r1").token(claims("https://remote.example"));
    let r = call(inbound, &[("x-remote-token", &other)]).await.unwrap();
    assert_eq!((r.status, r.body.as_str()), (401, "Jwt verification fails"));

    proxy.shutdown(Duration::from_millis(100)).await;
    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
