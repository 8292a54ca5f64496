//! Tests of TLS transport-socket and secret compilation: what is accepted and every
//! rejection message.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n";
const DOWN: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UP: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

fn socket(kind: &str, ctx: Value) -> m::TransportSocket {
    let mut v = json!({"name": "envoy.transport_sockets.tls", "typed_config": ctx});
    v["typed_config"]["@type"] = json!(kind);
    serde_json::from_value(v).unwrap()
}

fn cert() -> Value {
    json!({"certificate_chain": {"inline_string": CERT}, "private_key": {"inline_string": KEY}})
}

fn agent(name: &str) -> Value {
    json!({"name": name, "sds_config": {"api_config_source": {"api_type": "GRPC",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}]}}})
}

fn down_err(ctx: Value) -> String {
    build_downstream(&At::new("Listener l"), Some(&socket(DOWN, ctx)))
        .unwrap_err()
        .to_string()
}

fn up_err(ctx: Value) -> String {
    build_upstream(&At::new("Cluster c"), Some(&socket(UP, ctx)))
        .unwrap_err()
        .to_string()
}

#[test]
fn istio_style_contexts_compile() {
    let common = json!({
        "tls_certificate_sds_secret_configs": [agent("default")],
        "combined_validation_context": {
            "default_validation_context": {"match_typed_subject_alt_names": [
                {"san_type": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/default/sa/a"}},
                {"san_type": "DNS", "matcher": {"suffix": ".example.com"}}]},
            "validation_context_sds_secret_config": agent("ROOTCA")},
        "alpn_protocols": ["istio-peer-exchange", "istio"],
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
    });
    let d = build_downstream(
        &At::new("Listener l"),
        Some(&socket(
            DOWN,
            json!({"common_tls_context": common, "require_client_certificate": true}),
        )),
    )
    .unwrap()
    .unwrap();
    assert!(d.require_client_certificate);
    let names: Vec<_> = sds_names(&d.common)
        .into_iter()
        .map(|n| (n.name.as_str(), n.source))
        .collect();
    assert_eq!(
        names,
        vec![("default", SdsSource::Agent), ("ROOTCA", SdsSource::Agent)]
    );
    assert_eq!(d.common.validation.sans.len(), 2);
    let uris = vec!["spiffe://cluster.local/ns/default/sa/a".to_string()];
    assert!(d.common.validation.sans[0].matches(&uris, &[]));
    assert!(
        !d.common.validation.sans[0].matches(&[], &uris),
        "a URI matcher ignores DNS SANs"
    );
    let u = build_upstream(
        &At::new("Cluster c"),
        Some(&socket(
            UP,
            json!({"common_tls_context": {"tls_certificate_sds_secret_configs": [
            {"name": "web", "sds_config": {"ads": {}}}]}, "sni": "outbound_.80_._.a"}),
        )),
    )
    .unwrap()
    .unwrap();
    assert_eq!(u.sni.as_deref(), Some("outbound_.80_._.a"));
    assert_eq!(sds_names(&u.common)[0].source, SdsSource::Ads);
    let raw = socket(
        "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
        json!({}),
    );
    assert!(
        build_downstream(&At::new("Listener l"), Some(&raw))
            .unwrap()
            .is_none()
    );
}

#[test]
fn downstream_rejections_name_the_field() {
    let p = "Listener l: typed_config.common_tls_context";
    assert_eq!(
        down_err(json!({})),
        format!(
            "{p}: a server certificate is required (tls_certificates or tls_certificate_sds_secret_configs)"
        )
    );
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [cert()]}, "require_client_certificate": true})
        ),
        "Listener l: typed_config.require_client_certificate: needs a validation context with trusted_ca"
    );
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [cert()], "tls_certificate_sds_secret_configs": [agent("default")]}})
        ),
        format!(
            "{p}: only one of tls_certificates and tls_certificate_sds_secret_configs may be set"
        )
    );
    assert_eq!(
        down_err(json!({"common_tls_context": {"tls_certificates": [cert(), cert()]}})),
        format!("{p}.tls_certificates: only one certificate is supported")
    );
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": CERT}}]}})
        ),
        format!("{p}.tls_certificates[0].private_key: is required")
    );
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": "junk"}, "private_key": {"inline_string": KEY}}]}})
        ),
        format!("{p}.tls_certificates[0].certificate_chain: no PEM CERTIFICATE block found")
    );
    let err = down_err(
        json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": CERT}, "private_key": {"inline_string": "SECRETKEYBYTES"}}]}}),
    );
    assert_eq!(
        err,
        format!("{p}.tls_certificates[0].private_key: no PEM PRIVATE KEY block found")
    );
    assert!(!err.contains("SECRETKEYBYTES"));
    let err = down_err(
        json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"filename": "/nonexistent/weft.crt"}, "private_key": {"inline_string": KEY}}]}}),
    );
    assert!(err.starts_with(&format!("{p}.tls_certificates[0].certificate_chain.filename: cannot read \"/nonexistent/weft.crt\": ")), "{err}");
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": CERT, "filename": "/x"}, "private_key": {"inline_string": KEY}}]}})
        ),
        format!(
            "{p}.tls_certificates[0].certificate_chain: only one of inline_string, inline_bytes, filename may be set"
        )
    );
    assert_eq!(
        down_err(
            json!({"common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_bytes": "!!"}, "private_key": {"inline_string": KEY}}]}})
        ),
        format!("{p}.tls_certificates[0].certificate_chain.inline_bytes: is not valid base64")
    );
    let up = build_downstream(&At::new("Listener l"), Some(&socket(UP, json!({})))).unwrap_err();
    assert_eq!(
        up.to_string(),
        "Listener l: typed_config: a filter chain needs a DownstreamTlsContext, not an UpstreamTlsContext"
    );
}

#[test]
fn validation_and_sds_rejections_name_the_field() {
    let p = "Cluster c: typed_config.common_tls_context";
    let with = |extra: Value| {
        let mut c = json!({"tls_certificates": [cert()]});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        up_err(json!({ "common_tls_context": c }))
    };
    assert_eq!(
        with(
            json!({"validation_context": {"match_typed_subject_alt_names": [{"san_type": "EMAIL", "matcher": {"exact": "a"}}]}})
        ),
        format!(
            "{p}.validation_context.match_typed_subject_alt_names[0].san_type: \"EMAIL\" is not supported (URI or DNS)"
        )
    );
    assert_eq!(
        with(
            json!({"validation_context": {"match_typed_subject_alt_names": [{"san_type": "URI"}]}})
        ),
        format!("{p}.validation_context.match_typed_subject_alt_names[0].matcher: is required")
    );
    assert_eq!(
        with(json!({"validation_context": {"match_subject_alt_names": [{"safe_regex": {"regex": "("}}]}})).split(": invalid regex").next().unwrap(),
        format!("{p}.validation_context.match_subject_alt_names[0].safe_regex.regex")
    );
    assert_eq!(
        with(
            json!({"validation_context": {}, "validation_context_sds_secret_config": agent("ROOTCA")})
        ),
        format!(
            "{p}: only one of validation_context, validation_context_sds_secret_config, combined_validation_context may be set"
        )
    );
    assert_eq!(
        with(json!({"combined_validation_context": {"default_validation_context": {}}})),
        format!(
            "{p}.combined_validation_context.validation_context_sds_secret_config: is required"
        )
    );
    assert_eq!(
        with(json!({"validation_context_sds_secret_config": {"name": ""}})),
        format!("{p}.validation_context_sds_secret_config.name: must not be empty")
    );
}

#[test]
fn sds_source_and_protocol_rejections_name_the_field() {
    let p = "Cluster c: typed_config.common_tls_context";
    let with = |extra: Value| {
        let mut c = json!({"tls_certificates": [cert()]});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        up_err(json!({ "common_tls_context": c }))
    };
    let sds_err = format!(
        "{p}.validation_context_sds_secret_config.sds_config: only ads {{}} or an api_config_source of api_type GRPC with one envoy_grpc service naming cluster \"sds-grpc\" (the in-process identity agent) are supported"
    );
    let other_cluster = json!({"name": "x", "sds_config": {"api_config_source": {"api_type": "GRPC", "grpc_services": [{"envoy_grpc": {"cluster_name": "elsewhere"}}]}}});
    assert_eq!(
        with(json!({"validation_context_sds_secret_config": other_cluster})),
        sds_err
    );
    let rest = json!({"name": "x", "sds_config": {"api_config_source": {"api_type": "REST", "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}]}}});
    assert_eq!(
        with(json!({"validation_context_sds_secret_config": rest})),
        sds_err
    );
    assert_eq!(
        with(json!({"tls_params": {"tls_maximum_protocol_version": "TLSv1_1"}})),
        format!(
            "{p}.tls_params.tls_maximum_protocol_version: \"TLSv1_1\" is not supported (TLS_AUTO, TLSv1_2 or TLSv1_3; TLS 1.0 and 1.1 only as a minimum)"
        )
    );
    assert_eq!(
        with(
            json!({"tls_params": {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_2"}})
        ),
        format!(
            "{p}.tls_params: tls_minimum_protocol_version is above tls_maximum_protocol_version"
        )
    );
    let down = build_upstream(&At::new("Cluster c"), Some(&socket(DOWN, json!({})))).unwrap_err();
    assert_eq!(
        down.to_string(),
        "Cluster c: typed_config: a cluster needs an UpstreamTlsContext, not a DownstreamTlsContext"
    );
    let none: m::TransportSocket = serde_json::from_value(json!({"name": "tls"})).unwrap();
    assert_eq!(
        build_upstream(&At::new("Cluster c"), Some(&none))
            .unwrap_err()
            .to_string(),
        "Cluster c: typed_config: is required"
    );
}

#[test]
fn secrets_compile_and_reject() {
    let s = |v: Value| build_secret(&serde_json::from_value(v).unwrap());
    assert!(matches!(
        s(json!({"name": "default", "tls_certificate": cert()})).unwrap(),
        Secret::Certificate(_)
    ));
    assert!(matches!(
        s(json!({"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_string": CERT}}}))
            .unwrap(),
        Secret::Validation(_)
    ));
    let err = |v: Value| s(v).unwrap_err().to_string();
    assert_eq!(
        err(json!({"tls_certificate": cert()})),
        "Secret : name: must not be empty"
    );
    assert_eq!(
        err(json!({"name": "x"})),
        "Secret x: one of tls_certificate, validation_context is required"
    );
    assert_eq!(
        err(json!({"name": "x", "tls_certificate": cert(), "validation_context": {}})),
        "Secret x: only one of tls_certificate, validation_context may be set"
    );
    assert_eq!(
        err(json!({"name": "x", "validation_context": {}})),
        "Secret x: validation_context.trusted_ca: is required"
    );
    assert_eq!(
        err(
            json!({"name": "x", "validation_context": {"trusted_ca": {"inline_string": CERT}, "match_subject_alt_names": [{"exact": "a"}]}})
        ),
        "Secret x: validation_context: SAN matchers in an SDS validation context are not supported; put them in combined_validation_context.default_validation_context"
    );
}

#[test]
fn compiled_contexts_and_model_dumps_never_show_the_key() {
    let ts = socket(
        DOWN,
        json!({"common_tls_context": {"tls_certificates": [cert()]}}),
    );
    let built = build_downstream(&At::new("Listener l"), Some(&ts))
        .unwrap()
        .unwrap();
    let debug = format!("{built:?}");
    assert!(
        debug.contains("[redacted]") && !debug.contains("SECRETKEYBYTES"),
        "{debug}"
    );
    let shown = serde_json::to_string(&ts.redacted()).unwrap();
    assert!(
        shown.contains("[redacted]") && !shown.contains("SECRETKEYBYTES"),
        "{shown}"
    );
    let secret: m::Secret =
        serde_json::from_value(json!({"name": "d", "tls_certificate": cert()})).unwrap();
    let shown = serde_json::to_string(&secret.redacted()).unwrap();
    assert!(!shown.contains("SECRETKEYBYTES"), "{shown}");
}

#[test]
fn cipher_suites_keep_what_rustls_has_and_reject_unknown_names() {
    let ctx = |suites: Value, min: &str| {
        json!({"common_tls_context": {"tls_certificates": [cert()], "tls_params": {
            "tls_minimum_protocol_version": min, "cipher_suites": suites}}})
    };
    // Istio's inbound defaults: RSA key exchange suites are accepted but never negotiated.
    let istio = json!([
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
        "AES256-GCM-SHA384"
    ]);
    let d = build_downstream(
        &At::new("Listener l"),
        Some(&socket(DOWN, ctx(istio, "TLSv1_2"))),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        d.common.cipher_suites,
        [
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        ]
    );
    let p = "Listener l: typed_config.common_tls_context.tls_params.cipher_suites";
    assert_eq!(
        down_err(ctx(json!(["RC4-MD5"]), "TLSv1_2")),
        format!("{p}[0]: unknown cipher suite \"RC4-MD5\"")
    );
    assert!(
        down_err(ctx(json!(["AES128-SHA"]), "TLSv1_2"))
            .starts_with(&format!("{p}: none of these TLS 1.2 suites is available"))
    );
    // With TLS 1.3 only, the TLS 1.2 list does not matter.
    assert!(
        build_downstream(
            &At::new("Listener l"),
            Some(&socket(DOWN, ctx(json!(["AES128-SHA"]), "TLSv1_3")))
        )
        .is_ok()
    );
}
