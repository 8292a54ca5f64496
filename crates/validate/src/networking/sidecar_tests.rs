//! Sidecar rules: selectors, ingress and egress listeners, outbound policy, and one default
//! Sidecar per namespace.

use super::test_util::{assert_clean, assert_error, assert_warning, object, pass_fail, problems};

const SC: &str = "Sidecar";

const GOOD: &str = r#"
  workloadSelector: {labels: {app: reviews}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
    connectionPool: {http: {http1MaxPendingRequests: 100}}
  - port: {number: 9443, protocol: HTTPS}
    defaultEndpoint: "unix:///var/run/app.sock"
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
  egress:
  - port: {number: 3306, protocol: MYSQL, name: mysql}
    bind: 127.0.0.1
    hosts: ["*/mysql.db.svc.cluster.local"]
  - port: {name: uds, protocol: HTTP}
    bind: "unix:///var/run/egress.sock"
    captureMode: NONE
    hosts: ["./*"]
  - hosts: ["./*", "istio-system/*", "~/*"]
  inboundConnectionPool: {tcp: {maxConnections: 10}}
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: egress.example.com, port: {number: 3128}}"#;

#[test]
fn a_sidecar_using_every_listener_kind_is_clean() {
    assert_clean(SC, GOOD);
}

#[test]
fn a_workload_selector_needs_labels() {
    assert_error(
        SC,
        "\n  workloadSelector: {labels: {}}\n  egress: [{hosts: [\"./*\"]}]",
        "spec.workloadSelector.labels",
        "a workloadSelector needs labels (omit workloadSelector to make this the namespace default)",
    );
}

fn ingress(listener: &str) -> String {
    format!("\n  ingress:\n  - {listener}")
}

#[test]
fn ingress_listeners_have_a_unique_valid_port() {
    let at = "spec.ingress[0]";
    assert_error(
        SC,
        &ingress("defaultEndpoint: 127.0.0.1:80"),
        &format!("{at}.port"),
        "required field is missing",
    );
    assert_error(
        SC,
        &ingress("port: {protocol: HTTP}"),
        &format!("{at}.port.number"),
        "required field is missing",
    );
    assert_error(
        SC,
        &ingress("port: {number: 65536}"),
        &format!("{at}.port.number"),
        "port 65536 is out of range 1-65535",
    );
    assert_error(
        SC,
        &ingress("port: {number: 80, name: Web}"),
        &format!("{at}.port.name"),
        "port name \"Web\" must be a DNS label (lowercase letters, digits and '-')",
    );
    assert_error(
        SC,
        "\n  ingress:\n  - port: {number: 80}\n  - port: {number: 80}",
        "spec.ingress[1].port.number",
        "port 80 is already used by spec.ingress[0]",
    );
    assert_error(
        SC,
        &ingress("port: {number: 80}\n    bind: \"unix:///a.sock\""),
        &format!("{at}.bind"),
        "bind \"unix:///a.sock\" must be an IP address",
    );
    assert_warning(
        SC,
        &ingress("port: {number: 80, targetPort: 8080}"),
        &format!("{at}.port.targetPort"),
        "targetPort has no effect on Sidecar listeners",
    );
}

#[test]
fn ingress_default_endpoints_are_loopback_or_unix() {
    pass_fail(
        SC,
        &ingress("port: {number: 80}\n    defaultEndpoint: \"[::1]:8080\""),
        &ingress("port: {number: 80}\n    defaultEndpoint: 10.0.0.1:8080"),
        "spec.ingress[0].defaultEndpoint",
        "defaultEndpoint \"10.0.0.1:8080\" must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix://path",
    );
}

#[test]
fn ingress_tls_is_limited_on_sidecars() {
    let tls = |protocol: &str, t: &str| {
        ingress(&format!(
            "port: {{number: 443, protocol: {protocol}}}\n    tls: {t}"
        ))
    };
    let at = "spec.ingress[0].tls";
    assert_error(
        SC,
        &tls(
            "HTTP",
            "{mode: SIMPLE, serverCertificate: /c, privateKey: /k}",
        ),
        at,
        "TLS settings need port protocol HTTPS or TLS",
    );
    assert_error(
        SC,
        &tls("HTTPS", "{mode: SIMPLE, credentialName: c}"),
        at,
        "credentialName is not supported on Sidecar listeners; use certificate files",
    );
    assert_error(
        SC,
        &tls(
            "HTTPS",
            "{httpsRedirect: true, mode: SIMPLE, serverCertificate: /c, privateKey: /k}",
        ),
        &format!("{at}.httpsRedirect"),
        "httpsRedirect is not supported on Sidecar listeners",
    );
    assert_error(
        SC,
        &tls("TLS", "{mode: ISTIO_MUTUAL}"),
        &format!("{at}.mode"),
        "modes ISTIO_MUTUAL and AUTO_PASSTHROUGH are not allowed on Sidecar listeners",
    );
    assert_error(
        SC,
        &tls(
            "HTTPS",
            "{mode: MUTUAL, serverCertificate: /c, privateKey: /k}",
        ),
        &format!("{at}.caCertificates"),
        "required field is missing (mode MUTUAL needs a client CA: caCertificates, caCertCredentialName or credentialName)",
    );
}

#[test]
fn ingress_connection_pools_are_checked() {
    assert_error(
        SC,
        &ingress(
            "port: {number: 80, protocol: HTTP}\n    connectionPool: {tcp: {maxConnections: -2}}",
        ),
        "spec.ingress[0].connectionPool.tcp.maxConnections",
        "maxConnections -2 must not be negative",
    );
    assert_warning(
        SC,
        &ingress(
            "port: {number: 5432, protocol: TCP}\n    connectionPool: {http: {maxRetries: 1}}",
        ),
        "spec.ingress[0].connectionPool.http",
        "HTTP settings only apply to HTTP ports; only tcp applies here",
    );
    assert_error(
        SC,
        "\n  inboundConnectionPool: {}",
        "spec.inboundConnectionPool",
        "a connection pool must set tcp, http or both",
    );
}

fn egress(listeners: &str) -> String {
    format!("\n  egress:{listeners}")
}

#[test]
fn egress_hosts_are_namespace_slash_host() {
    let at = "spec.egress[0]";
    assert_error(
        SC,
        &egress("\n  - port: {number: 80}"),
        &format!("{at}.hosts"),
        "required field is missing",
    );
    assert_error(
        SC,
        &egress("\n  - hosts: [reviews.default.svc.cluster.local]"),
        &format!("{at}.hosts[0]"),
        "\"reviews.default.svc.cluster.local\" must be namespace/host, for example \"./reviews.default.svc.cluster.local\" or \"*/reviews.default.svc.cluster.local\"",
    );
    assert_error(
        SC,
        &egress("\n  - hosts: [\"Prod/*\"]"),
        &format!("{at}.hosts[0]"),
        "namespace \"Prod\" in \"Prod/*\" is not a valid namespace name, \".\", \"~\" or \"*\"",
    );
    assert_error(
        SC,
        &egress("\n  - hosts: [\"./re*\"]"),
        &format!("{at}.hosts[0]"),
        "host \"re*\": \"*\" is only allowed as the leftmost label (\"*.example.com\")",
    );
}

#[test]
fn at_most_one_catch_all_egress_listener_and_it_comes_last() {
    let any = "\n  - hosts: [\"./*\"]";
    let port = "\n  - port: {number: 80}\n    hosts: [\"./*\"]";
    assert_clean(SC, &egress(&format!("{port}{any}")));
    assert_error(
        SC,
        &egress(&format!("{any}{port}")),
        "spec.egress[0]",
        "the egress listener without a port must be the last one",
    );
    assert_error(
        SC,
        &egress(&format!("{any}{any}")),
        "spec.egress[1]",
        "only one egress listener may omit the port (spec.egress[0] does too)",
    );
}

#[test]
fn egress_ports_and_sockets_are_unique_and_well_formed() {
    let port = |p: &str, bind: &str| {
        format!("\n  - port: {p}\n    bind: \"{bind}\"\n    hosts: [\"./*\"]")
    };
    assert_error(
        SC,
        &egress(&format!(
            "{}{}",
            port("{number: 80}", "127.0.0.1"),
            port("{number: 80}", "127.0.0.2")
        )),
        "spec.egress[1].port.number",
        "port 80 is already used by spec.egress[0]",
    );
    assert_error(
        SC,
        &egress(&format!(
            "{}{}",
            port("{name: a}", "unix:///a.sock"),
            port("{name: b}", "unix:///a.sock")
        )),
        "spec.egress[1].bind",
        "socket \"unix:///a.sock\" is already used by another listener",
    );
    assert_error(
        SC,
        &egress(&port("{name: a}", "127.0.0.1")),
        "spec.egress[0].port.number",
        "required field is missing (only a listener bound to a unix:// socket may omit it)",
    );
    assert_error(
        SC,
        &egress(
            "\n  - port: {name: a}\n    bind: \"unix:///a.sock\"\n    captureMode: IPTABLES\n    hosts: [\"./*\"]",
        ),
        "spec.egress[0].captureMode",
        "a unix socket listener needs captureMode DEFAULT or NONE",
    );
    assert_error(
        SC,
        &egress(&port("{number: 80}", "localhost")),
        "spec.egress[0].bind",
        "bind \"localhost\" must be an IP address",
    );
}

#[test]
fn the_egress_proxy_needs_allow_any_and_a_port() {
    let policy = |p: &str| format!("\n  outboundTrafficPolicy: {p}");
    let at = "spec.outboundTrafficPolicy.egressProxy";
    assert_error(
        SC,
        &policy("{mode: REGISTRY_ONLY, egressProxy: {host: proxy, port: {number: 3128}}}"),
        at,
        "egressProxy needs mode ALLOW_ANY",
    );
    assert_error(
        SC,
        &policy("{mode: ALLOW_ANY, egressProxy: {host: proxy}}"),
        &format!("{at}.port"),
        "required field is missing",
    );
    assert_error(
        SC,
        &policy("{mode: ALLOW_ANY, egressProxy: {host: proxy, subset: V1, port: {number: 3128}}}"),
        &format!("{at}.subset"),
        "subset name \"V1\" must be a DNS label",
    );
}

#[test]
fn one_sidecar_without_selector_per_namespace() {
    let default = |name: &str, ns: &str| {
        object(SC, name, "\n  egress: [{hosts: [\"./*\"]}]")
            .replace("namespace: default", &format!("namespace: {ns}"))
    };
    let selected = object(SC, "selected", GOOD);
    let fine = [default("a", "default"), default("b", "other"), selected].join("---\n");
    assert!(problems(&fine).is_empty(), "{:#?}", problems(&fine));

    let clash = [
        default("a", "default"),
        default("b", "default"),
        default("c", "default"),
    ]
    .join("---\n");
    let found = problems(&clash);
    let messages: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|p| {
            let name = p.object.as_ref().map(|o| o.name.as_str()).unwrap_or("");
            (name, p.field.as_str(), p.message.as_str())
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                "b",
                "spec.workloadSelector",
                "namespace \"default\" already has a Sidecar without workloadSelector (a, c); only one is allowed"
            ),
            (
                "c",
                "spec.workloadSelector",
                "namespace \"default\" already has a Sidecar without workloadSelector (a, b); only one is allowed"
            ),
        ]
    );
    assert!(found.iter().all(|p| p.is_error()));
}
