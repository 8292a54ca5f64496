//! VirtualService rules: hosts, gateways, delegation, TLS and TCP routes, destinations,
//! weights and exportTo.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const VS: &str = "VirtualService";

#[test]
fn hosts_are_required_unless_the_virtual_service_is_a_delegate() {
    pass_fail(
        VS,
        "\n  http:\n  - route: [{destination: {host: reviews}}]",
        "\n  gateways: [bookinfo]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.hosts",
        "required field is missing (only a delegate VirtualService, with HTTP routes and no \
         gateways, may omit hosts)",
    );
}

#[test]
fn hosts_are_dns_names_wildcards_or_ips() {
    pass_fail(
        VS,
        "\n  hosts: [reviews, \"*.example.com\", 10.0.0.1, \"2001:db8::1\"]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "\n  hosts: [\"foo.*.com\"]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.hosts[0]",
        "host \"foo.*.com\": \"*\" is only allowed as the leftmost label (\"*.example.com\")",
    );
}

#[test]
fn the_wildcard_host_needs_a_gateway_other_than_mesh() {
    pass_fail(
        VS,
        "\n  hosts: [\"*\"]\n  gateways: [bookinfo-gateway]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "\n  hosts: [\"*\"]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.hosts[0]",
        "wildcard host \"*\" is not allowed for a VirtualService bound to the mesh gateway",
    );
}

#[test]
fn hosts_must_not_overlap() {
    pass_fail(
        VS,
        "\n  hosts: [a.example.com, b.example.com]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "\n  hosts: [\"*.example.com\", a.example.com]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.hosts[1]",
        "host \"a.example.com\" overlaps \"*.example.com\" (spec.hosts[0]); list each host once",
    );
}

#[test]
fn gateway_references_are_namespace_slash_name() {
    pass_fail(
        VS,
        "\n  hosts: [reviews]\n  gateways: [mesh, istio-system/ingress, bookinfo]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "\n  hosts: [reviews]\n  gateways: [Bad_NS/gw]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.gateways[0]",
        "invalid namespace \"Bad_NS\" in gateway \"Bad_NS/gw\"",
    );
    assert_warning(
        VS,
        "\n  hosts: [reviews]\n  gateways: [ingress.istio-system]\n  http:\n  - route: [{destination: {host: reviews}}]",
        "spec.gateways[0]",
        "gateway \"ingress.istio-system\" uses the legacy name.namespace form; write \"istio-system/ingress\"",
    );
}

#[test]
fn a_virtual_service_needs_a_route() {
    pass_fail(
        VS,
        "\n  hosts: [reviews]\n  tcp:\n  - route: [{destination: {host: reviews}}]",
        "\n  hosts: [reviews]",
        "spec",
        "a VirtualService needs at least one http, tls or tcp route",
    );
}

#[test]
fn a_delegate_cannot_delegate_again() {
    pass_fail(
        VS,
        "\n  hosts: [reviews]\n  http:\n  - delegate: {name: reviews-delegate, namespace: reviews}",
        "\n  http:\n  - delegate: {name: reviews-delegate}",
        "spec.http[0].delegate",
        "a delegate VirtualService (one without hosts) cannot delegate again; only one level of \
         delegation is supported",
    );
}

const TLS_GOOD: &str = "
  hosts: [\"*.example.com\"]
  gateways: [istio-system/egress]
  tls:
  - match:
    - sniHosts: [a.example.com, \"*.b.example.com\"]
      port: 443
      destinationSubnets: [10.0.0.0/8]
      sourceLabels: {app: web}
      gateways: [istio-system/egress]
      sourceNamespace: default
    route:
    - destination: {host: a.example.com, port: {number: 443}}";

#[test]
fn tls_routes_need_matches_with_sni_hosts_and_routes() {
    assert_clean(VS, TLS_GOOD);
    let no_match = "\n  hosts: [a.example.com]\n  tls:\n  - route: [{destination: {host: a}}]";
    assert_error(
        VS,
        no_match,
        "spec.tls[0].match",
        "required field is missing",
    );
    let no_sni = "\n  hosts: [a.example.com]\n  tls:\n  - match: [{port: 443}]\n    route: [{destination: {host: a}}]";
    assert_error(
        VS,
        no_sni,
        "spec.tls[0].match[0].sniHosts",
        "required field is missing",
    );
    let no_route = "\n  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [a.example.com]}]";
    assert_error(
        VS,
        no_route,
        "spec.tls[0].route",
        "required field is missing",
    );
}

#[test]
fn sni_hosts_must_be_covered_by_the_hosts() {
    let bad = TLS_GOOD.replace("\"*.b.example.com\"", "other.com");
    assert_error(
        VS,
        &bad,
        "spec.tls[0].match[0].sniHosts[1]",
        "SNI host \"other.com\" is not covered by any host of the VirtualService (*.example.com)",
    );
    let wider = TLS_GOOD.replace("\"*.b.example.com\"", "\"*.com\"");
    assert_error(
        VS,
        &wider,
        "spec.tls[0].match[0].sniHosts[1]",
        "SNI host \"*.com\" is not covered by any host of the VirtualService (*.example.com)",
    );
}

#[test]
fn l4_match_fields_are_checked() {
    let subnet = TLS_GOOD.replace("10.0.0.0/8", "10.0.0.0/33");
    assert_error(
        VS,
        &subnet,
        "spec.tls[0].match[0].destinationSubnets[0]",
        "\"10.0.0.0/33\" is neither an IP address nor a CIDR block",
    );
    let port = TLS_GOOD.replace("port: 443\n", "port: 70000\n");
    assert_error(
        VS,
        &port,
        "spec.tls[0].match[0].port",
        "port 70000 is out of range 1-65535",
    );
    let ns = TLS_GOOD.replace("sourceNamespace: default", "sourceNamespace: Default");
    assert_error(
        VS,
        &ns,
        "spec.tls[0].match[0].sourceNamespace",
        "\"Default\" is not a valid namespace name (a DNS label)",
    );
    let labels = TLS_GOOD.replace("{app: web}", "{app: \"web server\"}");
    assert_error(
        VS,
        &labels,
        "spec.tls[0].match[0].sourceLabels.app",
        "label \"app\": value \"web server\" must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
}

#[test]
fn tcp_routes_need_a_route_and_warn_about_source_subnet() {
    pass_fail(
        VS,
        "\n  hosts: [mysql]\n  tcp:\n  - match: [{port: 3306}]\n    route: [{destination: {host: mysql}}]",
        "\n  hosts: [mysql]\n  tcp:\n  - match: [{port: 3306}]",
        "spec.tcp[0].route",
        "required field is missing",
    );
    assert_warning(
        VS,
        "\n  hosts: [mysql]\n  tcp:\n  - match: [{sourceSubnet: 10.0.0.0/8}]\n    route: [{destination: {host: mysql}}]",
        "spec.tcp[0].match[0].sourceSubnet",
        "sourceSubnet is deprecated and has no effect",
    );
}

#[test]
fn destinations_name_a_service_a_subset_and_a_port() {
    let good = "\n  hosts: [reviews]\n  tcp:\n  - route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1, port: {number: 9080}}}]";
    assert_clean(VS, good);
    let cases = [
        (
            "{subset: v1}",
            "spec.tcp[0].route[0].destination.host",
            "required field is missing",
        ),
        (
            "{host: \"*\"}",
            "spec.tcp[0].route[0].destination.host",
            "a destination host cannot be \"*\"; name a service",
        ),
        (
            "{host: reviews, subset: V1}",
            "spec.tcp[0].route[0].destination.subset",
            "subset name \"V1\" must be a DNS label",
        ),
        (
            "{host: reviews, port: {}}",
            "spec.tcp[0].route[0].destination.port.number",
            "required field is missing",
        ),
        (
            "{host: reviews, port: {number: 0}}",
            "spec.tcp[0].route[0].destination.port.number",
            "port 0 is out of range 1-65535",
        ),
    ];
    for (dest, field, message) in cases {
        let spec = format!("\n  hosts: [reviews]\n  tcp:\n  - route: [{{destination: {dest}}}]");
        assert_error(VS, &spec, field, message);
    }
    assert_error(
        VS,
        "\n  hosts: [reviews]\n  tcp:\n  - route: [{weight: 100}]",
        "spec.tcp[0].route[0].destination",
        "required field is missing",
    );
}

fn two_destinations(w1: i32, w2: i32) -> String {
    format!(
        "\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {{host: reviews, subset: v1}}\n      weight: {w1}\n    - destination: {{host: reviews, subset: v2}}\n      weight: {w2}"
    )
}

#[test]
fn weights_are_percentages_that_sum_to_100() {
    assert_clean(VS, &two_destinations(75, 25));
    assert_clean(VS, &two_destinations(100, 0));
    assert_error(
        VS,
        &two_destinations(75, 20),
        "spec.http[0].route",
        "weights must sum to 100 when there is more than one destination (they sum to 95)",
    );
    assert_error(
        VS,
        &two_destinations(150, -50),
        "spec.http[0].route[0].weight",
        "weight 150 must be between 0 and 100",
    );
    assert_error(
        VS,
        &two_destinations(150, -50),
        "spec.http[0].route[1].weight",
        "weight -50 must be between 0 and 100",
    );
}

#[test]
fn a_single_destination_with_a_partial_weight_is_suspicious() {
    assert_clean(
        VS,
        "\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews}, weight: 100}]",
    );
    assert_warning(
        VS,
        "\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews}, weight: 50}]",
        "spec.http[0].route[0].weight",
        "weight 50 has no effect: the only destination receives all traffic",
    );
}

#[test]
fn export_to_names_namespaces_once() {
    let spec = |export: &str| {
        format!(
            "\n  hosts: [reviews]\n  exportTo: {export}\n  http:\n  - route: [{{destination: {{host: reviews}}}}]"
        )
    };
    assert_clean(VS, &spec("[\".\", istio-system]"));
    assert_error(
        VS,
        &spec("[\".\", \".\"]"),
        "spec.exportTo[1]",
        "duplicate exportTo value \".\"",
    );
    assert_error(
        VS,
        &spec("[Prod]"),
        "spec.exportTo[0]",
        "\"Prod\" is not \".\", \"*\", \"~\" or a namespace name",
    );
    assert_error(
        VS,
        &spec("[\"*\", prod]"),
        "spec.exportTo",
        "exportTo \"*\" cannot be combined with other values",
    );
}

#[test]
fn the_bookinfo_examples_are_clean() {
    let testdata = [
        include_str!("../../../config/src/model/networking/testdata/bookinfo-gateway.yaml"),
        include_str!(
            "../../../config/src/model/networking/testdata/destination-rule-all-mtls.yaml"
        ),
        include_str!(
            "../../../config/src/model/networking/testdata/virtual-service-reviews-test-v2.yaml"
        ),
        include_str!(
            "../../../config/src/model/networking/testdata/virtual-service-reviews-50-v3.yaml"
        ),
        include_str!(
            "../../../config/src/model/networking/testdata/virtual-service-ratings-test-delay.yaml"
        ),
        include_str!(
            "../../../config/src/model/networking/testdata/virtual-service-ratings-test-abort.yaml"
        ),
    ];
    for yaml in testdata {
        let found = super::test_util::problems(yaml);
        assert!(found.is_empty(), "{found:#?}");
    }
}
