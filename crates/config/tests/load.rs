//! Loading: positions, multi-document files, lists, unknown kinds, bad input.

use weft_config::{Body, Kind, LoadOptions, Loaded, load_str};

fn load(text: &str) -> Loaded {
    load_str("in.yaml", text, &LoadOptions::default())
}

fn messages(l: &Loaded) -> Vec<String> {
    l.problems.iter().map(|p| p.to_string()).collect()
}

const VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n";

#[test]
fn loads_every_document_and_fills_in_the_namespace() {
    let l = load(&format!(
        "{VS}---\n{}",
        VS.replace("v1\n", "v1beta1\n")
            .replace("reviews\nspec", "r2\n  namespace: prod\nspec")
    ));
    assert!(l.problems.is_empty(), "{:?}", messages(&l));
    assert_eq!(l.objects.len(), 2);
    assert_eq!(l.objects[0].namespace(), "default");
    assert_eq!(l.objects[1].namespace(), "prod");
    assert_eq!(l.objects[1].origin.line, 8);
    assert_eq!(l.objects[0].known_kind(), Some(Kind::VirtualService));
}

#[test]
fn serves_every_istio_version() {
    for v in ["v1", "v1beta1", "v1alpha3"] {
        let l = load(&VS.replace("/v1\n", &format!("/{v}\n")));
        assert!(l.problems.is_empty(), "{v}: {:?}", messages(&l));
    }
    let l = load(&VS.replace("/v1\n", "/v2\n"));
    assert_eq!(
        messages(&l),
        [
            "in.yaml:1: VirtualService default/reviews: apiVersion: version \"v2\" of networking.istio.io/v2 is not served (served: v1, v1beta1, v1alpha3)"
        ]
    );
    assert!(l.objects.is_empty());
}

#[test]
fn reports_every_unknown_field_with_path_line_and_hint() {
    let l = load(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\nspec:\n  hots: [a]\n  http:\n  - rout: []\n",
    );
    assert_eq!(
        messages(&l),
        [
            "in.yaml:6: VirtualService default/r: spec.hots: unknown field \"hots\" (did you mean \"hosts\"?)",
            "in.yaml:8: VirtualService default/r: spec.http[0].rout: unknown field \"rout\" (did you mean \"route\"?)",
        ]
    );
    assert!(l.objects.is_empty(), "an invalid object is not loaded");
}

#[test]
fn unknown_kinds_pass_through_and_are_reported_once() {
    let other = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nsize: 3\n";
    let l = load(&format!("{other}---\n{other}"));
    assert_eq!(l.objects.len(), 2);
    assert!(matches!(l.objects[0].body, Body::Unknown(_)));
    assert_eq!(l.problems.len(), 1);
    assert!(!l.has_errors(), "unknown kinds are not fatal");
}

#[test]
fn kubernetes_gateway_api_is_not_mistaken_for_istio_gateway() {
    let l = load(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: istio}\n",
    );
    assert_eq!(l.objects.len(), 1);
    assert!(matches!(l.objects[0].body, Body::Unknown(_)));
}

#[test]
fn expands_lists() {
    let l = load(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data: {k: v}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
    );
    assert!(l.problems.is_empty(), "{:?}", messages(&l));
    let names: Vec<_> = l.objects.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(l.objects[1].origin.line, 8);
}

#[test]
fn reads_json() {
    let l = load(
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n \"metadata\": {\"name\": \"a\", \"namespace\": \"x\"},\n \"dta\": {}}\n",
    );
    assert_eq!(
        messages(&l),
        ["in.yaml:3: ConfigMap x/a: dta: unknown field \"dta\" (did you mean \"data\"?)"]
    );
}

#[test]
fn bad_documents_are_reported_and_the_rest_still_loads() {
    let l = load(&format!(
        "just a string\n---\nmetadata: {{name: x}}\n---\n{VS}---\nkey: [unclosed\n"
    ));
    let m = messages(&l);
    assert_eq!(l.objects.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("in.yaml:1: document is not an object"),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("in.yaml:3: document has no apiVersion or kind"),
        "{m:?}"
    );
    assert!(m[2].contains("YAML syntax error"), "{m:?}");
}

#[test]
fn cluster_scoped_kinds_have_no_namespace() {
    let l = load("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n");
    assert_eq!(l.objects[0].namespace(), "");
    let l = load("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, namespace: x}\n");
    assert_eq!(
        messages(&l),
        [
            "in.yaml:3: Namespace x/prod: metadata.namespace: Namespace is cluster-scoped and cannot have a namespace"
        ]
    );
}

#[test]
fn missing_name_is_an_error() {
    let l = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
    assert_eq!(
        messages(&l),
        ["in.yaml:3: ConfigMap default/<unnamed>: metadata.name: required field is missing"]
    );
}

#[test]
fn unreadable_files_are_reported() {
    let l = weft_config::load_paths(&["/nonexistent/x.yaml".into()], &LoadOptions::default());
    assert_eq!(l.problems.len(), 1);
    assert!(l.problems[0].message.starts_with("cannot read"));
}

#[test]
fn an_empty_spec_is_an_empty_spec() {
    let l = load(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all}\nspec:\n",
    );
    assert!(l.problems.is_empty(), "{:?}", messages(&l));
    assert_eq!(l.objects.len(), 1);
}

/// Found by the fuzzer: a file with lone carriage returns. Lines are counted as YAML counts
/// them, and every problem must point inside the input.
#[test]
fn problems_point_inside_inputs_with_carriage_returns() {
    let text = include_str!("data/fuzz-cr-line-breaks.yaml");
    let l = load(text);
    let lines = weft_config::yaml::line_count(text);
    assert!(!l.problems.is_empty());
    for p in &l.problems {
        assert!(p.line >= 1 && p.line <= lines, "{p}");
    }
}

#[test]
fn a_bad_required_value_is_reported_once() {
    // `mode` is an enum: the bad value is reported, not also a "missing field" afterwards.
    let l = load(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: reviews\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTAUL}\n",
    );
    assert_eq!(
        messages(&l),
        [
            "in.yaml:7: DestinationRule default/d: spec.trafficPolicy.tls.mode: unknown value \"ISTIO_MUTAUL\" (did you mean \"ISTIO_MUTUAL\"?)"
        ]
    );
}

#[test]
fn a_missing_field_in_a_list_item_is_reported_once() {
    let l = load(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - name: http\n",
    );
    assert_eq!(l.problems.len(), 1, "{:?}", messages(&l));
    assert!(
        l.problems[0].message.contains("missing field"),
        "{:?}",
        messages(&l)
    );
}

/// Found by the fuzzer: a syntax error at end of input was reported one line past the end.
#[test]
fn syntax_errors_at_end_of_input_point_at_the_last_line() {
    let text = include_str!("data/fuzz-error-at-eof.yaml");
    let l = load(text);
    let last = weft_config::yaml::line_count(text);
    let syntax: Vec<_> = l
        .problems
        .iter()
        .filter(|p| p.message.contains("syntax"))
        .collect();
    assert_eq!(syntax.len(), 1, "{:?}", messages(&l));
    assert!(syntax[0].line <= last, "{}", syntax[0]);
}

/// Found by the fuzzer: an empty value at end of input had a line past the end.
#[test]
fn empty_values_at_end_of_input_point_inside_it() {
    let text = include_str!("data/fuzz-empty-value-at-eof.yaml");
    let l = load(text);
    let last = weft_config::yaml::line_count(text);
    assert!(!l.problems.is_empty());
    for p in &l.problems {
        assert!(p.line <= last, "{p}");
    }
}
