use http::HeaderMap;
use http::header::HeaderName;
use serde_json::{Value, json};

use super::*;
use crate::error::At;
use crate::model::rbac as m;
use crate::runtime::matcher::PseudoHeaders;

fn http_rbac(json: Value) -> Rbac {
    let model: m::HttpRbac = serde_json::from_value(json).expect("model");
    compile_http(&At::new("Listener l"), &model).expect("compile")
}

fn rules(action: &str, permission: Value, principal: Value) -> Rbac {
    http_rbac(json!({"rules": {"action": action, "policies": {
        "p": {"permissions": [permission], "principals": [principal]}
    }}}))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    h
}

struct Req {
    headers: HeaderMap,
    method: &'static str,
    path: &'static str,
    peer: &'static str,
    remote: &'static str,
    local: &'static str,
    sni: &'static str,
    sans: Vec<String>,
    metadata: serde_json::Map<String, Value>,
    http: bool,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            headers: HeaderMap::new(),
            method: "GET",
            path: "/",
            peer: "10.0.0.1:40000",
            remote: "10.0.0.1",
            local: "10.0.0.2:8080",
            sni: "",
            sans: Vec::new(),
            metadata: serde_json::Map::new(),
            http: true,
        }
    }
}

impl Req {
    fn allowed(&self, rbac: &Rbac) -> bool {
        !self.check(rbac).denied()
    }

    fn check(&self, rbac: &Rbac) -> Check {
        let cert = (!self.sans.is_empty()).then_some(PeerCert {
            uri_sans: &self.sans,
            dns_sans: &[],
        });
        let request = self.http.then_some(RequestInput {
            headers: &self.headers,
            pseudo: PseudoHeaders {
                method: self.method,
                authority: "svc.example",
                path: self.path,
                scheme: "http",
            },
            path: self.path,
        });
        rbac.check(&Input {
            peer: self.peer.parse().expect("peer"),
            remote_ip: self.remote.parse().expect("remote"),
            local: self.local.parse().expect("local"),
            server_name: self.sni,
            peer_cert: cert,
            request,
            metadata: Some(&self.metadata),
        })
    }
}

const ANY: fn() -> Value = || json!({"any": true});

#[test]
fn allow_without_a_matching_policy_denies() {
    let r = rules(
        "ALLOW",
        json!({"url_path": {"path": {"prefix": "/public"}}}),
        ANY(),
    );
    assert!(!Req::default().allowed(&r));
    let ok = Req {
        path: "/public/x",
        ..Default::default()
    };
    assert!(ok.allowed(&r));
    let check = Req::default().check(&r);
    assert_eq!(
        check.enforced.expect("enforced").details(),
        "rbac_access_denied_matched_policy[none]"
    );
    let empty = http_rbac(json!({"rules": {"action": "ALLOW"}}));
    assert!(!Req::default().allowed(&empty), "no policies: deny all");
}

#[test]
fn deny_match_denies_and_names_the_policy() {
    let r = rules(
        "DENY",
        json!({"header": {"name": ":method", "exact_match": "DELETE"}}),
        ANY(),
    );
    assert!(Req::default().allowed(&r));
    let del = Req {
        method: "DELETE",
        ..Default::default()
    };
    let check = del.check(&r);
    assert!(check.denied());
    assert_eq!(
        check.enforced.expect("enforced").details(),
        "rbac_access_denied_matched_policy[p]"
    );
}

#[test]
fn log_never_denies_and_no_rules_enforce_nothing() {
    let r = rules("LOG", ANY(), ANY());
    let check = Req::default().check(&r);
    assert!(!check.denied());
    assert_eq!(check.enforced.expect("log").policy.as_deref(), Some("p"));
    let none = http_rbac(json!({}));
    assert_eq!(Req::default().check(&none).enforced, None);
}

#[test]
fn shadow_rules_are_evaluated_but_not_enforced() {
    let r = http_rbac(json!({"shadow_rules": {"action": "DENY", "policies": {
        "s": {"permissions": [{"any": true}], "principals": [{"any": true}]}
    }}}));
    let check = Req::default().check(&r);
    assert!(!check.denied());
    assert_eq!(check.shadow.map(|v| v.allowed), Some(false));
}

#[test]
fn policies_are_tried_in_name_order() {
    let r = http_rbac(json!({"rules": {"action": "DENY", "policies": {
        "b": {"permissions": [{"any": true}], "principals": [{"any": true}]},
        "a": {"permissions": [{"any": true}], "principals": [{"any": true}]}
    }}}));
    let check = Req::default().check(&r);
    assert_eq!(check.enforced.and_then(|v| v.policy).as_deref(), Some("a"));
}

#[test]
fn permission_matchers() {
    let allow = |p: Value| rules("ALLOW", p, ANY());
    let base = Req {
        headers: headers(&[("x-team", "blue")]),
        path: "/api/v1",
        local: "10.0.0.2:8080",
        sni: "db.example",
        ..Default::default()
    };
    assert!(base.allowed(&allow(
        json!({"header": {"name": "x-team", "exact_match": "blue"}})
    )));
    assert!(!base.allowed(&allow(
        json!({"header": {"name": "x-team", "exact_match": "red"}})
    )));
    assert!(base.allowed(&allow(json!({"url_path": {"path": {"exact": "/api/v1"}}}))));
    assert!(base.allowed(&allow(
        json!({"destination_ip": {"address_prefix": "10.0.0.0", "prefix_len": 24}})
    )));
    assert!(!base.allowed(&allow(
        json!({"destination_ip": {"address_prefix": "10.0.1.0", "prefix_len": 24}})
    )));
    assert!(base.allowed(&allow(json!({"destination_port": 8080}))));
    assert!(!base.allowed(&allow(json!({"destination_port": 9090}))));
    assert!(base.allowed(&allow(
        json!({"destination_port_range": {"start": 8000, "end": 8081}})
    )));
    assert!(!base.allowed(&allow(
        json!({"destination_port_range": {"start": 8000, "end": 8080}})
    )));
    assert!(base.allowed(&allow(
        json!({"requested_server_name": {"suffix": ".example"}})
    )));
    assert!(!base.allowed(&allow(json!({"requested_server_name": {"exact": "web"}}))));
}

#[test]
fn permission_and_or_not() {
    let port = json!({"destination_port": 8080});
    let other = json!({"destination_port": 1});
    let allow = |p: Value| rules("ALLOW", p, ANY());
    let req = Req::default();
    assert!(req.allowed(&allow(
        json!({"and_rules": {"rules": [port, {"any": true}]}})
    )));
    assert!(!req.allowed(&allow(json!({"and_rules": {"rules": [port, other]}}))));
    assert!(req.allowed(&allow(json!({"or_rules": {"rules": [other, port]}}))));
    assert!(!req.allowed(&allow(json!({"or_rules": {"rules": [other]}}))));
    assert!(req.allowed(&allow(json!({"not_rule": other}))));
    assert!(!req.allowed(&allow(json!({"not_rule": port}))));
}

#[test]
fn principal_matchers() {
    let allow = |p: Value| rules("ALLOW", ANY(), p);
    let plain = Req {
        peer: "192.168.1.5:1234",
        remote: "203.0.113.9",
        headers: headers(&[("x-user", "ann")]),
        path: "/p",
        ..Default::default()
    };
    let tls = Req {
        sans: vec!["spiffe://cluster.local/ns/foo/sa/web".into()],
        ..Default::default()
    };
    let auth = json!({"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/foo/sa/web"}}});
    assert!(tls.allowed(&allow(auth.clone())));
    assert!(!plain.allowed(&allow(auth)), "no certificate on plaintext");
    assert!(tls.allowed(&allow(json!({"authenticated": {}}))));
    assert!(!plain.allowed(&allow(json!({"authenticated": {}}))));
    let ns =
        json!({"authenticated": {"principal_name": {"safe_regex": {"regex": ".*/ns/bar/.*"}}}});
    assert!(!tls.allowed(&allow(ns)));
    let net = |ip: &str, len: u32| json!({"address_prefix": ip, "prefix_len": len});
    assert!(plain.allowed(&allow(json!({"direct_remote_ip": net("192.168.1.0", 24)}))));
    assert!(!plain.allowed(&allow(json!({"direct_remote_ip": net("203.0.113.0", 24)}))));
    assert!(plain.allowed(&allow(json!({"source_ip": net("192.168.0.0", 16)}))));
    assert!(plain.allowed(&allow(json!({"remote_ip": net("203.0.113.0", 24)}))));
    assert!(!plain.allowed(&allow(json!({"remote_ip": net("192.168.1.0", 24)}))));
    assert!(plain.allowed(&allow(
        json!({"header": {"name": "x-user", "prefix_match": "a"}})
    )));
    assert!(plain.allowed(&allow(json!({"url_path": {"path": {"exact": "/p"}}}))));
    let ids = |k: &str, v: Value| json!({k: {"ids": v}});
    let yes = json!({"any": true});
    let no = json!({"direct_remote_ip": net("1.1.1.1", 32)});
    assert!(plain.allowed(&allow(ids("and_ids", json!([yes, yes])))));
    assert!(!plain.allowed(&allow(ids("and_ids", json!([yes, no])))));
    assert!(plain.allowed(&allow(ids("or_ids", json!([no, yes])))));
    assert!(plain.allowed(&allow(json!({"not_id": no}))));
    assert!(!plain.allowed(&allow(json!({"not_id": yes}))));
}

#[test]
fn metadata_matchers_read_istio_authn() {
    let mut md = serde_json::Map::new();
    md.insert(
        "istio_authn".into(),
        json!({
            "request.auth.principal": "https://issuer/alice",
            "request.auth.audiences": ["a1", "a2"],
            "request.auth.claims": {"groups": ["dev", "ops"], "admin": true, "level": 3}
        }),
    );
    let req = Req {
        metadata: md,
        ..Default::default()
    };
    let allow = |path: Value, value: Value| {
        rules(
            "ALLOW",
            ANY(),
            json!({"metadata": {"filter": "istio_authn", "path": path, "value": value}}),
        )
    };
    let key = |k: &str| json!([{"key": k}]);
    assert!(req.allowed(&allow(
        key("request.auth.principal"),
        json!({"string_match": {"prefix": "https://issuer/"}})
    )));
    assert!(!req.allowed(&allow(
        key("request.auth.principal"),
        json!({"string_match": {"exact": "bob"}})
    )));
    let one_of = |s: &str| json!({"list_match": {"one_of": {"string_match": {"exact": s}}}});
    assert!(req.allowed(&allow(key("request.auth.audiences"), one_of("a2"))));
    assert!(!req.allowed(&allow(key("request.auth.audiences"), one_of("a3"))));
    let claim = |c: &str| json!([{"key": "request.auth.claims"}, {"key": c}]);
    assert!(req.allowed(&allow(claim("groups"), one_of("ops"))));
    assert!(req.allowed(&allow(claim("admin"), json!({"bool_match": true}))));
    assert!(req.allowed(&allow(
        claim("level"),
        json!({"double_match": {"exact": 3.0}})
    )));
    assert!(req.allowed(&allow(
        claim("level"),
        json!({"double_match": {"range": {"start": 1.0, "end": 4.0}}})
    )));
    assert!(!req.allowed(&allow(claim("missing"), json!({"present_match": true}))));
    assert!(req.allowed(&allow(claim("missing"), json!({"present_match": false}))));
    let inverted = rules(
        "ALLOW",
        ANY(),
        json!({"metadata": {"filter": "istio_authn", "path": key("request.auth.principal"),
            "value": {"present_match": true}, "invert": true}}),
    );
    assert!(!req.allowed(&inverted));
    assert!(
        Req::default().allowed(&inverted),
        "no metadata: inverted presence matches"
    );
}

#[test]
fn request_matchers_match_nothing_on_connections() {
    let tcp = Req {
        http: false,
        ..Default::default()
    };
    let deny_get = rules(
        "DENY",
        json!({"header": {"name": ":method", "exact_match": "GET"}}),
        ANY(),
    );
    assert!(tcp.allowed(&deny_get));
    let allow_path = rules(
        "ALLOW",
        json!({"url_path": {"path": {"prefix": "/"}}}),
        ANY(),
    );
    assert!(!tcp.allowed(&allow_path));
}

#[test]
fn bad_config_names_the_field() {
    let bad = |json: Value| {
        let model: m::HttpRbac = serde_json::from_value(json).expect("model");
        compile_http(&At::new("Listener l"), &model)
            .expect_err("rejected")
            .to_string()
    };
    let two = bad(json!({"rules": {"policies": {"p": {
        "permissions": [{"any": true, "destination_port": 1}], "principals": [{"any": true}]}}}}));
    assert!(
        two.starts_with("Listener l: rules.policies.p.permissions[0]: only one of any,"),
        "{two}"
    );
    let none = bad(json!({"rules": {"policies": {"p": {
        "permissions": [{"any": true}], "principals": []}}}}));
    assert_eq!(
        none,
        "Listener l: rules.policies.p.principals: at least one principal is required"
    );
    let cidr = bad(
        json!({"rules": {"policies": {"p": {"permissions": [{"any": true}],
        "principals": [{"remote_ip": {"address_prefix": "nope"}}]}}}}),
    );
    assert_eq!(
        cidr,
        "Listener l: rules.policies.p.principals[0].remote_ip.address_prefix: \"nope\" is not an IP address"
    );
}
