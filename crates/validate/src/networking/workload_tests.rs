//! WorkloadEntry, WorkloadGroup and EnvoyFilter rules.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const WE: &str = "WorkloadEntry";
const WG: &str = "WorkloadGroup";
const EF: &str = "EnvoyFilter";

#[test]
fn workload_entry_addresses_are_ips_names_or_sockets() {
    for address in [
        "10.0.0.5",
        "\"2001:db8::5\"",
        "vm1.example.com",
        "\"unix:///var/run/vm.sock\"",
    ] {
        assert_clean(
            WE,
            &format!("\n  address: {address}\n  labels: {{app: vm}}"),
        );
    }
    pass_fail(
        WE,
        "\n  network: remote\n  ports: {http: 8080}",
        "\n  ports: {http: 8080}",
        "spec.address",
        "required field is missing (only a WorkloadEntry with a network may omit it)",
    );
    assert_error(
        WE,
        "\n  address: \"vm 1\"",
        "spec.address",
        "host \"vm 1\": label \"vm 1\" is not a valid DNS label (lowercase letters, digits and '-', at most 63)",
    );
    assert_error(
        WE,
        "\n  address: \"unix://\"",
        "spec.address",
        "unix:// address has no path",
    );
}

#[test]
fn workload_entry_ports_labels_and_identity_are_checked() {
    let entry = |fields: &str| format!("\n  address: 10.0.0.5\n  {fields}");
    assert_clean(
        WE,
        &entry(
            "ports: {http: 8080, grpc-web: 9090}\n  locality: us-east1/us-east1-b/rack1\n  weight: 3\n  serviceAccount: vm-sa\n  network: net1",
        ),
    );
    let cases = [
        (
            "ports: {http: 0}",
            "spec.ports.http",
            "port 0 is out of range 1-65535",
        ),
        (
            "ports: {Http: 80}",
            "spec.ports.Http",
            "port name \"Http\" must be a DNS label (lowercase letters, digits and '-')",
        ),
        (
            "locality: us-east1//a",
            "spec.locality",
            "locality \"us-east1//a\" must be region[/zone[/sub-zone]] without empty parts",
        ),
        (
            "serviceAccount: VM_SA",
            "spec.serviceAccount",
            "\"VM_SA\" is not a valid service account name",
        ),
        (
            "labels: {app: \"a b\"}",
            "spec.labels.app",
            "label \"app\": value \"a b\" must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
        ),
        (
            "ports: {http: 80}\n  address: \"unix:///a.sock\"",
            "spec.ports",
            "a unix:// endpoint has no ports",
        ),
    ];
    for (fields, field, message) in cases {
        let spec = if fields.contains("address") {
            format!("\n  {fields}")
        } else {
            entry(fields)
        };
        assert_error(WE, &spec, field, message);
    }
    assert_warning(
        WE,
        &entry("weight: 0"),
        "spec.weight",
        "weight 0 means the default weight 1, not \"no traffic\"",
    );
}

const GROUP: &str = r#"
  metadata:
    labels: {app: reviews}
    annotations: {example.com/owner: team}
  template:
    ports: {http: 9080}
    serviceAccount: reviews
    network: vm-net
  probe:
    initialDelaySeconds: 5
    periodSeconds: 4
    httpGet: {path: /ready, port: 9080, scheme: HTTPS, httpHeaders: [{name: x-probe, value: "1"}]}"#;

#[test]
fn workload_groups_have_a_template_without_address() {
    assert_clean(WG, GROUP);
    assert_error(
        WG,
        "\n  metadata: {labels: {app: a}}",
        "spec.template",
        "required field is missing",
    );
    assert_error(
        WG,
        &GROUP.replace("serviceAccount: reviews", "address: 10.0.0.1"),
        "spec.template.address",
        "address must not be set in a template: each WorkloadEntry gets its workload's address",
    );
    assert_error(
        WG,
        &GROUP.replace("{http: 9080}", "{http: 99999}"),
        "spec.template.ports.http",
        "port 99999 is out of range 1-65535",
    );
    assert_error(
        WG,
        &GROUP.replace("example.com/owner", "\"bad key/\""),
        "spec.metadata.annotations.bad key/",
        "label key \"bad key/\": prefix \"bad key\" must be a DNS subdomain",
    );
}

#[test]
fn readiness_probes_have_one_method() {
    let probe = |p: &str| format!("\n  template: {{ports: {{http: 80}}}}\n  probe: {p}");
    for p in [
        "{tcpSocket: {port: 80}}",
        "{exec: {command: [/bin/check]}}",
        "{grpc: {port: 9090, service: health}}",
    ] {
        assert_clean(WG, &probe(p));
    }
    let cases = [
        (
            "{periodSeconds: 5}",
            "spec.probe",
            "one of httpGet, tcpSocket, exec or grpc is required",
        ),
        (
            "{tcpSocket: {port: 80}, exec: {command: [a]}}",
            "spec.probe",
            "only one of httpGet, tcpSocket, exec or grpc may be set (found tcpSocket and exec)",
        ),
        (
            "{tcpSocket: {port: 80}, timeoutSeconds: -1}",
            "spec.probe.timeoutSeconds",
            "timeoutSeconds -1 must not be negative",
        ),
        (
            "{httpGet: {path: /}}",
            "spec.probe.httpGet.port",
            "required field is missing",
        ),
        (
            "{httpGet: {port: 80, scheme: ftp}}",
            "spec.probe.httpGet.scheme",
            "scheme \"ftp\" must be HTTP or HTTPS",
        ),
        (
            "{httpGet: {port: 80, httpHeaders: [{name: \"x y\"}]}}",
            "spec.probe.httpGet.httpHeaders[0].name",
            "\"x y\" is not a valid HTTP header name",
        ),
        (
            "{tcpSocket: {port: 0}}",
            "spec.probe.tcpSocket.port",
            "port 0 is out of range 1-65535",
        ),
        (
            "{exec: {}}",
            "spec.probe.exec.command",
            "required field is missing",
        ),
        (
            "{grpc: {service: x}}",
            "spec.probe.grpc.port",
            "required field is missing",
        ),
    ];
    for (p, field, message) in cases {
        assert_error(WG, &probe(p), field, message);
    }
}

const FILTER: &str = r#"
  workloadSelector: {labels: {app: reviews}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      proxy: {proxyVersion: '^1\.2.*'}
      listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}
    patch:
      operation: INSERT_BEFORE
      value: {name: envoy.lua}
  - applyTo: CLUSTER
    match: {cluster: {service: reviews.default.svc.cluster.local}}
    patch: {operation: REMOVE}"#;

#[test]
fn every_envoy_filter_is_reported_as_having_no_effect() {
    assert_warning(
        EF,
        FILTER,
        "spec",
        "EnvoyFilter is parsed but not supported by weft and has no effect",
    );
    assert_warning(
        EF,
        "\n  priority: 1",
        "spec",
        "EnvoyFilter is parsed but not supported by weft and has no effect",
    );
}

#[test]
fn envoy_filter_structure_is_checked() {
    let errors_only = |spec: &str| {
        let found = super::test_util::problems(&super::test_util::object(EF, "test", spec));
        found.into_iter().filter(|p| p.is_error()).count()
    };
    assert_eq!(errors_only(FILTER), 0);
    let cases = [
        (
            "workloadSelector: {labels: {app: reviews}}",
            "workloadSelector: {labels: {app: reviews}}\n  targetRefs: [{kind: Gateway, name: gw}]",
            "spec.targetRefs",
            "only one of workloadSelector or targetRefs may be set",
        ),
        (
            "applyTo: CLUSTER",
            "applyTo: INVALID",
            "spec.configPatches[1].applyTo",
            "required field is missing",
        ),
        (
            "operation: INSERT_BEFORE\n",
            "operation: MERGE\n",
            "spec.configPatches[0].patch.value",
            "required field is missing",
        ),
        (
            "{operation: REMOVE}",
            "{value: {}}",
            "spec.configPatches[1].patch.operation",
            "required field is missing",
        ),
        (
            "'^1\\.2.*'",
            "'^1\\.2(.*'",
            "spec.configPatches[0].match.proxy.proxyVersion",
            "invalid regular expression \"^1\\\\.2(.*\": error: unclosed group",
        ),
        (
            "match: {cluster:",
            "match: {listener: {portNumber: 80}, cluster:",
            "spec.configPatches[1].match",
            "only one of listener, routeConfiguration, cluster or waypoint may be set (found listener and cluster)",
        ),
    ];
    for (from, to, field, message) in cases {
        let bad = FILTER.replacen(from, to, 1);
        assert_ne!(bad, FILTER, "{from}");
        let bad = if from.starts_with("operation: INSERT") {
            bad.replacen("      value: {name: envoy.lua}\n", "", 1)
        } else {
            bad
        };
        assert_error(EF, &bad, field, message);
    }
}
