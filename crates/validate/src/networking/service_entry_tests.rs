//! ServiceEntry rules: hosts, addresses, ports, resolution modes and endpoints.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const SE: &str = "ServiceEntry";

/// A ServiceEntry with `hosts` and `rest` (lines after the ports).
fn entry(hosts: &str, rest: &str) -> String {
    format!(
        "\n  hosts: {hosts}\n  ports:\n  - {{number: 443, name: https, protocol: TLS}}\n  - {{number: 80, name: http}}{rest}"
    )
}

#[test]
fn a_typical_external_service_is_clean() {
    assert_clean(
        SE,
        &entry(
            "[api.example.com]",
            "\n  location: MESH_EXTERNAL\n  resolution: DNS\n  exportTo: [\".\"]",
        ),
    );
    assert_clean(
        SE,
        &entry(
            "[db.internal]",
            "\n  addresses: [10.1.0.0/16]\n  resolution: STATIC\n  endpoints:\n  - {address: 10.1.2.3, ports: {https: 8443}, labels: {app: db}, locality: us-east/a, weight: 10}\n  - {address: \"unix:///var/run/db.sock\"}",
        ),
    );
}

#[test]
fn hosts_are_required_and_not_the_full_wildcard() {
    assert_error(
        SE,
        "\n  ports: [{number: 80, name: http}]",
        "spec.hosts",
        "required field is missing",
    );
    assert_error(
        SE,
        &entry("[\"*\"]", ""),
        "spec.hosts[0]",
        "a ServiceEntry host cannot be \"*\"",
    );
    assert_error(
        SE,
        &entry("[\"api.*.com\"]", ""),
        "spec.hosts[0]",
        "host \"api.*.com\": \"*\" is only allowed as the leftmost label (\"*.example.com\")",
    );
}

#[test]
fn addresses_are_ips_and_cidrs_need_none_or_static() {
    pass_fail(
        SE,
        &entry("[a.example.com]", "\n  addresses: [240.0.0.1, 10.0.0.0/8]"),
        &entry(
            "[a.example.com]",
            "\n  addresses: [10.0.0.0/8]\n  resolution: DNS",
        ),
        "spec.addresses[0]",
        "CIDR addresses need resolution NONE or STATIC",
    );
    assert_error(
        SE,
        &entry("[a.example.com]", "\n  addresses: [not-an-ip]"),
        "spec.addresses[0]",
        "\"not-an-ip\" is neither an IP address nor a CIDR block",
    );
}

#[test]
fn ports_have_unique_names_and_numbers() {
    let ports = |p: &str| format!("\n  hosts: [a.example.com]\n  ports: {p}");
    let cases = [
        (
            "[{name: http}]",
            "spec.ports[0].number",
            "required field is missing",
        ),
        (
            "[{number: 80}]",
            "spec.ports[0].name",
            "required field is missing",
        ),
        (
            "[{number: 80, name: HTTP}]",
            "spec.ports[0].name",
            "port name \"HTTP\" must be a DNS label (lowercase letters, digits and '-')",
        ),
        (
            "[{number: 80, name: a}, {number: 80, name: b}]",
            "spec.ports[1].number",
            "port 80 is already declared by spec.ports[0]",
        ),
        (
            "[{number: 80, name: a}, {number: 81, name: a}]",
            "spec.ports[1].name",
            "port name \"a\" is already declared",
        ),
        (
            "[{number: 80, name: a, protocol: HTTP3}]",
            "spec.ports[0].protocol",
            "unknown protocol \"HTTP3\" (did you mean \"HTTP\"?)",
        ),
        (
            "[{number: 80, name: a, targetPort: 0}]",
            "spec.ports[0].targetPort",
            "port 0 is out of range 1-65535",
        ),
    ];
    for (p, field, message) in cases {
        assert_error(SE, &ports(p), field, message);
    }
}

#[test]
fn endpoints_and_workload_selector_exclude_each_other() {
    pass_fail(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  workloadSelector: {labels: {app: vm}}",
        ),
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  workloadSelector: {labels: {app: vm}}\n  endpoints: [{address: 10.0.0.1}]",
        ),
        "spec.workloadSelector",
        "only one of endpoints or workloadSelector may be set",
    );
}

#[test]
fn resolution_none_takes_no_endpoints() {
    assert_error(
        SE,
        &entry(
            "[a.example.com]",
            "\n  resolution: NONE\n  endpoints: [{address: 10.0.0.1}]",
        ),
        "spec.endpoints",
        "resolution NONE takes no endpoints: traffic goes to the address the client asked for",
    );
    assert_warning(
        SE,
        &entry(
            "[a.example.com]",
            "\n  workloadSelector: {labels: {app: vm}}",
        ),
        "spec.workloadSelector",
        "workloadSelector has no effect with resolution NONE",
    );
}

#[test]
fn resolution_static_needs_ip_endpoints_or_a_selector() {
    assert_error(
        SE,
        &entry("[a.internal]", "\n  resolution: STATIC"),
        "spec.endpoints",
        "resolution STATIC needs endpoints or a workloadSelector",
    );
    assert_error(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  endpoints: [{address: db.internal}]",
        ),
        "spec.endpoints[0].address",
        "\"db.internal\" is not an IP address, as resolution STATIC needs (use resolution DNS for host names)",
    );
    assert_error(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  endpoints: [{ports: {http: 80}}]",
        ),
        "spec.endpoints[0].address",
        "required field is missing",
    );
}

#[test]
fn dns_resolution_needs_names_it_can_resolve() {
    assert_clean(
        SE,
        &entry(
            "[\"*.example.com\"]",
            "\n  resolution: DNS\n  endpoints: [{address: proxy.example.com}]",
        ),
    );
    assert_error(
        SE,
        &entry("[\"*.example.com\"]", "\n  resolution: DNS"),
        "spec.hosts[0]",
        "wildcard host \"*.example.com\" cannot be resolved with resolution DNS; add endpoints or use resolution NONE",
    );
    assert_error(
        SE,
        &entry(
            "[a.example.com]",
            "\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{address: a.example.com}, {address: b.example.com}]",
        ),
        "spec.endpoints",
        "resolution DNS_ROUND_ROBIN allows at most one endpoint",
    );
    assert_error(
        SE,
        &entry(
            "[a.example.com]",
            "\n  resolution: DNS\n  endpoints: [{address: \"bad_host\"}]",
        ),
        "spec.endpoints[0].address",
        "host \"bad_host\": label \"bad_host\" is not a valid DNS label (lowercase letters, digits and '-', at most 63)",
    );
}

#[test]
fn unix_endpoints_need_static_resolution_and_no_ports() {
    assert_error(
        SE,
        &entry(
            "[a.example.com]",
            "\n  resolution: DNS\n  endpoints: [{address: \"unix:///run/a.sock\"}]",
        ),
        "spec.endpoints[0].address",
        "unix:// addresses are only allowed with resolution STATIC",
    );
    assert_error(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  endpoints: [{address: \"unix:///run/a.sock\", ports: {http: 80}}]",
        ),
        "spec.endpoints[0].ports",
        "a unix:// endpoint has no ports",
    );
}

#[test]
fn endpoint_ports_name_declared_ports() {
    assert_error(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1, ports: {grpc: 9000}}]",
        ),
        "spec.endpoints[0].ports.grpc",
        "port \"grpc\" is not declared in spec.ports",
    );
}

#[test]
fn selector_export_and_subject_alt_names_are_checked() {
    assert_error(
        SE,
        &entry(
            "[a.internal]",
            "\n  resolution: STATIC\n  workloadSelector: {labels: {\"app!\": vm}}",
        ),
        "spec.workloadSelector.labels.app!",
        "label key \"app!\": name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
    assert_error(
        SE,
        &entry("[a.example.com]", "\n  subjectAltNames: [\"\"]"),
        "spec.subjectAltNames[0]",
        "subject alt name must not be empty",
    );
    assert_error(
        SE,
        &entry("[a.example.com]", "\n  exportTo: [\"~\", \".\"]"),
        "spec.exportTo",
        "exportTo \"~\" cannot be combined with other values",
    );
}
