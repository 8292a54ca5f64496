//! DestinationRule rules: host, subsets, selectors, and every part of the traffic policy.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const DR: &str = "DestinationRule";

const GOOD: &str = r#"
  host: reviews.default.svc.cluster.local
  exportTo: ["."]
  workloadSelector:
    matchLabels: {app: productpage}
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: user, ttl: 0s, attributes: [{name: SameSite, value: Strict}]}
        ringHash: {minimumRingSize: 1024}
      localityLbSetting:
        distribute:
        - from: us-west/zone1/*
          to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}
      warmup: {duration: 60s, minimumPercent: 10, aggression: 1.5}
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms, idleTimeout: 0s, tcpKeepalive: {time: 7200s, interval: 75s}}
      http: {http1MaxPendingRequests: 10, maxRetries: 3, h2UpgradePolicy: UPGRADE, idleTimeout: 1h}
    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50, minHealthPercent: 0}
    tls: {mode: SIMPLE, sni: reviews.example.com}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: LEAST_REQUEST}
    - port: {number: 9443}
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}
    proxyProtocol: {version: V2}
    retryBudget: {percent: 20, minRetryConcurrency: 3, budgetInterval: 10s}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tunnel: {protocol: CONNECT, targetHost: egress.example.com, targetPort: 8443}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer:
        consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x-user}
        localityLbSetting:
          failover: [{from: us-east, to: eu-west}]
      outlierDetection: {consecutiveGatewayErrors: 3}
      tls: {mode: ISTIO_MUTUAL, sni: reviews.example.com}"#;

#[test]
fn a_rule_using_every_part_of_the_policy_is_clean() {
    assert_clean(DR, GOOD);
}

#[test]
fn the_host_is_required_and_valid() {
    assert_error(
        DR,
        "\n  subsets: [{name: v1}]",
        "spec.host",
        "required field is missing",
    );
    assert_error(
        DR,
        "\n  host: Reviews",
        "spec.host",
        "host \"Reviews\": label \"Reviews\" is not a valid DNS label (lowercase letters, digits and '-', at most 63)",
    );
}

#[test]
fn subsets_have_unique_dns_label_names_and_valid_labels() {
    let spec = |subsets: &str| format!("\n  host: reviews\n  subsets: {subsets}");
    assert_clean(
        DR,
        &spec("[{name: v1, labels: {version: v1}}, {name: v2-canary}]"),
    );
    assert_error(
        DR,
        &spec("[{labels: {version: v1}}]"),
        "spec.subsets[0].name",
        "required field is missing",
    );
    assert_error(
        DR,
        &spec("[{name: V1}]"),
        "spec.subsets[0].name",
        "subset name \"V1\" must be a DNS label (lowercase letters, digits and '-')",
    );
    assert_error(
        DR,
        &spec("[{name: v1}, {name: v1}]"),
        "spec.subsets[1].name",
        "subset name \"v1\" is already used by spec.subsets[0]",
    );
    assert_error(
        DR,
        &spec("[{name: v1, labels: {\"bad key!\": x}}]"),
        "spec.subsets[0].labels.bad key!",
        "label key \"bad key!\": name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
}

#[test]
fn the_workload_selector_needs_valid_labels() {
    let spec =
        |labels: &str| format!("\n  host: reviews\n  workloadSelector: {{matchLabels: {labels}}}");
    assert_clean(DR, &spec("{app: web}"));
    assert_warning(
        DR,
        &spec("{}"),
        "spec.workloadSelector.matchLabels",
        "workload selector has no labels and selects every workload in the namespace",
    );
    assert_error(
        DR,
        &spec("{app: \"-web\"}"),
        "spec.workloadSelector.matchLabels.app",
        "label \"app\": value \"-web\" must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
}

/// A DestinationRule for `reviews` with `policy` (flow YAML) as its traffic policy.
fn policy(policy: &str) -> String {
    format!("\n  host: reviews\n  trafficPolicy: {policy}")
}

const TP: &str = "spec.trafficPolicy";

#[test]
fn a_policy_sets_something_and_not_both_tunnel_and_proxy_protocol() {
    assert_error(
        DR,
        &policy("{}"),
        TP,
        "a traffic policy must set at least one field",
    );
    pass_fail(
        DR,
        &policy("{tunnel: {targetHost: a.example.com, targetPort: 443}}"),
        &policy(
            "{tunnel: {targetHost: a.example.com, targetPort: 443}, proxyProtocol: {version: V1}}",
        ),
        TP,
        "only one of tunnel or proxyProtocol may be set (found tunnel and proxyProtocol)",
    );
}

#[test]
fn port_level_settings_need_a_unique_port_and_a_setting() {
    let at = "spec.trafficPolicy.portLevelSettings";
    assert_error(
        DR,
        &policy("{portLevelSettings: [{loadBalancer: {simple: RANDOM}}]}"),
        &format!("{at}[0].port.number"),
        "required field is missing",
    );
    assert_error(
        DR,
        &policy(
            "{portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}, {port: {number: 80}, tls: {mode: DISABLE}}]}",
        ),
        &format!("{at}[1].port.number"),
        "port 80 already has settings in spec.trafficPolicy.portLevelSettings[0]",
    );
    assert_error(
        DR,
        &policy("{portLevelSettings: [{port: {number: 80}}]}"),
        &format!("{at}[0]"),
        "port settings must set at least one of loadBalancer, connectionPool, outlierDetection or tls",
    );
    assert_error(
        DR,
        &policy(
            "{portLevelSettings: [{port: {number: 80}, outlierDetection: {maxEjectionPercent: 101}}]}",
        ),
        &format!("{at}[0].outlierDetection.maxEjectionPercent"),
        "maxEjectionPercent 101 must be between 0 and 100",
    );
}

#[test]
fn consistent_hash_has_exactly_one_key_and_one_algorithm() {
    let lb = "spec.trafficPolicy.loadBalancer";
    let ch = "spec.trafficPolicy.loadBalancer.consistentHash";
    assert_error(
        DR,
        &policy("{loadBalancer: {simple: ROUND_ROBIN, consistentHash: {useSourceIp: true}}}"),
        lb,
        "only one of simple or consistentHash may be set (found simple and consistentHash)",
    );
    assert_error(
        DR,
        &policy("{loadBalancer: {consistentHash: {ringHash: {minimumRingSize: 10}}}}"),
        ch,
        "one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName is required",
    );
    assert_error(
        DR,
        &policy(
            "{loadBalancer: {consistentHash: {httpHeaderName: x-user, httpQueryParameterName: user}}}",
        ),
        ch,
        "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set (found httpHeaderName and httpQueryParameterName)",
    );
    assert_error(
        DR,
        &policy(
            "{loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}, maglev: {tableSize: 7}}}}",
        ),
        ch,
        "only one of ringHash or maglev may be set (found ringHash and maglev)",
    );
}

#[test]
fn consistent_hash_details_are_checked() {
    let ch = "spec.trafficPolicy.loadBalancer.consistentHash";
    let hash = |fields: &str| policy(&format!("{{loadBalancer: {{consistentHash: {fields}}}}}"));
    assert_error(
        DR,
        &hash("{useSourceIp: true, minimumRingSize: 64, ringHash: {minimumRingSize: 64}}"),
        &format!("{ch}.minimumRingSize"),
        "minimumRingSize cannot be combined with ringHash or maglev; set ringHash.minimumRingSize",
    );
    assert_warning(
        DR,
        &hash("{useSourceIp: true, minimumRingSize: 64}"),
        &format!("{ch}.minimumRingSize"),
        "minimumRingSize is deprecated; use ringHash.minimumRingSize",
    );
    assert_error(
        DR,
        &hash("{httpCookie: {ttl: 10s}}"),
        &format!("{ch}.httpCookie.name"),
        "required field is missing",
    );
    assert_error(
        DR,
        &hash("{httpCookie: {name: u, attributes: [{value: x}]}}"),
        &format!("{ch}.httpCookie.attributes[0].name"),
        "required field is missing",
    );
    assert_error(
        DR,
        &hash("{useSourceIp: true, maglev: {tableSize: 65536}}"),
        &format!("{ch}.maglev.tableSize"),
        "tableSize 65536 must be a prime number",
    );
    assert_error(
        DR,
        &hash("{useSourceIp: true, maglev: {tableSize: 5000101}}"),
        &format!("{ch}.maglev.tableSize"),
        "tableSize 5000101 is larger than 5000011",
    );
    assert_error(
        DR,
        &hash("{useSourceIp: true, maglev: {}}"),
        &format!("{ch}.maglev.tableSize"),
        "required field is missing",
    );
}

fn locality(setting: &str, outlier: bool) -> String {
    let od = if outlier {
        ", outlierDetection: {consecutive5xxErrors: 5}"
    } else {
        ""
    };
    policy(&format!(
        "{{loadBalancer: {{localityLbSetting: {setting}}}{od}}}"
    ))
}

#[test]
fn locality_distribution_weights_sum_to_100() {
    let at = "spec.trafficPolicy.loadBalancer.localityLbSetting";
    assert_clean(
        DR,
        &locality(
            "{distribute: [{from: \"us-west/*\", to: {us-west: 60, us-east: 40}}]}",
            false,
        ),
    );
    assert_error(
        DR,
        &locality(
            "{distribute: [{from: us-west, to: {us-west: 60, us-east: 30}}]}",
            false,
        ),
        &format!("{at}.distribute[0].to"),
        "locality weights must sum to 100 (they sum to 90)",
    );
    assert_error(
        DR,
        &locality(
            "{distribute: [{from: us-west, to: {us-west: 100, us-east: 0}}]}",
            false,
        ),
        &format!("{at}.distribute[0].to.us-east"),
        "locality weight 0 must be between 1 and 100",
    );
    assert_error(
        DR,
        &locality(
            "{distribute: [{from: \"us-*/zone\", to: {us-west: 100}}]}",
            false,
        ),
        &format!("{at}.distribute[0].from"),
        "locality \"us-*/zone\": \"*\" is only allowed as the whole last part",
    );
    assert_error(
        DR,
        &locality(
            "{distribute: [{from: a, to: {a: 100}}], failover: [{from: a, to: b}]}",
            true,
        ),
        at,
        "only one of distribute, failover or failoverPriority may be set (found distribute and failover)",
    );
}

#[test]
fn locality_failover_names_two_regions_and_needs_outlier_detection() {
    let at = "spec.trafficPolicy.loadBalancer.localityLbSetting";
    assert_clean(
        DR,
        &locality("{failover: [{from: us-east, to: eu-west}]}", true),
    );
    assert_clean(
        DR,
        &locality(
            "{failoverPriority: [topology.kubernetes.io/region, \"topology.istio.io/network=net1\"]}",
            true,
        ),
    );
    assert_error(
        DR,
        &locality("{failover: [{from: us-east, to: us-east}]}", true),
        &format!("{at}.failover[0].to"),
        "failover must go to a different region",
    );
    assert_error(
        DR,
        &locality("{failover: [{from: us-east/zone1, to: eu-west}]}", true),
        &format!("{at}.failover[0].from"),
        "failover from \"us-east/zone1\" must be a region, without '/' or '*'",
    );
    assert_error(
        DR,
        &locality("{failoverPriority: [\"bad key\"]}", true),
        &format!("{at}.failoverPriority[0]"),
        "label key \"bad key\": name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
    assert_warning(
        DR,
        &locality("{failover: [{from: us-east, to: eu-west}]}", false),
        at,
        "locality failover only happens with outlierDetection set in the same policy",
    );
}

#[test]
fn warmup_has_a_positive_duration_and_sane_parameters() {
    let at = "spec.trafficPolicy.loadBalancer";
    let lb = |fields: &str| {
        policy(&format!(
            "{{loadBalancer: {{simple: ROUND_ROBIN, {fields}}}}}"
        ))
    };
    assert_error(
        DR,
        &lb("warmup: {minimumPercent: 10}"),
        &format!("{at}.warmup.duration"),
        "required field is missing",
    );
    assert_error(
        DR,
        &lb("warmup: {duration: 0s}"),
        &format!("{at}.warmup.duration"),
        "duration must be greater than zero",
    );
    assert_error(
        DR,
        &lb("warmup: {duration: 1m, minimumPercent: 120}"),
        &format!("{at}.warmup.minimumPercent"),
        "percentage 120 must be between 0 and 100",
    );
    assert_error(
        DR,
        &lb("warmup: {duration: 1m, aggression: 0}"),
        &format!("{at}.warmup.aggression"),
        "aggression 0 must be greater than 0",
    );
    assert_error(
        DR,
        &lb("warmup: {duration: 1m}, warmupDurationSecs: 60s"),
        at,
        "only one of warmup or warmupDurationSecs may be set (found warmup and warmupDurationSecs)",
    );
    assert_warning(
        DR,
        &lb("warmupDurationSecs: 60s"),
        &format!("{at}.warmupDurationSecs"),
        "warmupDurationSecs is deprecated; use warmup.duration",
    );
}

#[test]
fn connection_pools_are_checked() {
    let at = "spec.trafficPolicy.connectionPool";
    let pool = |p: &str| policy(&format!("{{connectionPool: {p}}}"));
    assert_error(
        DR,
        &pool("{}"),
        at,
        "a connection pool must set tcp, http or both",
    );
    assert_error(
        DR,
        &pool("{tcp: {maxConnections: -1}}"),
        &format!("{at}.tcp.maxConnections"),
        "maxConnections -1 must not be negative",
    );
    assert_error(
        DR,
        &pool("{tcp: {connectTimeout: 0s}}"),
        &format!("{at}.tcp.connectTimeout"),
        "duration must be greater than zero",
    );
    assert_error(
        DR,
        &pool("{tcp: {tcpKeepalive: {interval: -5s}}}"),
        &format!("{at}.tcp.tcpKeepalive.interval"),
        "duration -5s must not be negative",
    );
    assert_error(
        DR,
        &pool("{http: {http2MaxRequests: -10}}"),
        &format!("{at}.http.http2MaxRequests"),
        "http2MaxRequests -10 must not be negative",
    );
    pass_fail(
        DR,
        &pool("{http: {h2UpgradePolicy: DO_NOT_UPGRADE, useClientProtocol: true}}"),
        &pool("{http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}"),
        &format!("{at}.http.useClientProtocol"),
        "useClientProtocol cannot be combined with h2UpgradePolicy UPGRADE",
    );
}

#[test]
fn outlier_detection_ranges_are_checked() {
    let at = "spec.trafficPolicy.outlierDetection";
    let od = |o: &str| policy(&format!("{{outlierDetection: {o}}}"));
    assert_error(
        DR,
        &od("{maxEjectionPercent: 150}"),
        &format!("{at}.maxEjectionPercent"),
        "maxEjectionPercent 150 must be between 0 and 100",
    );
    assert_error(
        DR,
        &od("{minHealthPercent: -1}"),
        &format!("{at}.minHealthPercent"),
        "minHealthPercent -1 must be between 0 and 100",
    );
    assert_error(
        DR,
        &od("{interval: 0s}"),
        &format!("{at}.interval"),
        "duration must be greater than zero",
    );
    assert_error(
        DR,
        &od("{baseEjectionTime: -1m}"),
        &format!("{at}.baseEjectionTime"),
        "duration -1m must not be negative",
    );
    assert_error(
        DR,
        &od("{consecutiveErrors: -1}"),
        &format!("{at}.consecutiveErrors"),
        "consecutiveErrors -1 must not be negative",
    );
    assert_warning(
        DR,
        &od("{consecutiveErrors: 5}"),
        &format!("{at}.consecutiveErrors"),
        "consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors",
    );
}

#[test]
fn tls_modes_have_what_they_need() {
    let at = "spec.trafficPolicy.tls";
    let tls = |t: &str| policy(&format!("{{tls: {t}}}"));
    assert_clean(DR, &tls("{mode: MUTUAL, credentialName: client-cert}"));
    assert_clean(
        DR,
        &tls("{mode: SIMPLE, caCertificates: /ca.pem, subjectAltNames: [a.example.com]}"),
    );
    assert_error(
        DR,
        &tls("{sni: a.example.com}"),
        &format!("{at}.mode"),
        "required field is missing",
    );
    assert_error(
        DR,
        &tls("{mode: MUTUAL, clientCertificate: /c.pem}"),
        &format!("{at}.privateKey"),
        "required field is missing (mode MUTUAL needs a client certificate and key, or credentialName)",
    );
    assert_error(
        DR,
        &tls("{mode: SIMPLE, credentialName: c, caCertificates: /ca.pem}"),
        &format!("{at}.caCertificates"),
        "caCertificates cannot be combined with credentialName, which provides the certificates",
    );
    assert_error(
        DR,
        &tls("{mode: ISTIO_MUTUAL, clientCertificate: /c.pem}"),
        &format!("{at}.clientCertificate"),
        "clientCertificate must not be set with mode ISTIO_MUTUAL (Istio provides the certificates)",
    );
    assert_warning(
        DR,
        &tls("{mode: DISABLE, sni: a.example.com}"),
        at,
        "TLS settings other than mode have no effect with mode DISABLE",
    );
}

#[test]
fn tunnels_and_retry_budgets_are_checked() {
    let at = "spec.trafficPolicy";
    let cases = [
        (
            "{tunnel: {protocol: GET, targetHost: a.com, targetPort: 443}}",
            "tunnel.protocol",
            "tunnel protocol \"GET\" must be \"CONNECT\" or \"POST\"",
        ),
        (
            "{tunnel: {targetPort: 443}}",
            "tunnel.targetHost",
            "required field is missing",
        ),
        (
            "{tunnel: {targetHost: 10.0.0.1}}",
            "tunnel.targetPort",
            "required field is missing",
        ),
        (
            "{tunnel: {targetHost: \"*.a.com\", targetPort: 443}}",
            "tunnel.targetHost",
            "wildcard host \"*.a.com\" is not allowed here",
        ),
        (
            "{retryBudget: {percent: 120}}",
            "retryBudget.percent",
            "percentage 120 must be between 0 and 100",
        ),
        (
            "{retryBudget: {budgetInterval: 10us}}",
            "retryBudget.budgetInterval",
            "duration 10us is shorter than 1ms",
        ),
    ];
    for (p, field, message) in cases {
        assert_error(DR, &policy(p), &format!("{at}.{field}"), message);
    }
}
