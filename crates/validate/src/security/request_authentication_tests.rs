use super::super::testing::{assert_clean, errors, only_error, warnings};
use super::{check_jwks, check_jwks_uri};

fn ra(spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata: {{name: jwt, namespace: foo}}\nspec:\n{spec}"
    )
}

const VALID: &str = "  selector:
    matchLabels: {app: httpbin}
  jwtRules:
  - issuer: issuer-foo
    audiences: [bookstore]
    jwksUri: https://example.com:8443/.well-known/jwks.json
    fromHeaders:
    - name: x-jwt-assertion
      prefix: \"Bearer \"
    fromParams: [my_token]
    fromCookies: [session]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - {header: x-jwt-group, claim: group}
    timeout: 5s
  - issuer: issuer-bar
    jwks: '{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\", \"n\": \"xyz\"}]}'
";

#[test]
fn istio_style_rules_are_valid() {
    assert_clean(&ra(VALID));
}

#[test]
fn issuer_is_required() {
    let (field, msg) = only_error(&ra("  jwtRules:\n  - jwksUri: https://example.com/jwks\n"));
    assert_eq!(field, "spec.jwtRules[0].issuer");
    assert_eq!(msg, "required field is missing");
}

#[test]
fn jwks_and_jwks_uri_are_exclusive() {
    let (field, msg) = only_error(&ra(
        "  jwtRules:\n  - issuer: a\n    jwksUri: https://example.com/jwks\n    jwks: '{\"keys\": []}'\n",
    ));
    assert_eq!(field, "spec.jwtRules[0].jwks");
    assert_eq!(
        msg,
        "jwks and jwksUri are mutually exclusive (Istio silently ignores jwksUri when both are set)"
    );
}

#[test]
fn jwks_uri_must_be_an_http_url() {
    let (field, msg) = only_error(&ra(
        "  jwtRules:\n  - issuer: a\n    jwksUri: ftp://example.com/jwks\n",
    ));
    assert_eq!(field, "spec.jwtRules[0].jwksUri");
    assert_eq!(
        msg,
        "jwksUri \"ftp://example.com/jwks\" must be an http:// or https:// URL"
    );
    assert!(check_jwks_uri("http://10.0.0.1/keys").is_ok());
    assert!(check_jwks_uri("https://[::1]:8443/keys").is_ok());
    assert_eq!(
        check_jwks_uri("https:///keys").unwrap_err(),
        "jwksUri \"https:///keys\" has no host"
    );
    assert_eq!(
        check_jwks_uri("https://example.com:99999/").unwrap_err(),
        "jwksUri \"https://example.com:99999/\": port 99999 is out of range 1-65535"
    );
    assert!(check_jwks_uri("https://example.com:http/").is_err());
}

#[test]
fn inline_jwks_must_be_a_key_set() {
    let (field, msg) = only_error(&ra("  jwtRules:\n  - issuer: a\n    jwks: not json\n"));
    assert_eq!(field, "spec.jwtRules[0].jwks");
    assert!(msg.starts_with("jwks is not valid JSON: "), "{msg}");
    assert_eq!(
        check_jwks("{\"kty\": \"RSA\"}").unwrap_err(),
        "jwks must be a JSON Web Key Set: an object with a \"keys\" list"
    );
    assert!(check_jwks("{\"keys\": [1]}").is_err());
}

#[test]
fn from_headers_name_is_required_and_valid() {
    let e = errors(&ra(
        "  jwtRules:\n  - issuer: a\n    fromHeaders:\n    - prefix: \"Bearer \"\n    - name: \"x jwt\"\n",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.jwtRules[0].fromHeaders[0].name".to_string(),
                "required field is missing".to_string()
            ),
            (
                "spec.jwtRules[0].fromHeaders[1].name".to_string(),
                "\"x jwt\" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn empty_params_cookies_and_audiences_are_refused() {
    let e = errors(&ra(
        "  jwtRules:\n  - issuer: a\n    audiences: [\"\"]\n    fromParams: [\"\"]\n    fromCookies: [\"\"]\n",
    ));
    let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.jwtRules[0].audiences[0]",
            "spec.jwtRules[0].fromParams[0]",
            "spec.jwtRules[0].fromCookies[0]"
        ]
    );
}

#[test]
fn output_claim_headers_must_be_valid_names() {
    let e = errors(&ra(
        "  jwtRules:\n  - issuer: a\n    outputClaimToHeaders:\n    - {header: \"x:group\", claim: group}\n    - {header: x-sub}\n",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.jwtRules[0].outputClaimToHeaders[0].header".to_string(),
                "\"x:group\" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
                    .to_string()
            ),
            (
                "spec.jwtRules[0].outputClaimToHeaders[1].claim".to_string(),
                "required field is missing".to_string()
            ),
        ]
    );
    let (field, _) = only_error(&ra(
        "  jwtRules:\n  - issuer: a\n    outputPayloadToHeader: \"bad header\"\n",
    ));
    assert_eq!(field, "spec.jwtRules[0].outputPayloadToHeader");
}

#[test]
fn timeout_must_be_positive() {
    let (field, msg) = only_error(&ra("  jwtRules:\n  - issuer: a\n    timeout: 0s\n"));
    assert_eq!(field, "spec.jwtRules[0].timeout");
    assert_eq!(msg, "duration must be greater than zero");
}

#[test]
fn selector_and_target_ref_are_exclusive() {
    let (field, msg) = only_error(&ra(
        "  selector:\n    matchLabels: {app: a}\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n  jwtRules:\n  - issuer: a\n",
    ));
    assert_eq!(field, "spec.targetRef");
    assert_eq!(
        msg,
        "only one of selector, targetRef and targetRefs may be set (found selector and targetRef)"
    );
    assert_clean(&ra(
        "  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n  jwtRules:\n  - issuer: a\n",
    ));
}

#[test]
fn target_refs_must_name_a_supported_kind_in_the_namespace() {
    let e = errors(&ra(
        "  targetRefs:\n  - {kind: Deployment, name: d}\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: other}\n  - {kind: Service}\n  jwtRules:\n  - issuer: a\n",
    ));
    assert_eq!(
        e,
        [
            (
                "spec.targetRefs[0].group".to_string(),
                "target must be a Service (core), ServiceEntry (networking.istio.io), Gateway or \
                 GatewayClass (gateway.networking.k8s.io), not \"Deployment\" in group \"core\""
                    .to_string()
            ),
            (
                "spec.targetRefs[1].namespace".to_string(),
                "cross-namespace references are not supported; the target must be in the policy's namespace"
                    .to_string()
            ),
            ("spec.targetRefs[2].name".to_string(), "required field is missing".to_string()),
        ]
    );
}

#[test]
fn no_rules_is_a_warning() {
    assert_eq!(
        warnings(&ra("  selector:\n    matchLabels: {app: a}\n")),
        [(
            "spec.jwtRules".to_string(),
            "no jwtRules: this RequestAuthentication accepts no tokens and has no effect"
                .to_string()
        )]
    );
}
