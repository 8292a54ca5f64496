//! Building the registry from YAML.

use weft_config::model::networking::Sidecar;
use weft_config::{LoadOptions, load_str};
use weft_registry::{EgressScope, Protocol, Registry, RegistryOptions, Resolution};

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  clusterIP: 10.96.0.10
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: http-alt}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
spec:
  serviceAccountName: bookinfo-reviews
  containers:
  - name: app
    ports: [{name: http-alt, containerPort: 9081}]
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, namespace: default, labels: {app: reviews, version: v2}}
spec: {containers: [{name: app}]}
status: {phase: Pending, podIP: 10.1.0.2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: vm}
spec:
  hosts: [db.vm.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  exportTo: ["."]
  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: vm}
spec: {address: 192.168.1.5, labels: {app: db}, ports: {tcp-pg: 15432}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin.org]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
"#;

fn registry() -> Registry {
    let loaded = load_str("mesh.yaml", MESH, &LoadOptions::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    Registry::build(&loaded.objects, &RegistryOptions::default())
}

#[test]
fn kubernetes_service_with_pods() {
    let reg = registry();
    let svc = reg
        .lookup("reviews.default.svc.cluster.local", "default")
        .expect("reviews");
    assert_eq!(svc.ports[0].protocol, Protocol::Http);
    assert_eq!(svc.resolution, Resolution::ClientSideLb);
    let eps: Vec<_> = reg.endpoints(svc, 9080).collect();
    // Only the running pod, on its named container port.
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0].address, "10.1.0.1");
    assert_eq!(eps[0].port, 9081);
    assert_eq!(eps[0].labels["version"], "v1");
    assert_eq!(eps[0].service_account.as_deref(), Some("bookinfo-reviews"));
    let inbound = reg.instances_at("10.1.0.1");
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].0.hostname, "reviews.default.svc.cluster.local");
    assert!(reg.instances_at("10.1.0.99").is_empty());
}

#[test]
fn service_entry_selects_workload_entries_and_respects_export_to() {
    let reg = registry();
    assert!(
        reg.lookup("db.vm.internal", "default").is_none(),
        "exported to vm only"
    );
    let db = reg.lookup("db.vm.internal", "vm").expect("db");
    assert!(!db.mesh_external);
    let eps: Vec<_> = reg.endpoints(db, 5432).collect();
    assert_eq!(eps.len(), 1);
    assert_eq!(
        (eps[0].address.as_str(), eps[0].port),
        ("192.168.1.5", 15432)
    );
}

#[test]
fn dns_service_entry_uses_its_host() {
    let reg = registry();
    let svc = reg.lookup("httpbin.org", "default").expect("httpbin");
    assert_eq!(svc.resolution, Resolution::Dns);
    assert!(svc.mesh_external);
    let eps: Vec<_> = reg.endpoints(svc, 80).collect();
    assert_eq!(eps[0].address, "httpbin.org");
}

#[test]
fn sidecar_egress_scope() {
    let reg = registry();
    let sidecar: Sidecar = serde_json::from_value(serde_json::json!({
        "egress": [{"hosts": ["./*"]}]
    }))
    .expect("sidecar");
    let scope = EgressScope::from_sidecar(&sidecar, "default");
    let hosts: Vec<&str> = scope
        .services(&reg)
        .iter()
        .map(|s| s.hostname.as_str())
        .collect();
    assert_eq!(
        hosts,
        vec!["httpbin.org", "reviews.default.svc.cluster.local"]
    );
    let everything = EgressScope::all("vm");
    let hosts: Vec<&str> = everything
        .services(&reg)
        .iter()
        .map(|s| s.hostname.as_str())
        .collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
}
