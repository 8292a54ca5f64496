//! The whole identity path in one process: the real control plane with its CA on the xDS
//! port, a real proxy following it over ADS, and the agent obtaining the workload certificate
//! from the same port and setting `default` and `ROOTCA` in the proxy's secret store; the
//! secrets chain to the CA's root and name the workload's SPIFFE id.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Scratch, signed_by, with_cert};
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};
use weft_proxy::secrets::SecretStore;
use weft_proxy_config::runtime::secret::{PrivateKey, Secret, TlsCertificate, ValidationContext};
use weft_security::agent::{Issued, RotationOptions, leaf_uris, run_rotation};
use weft_security::service::CaClient;
use weft_security::{CaOptions, SpiffeId, TtlPolicy};

async fn control_plane(config: &Scratch, ca_dir: &Scratch) -> ControlPlane {
    std::fs::create_dir_all(&config.0).unwrap();
    let opts = ControlOptions {
        config_dir: config.0.clone(),
        extra_config_dirs: Vec::new(),
        mesh: MeshConfig::default().with_defaults(),
        xds_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        poll_interval: Duration::from_millis(50),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        ads: AdsOptions::default(),
        ca: Some(CaOptions {
            dir: ca_dir.0.clone(),
            cacerts: None,
            trust_domain: "cluster.local".into(),
            ttl: TtlPolicy::default(),
        }),
    };
    ControlPlane::start(opts).await.unwrap()
}

fn bootstrap(xds: SocketAddr) -> String {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!(
        r#"
node:
  id: sidecar~127.0.0.1~reviews-v1-0.default~default.svc.cluster.local
  cluster: reviews.default
  metadata: {{ NAMESPACE: default, SERVICE_ACCOUNT: bookinfo-reviews }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }} }}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{{ envoy_grpc: {{ cluster_name: xds-grpc }} }}]
  cds_config: {{ ads: {{}}, resource_api_version: V3 }}
  lds_config: {{ ads: {{}}, resource_api_version: V3 }}
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    http2_protocol_options: {{}}
    load_assignment:
      cluster_name: xds-grpc
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {ip}, port_value: {port} }} }} }}
"#,
        admin_port = admin.port(),
        ip = xds.ip(),
        port = xds.port()
    )
}

/// What `weft proxy` does with each certificate the agent obtains.
fn set_workload_secrets(secrets: &SecretStore, issued: Issued) {
    secrets.set(
        "ROOTCA",
        Secret::Validation(ValidationContext {
            trusted_ca_pem: issued.root_pem,
        }),
    );
    secrets.set(
        "default",
        Secret::Certificate(TlsCertificate {
            chain_pem: issued.chain_pem,
            key: PrivateKey::new(issued.key_pem),
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sets_default_and_rootca_in_the_running_proxy() {
    let (config, ca_dir) = (Scratch::new("e2e-config"), Scratch::new("e2e-ca"));
    let control = control_plane(&config, &ca_dir).await;
    let ca = control.ca.clone().expect("CA configured");
    let identity = SpiffeId::new("cluster.local", "default", "bookinfo-reviews").unwrap();
    let token = ca.credentials.issue(&identity, Duration::from_secs(3600));

    let text = bootstrap(control.xds_address);
    let (b, snap) = weft_proxy_config::bootstrap::load_str("e2e.yaml", &text).unwrap();
    let proxy = weft_proxy::Proxy::start(b, snap).await.unwrap();
    let secrets: Arc<SecretStore> = proxy.shared().secrets.clone();
    let mut changed = secrets.changed();

    // The CA is reached on the xDS port itself.
    let client = CaClient::new(&control.xds_address.to_string(), &token).unwrap();
    let store = secrets.clone();
    let agent = tokio::spawn(run_rotation(
        client,
        RotationOptions::new(identity.clone()),
        move |issued| set_workload_secrets(&store, issued),
    ));
    tokio::time::timeout(
        Duration::from_secs(10),
        changed.wait_for(|_| secrets.get("default").is_some()),
    )
    .await
    .expect("certificate within 10 s")
    .unwrap();

    let Some(Secret::Validation(root)) = secrets.get("ROOTCA").as_deref().cloned() else {
        panic!("ROOTCA is a validation context");
    };
    assert_eq!(root.trusted_ca_pem, ca.ca.root_pem());
    let Some(Secret::Certificate(cert)) = secrets.get("default").as_deref().cloned() else {
        panic!("default is a certificate");
    };
    assert!(signed_by(&cert.chain_pem, &root.trusted_ca_pem));
    with_cert(&cert.chain_pem, |c| {
        assert_eq!(leaf_uris(c), vec![identity.uri()])
    });
    assert!(cert.key.pem().contains("BEGIN PRIVATE KEY"));
    assert!(
        !format!("{:?}", secrets.all()).contains("PRIVATE KEY"),
        "keys stay redacted"
    );

    agent.abort();
    proxy.shutdown(Duration::from_millis(100)).await;
    control.stop().await;
}
