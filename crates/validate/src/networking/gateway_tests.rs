//! Gateway rules: servers, hosts, ports, binds, unique names and server TLS.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const GW: &str = "Gateway";

/// A Gateway with one server: `port` and `rest` (flow YAML fields after hosts).
fn server(port: &str, rest: &str) -> String {
    format!(
        "\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {port}\n    hosts: [\"bookinfo/*.example.com\"]{rest}"
    )
}

const HTTP: &str = "{number: 80, name: http, protocol: HTTP}";
const HTTPS: &str = "{number: 443, name: https, protocol: HTTPS}";

#[test]
fn servers_hosts_and_ports_are_required() {
    assert_clean(GW, &server(HTTP, ""));
    assert_error(
        GW,
        "\n  selector: {istio: ingressgateway}",
        "spec.servers",
        "required field is missing",
    );
    assert_error(
        GW,
        "\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}",
        "spec.servers[0].hosts",
        "required field is missing",
    );
    assert_error(
        GW,
        "\n  servers:\n  - hosts: [\"*\"]",
        "spec.servers[0].port",
        "required field is missing",
    );
    let cases = [
        (
            "{name: http, protocol: HTTP}",
            "spec.servers[0].port.number",
            "required field is missing",
        ),
        (
            "{number: 80, protocol: HTTP}",
            "spec.servers[0].port.name",
            "required field is missing",
        ),
        (
            "{number: 80, name: http}",
            "spec.servers[0].port.protocol",
            "required field is missing",
        ),
        (
            "{number: 0, name: http, protocol: HTTP}",
            "spec.servers[0].port.number",
            "port 0 is out of range 1-65535",
        ),
        (
            "{number: 80, name: http, protocol: HTPP}",
            "spec.servers[0].port.protocol",
            "unknown protocol \"HTPP\" (did you mean \"HTTP\"?)",
        ),
    ];
    for (port, field, message) in cases {
        assert_error(GW, &server(port, ""), field, message);
    }
    assert_warning(
        GW,
        &server(
            "{number: 80, name: http, protocol: HTTP, targetPort: 8080}",
            "",
        ),
        "spec.servers[0].port.targetPort",
        "targetPort is deprecated and ignored for Gateway servers",
    );
}

#[test]
fn hosts_may_have_a_namespace_but_not_tilde() {
    let hosts = |h: &str| format!("\n  servers:\n  - port: {HTTP}\n    hosts: {h}");
    assert_clean(
        GW,
        &hosts(
            "[\"*\", \"./reviews.example.com\", \"*/a.example.com\", ns1/b.example.com, c.example.com]",
        ),
    );
    assert_error(
        GW,
        &hosts("[\"~/a.example.com\"]"),
        "spec.servers[0].hosts[0]",
        "\"~/a.example.com\": namespace \"~\" is only allowed in Sidecar hosts",
    );
    assert_error(
        GW,
        &hosts("[\"Ns/a.example.com\"]"),
        "spec.servers[0].hosts[0]",
        "namespace \"Ns\" in \"Ns/a.example.com\" is not a valid namespace name, \".\", \"~\" or \"*\"",
    );
    assert_error(
        GW,
        &hosts("[\"a.*.com\"]"),
        "spec.servers[0].hosts[0]",
        "host \"a.*.com\": \"*\" is only allowed as the leftmost label (\"*.example.com\")",
    );
}

#[test]
fn bind_is_an_ip_or_a_unix_socket() {
    assert_clean(GW, &server(HTTP, "\n    bind: 0.0.0.0"));
    assert_clean(
        GW,
        &server(
            "{name: uds, protocol: HTTP}",
            "\n    bind: unix:///var/run/gw.sock",
        ),
    );
    assert_error(
        GW,
        &server(HTTP, "\n    bind: localhost"),
        "spec.servers[0].bind",
        "bind \"localhost\" must be an IP address or a unix:// socket",
    );
    assert_error(
        GW,
        &server(HTTP, "\n    bind: unix://relative.sock"),
        "spec.servers[0].bind",
        "\"unix://relative.sock\": a unix socket must be an absolute file path or an @abstract name",
    );
}

#[test]
fn port_names_and_server_names_are_unique() {
    let two = |n1: &str, n2: &str, s1: &str, s2: &str| {
        format!(
            "\n  servers:\n  - name: {s1}\n    port: {{number: 80, name: {n1}, protocol: HTTP}}\n    hosts: [a.example.com]\n  - name: {s2}\n    port: {{number: 80, name: {n2}, protocol: HTTP}}\n    hosts: [b.example.com]"
        )
    };
    assert_clean(GW, &two("http-a", "http-b", "a", "b"));
    assert_error(
        GW,
        &two("http", "http", "a", "b"),
        "spec.servers[1].port.name",
        "port.name \"http\" is already used by spec.servers[0]",
    );
    assert_error(
        GW,
        &two("http-a", "http-b", "same", "same"),
        "spec.servers[1].name",
        "name \"same\" is already used by spec.servers[0]",
    );
}

#[test]
fn https_servers_need_tls_and_http_servers_only_redirect() {
    pass_fail(
        GW,
        &server(
            HTTPS,
            "\n    tls: {mode: SIMPLE, credentialName: bookinfo-cert}",
        ),
        &server(HTTPS, ""),
        "spec.servers[0].tls",
        "required field is missing (HTTPS and TLS servers need TLS settings)",
    );
    pass_fail(
        GW,
        &server(HTTP, "\n    tls: {httpsRedirect: true}"),
        &server(HTTP, "\n    tls: {mode: SIMPLE, credentialName: c}"),
        "spec.servers[0].tls",
        "TLS settings are only allowed on HTTPS and TLS servers (an HTTP server may set only httpsRedirect)",
    );
    assert_error(
        GW,
        &server(
            HTTPS,
            "\n    tls: {httpsRedirect: true, mode: SIMPLE, credentialName: c}",
        ),
        "spec.servers[0].tls.httpsRedirect",
        "httpsRedirect only applies to HTTP servers",
    );
}

fn tls(settings: &str) -> String {
    server(HTTPS, &format!("\n    tls: {settings}"))
}

const TLS: &str = "spec.servers[0].tls";

#[test]
fn simple_and_mutual_tls_need_certificates() {
    assert_clean(
        GW,
        &tls("{mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}"),
    );
    assert_clean(GW, &tls("{mode: MUTUAL, credentialName: bookinfo}"));
    assert_clean(
        GW,
        &tls(
            "{mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}",
        ),
    );
    assert_clean(
        GW,
        &tls("{mode: OPTIONAL_MUTUAL, credentialNames: [rsa, ecdsa]}"),
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, serverCertificate: /c.pem}"),
        &format!("{TLS}.privateKey"),
        "required field is missing (mode SIMPLE needs serverCertificate and privateKey, or credentialName)",
    );
    assert_error(
        GW,
        &tls("{mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}"),
        &format!("{TLS}.caCertificates"),
        "required field is missing (mode MUTUAL needs a client CA: caCertificates, caCertCredentialName or credentialName)",
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, credentialName: a, serverCertificate: /c.pem}"),
        TLS,
        "only one of serverCertificate, credentialName, credentialNames or tlsCertificates may be set (found serverCertificate and credentialName)",
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, credentialName: a, privateKey: /k.pem}"),
        &format!("{TLS}.privateKey"),
        "privateKey cannot be combined with credentialName, credentialNames or tlsCertificates",
    );
}

#[test]
fn multiple_certificates_are_rsa_and_ecdsa_at_most() {
    assert_clean(
        GW,
        &tls(
            "{mode: SIMPLE, tlsCertificates: [{serverCertificate: /rsa.pem, privateKey: /rsa.key}, {serverCertificate: /ec.pem, privateKey: /ec.key}]}",
        ),
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, credentialNames: [a, b, c]}"),
        &format!("{TLS}.credentialNames"),
        "at most two credentialNames (one RSA and one ECDSA certificate) are supported",
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, tlsCertificates: [{serverCertificate: /rsa.pem}]}"),
        &format!("{TLS}.tlsCertificates[0].privateKey"),
        "required field is missing",
    );
}

#[test]
fn other_modes_and_tls_details() {
    assert_clean(GW, &tls("{mode: ISTIO_MUTUAL}"));
    assert_clean(GW, &tls("{mode: PASSTHROUGH}"));
    assert_clean(
        GW,
        &tls(
            "{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_3}",
        ),
    );
    assert_error(
        GW,
        &tls("{mode: ISTIO_MUTUAL, credentialName: c}"),
        &format!("{TLS}.credentialName"),
        "credentialName must not be set with mode ISTIO_MUTUAL (Istio provides the certificates)",
    );
    assert_warning(
        GW,
        &tls("{mode: AUTO_PASSTHROUGH, credentialName: c}"),
        TLS,
        "certificates have no effect when TLS is passed through",
    );
    assert_error(
        GW,
        &tls(
            "{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2}",
        ),
        &format!("{TLS}.maxProtocolVersion"),
        "maxProtocolVersion is older than minProtocolVersion",
    );
    assert_error(
        GW,
        &tls("{mode: MUTUAL, credentialName: c, caCrl: /crl.pem}"),
        &format!("{TLS}.caCrl"),
        "caCrl cannot be combined with credentialName; put the CRL in the secret",
    );
    assert_error(
        GW,
        &tls("{mode: SIMPLE, serverCertificate: /c, privateKey: /k, caCrl: /crl.pem}"),
        &format!("{TLS}.caCrl"),
        "caCrl only applies to modes MUTUAL and OPTIONAL_MUTUAL",
    );
}

#[test]
fn default_endpoint_has_no_effect_on_gateways() {
    assert_warning(
        GW,
        &server(HTTP, "\n    defaultEndpoint: 127.0.0.1:8080"),
        "spec.servers[0].defaultEndpoint",
        "defaultEndpoint is not implemented for Gateway servers and has no effect",
    );
}
