use super::*;
use crate::{Body, Loaded, load_str};

fn load(yaml: &str) -> Loaded {
    load_str("test.yaml", yaml, &Default::default())
}

fn only_problem(yaml: &str) -> (String, String, u32) {
    let loaded = load(yaml);
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    let p = &loaded.problems[0];
    (p.field.clone(), p.message.clone(), p.line)
}

#[test]
fn decodes_peer_authentication_example() {
    let loaded = load(
        "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  selector:
    matchLabels:
      app: finance
  mtls:
    mode: STRICT
  portLevelMtls:
    8080:
      mode: DISABLE
",
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::PeerAuthentication(b) = &loaded.objects[0].body else {
        panic!("not a PeerAuthentication")
    };
    assert_eq!(b.spec.mtls.as_ref().unwrap().mode, Some(MtlsMode::Strict));
    let ports = b.spec.port_level_mtls.as_ref().unwrap();
    assert_eq!(ports[&8080].mode, Some(MtlsMode::Disable));
    assert_eq!(
        b.spec.selector.as_ref().unwrap().match_labels["app"],
        "finance"
    );
}

#[test]
fn unknown_mtls_mode_is_refused_with_a_suggestion() {
    let (field, message, line) = only_problem(
        "apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: p}
spec:
  mtls:
    mode: STRCT
",
    );
    assert_eq!(field, "spec.mtls.mode");
    assert_eq!(
        message,
        "unknown value \"STRCT\" (did you mean \"STRICT\"?)"
    );
    assert_eq!(line, 6);
}

#[test]
fn decodes_request_authentication_example() {
    let loaded = load(
        "apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: \"issuer-foo\"
    jwksUri: https://example.com/.well-known/jwks.json
    fromHeaders:
    - name: x-jwt-assertion
      prefix: \"Bearer \"
    fromParams: [my_token]
    fromCookies: [session]
    outputPayloadToHeader: x-jwt-payload
    forwardOriginalToken: true
    outputClaimToHeaders:
    - header: x-my-company-jwt-group
      claim: my-group
    timeout: 5s
",
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::RequestAuthentication(b) = &loaded.objects[0].body else {
        panic!("not a RequestAuthentication")
    };
    let rule = &b.spec.jwt_rules[0];
    assert_eq!(rule.issuer, "issuer-foo");
    assert_eq!(rule.from_headers[0].prefix.as_deref(), Some("Bearer "));
    assert_eq!(rule.output_claim_to_headers[0].claim, "my-group");
    assert_eq!(rule.timeout, Some(crate::Duration::from_secs(5)));
    assert_eq!(rule.forward_original_token, Some(true));
}

#[test]
fn misspelt_jwt_field_names_the_full_path() {
    let (field, message, line) = only_problem(
        "apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: r}
spec:
  jwtRules:
  - issuer: a
  - issuer: b
    jwksURI: https://example.com/jwks
",
    );
    assert_eq!(field, "spec.jwtRules[1].jwksURI");
    assert_eq!(
        message,
        "unknown field \"jwksURI\" (did you mean \"jwksUri\"?)"
    );
    assert_eq!(line, 8);
}

const AUTHZ_EXAMPLES: &str = "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin
  namespace: foo
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [\"cluster.local/ns/default/sa/sleep\"]
    - source:
        namespaces: [\"dev\"]
        notIpBlocks: [\"203.0.113.4\"]
    to:
    - operation:
        methods: [\"GET\"]
        paths: [\"/info*\"]
        ports: [\"8080\"]
    when:
    - key: request.auth.claims[iss]
      values: [\"https://accounts.google.com\"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: istio-system
spec:
  selector:
    matchLabels:
      app: istio-ingressgateway
  action: CUSTOM
  provider:
    name: my-custom-authz
  rules:
  - to:
    - operation:
        paths: [\"/admin/*\"]
";

#[test]
fn decodes_authorization_policy_examples() {
    let loaded = load(AUTHZ_EXAMPLES);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let Body::AuthorizationPolicy(allow) = &loaded.objects[0].body else {
        panic!("not an AuthorizationPolicy")
    };
    let rule = &allow.spec.rules[0];
    assert_eq!(rule.from.len(), 2);
    let op = rule.to[0].operation.as_ref().unwrap();
    assert_eq!(op.ports, ["8080"]);
    assert_eq!(rule.when[0].key, "request.auth.claims[iss]");
    let Body::AuthorizationPolicy(custom) = &loaded.objects[1].body else {
        panic!("not an AuthorizationPolicy")
    };
    assert_eq!(custom.spec.action(), Action::Custom);
    assert_eq!(
        custom.spec.provider.as_ref().unwrap().name,
        "my-custom-authz"
    );
}

#[test]
fn empty_authorization_policy_defaults_to_allow_nothing() {
    let loaded = load(
        "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing}
spec: {}
",
    );
    let Body::AuthorizationPolicy(b) = &loaded.objects[0].body else {
        panic!("not an AuthorizationPolicy")
    };
    assert_eq!(b.spec.action(), Action::Allow);
    assert!(b.spec.rules.is_empty());
}

#[test]
fn misspelt_source_field_in_a_nested_rule() {
    let (field, message, _) = only_problem(
        "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a}
spec:
  rules:
  - from:
    - source:
        principal: [\"cluster.local/ns/default/sa/sleep\"]
",
    );
    assert_eq!(field, "spec.rules[0].from[0].source.principal");
    assert_eq!(
        message,
        "unknown field \"principal\" (did you mean \"principals\"?)"
    );
}

#[test]
fn unknown_action_is_refused() {
    let (field, message, _) = only_problem(
        "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a}
spec:
  action: REJECT
",
    );
    assert_eq!(field, "spec.action");
    assert!(message.starts_with("unknown value \"REJECT\""), "{message}");
}

#[test]
fn round_trips_through_json() {
    let spec = AuthorizationPolicy {
        action: Some(Action::Deny),
        rules: vec![Rule {
            when: vec![Condition {
                key: "source.ip".into(),
                values: vec!["10.0.0.0/8".into()],
                not_values: vec![],
            }],
            ..Rule::default()
        }],
        ..AuthorizationPolicy::default()
    };
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["rules"][0]["when"][0]["key"], "source.ip");
    assert!(
        json["rules"][0].get("from").is_none(),
        "empty lists are omitted"
    );
    let back: AuthorizationPolicy = serde_json::from_value(json).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn port_level_mtls_keys_must_be_numbers() {
    let (field, message, _) = only_problem(
        "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  selector:
    matchLabels: {app: a}
  portLevelMtls:
    http:
      mode: STRICT
",
    );
    assert_eq!(field, "spec.portLevelMtls");
    assert_eq!(message, "port \"http\" must be a number");
}

#[test]
fn port_level_mtls_values_keep_their_path() {
    let (field, message, line) = only_problem(
        "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  portLevelMtls:
    8080:
      mode: STRCT
",
    );
    assert_eq!(field, "spec.portLevelMtls.8080.mode");
    assert_eq!(
        message,
        "unknown value \"STRCT\" (did you mean \"STRICT\"?)"
    );
    assert_eq!(line, 7);
}
