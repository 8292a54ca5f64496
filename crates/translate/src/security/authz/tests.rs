use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;
use weft_config::model::mesh::MeshConfig;
use weft_config::{LoadOptions, load_str};
use weft_registry::{Registry, RegistryOptions};
use weft_xds::pb::envoy::config::rbac::v3 as rbac;

use super::*;
use crate::proxy::ProxyKind;
use crate::view::Capture;

fn context(yaml: &str) -> Context {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let registry = Arc::new(Registry::build(
        &loaded.objects,
        &RegistryOptions::default(),
    ));
    Context::new(&loaded.objects, registry, MeshConfig::default())
}

fn view(kind: ProxyKind, namespace: &str, labels: &[(&str, &str)]) -> ProxyView {
    ProxyView {
        kind,
        namespace: namespace.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        proxyless: false,
        inbound: Vec::new(),
        capture: Capture::Redirect,
        locality: None,
    }
}

fn sidecar() -> ProxyView {
    view(ProxyKind::Sidecar, "default", &[("app", "web")])
}

fn policy(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n"
    )
}

fn actions(sets: &[rbac::Rbac]) -> Vec<i32> {
    sets.iter().map(|r| r.action).collect()
}

const LOG: i32 = rbac::rbac::Action::Log as i32;
const DENY: i32 = rbac::rbac::Action::Deny as i32;
const ALLOW: i32 = rbac::rbac::Action::Allow as i32;

#[test]
fn filters_per_action_in_istio_order() {
    let yaml = [
        policy("default", "a", "{rules: [{}]}"),
        policy("default", "d", "{action: DENY, rules: [{}]}"),
        policy("default", "l", "{action: AUDIT, rules: [{}]}"),
    ]
    .concat();
    let sets = rule_sets(&context(&yaml), &sidecar(), Traffic::Http);
    assert_eq!(actions(&sets), vec![LOG, DENY, ALLOW]);
    assert!(
        sets[2]
            .policies
            .contains_key("ns[default]-policy[a]-rule[0]")
    );
}

#[test]
fn no_policy_no_filter_and_allow_nothing_denies() {
    assert!(rule_sets(&context(""), &sidecar(), Traffic::Http).is_empty());
    let sets = rule_sets(
        &context(&policy("default", "none", "{}")),
        &sidecar(),
        Traffic::Http,
    );
    assert_eq!(actions(&sets), vec![ALLOW]);
    assert!(
        sets[0].policies.is_empty(),
        "ALLOW with no rules denies all"
    );
    let deny_nothing = policy("default", "d", "{action: DENY}");
    assert!(rule_sets(&context(&deny_nothing), &sidecar(), Traffic::Http).is_empty());
}

#[test]
fn which_policies_apply() {
    let yaml = [
        policy("istio-system", "mesh", "{action: DENY, rules: [{}]}"),
        policy("other", "elsewhere", "{action: DENY, rules: [{}]}"),
        policy(
            "default",
            "mine",
            "{selector: {matchLabels: {app: web}}, action: DENY, rules: [{}]}",
        ),
        policy(
            "default",
            "theirs",
            "{selector: {matchLabels: {app: db}}, action: DENY, rules: [{}]}",
        ),
        policy(
            "istio-system",
            "mesh-web",
            "{selector: {matchLabels: {app: web}}, action: DENY, rules: [{}]}",
        ),
    ]
    .concat();
    let sets = rule_sets(&context(&yaml), &sidecar(), Traffic::Http);
    let mut names: Vec<&String> = sets[0].policies.keys().collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "ns[default]-policy[mine]-rule[0]",
            "ns[istio-system]-policy[mesh-web]-rule[0]",
            "ns[istio-system]-policy[mesh]-rule[0]",
        ]
    );
}

#[test]
fn custom_is_left_out_and_target_ref_selects_a_gateway() {
    let yaml = [
        policy("default", "ext", "{action: CUSTOM, provider: {name: x}, rules: [{}]}"),
        policy(
            "default",
            "gw",
            "{targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: edge}], action: DENY, rules: [{}]}",
        ),
    ]
    .concat();
    let ctx = context(&yaml);
    assert!(rule_sets(&ctx, &sidecar(), Traffic::Http).is_empty());
    let gw = view(
        ProxyKind::Router,
        "default",
        &[("gateway.networking.k8s.io/gateway-name", "edge")],
    );
    assert_eq!(actions(&rule_sets(&ctx, &gw, Traffic::Http)), vec![DENY]);
    let other = view(
        ProxyKind::Router,
        "default",
        &[("gateway.networking.k8s.io/gateway-name", "internal")],
    );
    assert!(rule_sets(&ctx, &other, Traffic::Http).is_empty());
}

#[test]
fn tcp_drops_allow_rules_with_http_fields_and_strips_deny_rules() {
    let yaml = [
        policy("default", "a", "{rules: [{to: [{operation: {methods: [GET]}}]}, {to: [{operation: {ports: ['3306']}}]}]}"),
        policy("default", "d", "{action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}"),
    ]
    .concat();
    let sets = rule_sets(&context(&yaml), &sidecar(), Traffic::Tcp);
    assert_eq!(actions(&sets), vec![DENY, ALLOW]);
    let deny = &sets[0].policies["ns[default]-policy[d]-rule[0]"];
    assert_eq!(
        deny.permissions,
        vec![rules::match_all().permissions[0].clone()],
        "DENY without its HTTP-only field matches every connection"
    );
    let allowed: Vec<&String> = sets[1].policies.keys().collect();
    assert_eq!(allowed, vec!["ns[default]-policy[a]-rule[1]"]);
}

#[test]
fn untranslatable_rules_fail_closed_for_deny_and_are_dropped_for_allow() {
    let bad = "{key: experimental.envoy.filters.x, values: [a]}";
    let yaml = [
        policy("default", "a", &format!("{{rules: [{{when: [{bad}]}}]}}")),
        policy(
            "default",
            "d",
            &format!("{{action: DENY, rules: [{{when: [{bad}]}}]}}"),
        ),
    ]
    .concat();
    let ctx = context(&yaml);
    let sets = rule_sets(&ctx, &sidecar(), Traffic::Http);
    assert_eq!(
        sets[0].policies["ns[default]-policy[d]-rule[0]"],
        rules::match_all()
    );
    assert!(sets[1].policies.is_empty());
}

#[test]
fn encoding_is_canonical_whatever_the_map_order() {
    let yaml = policy(
        "default",
        "many",
        "{action: DENY, rules: [{to: [{operation: {ports: ['1']}}]}, {to: [{operation: {ports: ['2']}}]}, {to: [{operation: {ports: ['3']}}]}, {to: [{operation: {ports: ['4']}}]}]}",
    );
    let ctx = context(&yaml);
    let first = http_filters(&ctx, &sidecar(), None);
    for _ in 0..20 {
        assert_eq!(http_filters(&ctx, &sidecar(), None), first);
    }
    let Some(weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter::ConfigType::TypedConfig(any)) = &first[0].config_type else {
        panic!("typed config");
    };
    let decoded = HttpRbac::decode(any.value.as_slice()).expect("decodes");
    assert_eq!(decoded.rules.expect("rules").policies.len(), 4);
}

#[test]
fn value_forms() {
    use weft_xds::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern as P;
    let pattern = |m: weft_xds::pb::envoy::r#type::matcher::v3::StringMatcher| {
        m.match_pattern.expect("pattern")
    };
    assert_eq!(
        pattern(values::wildcard("ns/sa", values::SPIFFE)),
        P::Exact("spiffe://ns/sa".into())
    );
    assert_eq!(
        pattern(values::wildcard("cluster.local/*", values::SPIFFE)),
        P::Prefix("spiffe://cluster.local/".into())
    );
    assert_eq!(
        pattern(values::wildcard("*/sa/x", values::SPIFFE)),
        P::Suffix("/sa/x".into())
    );
    assert!(matches!(pattern(values::wildcard("*", "")), P::SafeRegex(r) if r.regex == ".+"));
    assert_eq!(
        values::cidr("10.1.2.3").map(|c| c.prefix_len),
        Some(Some(crate::pbutil::u32v(32)))
    );
    assert!(values::cidr("10.1.2.3/33").is_none());
    assert_eq!(values::quote("a.b*"), "a\\.b\\*");
}
