//! Decoding of the Bookinfo examples from Istio's documentation, of objects that use every
//! part of the model, and of typos.

use super::*;
use crate::types::Duration;
use crate::{Body, LoadOptions, Loaded, load_str};

fn load(yaml: &str) -> Loaded {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    assert!(
        loaded.problems.is_empty(),
        "unexpected problems: {:#?}",
        loaded.problems
    );
    loaded
}

fn one(yaml: &str) -> Body {
    let mut loaded = load(yaml);
    assert_eq!(loaded.objects.len(), 1);
    loaded.objects.remove(0).body
}

fn virtual_service(yaml: &str) -> VirtualService {
    match one(yaml) {
        Body::VirtualService(b) => b.spec,
        other => panic!("not a VirtualService: {other:?}"),
    }
}

fn destination_rule(yaml: &str) -> DestinationRule {
    match one(yaml) {
        Body::DestinationRule(b) => b.spec,
        other => panic!("not a DestinationRule: {other:?}"),
    }
}

/// The single problem of `yaml`, as (field, message).
fn problem(yaml: &str) -> (String, String) {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    assert_eq!(loaded.problems.len(), 1, "{:#?}", loaded.problems);
    let p = &loaded.problems[0];
    (p.field.clone(), p.message.clone())
}

const BOOKINFO_GATEWAY: &str = include_str!("testdata/bookinfo-gateway.yaml");

#[test]
fn bookinfo_gateway_decodes() {
    let loaded = load(BOOKINFO_GATEWAY);
    assert_eq!(loaded.objects.len(), 2);
    let Body::Gateway(gw) = &loaded.objects[0].body else {
        panic!("not a Gateway")
    };
    let server = &gw.spec.servers[0];
    let port = server.port.as_ref().expect("port");
    assert_eq!(port.number, Some(8080));
    assert_eq!(port.protocol.as_deref(), Some("HTTP"));
    assert_eq!(server.hosts, ["*"]);
    assert_eq!(gw.spec.selector["istio"], "ingressgateway");

    let Body::VirtualService(vs) = &loaded.objects[1].body else {
        panic!("not a VirtualService")
    };
    let route = &vs.spec.http[0];
    assert_eq!(route.r#match.len(), 5);
    assert_eq!(
        route.r#match[1]
            .uri
            .as_ref()
            .and_then(|m| m.prefix.as_deref()),
        Some("/static")
    );
    let dest = route.route[0].destination.as_ref().expect("destination");
    assert_eq!(dest.host.as_deref(), Some("productpage"));
    assert_eq!(dest.port.as_ref().and_then(|p| p.number), Some(9080));
}

const DESTINATION_RULE_ALL_MTLS: &str = include_str!("testdata/destination-rule-all-mtls.yaml");

#[test]
fn bookinfo_destination_rules_decode() {
    let loaded = load(DESTINATION_RULE_ALL_MTLS);
    assert_eq!(loaded.objects.len(), 4);
    let Body::DestinationRule(ratings) = &loaded.objects[2].body else {
        panic!("not a DestinationRule")
    };
    assert_eq!(ratings.spec.host.as_deref(), Some("ratings"));
    let names: Vec<_> = ratings
        .spec
        .subsets
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    assert_eq!(names, ["v1", "v2", "v2-mysql", "v2-mysql-vm"]);
    let tls = ratings
        .spec
        .traffic_policy
        .as_ref()
        .and_then(|t| t.tls.as_ref());
    assert_eq!(tls.and_then(|t| t.mode), Some(ClientTlsMode::IstioMutual));
}

#[test]
fn bookinfo_routing_tasks_decode() {
    let test_v2 = virtual_service(include_str!(
        "testdata/virtual-service-reviews-test-v2.yaml"
    ));
    let header = &test_v2.http[0].r#match[0].headers["end-user"];
    assert_eq!(header.exact.as_deref(), Some("jason"));

    let fifty = virtual_service(include_str!("testdata/virtual-service-reviews-50-v3.yaml"));
    let weights: Vec<_> = fifty.http[0].route.iter().map(|r| r.weight).collect();
    assert_eq!(weights, [Some(50), Some(50)]);
}

#[test]
fn bookinfo_fault_injection_decodes() {
    let delay = virtual_service(include_str!(
        "testdata/virtual-service-ratings-test-delay.yaml"
    ));
    let d = delay.http[0].fault.as_ref().and_then(|f| f.delay.as_ref());
    let d = d.expect("delay");
    assert_eq!(d.fixed_delay, Some(Duration::from_secs(7)));
    assert_eq!(d.percentage.as_ref().map(|p| p.value), Some(100.0));

    let abort = virtual_service(include_str!(
        "testdata/virtual-service-ratings-test-abort.yaml"
    ));
    let a = abort.http[0].fault.as_ref().and_then(|f| f.abort.as_ref());
    assert_eq!(a.and_then(|a| a.http_status), Some(500));
}

#[test]
fn every_http_route_field_decodes() {
    let vs = virtual_service(include_str!("testdata/full-virtual-service.yaml"));
    let main = &vs.http[0];
    assert_eq!(main.timeout, Some(Duration::from_millis(2500)));
    let retries = main.retries.as_ref().expect("retries");
    assert_eq!(retries.backoff, Some(Duration::from_millis(50)));
    assert_eq!(retries.retry_ignore_previous_hosts, Some(false));
    let cors = main.cors_policy.as_ref().expect("cors");
    assert_eq!(cors.unmatched_preflights, Some(UnmatchedPreflights::Ignore));
    assert_eq!(cors.max_age, Some(Duration::from_secs(86400)));
    assert_eq!(main.r#match[0].headers["x-debug"].set_count(), 0);
    let redirect = vs.http[1].redirect.as_ref().expect("redirect");
    assert_eq!(
        redirect.derive_port,
        Some(RedirectPortSelection::FromRequestPort)
    );
    let body = vs.http[2]
        .direct_response
        .as_ref()
        .and_then(|d| d.body.as_ref());
    assert_eq!(body.and_then(|b| b.string.as_deref()), Some("unavailable"));
    assert_eq!(
        vs.http[3]
            .delegate
            .as_ref()
            .and_then(|d| d.namespace.as_deref()),
        Some("reviews")
    );
    assert_eq!(vs.tls[0].r#match[0].port, Some(443));
    assert_eq!(
        vs.tcp[0].r#match[0].source_subnet.as_deref(),
        Some("10.0.0.0/8")
    );
}

#[test]
fn deprecated_mirror_percent_accepts_both_spellings() {
    for key in ["mirrorPercent", "mirror_percent"] {
        let vs = virtual_service(&format!(
            "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {{name: m}}\n\
             spec:\n  hosts: [a]\n  http:\n  - route: [{{destination: {{host: a}}}}]\n    \
             mirror: {{host: b}}\n    {key}: 30\n"
        ));
        assert_eq!(vs.http[0].mirror_percent, Some(30), "{key}");
    }
}

#[test]
fn every_traffic_policy_field_decodes() {
    let dr = destination_rule(include_str!("testdata/full-destination-rule.yaml"));
    let policy = dr.traffic_policy.as_ref().expect("trafficPolicy");
    let lb = policy.load_balancer.as_ref().expect("loadBalancer");
    let hash = lb.consistent_hash.as_ref().expect("consistentHash");
    let cookie = hash.http_cookie.as_ref().expect("httpCookie");
    assert_eq!(cookie.ttl, Some(Duration::default()));
    assert_eq!(cookie.attributes[0].name.as_deref(), Some("SameSite"));
    let locality = lb.locality_lb_setting.as_ref().expect("locality");
    assert_eq!(locality.distribute[0].to["us-west/zone1/*"], 80);
    let http = policy
        .connection_pool
        .as_ref()
        .and_then(|p| p.http.as_ref());
    assert_eq!(
        http.and_then(|h| h.h2_upgrade_policy),
        Some(H2UpgradePolicy::Upgrade)
    );
    let outlier = policy.outlier_detection.as_ref().expect("outlier");
    assert_eq!(outlier.consecutive_5xx_errors, Some(7));
    assert_eq!(
        policy.proxy_protocol.as_ref().and_then(|p| p.version),
        Some(ProxyProtocolVersion::V2)
    );
    assert_eq!(
        policy.retry_budget.as_ref().and_then(|b| b.percent),
        Some(25.0)
    );
    let subset_policy = dr.subsets[0]
        .traffic_policy
        .as_ref()
        .expect("subset policy");
    let tunnel = subset_policy.tunnel.as_ref().expect("tunnel");
    assert_eq!(tunnel.target_port, Some(8443));
}

#[test]
fn gateway_service_entry_sidecar_workloads_and_envoy_filter_decode() {
    let loaded = load(include_str!("testdata/other-kinds.yaml"));
    assert_eq!(loaded.objects.len(), 5);
    let Body::Gateway(gw) = &loaded.objects[0].body else {
        panic!()
    };
    let tls = gw.spec.servers[0].tls.as_ref().expect("tls");
    assert_eq!(tls.min_protocol_version, Some(TlsProtocol::TlsV12));
    let Body::ServiceEntry(se) = &loaded.objects[1].body else {
        panic!()
    };
    assert_eq!(se.spec.resolution, Some(Resolution::DnsRoundRobin));
    assert_eq!(se.spec.endpoints[0].ports["http"], 80);
    let Body::Sidecar(sc) = &loaded.objects[2].body else {
        panic!()
    };
    assert_eq!(sc.spec.ingress[0].capture_mode, Some(CaptureMode::Iptables));
    let Body::WorkloadGroup(wg) = &loaded.objects[3].body else {
        panic!()
    };
    let probe = wg.spec.probe.as_ref().and_then(|p| p.http_get.as_ref());
    assert_eq!(probe.and_then(|p| p.port), Some(9080));
    let Body::EnvoyFilter(ef) = &loaded.objects[4].body else {
        panic!()
    };
    let patch = ef.spec.config_patches[0].patch.as_ref().expect("patch");
    assert_eq!(patch.operation, Some(PatchOperation::InsertBefore));
    let value = patch.value.as_ref().expect("value");
    assert_eq!(value["name"], "envoy.lua");
}

#[test]
fn a_typo_gives_the_path_and_a_suggestion() {
    let (field, message) = problem(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destinaton:
        host: reviews
"#,
    );
    assert_eq!(field, "spec.http[0].route[0].destinaton");
    assert_eq!(
        message,
        "unknown field \"destinaton\" (did you mean \"destination\"?)"
    );
}

#[test]
fn a_typo_deep_in_a_traffic_policy_gives_the_path() {
    let (field, message) = problem(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      http:
        http1MaxPendingRequest: 10
"#,
    );
    assert_eq!(
        field,
        "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequest"
    );
    assert_eq!(
        message,
        "unknown field \"http1MaxPendingRequest\" (did you mean \"http1MaxPendingRequests\"?)"
    );
}

#[test]
fn an_unknown_enum_value_fails_with_a_suggestion() {
    let (field, message) = problem(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBBIN
"#,
    );
    assert_eq!(field, "spec.trafficPolicy.loadBalancer.simple");
    assert_eq!(
        message,
        "unknown value \"ROUND_ROBBIN\" (did you mean \"ROUND_ROBIN\"?)"
    );
}

#[test]
fn a_bad_duration_is_reported_at_its_field() {
    let (field, message) = problem(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    timeout: 10
"#,
    );
    assert_eq!(field, "spec.http[0].timeout");
    assert!(message.contains("a unit is required"), "{message}");
}

#[test]
fn specs_survive_a_serialize_round_trip() {
    let loaded = load(DESTINATION_RULE_ALL_MTLS);
    for obj in &loaded.objects {
        let Body::DestinationRule(dr) = &obj.body else {
            panic!()
        };
        let json = serde_json::to_value(&dr.spec).expect("serialize");
        assert!(json.get("exportTo").is_none(), "empty lists are omitted");
        let back: DestinationRule = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, dr.spec);
    }
}
