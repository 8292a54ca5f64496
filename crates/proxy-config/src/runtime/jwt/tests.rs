//! Verification per algorithm and the requirement semantics, with keys made in the test
//! (RSA by `openssl genpkey`, EC and Ed25519 by ring).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::HeaderMap;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair};
use serde_json::{Value, json};

use super::*;
use crate::error::At;

const NOW: u64 = 1_800_000_000;

fn rsa_key() -> &'static sig::RsaKeyPair {
    static KEY: OnceLock<sig::RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-outform", "DER"])
            .output()
            .expect("openssl is required for the RSA JWT tests (apt-get install openssl)");
        assert!(out.status.success(), "openssl genpkey failed");
        sig::RsaKeyPair::from_der(&out.stdout).unwrap()
    })
}

enum Signer {
    Rsa,
    Ec(sig::EcdsaKeyPair, &'static str),
    Ed(sig::Ed25519KeyPair),
}

impl Signer {
    fn ec(alg: &'static sig::EcdsaSigningAlgorithm, crv: &'static str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Self::Ec(
            sig::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            crv,
        )
    }

    fn ed() -> Self {
        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self::Ed(sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Rsa => {
                let c: sig::RsaPublicKeyComponents<Vec<u8>> = rsa_key().public().into();
                json!({"kty": "RSA", "kid": kid, "n": B64.encode(&c.n), "e": B64.encode(&c.e)})
            }
            Self::Ec(k, crv) => {
                let p = k.public_key().as_ref();
                let half = (p.len() - 1) / 2;
                json!({"kty": "EC", "crv": crv, "kid": kid,
                    "x": B64.encode(&p[1..1 + half]), "y": B64.encode(&p[1 + half..])})
            }
            Self::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": B64.encode(k.public_key().as_ref())})
            }
        }
    }

    fn sign(&self, header: Value, claims: Value) -> String {
        let msg = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let alg = header["alg"].as_str().unwrap();
        let rng = SystemRandom::new();
        let signature = match self {
            Self::Rsa => {
                let enc: &dyn sig::RsaEncoding = match alg {
                    "RS256" => &sig::RSA_PKCS1_SHA256,
                    "RS384" => &sig::RSA_PKCS1_SHA384,
                    "RS512" => &sig::RSA_PKCS1_SHA512,
                    "PS256" => &sig::RSA_PSS_SHA256,
                    "PS384" => &sig::RSA_PSS_SHA384,
                    _ => &sig::RSA_PSS_SHA512,
                };
                let mut out = vec![0; rsa_key().public().modulus_len()];
                rsa_key().sign(enc, &rng, msg.as_bytes(), &mut out).unwrap();
                out
            }
            Self::Ec(k, _) => k.sign(&rng, msg.as_bytes()).unwrap().as_ref().to_vec(),
            Self::Ed(k) => k.sign(msg.as_bytes()).as_ref().to_vec(),
        };
        format!("{msg}.{}", B64.encode(signature))
    }
}

fn claims() -> Value {
    json!({"iss": "https://issuer.example", "sub": "alice", "aud": ["svc", "other"],
        "azp": "web", "exp": NOW + 3600, "group": "admins", "nested": {"level": 3}})
}

fn token(s: &Signer, alg: &str, kid: Option<&str>, claims: Value) -> String {
    let mut h = json!({"alg": alg, "typ": "JWT"});
    if let Some(k) = kid {
        h["kid"] = json!(k);
    }
    s.sign(h, claims)
}

/// A filter with one provider `p` (the given extra provider fields) and Istio's rule.
fn authn(jwks: Value, extra: Value) -> JwtAuthn {
    let mut p = json!({"issuer": "https://issuer.example",
        "local_jwks": {"inline_string": jwks.to_string()}});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg = json!({"providers": {"p": p}, "rules": [{"match": {"prefix": "/"},
        "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"allow_missing": {}}]}}}]});
    let model: crate::model::jwt::JwtAuthentication = serde_json::from_value(cfg).unwrap();
    compile_jwt_authn(&At::new("Listener l"), &model).unwrap()
}

fn run(a: &JwtAuthn, headers: &HeaderMap, path: &str) -> Verdict {
    let req = a.requirement_for(path).unwrap();
    let keys = |i: usize| match &a.providers[i].jwks {
        JwksSource::Local(k) => Some(k.clone()),
        JwksSource::Remote(_) => None,
    };
    check(a, req, headers, path, &keys, NOW)
}

fn bearer(t: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {t}").parse().unwrap());
    h
}

fn verdict_for(s: &Signer, alg: &str, kid: &str) -> Result<(), JwtError> {
    let a = authn(json!({"keys": [s.jwk(kid)]}), json!({}));
    run(&a, &bearer(&token(s, alg, Some(kid), claims())), "/").result
}

#[test]
fn every_supported_algorithm_verifies_and_a_changed_signature_fails() {
    let cases = [
        (
            Signer::Rsa,
            vec!["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        ),
        (
            Signer::ec(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            vec!["ES256"],
        ),
        (
            Signer::ec(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            vec!["ES384"],
        ),
        (Signer::ed(), vec!["EdDSA"]),
    ];
    for (s, algs) in &cases {
        for alg in algs {
            assert_eq!(verdict_for(s, alg, "k1"), Ok(()), "{alg}");
            let a = authn(json!({"keys": [s.jwk("k1")]}), json!({}));
            let mut t = token(s, alg, Some("k1"), claims()).into_bytes();
            let i = t.len() - 10;
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            let r = run(&a, &bearer(&t), "/").result;
            assert_eq!(r, Err(JwtError::VerificationFail), "{alg} tampered");
        }
    }
}

#[test]
fn a_key_of_another_type_does_not_verify() {
    let ec = Signer::ec(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let a = authn(json!({"keys": [ec.jwk("k1")]}), json!({}));
    let t = token(&Signer::Rsa, "RS256", Some("k1"), claims());
    assert_eq!(
        run(&a, &bearer(&t), "/").result,
        Err(JwtError::KidAlgMismatch)
    );
}

#[test]
fn alg_none_and_hmac_are_refused_even_with_a_secret_in_the_set() {
    let ed = Signer::ed();
    let jwks =
        json!({"keys": [ed.jwk("k1"), {"kty": "oct", "kid": "h", "k": B64.encode("secret")}]});
    let a = authn(jwks, json!({}));
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none"}).to_string()),
        B64.encode(claims().to_string())
    );
    assert_eq!(
        run(&a, &bearer(&none), "/").result,
        Err(JwtError::AlgNotImplemented)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
    let msg = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256", "kid": "h"}).to_string()),
        B64.encode(claims().to_string())
    );
    let hs = format!(
        "{msg}.{}",
        B64.encode(ring::hmac::sign(&key, msg.as_bytes()))
    );
    assert_eq!(
        run(&a, &bearer(&hs), "/").result,
        Err(JwtError::AlgNotImplemented)
    );
}

#[test]
fn kid_selects_the_key_and_without_kid_every_fitting_key_is_tried() {
    let (a1, a2) = (Signer::ed(), Signer::ed());
    let a = authn(json!({"keys": [a1.jwk("one"), a2.jwk("two")]}), json!({}));
    let t = token(&a2, "EdDSA", Some("three"), claims());
    assert_eq!(
        run(&a, &bearer(&t), "/").result,
        Err(JwtError::KidAlgMismatch)
    );
    let t = token(&a2, "EdDSA", Some("one"), claims());
    assert_eq!(
        run(&a, &bearer(&t), "/").result,
        Err(JwtError::VerificationFail)
    );
    let t = token(&a2, "EdDSA", None, claims());
    assert_eq!(run(&a, &bearer(&t), "/").result, Ok(()));
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    c[k] = v;
    c
}

#[test]
fn time_issuer_and_audience_checks() {
    let s = Signer::ed();
    let jwks = json!({"keys": [s.jwk("k")]});
    let a = authn(jwks.clone(), json!({"audiences": ["svc"]}));
    let r = |c: Value| run(&a, &bearer(&token(&s, "EdDSA", Some("k"), c)), "/").result;
    assert_eq!(
        r(with(claims(), "exp", json!(NOW - 61))),
        Err(JwtError::Expired)
    );
    assert_eq!(
        r(with(claims(), "exp", json!(NOW - 30))),
        Ok(()),
        "within the skew"
    );
    assert_eq!(
        r(with(claims(), "nbf", json!(NOW + 120))),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        r(with(claims(), "iss", json!("https://evil"))),
        Err(JwtError::UnknownIssuer)
    );
    let wrong_aud = r(with(claims(), "aud", json!("nope")));
    assert_eq!(wrong_aud, Err(JwtError::AudienceNotAllowed));
    assert_eq!(JwtError::AudienceNotAllowed.http_status(), 403);
    let any_aud = authn(jwks.clone(), json!({}));
    let t = token(&s, "EdDSA", Some("k"), with(claims(), "aud", json!("nope")));
    assert_eq!(run(&any_aud, &bearer(&t), "/").result, Ok(()));
    let strict = authn(jwks, json!({"clock_skew_seconds": 1}));
    let t = token(
        &s,
        "EdDSA",
        Some("k"),
        with(claims(), "exp", json!(NOW - 30)),
    );
    assert_eq!(
        run(&strict, &bearer(&t), "/").result,
        Err(JwtError::Expired)
    );
}

#[test]
fn tokens_come_from_the_configured_header_param_and_cookie() {
    let s = Signer::ed();
    let t = token(&s, "EdDSA", Some("k"), claims());
    let a = authn(
        json!({"keys": [s.jwk("k")]}),
        json!({"from_headers": [{"name": "x-jwt", "value_prefix": "Token "}],
            "from_params": ["jwt"], "from_cookies": ["session"]}),
    );
    let mut h = HeaderMap::new();
    h.insert("x-jwt", format!("Token {t}").parse().unwrap());
    let v = run(&a, &h, "/");
    assert_eq!(v.result, Ok(()));
    assert_eq!(v.verified.len(), 1);
    assert!(
        run(&a, &bearer(&t), "/").verified.is_empty(),
        "default header not read"
    );
    let v = run(&a, &HeaderMap::new(), &format!("/x?a=1&jwt={t}"));
    assert_eq!(v.verified.len(), 1, "from the query parameter");
    let mut h = HeaderMap::new();
    h.insert("cookie", format!("a=b; session={t}").parse().unwrap());
    assert_eq!(run(&a, &h, "/").verified.len(), 1, "from the cookie");
    let defaults = authn(json!({"keys": [s.jwk("k")]}), json!({}));
    let v = run(&defaults, &HeaderMap::new(), &format!("/?access_token={t}"));
    assert_eq!(v.verified.len(), 1, "access_token is a default location");
}

#[test]
fn istio_requirement_passes_without_token_and_fails_with_a_bad_one() {
    let s = Signer::ed();
    let a = authn(json!({"keys": [s.jwk("k")]}), json!({}));
    let v = run(&a, &HeaderMap::new(), "/");
    assert_eq!(v.result, Ok(()));
    assert!(v.verified.is_empty());
    assert_eq!(
        run(&a, &bearer("abc"), "/").result,
        Err(JwtError::BadFormat)
    );
}

#[test]
fn outputs_and_metadata() {
    let s = Signer::ed();
    let a = authn(
        json!({"keys": [s.jwk("k")]}),
        json!({"forward_payload_header": "x-payload", "payload_in_metadata": "payload",
            "claim_to_headers": [{"header_name": "x-group", "claim_name": "group"},
                {"header_name": "x-level", "claim_name": "nested.level"},
                {"header_name": "x-aud", "claim_name": "aud"}]}),
    );
    let t = token(&s, "EdDSA", Some("k"), claims());
    let mut h = bearer(&t);
    let v = run(&a, &h, "/");
    apply_outputs(&a, &v.verified, &mut h);
    assert!(
        h.get("authorization").is_none(),
        "token removed without forward"
    );
    assert_eq!(h["x-payload"], t.split('.').nth(1).unwrap());
    assert_eq!(h["x-group"], "admins");
    assert_eq!(h["x-level"], "3");
    assert_eq!(h["x-aud"], "svc,other");
    let md = metadata(&a, &v.verified);
    assert_eq!(
        md["envoy.filters.http.jwt_authn"]["payload"]["sub"],
        "alice"
    );
    let istio = &md[ISTIO_AUTHN];
    assert_eq!(
        istio["request.auth.principal"],
        "https://issuer.example/alice"
    );
    assert_eq!(istio["request.auth.audiences"], json!(["svc", "other"]));
    assert_eq!(istio["request.auth.presenter"], "web");
    assert_eq!(istio["request.auth.claims"]["group"], "admins");
    let fwd = authn(json!({"keys": [s.jwk("k")]}), json!({"forward": true}));
    let mut h = bearer(&t);
    let v = run(&fwd, &h, "/");
    apply_outputs(&fwd, &v.verified, &mut h);
    assert!(h.get("authorization").is_some(), "forward keeps the token");
}

#[test]
fn bad_config_names_the_field() {
    let cfg = json!({"providers": {"p": {"issuer": "i", "local_jwks": {"inline_string": "{\"keys\":[]}"}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "q"}}]});
    let model: crate::model::jwt::JwtAuthentication = serde_json::from_value(cfg).unwrap();
    let err = compile_jwt_authn(&At::new("Listener l"), &model).unwrap_err();
    assert_eq!(err.path, "providers.p.local_jwks.inline_string");
    assert_eq!(err.reason, "Jwks doesn't have valid keys");
    let s = Signer::ed();
    let cfg = json!({"providers": {"p": {"issuer": "i", "local_jwks": {"inline_string": json!({"keys": [s.jwk("k")]}).to_string()}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "q"}}]});
    let model: crate::model::jwt::JwtAuthentication = serde_json::from_value(cfg).unwrap();
    let err = compile_jwt_authn(&At::new("Listener l"), &model).unwrap_err();
    assert_eq!(err.path, "rules[0].requires.provider_name");
    let _ = Arc::new(());
}

#[test]
fn details_are_the_status_text_with_underscores() {
    use JwtError::*;
    for e in [
        Missing,
        BadFormat,
        HeaderBadBase64,
        HeaderBadJson,
        HeaderBadAlg,
        AlgNotImplemented,
        PayloadBadBase64,
        PayloadBadJson,
        SignatureBadBase64,
        UnknownIssuer,
        AudienceNotAllowed,
        NotYetValid,
        Expired,
        KidAlgMismatch,
        VerificationFail,
        JwksFetchFail,
    ] {
        let want = format!(
            "jwt_authn_access_denied{{{}}}",
            e.to_string().replace(' ', "_")
        );
        assert_eq!(e.details(), want);
    }
}

#[test]
fn output_headers_from_the_client_are_removed_but_token_headers_stay() {
    let s = Signer::ed();
    let a = authn(
        json!({"keys": [s.jwk("k")]}),
        json!({"forward_payload_header": "x-payload", "forward": true,
            "claim_to_headers": [{"header_name": "x-group", "claim_name": "group"}]}),
    );
    let mut h = bearer("whatever");
    h.insert("x-group", "forged".parse().unwrap());
    h.insert("x-payload", "forged".parse().unwrap());
    strip_output_headers(&a, &mut h);
    assert!(h.get("x-group").is_none() && h.get("x-payload").is_none());
    assert!(h.get("authorization").is_some());
}

/// Providers `a` (issuer A, header `x-a`) and `b` (issuer B, header `x-b`) under one rule.
fn two_providers(s: &Signer, requires: Value) -> JwtAuthn {
    let jwks = json!({"keys": [s.jwk("k")]}).to_string();
    let p = |iss: &str, h: &str| json!({"issuer": iss, "local_jwks": {"inline_string": jwks}, "from_headers": [{"name": h}]});
    let cfg = json!({"providers": {"a": p("A", "x-a"), "b": p("B", "x-b")},
        "rules": [{"match": {"path": "/exact"}, "requires": requires}, {"match": {"prefix": "/open"}}]});
    let model: crate::model::jwt::JwtAuthentication = serde_json::from_value(cfg).unwrap();
    compile_jwt_authn(&At::new("Listener l"), &model).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn requirement_combinators_and_rule_matching() {
    let s = Signer::ed();
    let ta = token(&s, "EdDSA", Some("k"), with(claims(), "iss", json!("A")));
    let tb = token(&s, "EdDSA", Some("k"), with(claims(), "iss", json!("B")));
    let only_a = two_providers(&s, json!({"provider_name": "a"}));
    assert_eq!(
        run(&only_a, &HeaderMap::new(), "/exact").result,
        Err(JwtError::Missing)
    );
    assert_eq!(
        run(&only_a, &headers(&[("x-a", &ta)]), "/exact").result,
        Ok(())
    );
    assert!(
        only_a.requirement_for("/exact/more").is_none(),
        "path is exact"
    );
    assert!(
        only_a.requirement_for("/open/x").is_none(),
        "a rule without requires"
    );
    assert!(only_a.requirement_for("/other").is_none(), "no rule");

    let all = two_providers(
        &s,
        json!({"requires_all": {"requirements": [{"provider_name": "a"}, {"provider_name": "b"}]}}),
    );
    assert_eq!(
        run(&all, &headers(&[("x-a", &ta)]), "/exact").result,
        Err(JwtError::Missing)
    );
    let both = run(&all, &headers(&[("x-a", &ta), ("x-b", &tb)]), "/exact");
    assert_eq!(both.result, Ok(()));
    assert_eq!(both.verified.len(), 2);

    let lenient = two_providers(&s, json!({"allow_missing_or_failed": {}}));
    let v = run(
        &lenient,
        &headers(&[("x-a", "garbage"), ("x-b", &tb)]),
        "/exact",
    );
    assert_eq!(v.result, Ok(()));
    assert_eq!(v.verified.len(), 1, "only the good token counts");

    let missing_ok = two_providers(&s, json!({"allow_missing": {}}));
    let wrong_iss = token(&s, "EdDSA", Some("k"), with(claims(), "iss", json!("C")));
    let r = run(&missing_ok, &headers(&[("x-a", &wrong_iss)]), "/exact").result;
    assert_eq!(r, Err(JwtError::UnknownIssuer));
    assert_eq!(run(&missing_ok, &HeaderMap::new(), "/exact").result, Ok(()));
}
