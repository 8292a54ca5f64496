use super::*;
use crate::load_str;

const ISTIO_MESH: &str = "accessLogFile: /dev/stdout
accessLogEncoding: JSON
defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
  proxyMetadata:
    ISTIO_META_DNS_CAPTURE: \"true\"
  tracing:
    zipkin:
      address: zipkin.istio-system:9411
    sampling: 1.0
  holdApplicationUntilProxyStarts: true
  concurrency: 2
  drainDuration: 45s
  terminationDrainDuration: 5s
  statusPort: 15020
defaultProviders:
  metrics: [prometheus]
enablePrometheusMerge: true
enableTracing: true
extensionProviders:
- name: prometheus
  prometheus: {}
- name: envoy
  envoyFileAccessLog:
    path: /dev/stdout
- name: otel
  opentelemetry:
    service: opentelemetry-collector.observability.svc.cluster.local
    port: 4317
- name: ext-authz
  envoyExtAuthzHttp:
    service: ext-authz.foo.svc.cluster.local
    port: 8000
    timeout: 2s
    includeRequestHeadersInCheck: [x-ext-authz]
    headersToUpstreamOnAllow: [x-user]
rootNamespace: istio-system
trustDomain: cluster.local
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
meshMTLS:
  minProtocolVersion: TLSV1_3
localityLbSetting:
  enabled: true
";

#[test]
fn reads_a_typical_istio_mesh_config() {
    let mesh = MeshConfig::from_yaml("mesh.yaml", ISTIO_MESH).unwrap();
    assert_eq!(mesh.access_log_encoding, Some(AccessLogEncoding::Json));
    let proxy = mesh.default_config.as_ref().unwrap();
    assert_eq!(proxy.proxy_metadata["ISTIO_META_DNS_CAPTURE"], "true");
    let zipkin = proxy.tracing.as_ref().unwrap().zipkin.as_ref().unwrap();
    assert_eq!(zipkin.address, "zipkin.istio-system:9411");
    assert_eq!(proxy.hold_application_until_proxy_starts, Some(true));
    assert_eq!(
        mesh.outbound_traffic_mode(),
        OutboundTrafficMode::RegistryOnly
    );
    assert_eq!(
        mesh.mesh_mtls.as_ref().unwrap().min_protocol_version,
        Some(TlsProtocol::V1_3)
    );
    let authz = mesh.provider("ext-authz").unwrap();
    assert!(authz.is_ext_authz());
    assert_eq!(authz.kinds(), ["envoyExtAuthzHttp"]);
    let http = authz.envoy_ext_authz_http.as_ref().unwrap();
    assert_eq!(http.timeout, Some(Duration::from_secs(2)));
    assert_eq!(mesh.provider("prometheus").unwrap().kinds(), ["prometheus"]);
}

#[test]
fn empty_mesh_config_uses_istio_defaults() {
    let mesh = MeshConfig::from_yaml("mesh.yaml", "# nothing\n").unwrap();
    assert_eq!(mesh.root_namespace(), "istio-system");
    assert_eq!(mesh.trust_domain(), "cluster.local");
    assert_eq!(mesh.outbound_traffic_mode(), OutboundTrafficMode::AllowAny);
    assert!(mesh.enable_auto_mtls());
    let full = mesh.with_defaults();
    assert_eq!(full.root_namespace.as_deref(), Some("istio-system"));
    assert_eq!(full.enable_auto_mtls, Some(true));
    let proxy = full.default_config.unwrap();
    assert_eq!(
        proxy.discovery_address.as_deref(),
        Some("istiod.istio-system.svc:15012")
    );
    assert_eq!(proxy.status_port, Some(15020));
}

#[test]
fn with_defaults_keeps_what_is_set() {
    let mesh = MeshConfig::from_yaml("m", "rootNamespace: mesh-root\nenableAutoMtls: false\n")
        .unwrap()
        .with_defaults();
    assert_eq!(mesh.root_namespace(), "mesh-root");
    assert!(!mesh.enable_auto_mtls());
}

#[test]
fn unknown_mesh_field_has_path_line_and_suggestion() {
    let text = "rootNamespace: istio-system\ndefaultConfig:\n  discoveryAdress: istiod:15012\n";
    let p = MeshConfig::from_yaml("mesh.yaml", text).unwrap_err();
    assert_eq!(p.field, "defaultConfig.discoveryAdress");
    assert_eq!(p.line, 3);
    assert_eq!(
        p.message,
        "unknown field \"discoveryAdress\" (did you mean \"discoveryAddress\"?)"
    );
    assert_eq!(
        p.to_string(),
        "mesh.yaml:3: defaultConfig.discoveryAdress: unknown field \"discoveryAdress\" (did you mean \"discoveryAddress\"?)"
    );
}

#[test]
fn bad_enum_and_syntax_errors_are_problems() {
    let p = MeshConfig::from_yaml("m", "outboundTrafficPolicy:\n  mode: ALLOW_ALL\n").unwrap_err();
    assert_eq!(p.field, "outboundTrafficPolicy.mode");
    assert_eq!(
        p.message,
        "unknown value \"ALLOW_ALL\" (did you mean \"ALLOW_ANY\"?)"
    );
    let p = MeshConfig::from_yaml("m", "a: [1, 2\n").unwrap_err();
    assert!(p.message.starts_with("YAML syntax error"), "{}", p.message);
    let p = MeshConfig::from_yaml("m", "- a\n").unwrap_err();
    assert_eq!(p.message, "mesh config must be a map of fields");
}

const CONFIG_MAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  meshNetworks: 'networks: {}'
  mesh: |-
    rootNamespace: istio-system
    trustDomain: example.org
    enableAutoMtl: true
";

#[test]
fn reads_the_istio_config_map() {
    let text = CONFIG_MAP.replace("enableAutoMtl:", "enableAutoMtls:");
    let loaded = load_str("istio.yaml", &text, &Default::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let mesh = MeshConfig::from_config_map(&loaded.objects[0]).unwrap();
    assert_eq!(mesh.trust_domain(), "example.org");
}

#[test]
fn config_map_problems_point_into_the_config_map_file() {
    let loaded = load_str("istio.yaml", CONFIG_MAP, &Default::default());
    let p = MeshConfig::from_config_map(&loaded.objects[0]).unwrap_err();
    assert_eq!(
        p.to_string(),
        "istio.yaml:11: ConfigMap istio-system/istio: data.mesh.enableAutoMtl: unknown field \"enableAutoMtl\" (did you mean \"enableAutoMtls\"?)"
    );
}

#[test]
fn config_map_without_mesh_key_or_of_another_kind_is_refused() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata: {a: b}\n---\n\
                apiVersion: v1\nkind: Secret\nmetadata: {name: istio}\n";
    let loaded = load_str("istio.yaml", text, &Default::default());
    let p = MeshConfig::from_config_map(&loaded.objects[0]).unwrap_err();
    assert_eq!(
        (p.field.as_str(), p.message.as_str()),
        ("data.mesh", "required field is missing")
    );
    let p = MeshConfig::from_config_map(&loaded.objects[1]).unwrap_err();
    assert_eq!(
        p.message,
        "mesh config must come from a ConfigMap, not a Secret"
    );
}
