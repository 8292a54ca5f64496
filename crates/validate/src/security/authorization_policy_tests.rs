use super::super::testing::{assert_clean, errors, only_error, warnings};

fn ap(spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {{name: p, namespace: foo}}\nspec:\n{spec}"
    )
}

/// One rule with `to.operation` set to `op`, under `action`.
fn op_rule(action: &str, op: &str) -> String {
    ap(&format!(
        "  action: {action}\n  rules:\n  - to:\n    - operation:\n        {op}\n"
    ))
}

fn from_rule(action: &str, src: &str) -> String {
    ap(&format!(
        "  action: {action}\n  rules:\n  - from:\n    - source:\n        {src}\n"
    ))
}

fn when_rule(cond: &str) -> String {
    ap(&format!(
        "  rules:\n  - when:\n    - key: source.ip\n      values: [10.0.0.0/8]\n    - {cond}\n"
    ))
}

const ISTIO_EXAMPLE: &str = "  selector:
    matchLabels: {app: httpbin, version: v1}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [\"cluster.local/ns/default/sa/sleep\"]
    - source:
        namespaces: [\"test\", \"dev-*\"]
    to:
    - operation:
        methods: [\"GET\"]
        paths: [\"/info*\"]
    - operation:
        methods: [\"POST\"]
        paths: [\"/data\", \"/api/{*}/items/{**}\"]
    when:
    - key: request.auth.claims[iss]
      values: [\"https://accounts.google.com\"]
    - key: request.auth.claims[groups][admin]
      notValues: [\"false\"]
";

#[test]
fn istio_example_is_valid() {
    assert_clean(&ap(ISTIO_EXAMPLE));
}

#[test]
fn allow_without_rules_denies_everything_and_is_valid() {
    assert_clean(&ap("  selector:\n    matchLabels: {app: httpbin}\n"));
    assert_clean(&ap("  action: ALLOW\n  rules: []\n"));
}

#[test]
fn selector_and_target_refs_are_exclusive() {
    let (field, msg) = only_error(&ap(
        "  selector:\n    matchLabels: {app: a}\n  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n  rules: [{}]\n",
    ));
    assert_eq!(field, "spec.targetRefs");
    assert_eq!(
        msg,
        "only one of selector, targetRef and targetRefs may be set (found selector and targetRefs)"
    );
    assert_clean(&ap(
        "  targetRef: {kind: Service, name: reviews}\n  rules: [{}]\n",
    ));
}

#[test]
fn custom_requires_a_provider() {
    let (field, msg) = only_error(&op_rule("CUSTOM", "paths: [\"/admin/*\"]"));
    assert_eq!(field, "spec.provider");
    assert_eq!(
        msg,
        "action CUSTOM requires provider.name, an extension provider declared in MeshConfig"
    );
    let (field, msg) = only_error(&ap("  action: CUSTOM\n  provider: {}\n  rules: [{}]\n"));
    assert_eq!(
        (field.as_str(), msg.as_str()),
        ("spec.provider.name", "required field is missing")
    );
    assert_clean(&ap(
        "  action: CUSTOM\n  provider: {name: my-authz}\n  rules:\n  - to:\n    - operation:\n        paths: [\"/admin/*\"]\n",
    ));
}

#[test]
fn only_custom_may_have_a_provider() {
    let (field, msg) = only_error(&ap(
        "  action: DENY\n  provider: {name: x}\n  rules: [{}]\n",
    ));
    assert_eq!(field, "spec.provider");
    assert_eq!(
        msg,
        "provider is only used with action CUSTOM (action is DENY)"
    );
    let (_, msg) = only_error(&ap("  provider: {name: x}\n"));
    assert_eq!(
        msg,
        "provider is only used with action CUSTOM (action is ALLOW)"
    );
}

#[test]
fn deny_and_custom_need_rules() {
    let (field, msg) = only_error(&ap("  action: DENY\n  rules: []\n"));
    assert_eq!(field, "spec.rules");
    assert_eq!(
        msg,
        "a DENY policy without rules never matches (Istio's webhook refuses it); add an empty \
         rule `{}` to match every request"
    );
    let (field, msg) = only_error(&ap("  action: CUSTOM\n  provider: {name: x}\n"));
    assert_eq!(field, "spec.rules");
    assert!(
        msg.starts_with("a CUSTOM policy without rules never matches"),
        "{msg}"
    );
    assert_clean(&ap("  action: DENY\n  rules: [{}]\n"));
}

#[test]
fn audit_without_rules_is_a_warning() {
    assert_eq!(
        warnings(&ap("  action: AUDIT\n")),
        [(
            "spec.rules".to_string(),
            "an AUDIT policy without rules never matches, so nothing is audited".to_string()
        )]
    );
    assert_clean(&op_rule("AUDIT", "paths: [\"/audit\"]"));
}

#[test]
fn from_needs_a_non_empty_source_and_to_an_operation() {
    let e = errors(&ap(
        "  rules:\n  - from:\n    - {}\n    - source: {}\n    to:\n    - {}\n    - operation: {}\n",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.rules[0].from[0].source".to_string(),
                "required field is missing".to_string()
            ),
            (
                "spec.rules[0].from[1].source".to_string(),
                "source must set at least one field".to_string()
            ),
            (
                "spec.rules[0].to[0].operation".to_string(),
                "required field is missing".to_string()
            ),
            (
                "spec.rules[0].to[1].operation".to_string(),
                "operation must set at least one field".to_string()
            ),
        ]
    );
}

#[test]
fn service_accounts_exclude_principals_and_namespaces() {
    let (field, msg) = only_error(&from_rule(
        "ALLOW",
        "serviceAccounts: [default/sleep]\n        namespaces: [default]",
    ));
    assert_eq!(field, "spec.rules[0].from[0].source.serviceAccounts");
    assert_eq!(
        msg,
        "serviceAccounts cannot be combined with principals or namespaces in one source"
    );
    assert_clean(&from_rule(
        "ALLOW",
        "serviceAccounts: [default/sleep]\n        ipBlocks: [10.0.0.1]",
    ));
}

#[test]
fn service_accounts_are_namespace_slash_name() {
    let (field, msg) = only_error(&from_rule("ALLOW", "notServiceAccounts: [sleep]"));
    assert_eq!(field, "spec.rules[0].from[0].source.notServiceAccounts[0]");
    assert_eq!(
        msg,
        "\"sleep\" must be a service account as \"namespace/name\" (wildcards are not supported)"
    );
}

#[test]
fn empty_values_are_refused() {
    let (field, msg) = only_error(&from_rule("ALLOW", "requestPrincipals: [\"\"]"));
    assert_eq!(field, "spec.rules[0].from[0].source.requestPrincipals[0]");
    assert_eq!(msg, "empty value is not allowed");
}

#[test]
fn ip_blocks_are_ips_or_cidrs() {
    let e = errors(&from_rule(
        "ALLOW",
        "ipBlocks: [10.0.0.0/8, 1.2.3.4, \"10.0.0.0/33\"]\n        notRemoteIpBlocks: [somehost]",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.rules[0].from[0].source.ipBlocks[2]".to_string(),
                "\"10.0.0.0/33\" is neither an IP address nor a CIDR block".to_string()
            ),
            (
                "spec.rules[0].from[0].source.notRemoteIpBlocks[0]".to_string(),
                "\"somehost\" is neither an IP address nor a CIDR block".to_string()
            ),
        ]
    );
    assert_clean(&from_rule(
        "ALLOW",
        "remoteIpBlocks: [\"2001:db8::/32\", 203.0.113.4]",
    ));
}

#[test]
fn ports_are_numbers_in_range() {
    let e = errors(&op_rule(
        "ALLOW",
        "ports: [\"8080\", \"http\", \"0\", \"65536\", \"80*\"]",
    ));
    let got: Vec<_> = e.iter().map(|(f, m)| (f.as_str(), m.as_str())).collect();
    let base = "spec.rules[0].to[0].operation.ports";
    assert_eq!(
        got,
        [
            (&format!("{base}[1]")[..], "port \"http\" must be a number"),
            (&format!("{base}[2]")[..], "port 0 is out of range 1-65535"),
            (
                &format!("{base}[3]")[..],
                "port 65536 is out of range 1-65535"
            ),
            (&format!("{base}[4]")[..], "port \"80*\" must be a number"),
        ]
    );
}

#[test]
fn methods_are_upper_case_http_methods() {
    let (field, msg) = only_error(&op_rule("ALLOW", "methods: [get]"));
    assert_eq!(field, "spec.rules[0].to[0].operation.methods[0]");
    assert_eq!(
        msg,
        "method \"get\" must be upper case (methods match case-sensitively, e.g. \"GET\")"
    );
    assert_eq!(
        warnings(&op_rule("ALLOW", "notMethods: [PURGE]")),
        [(
            "spec.rules[0].to[0].operation.notMethods[0]".to_string(),
            "\"PURGE\" is not a standard HTTP method".to_string()
        )]
    );
    assert_clean(&op_rule("ALLOW", "methods: [GET, HEAD, \"P*\"]"));
}

#[test]
fn paths_use_wildcards_only_at_an_end() {
    let e = errors(&op_rule(
        "ALLOW",
        "paths: [\"/api/*/v1\", \"*/x*\", \"api\"]",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.rules[0].to[0].operation.paths[0]".to_string(),
                "\"/api/*/v1\": \"*\" is only supported as a prefix or suffix wildcard (\"abc*\", \
                 \"*abc\") or alone; elsewhere it matches a literal \"*\""
                    .to_string()
            ),
            (
                "spec.rules[0].to[0].operation.paths[1]".to_string(),
                "\"*/x*\": \"*\" is only supported as a prefix or suffix wildcard (\"abc*\", \
                 \"*abc\") or alone; elsewhere it matches a literal \"*\""
                    .to_string()
            ),
            (
                "spec.rules[0].to[0].operation.paths[2]".to_string(),
                "path \"api\" must start with \"/\" (or \"*\" for a suffix match); it can never match"
                    .to_string()
            ),
        ]
    );
    assert_clean(&op_rule(
        "ALLOW",
        "paths: [\"*\", \"/admin*\", \"*.png\", \"/exact\"]",
    ));
}

#[test]
fn path_templates_use_istio_operators() {
    let e = errors(&op_rule(
        "ALLOW",
        "notPaths: [\"/a/{id}/{*}\", \"/a/{**}/b/{*}\", \"/a/*/{*}\"]",
    ));
    let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
    let base = "spec.rules[0].to[0].operation.notPaths";
    assert_eq!(
        fields,
        [
            format!("{base}[0]"),
            format!("{base}[1]"),
            format!("{base}[2]")
        ]
    );
    assert_eq!(
        e[1].1,
        "path template \"/a/{**}/b/{*}\": {**} must be the last operator"
    );
    assert_clean(&op_rule(
        "ALLOW",
        "paths: [\"/a/{*}/b/{**}\", \"/{*}.json\"]",
    ));
}

#[test]
fn principals_use_wildcards_only_at_an_end() {
    let (field, msg) = only_error(&from_rule(
        "ALLOW",
        "principals: [\"cluster.local/ns/*/sa/sleep\"]",
    ));
    assert_eq!(field, "spec.rules[0].from[0].source.principals[0]");
    assert!(
        msg.starts_with("\"cluster.local/ns/*/sa/sleep\": \"*\" is only supported"),
        "{msg}"
    );
    assert_clean(&from_rule(
        "ALLOW",
        "principals: [\"cluster.local/ns/default/*\", \"*/sa/sleep\", \"*\"]",
    ));
}

#[test]
fn namespaces_are_valid_names() {
    let (field, msg) = only_error(&from_rule("ALLOW", "notNamespaces: [Prod]"));
    assert_eq!(field, "spec.rules[0].from[0].source.notNamespaces[0]");
    assert_eq!(msg, "\"Prod\" is not a valid namespace name");
}

#[test]
fn unknown_condition_key_is_an_error() {
    let (field, msg) = only_error(&when_rule(
        "key: request.auth.claim[iss]\n      values: [x]",
    ));
    assert_eq!(field, "spec.rules[0].when[1].key");
    assert_eq!(
        msg,
        "unknown condition key \"request.auth.claim[iss]\" (did you mean \"request.auth.claims[...]\"?)"
    );
    assert_clean(&when_rule(
        "key: request.headers[X-Token]\n      values: [\"abc*\"]",
    ));
}

#[test]
fn condition_needs_values_or_not_values() {
    let (field, msg) = only_error(&when_rule("key: source.namespace"));
    assert_eq!(field, "spec.rules[0].when[1].values");
    assert_eq!(
        msg,
        "condition \"source.namespace\" needs values or notValues"
    );
    assert_clean(&when_rule(
        "key: source.namespace\n      notValues: [kube-system]",
    ));
}

#[test]
fn condition_values_follow_the_key() {
    let e = errors(&ap(
        "  rules:\n  - when:\n    - key: source.ip\n      values: [not-an-ip]\n    - key: destination.port\n      notValues: [\"99999\"]\n    - key: connection.sni\n      values: [\"a*b\"]\n",
    ));
    let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.rules[0].when[0].values[0]",
            "spec.rules[0].when[1].notValues[0]",
            "spec.rules[0].when[2].values[0]"
        ]
    );
    assert_eq!(e[1].1, "port 99999 is out of range 1-65535");
    assert_clean(&ap(
        "  rules:\n  - when:\n    - key: destination.port\n      values: [\"443\"]\n    - key: remote.ip\n      values: [192.168.0.0/16]\n",
    ));
}

#[test]
fn malformed_bracket_keys_are_errors() {
    let (field, msg) = only_error(&when_rule("key: \"request.headers[]\"\n      values: [x]"));
    assert_eq!(field, "spec.rules[0].when[1].key");
    assert_eq!(
        msg,
        "condition key \"request.headers[]\": header name must not be empty"
    );
}

#[test]
fn custom_cannot_match_identities() {
    let yaml = ap("  action: CUSTOM
  provider: {name: ext}
  rules:
  - from:
    - source:
        principals: [\"cluster.local/ns/default/sa/sleep\"]
        ipBlocks: [10.0.0.0/8]
    when:
    - key: request.auth.claims[iss]
      values: [x]
    - key: request.headers[x-a]
      values: [y]
");
    assert_eq!(
        errors(&yaml),
        [
            (
                "spec.rules[0].from[0].source.principals".to_string(),
                "principals is not supported with the CUSTOM action".to_string()
            ),
            (
                "spec.rules[0].when[0].key".to_string(),
                "condition \"request.auth.claims[iss]\" is not supported with the CUSTOM action"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn deny_with_only_http_attributes_warns() {
    let w = warnings(&op_rule("DENY", "paths: [\"/admin\"]"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "spec.rules[0]");
    assert!(
        w[0].1
            .starts_with("this DENY rule uses only HTTP attributes"),
        "{}",
        w[0].1
    );
    assert_eq!(
        warnings(&from_rule("DENY", "requestPrincipals: [\"*\"]")).len(),
        1
    );
    assert_clean(&op_rule(
        "DENY",
        "paths: [\"/admin\"]\n        ports: [\"8080\"]",
    ));
    assert_clean(&from_rule("DENY", "notNamespaces: [foo]"));
}
