//! Tests of the whole pipeline: loading, validation, analyzers, filtering and order.

use weft_config::{LoadOptions, load_str};

use super::*;

fn run(yaml: &str, opts: &Options) -> Vec<String> {
    let loaded = load_str("in.yaml", yaml, &LoadOptions::default());
    analyze(&loaded, opts)
        .iter()
        .map(ToString::to_string)
        .collect()
}

const TWO_NAMESPACES: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  \
    namespace: default\n  annotations:\n    sidecar.istio.io/bogus: x\n---\napiVersion: v1\n\
    kind: Service\nmetadata:\n  name: b\n  namespace: prod\n  annotations:\n    \
    sidecar.istio.io/bogus: x\n";

#[test]
fn only_the_selected_namespace_is_reported() {
    let got = run(TWO_NAMESPACES, &Options::default());
    assert_eq!(
        got,
        [
            "Warning [IST0108] (Service default/a in.yaml:7) Unknown annotation: sidecar.istio.io/bogus"
        ]
    );
    let all = Options {
        namespace: None,
        ..Options::default()
    };
    assert_eq!(run(TWO_NAMESPACES, &all).len(), 2);
}

#[test]
fn suppression_by_flag_and_by_annotation() {
    let all = Options {
        namespace: None,
        suppress: vec![("IST0108".into(), "Service prod/*".into())],
        ..Options::default()
    };
    let got = run(TWO_NAMESPACES, &all);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Service default/a"));

    let annotated = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    \
                     sidecar.istio.io/bogus: x\n    galley.istio.io/analyze-suppress: IST0108\n";
    assert!(run(annotated, &Options::default()).is_empty());
}

#[test]
fn system_namespaces_are_not_analyzed() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: kube-system\n  \
                annotations:\n    sidecar.istio.io/bogus: x\n";
    let all = Options {
        namespace: None,
        ..Options::default()
    };
    assert!(run(yaml, &all).is_empty());
}

#[test]
fn glob_patterns() {
    assert!(glob_match("Pod *.testing", "Pod mypod.testing"));
    assert!(glob_match("*", "anything"));
    assert!(glob_match("Service prod/web", "Service prod/web"));
    assert!(!glob_match("Service prod/web", "Service prod/web2"));
    assert!(!glob_match("a*b*c", "a-c"));
    assert!(glob_match("a*b*c", "a-b-c"));
}

#[test]
fn failure_threshold() {
    let loaded = load_str("in.yaml", TWO_NAMESPACES, &LoadOptions::default());
    let ms = analyze(&loaded, &Options::default());
    assert!(!fails(&ms, Level::Error));
    assert!(fails(&ms, Level::Warning));
    assert!(fails(&ms, Level::Info));
}

#[test]
fn cross_object_sidecar_rule_is_reported_once_as_ist0111() {
    let sidecar = |name: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: {name}\nspec:\n  \
             egress:\n  - hosts:\n    - \"./*\"\n---\n"
        )
    };
    let got = run(&(sidecar("a") + &sidecar("b")), &Options::default());
    let codes: Vec<&str> = got
        .iter()
        .map(|l| &l[..l.find(']').unwrap_or(0) + 1])
        .collect();
    assert_eq!(codes, ["Error [IST0111]", "Error [IST0111]"], "{got:?}");
}

#[test]
fn regex_errors_found_by_validation_are_not_repeated_as_ist0122() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n\
                spec:\n  hosts:\n  - r.example.com\n  http:\n  - match:\n    - headers:\n        \
                x-id:\n          regex: \"(\"\n    route:\n    - destination:\n        host: \
                r.example.com\n";
    let got = run(yaml, &Options::default());
    assert!(
        got.iter().any(|l| l.starts_with("Error [IST0106]")),
        "{got:?}"
    );
    assert!(!got.iter().any(|l| l.contains("IST0122")), "{got:?}");
}

#[test]
fn gateways_on_the_default_ingress_resolve_without_input_workloads() {
    let gateway = |port: u32| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  \
             selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: {port}\n      \
             name: http\n      protocol: HTTP\n    hosts:\n    - \"*\"\n"
        )
    };
    for port in [80, 8080, 443] {
        assert!(
            run(&gateway(port), &Options::default()).is_empty(),
            "port {port}"
        );
    }
    assert_eq!(
        run(&gateway(9999), &Options::default()),
        [
            "Warning [IST0104] (Gateway default/gw in.yaml:10) The gateway refers to a port that is \
          not exposed on the workload (pod selector istio=ingressgateway; port 9999)"
        ]
    );
    let without = Options {
        default_ingress: false,
        ..Options::default()
    };
    assert_eq!(
        run(&gateway(80), &without),
        [
            "Error [IST0101] (Gateway default/gw in.yaml:7) Referenced selector not found: \
          \"istio=ingressgateway\""
        ]
    );
}
