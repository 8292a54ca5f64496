use super::*;
use crate::types::IntOrString;
use crate::{Body, Loaded, load_str};

fn load(yaml: &str) -> Loaded {
    load_str("test.yaml", yaml, &Default::default())
}

fn problems(yaml: &str) -> Vec<(String, String)> {
    let loaded = load(yaml);
    let mut seen = Vec::new();
    for p in &loaded.problems {
        let p = (p.field.clone(), p.message.clone());
        // The loader may report one missing field more than once while it looks for more.
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen
}

#[test]
fn decodes_a_service_as_kubectl_prints_it() {
    let loaded = load(
        "apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: default
  resourceVersion: \"1234\"
  uid: 0f0e
spec:
  clusterIP: 10.96.12.7
  clusterIPs: [10.96.12.7]
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 9080
    protocol: TCP
    targetPort: http-web
    appProtocol: http
  selector:
    app: reviews
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
",
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::Service(svc) = &loaded.objects[0].body else {
        panic!("not a Service")
    };
    let port = &svc.spec.ports[0];
    assert_eq!(port.port, 9080);
    assert_eq!(
        port.target_port,
        Some(IntOrString::String("http-web".into()))
    );
    assert_eq!(port.protocol, Some(Protocol::Tcp));
    assert_eq!(svc.spec.cluster_ip.as_deref(), Some("10.96.12.7"));
    assert_eq!(svc.spec.ip_families, [IpFamily::IPv4]);
    assert_eq!(svc.spec.type_, Some(ServiceType::ClusterIP));
}

#[test]
fn service_typos_and_bad_values_are_refused() {
    let p = problems(
        "apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports:
  - port: 80
    targetport: 8080
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec:
  type: Loadbalancer
---
apiVersion: v1
kind: Service
metadata: {name: c}
spec:
  ports:
  - name: http
",
    );
    assert_eq!(
        p,
        [
            (
                "spec.ports[0].targetport".to_string(),
                "unknown field \"targetport\" (did you mean \"targetPort\"?)".to_string()
            ),
            (
                "spec.type".to_string(),
                "unknown value \"Loadbalancer\" (did you mean \"LoadBalancer\"?)".to_string()
            ),
            (
                "spec.ports[0]".to_string(),
                "missing field \"port\"".to_string()
            ),
        ]
    );
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1-5b4f
  namespace: default
  labels: {app: reviews, version: v1}
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: reviews-v1-5b
    uid: 1a2b
    controller: true
    blockOwnerDeletion: true
  managedFields:
  - manager: kube-controller-manager
    operation: Update
spec:
  serviceAccountName: bookinfo-reviews
  initContainers:
  - name: istio-init
    image: docker.io/istio/proxyv2:1.24.0
    args: [istio-iptables, -p, \"15001\"]
    securityContext:
      runAsUser: 0
      capabilities:
        add: [NET_ADMIN, NET_RAW]
        drop: [ALL]
  containers:
  - name: reviews
    image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
    imagePullPolicy: IfNotPresent
    env:
    - name: LOG_DIR
      value: /tmp/logs
    - name: POD_NAME
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    ports:
    - containerPort: 9080
      protocol: TCP
    resources:
      requests: {cpu: 100m, memory: 128Mi}
    readinessProbe:
      httpGet: {path: /health, port: 9080}
    volumeMounts:
    - name: tmp
      mountPath: /tmp
  volumes:
  - name: tmp
    emptyDir: {}
  tolerations:
  - key: node.kubernetes.io/not-ready
    operator: Exists
  restartPolicy: Always
  dnsPolicy: ClusterFirst
status:
  phase: Running
  podIP: 10.244.0.12
  podIPs:
  - ip: 10.244.0.12
  hostIP: 172.18.0.2
  conditions:
  - type: Ready
    status: \"True\"
    lastTransitionTime: \"2024-05-01T10:00:00Z\"
  containerStatuses:
  - name: reviews
    ready: true
    restartCount: 0
    started: true
    image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
    imageID: docker.io/istio/examples-bookinfo-reviews-v1@sha256:abc
    containerID: containerd://def
    state:
      running: {startedAt: \"2024-05-01T10:00:00Z\"}
";

#[test]
fn decodes_a_pod_as_kubectl_prints_it() {
    let loaded = load(POD);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::Pod(pod) = &loaded.objects[0].body else {
        panic!("not a Pod")
    };
    assert_eq!(pod.spec.service_account(), "bookinfo-reviews");
    let init = &pod.spec.init_containers[0];
    let sc = init.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_user, Some(0));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().add,
        ["NET_ADMIN", "NET_RAW"]
    );
    let app = &pod.spec.containers[0];
    assert_eq!(app.ports[0].container_port, 9080);
    let cpu = &app.resources.as_ref().unwrap().requests["cpu"];
    assert_eq!(cpu.value(), Some(0.1));
    let status = pod.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(PodPhase::Running));
    assert_eq!(status.pod_ips[0].ip, "10.244.0.12");
    assert!(status.container_statuses[0].ready);
    assert_eq!(status.conditions[0].type_, "Ready");
}

#[test]
fn pod_typo_in_a_container_names_the_path() {
    let yaml = POD.replace(
        "imagePullPolicy: IfNotPresent",
        "imagePulPolicy: IfNotPresent",
    );
    assert_eq!(
        problems(&yaml),
        [(
            "spec.containers[0].imagePulPolicy".to_string(),
            "unknown field \"imagePulPolicy\" (did you mean \"imagePullPolicy\"?)".to_string()
        )]
    );
}

const DEPLOYMENT_AND_REPLICA_SET: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec:
  replicas: 2
  selector:
    matchLabels: {app: reviews}
    matchExpressions:
    - {key: version, operator: In, values: [v1]}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: reviews, version: v1}
      annotations: {sidecar.istio.io/inject: \"true\"}
    spec:
      containers:
      - name: reviews
        image: reviews:v1
status:
  replicas: 2
  readyReplicas: 2
  conditions:
  - {type: Available, status: \"True\"}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: reviews-v1-5b}
spec:
  replicas: 1
  selector:
    matchLabels: {app: reviews}
  template:
    metadata:
      labels: {app: reviews}
    spec:
      containers:
      - name: reviews
status:
  replicas: 1
";

#[test]
fn decodes_deployment_and_replica_set() {
    let loaded = load(DEPLOYMENT_AND_REPLICA_SET);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::Deployment(d) = &loaded.objects[0].body else {
        panic!("not a Deployment")
    };
    assert_eq!(d.spec.replicas, Some(2));
    let req = &d.spec.selector.match_expressions[0];
    assert_eq!(req.operator, SelectorOperator::In);
    let ru = d
        .spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .as_ref()
        .unwrap();
    assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
    assert_eq!(d.spec.template.metadata.labels["version"], "v1");
    let Body::ReplicaSet(rs) = &loaded.objects[1].body else {
        panic!("not a ReplicaSet")
    };
    assert_eq!(rs.status.as_ref().unwrap().replicas, 1);
}

#[test]
fn bad_selector_operator_is_refused() {
    let p = problems(
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector:
    matchExpressions:
    - {key: app, operator: Equals, values: [x]}
",
    );
    // Only the first problem is about the value; what the loader reports after it is its own
    // business.
    assert_eq!(p[0].0, "spec.selector.matchExpressions[0].operator");
    assert!(p[0].1.starts_with("unknown value \"Equals\""), "{}", p[0].1);
}

const CORE_KINDS: &str = "apiVersion: v1
kind: Secret
metadata: {name: cacerts, namespace: istio-system}
type: Opaque
data:
  ca-cert.pem: LS0tLS1CRUdJTg==
stringData:
  note: plain
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-ca-root-cert}
data:
  root-cert.pem: \"-----BEGIN CERTIFICATE-----\"
binaryData:
  blob: AAEC
immutable: true
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bookinfo-reviews}
secrets:
- name: bookinfo-reviews-token
imagePullSecrets:
- name: registry
automountServiceAccountToken: false
---
apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
  labels: {istio-injection: enabled}
spec:
  finalizers: [kubernetes]
status:
  phase: Active
";

#[test]
fn decodes_core_kinds_without_a_spec() {
    let loaded = load(CORE_KINDS);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let bodies: Vec<_> = loaded.objects.iter().map(|o| &o.body).collect();
    let [
        Body::Secret(s),
        Body::ConfigMap(c),
        Body::ServiceAccount(sa),
        Body::Namespace(ns),
    ] = bodies[..]
    else {
        panic!("unexpected kinds: {bodies:?}")
    };
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.string_data["note"], "plain");
    assert_eq!(c.immutable, Some(true));
    assert_eq!(
        sa.secrets[0].name.as_deref(),
        Some("bookinfo-reviews-token")
    );
    assert_eq!(sa.automount_service_account_token, Some(false));
    assert_eq!(ns.spec.as_ref().unwrap().finalizers, ["kubernetes"]);
}

#[test]
fn configmap_typo_is_refused() {
    assert_eq!(
        problems("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndatas: {a: b}\n"),
        [(
            "datas".to_string(),
            "unknown field \"datas\" (did you mean \"data\"?)".to_string()
        )]
    );
}

#[test]
fn decodes_endpoint_slice() {
    let loaded = load(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-abc
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
endpoints:
- addresses: [10.244.0.12]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: kind-control-plane
  zone: us-east-1a
  targetRef: {kind: Pod, name: reviews-v1-5b4f, namespace: default, uid: 1a2b}
  hints:
    forZones: [{name: us-east-1a}]
ports:
- name: http
  port: 9080
  protocol: TCP
  appProtocol: http
",
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::EndpointSlice(es) = &loaded.objects[0].body else {
        panic!("not an EndpointSlice")
    };
    assert_eq!(es.address_type, AddressType::IPv4);
    let ep = &es.endpoints[0];
    assert_eq!(ep.conditions.as_ref().unwrap().ready, Some(true));
    assert_eq!(ep.target_ref.as_ref().unwrap().kind.as_deref(), Some("Pod"));
    assert_eq!(es.ports[0].port, Some(9080));
}

#[test]
fn endpoint_slice_address_type_must_be_known() {
    let p = problems(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPV4\n",
    );
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "addressType");
    assert!(p[0].1.contains("did you mean \"IPv4\""), "{}", p[0].1);
}

#[test]
fn decodes_the_sidecar_injector_webhook() {
    let loaded = load(
        "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: namespace.sidecar-injector.istio.io
  admissionReviewVersions: [v1]
  clientConfig:
    service: {name: istiod, namespace: istio-system, path: /inject, port: 443}
    caBundle: LS0t
  failurePolicy: Fail
  matchPolicy: Equivalent
  reinvocationPolicy: Never
  sideEffects: None
  timeoutSeconds: 10
  namespaceSelector:
    matchExpressions:
    - {key: istio-injection, operator: In, values: [enabled]}
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: [\"false\"]}
  rules:
  - apiGroups: [\"\"]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [pods]
    scope: \"*\"
",
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::MutatingWebhookConfiguration(m) = &loaded.objects[0].body else {
        panic!("not a MutatingWebhookConfiguration")
    };
    let w = &m.webhooks[0];
    let svc = w.client_config.service.as_ref().unwrap();
    assert_eq!((svc.name.as_str(), svc.port), ("istiod", Some(443)));
    assert_eq!(w.rules[0].operations, [OperationType::Create]);
    assert_eq!(w.rules[0].scope, Some(RuleScope::All));
    assert_eq!(w.side_effects, Some(SideEffectClass::None));
    assert_eq!(w.failure_policy, Some(FailurePolicy::Fail));
}

#[test]
fn webhook_typo_is_refused() {
    assert_eq!(
        problems(
            "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: w}
webhooks:
- name: a
  sideEffect: None
"
        ),
        [(
            "webhooks[0].sideEffect".to_string(),
            "unknown field \"sideEffect\" (did you mean \"sideEffects\"?)".to_string()
        )]
    );
}
