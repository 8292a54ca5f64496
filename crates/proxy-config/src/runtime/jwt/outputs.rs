//! What verified tokens leave on the request: the token header removed (unless `forward`),
//! `forward_payload_header`, `claim_to_headers`, and the dynamic metadata other filters read
//! (Envoy's `payload_in_metadata` and Istio's request identity).

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::check::VerifiedToken;
use super::{JwtAuthn, TokenLocation};
use crate::model::jwt::JWT_AUTHN_FILTER;

/// The metadata namespace of Istio's request authentication results.
pub const ISTIO_AUTHN: &str = "istio_authn";

/// Removes what a client sent in the headers this filter writes (`forward_payload_header`,
/// `claim_to_headers`), so that upstream only ever sees values from verified tokens. Envoy only
/// sets these headers; weft also clears them because a mesh promises that identity headers
/// cannot be forged. A header that is also a token location is left alone.
pub fn strip_output_headers(authn: &JwtAuthn, headers: &mut HeaderMap) {
    let is_location = |name: &http::HeaderName| {
        authn.providers.iter().any(|p| {
            p.locations
                .iter()
                .any(|l| matches!(l, TokenLocation::Header { name: n, .. } if n == name))
        })
    };
    for p in &authn.providers {
        let outputs = p
            .forward_payload_header
            .iter()
            .chain(p.claim_to_headers.iter().map(|(h, _)| h));
        for name in outputs {
            if !is_location(name) {
                headers.remove(name);
            }
        }
    }
}

/// Edits the request headers for every verified token.
pub fn apply_outputs(authn: &JwtAuthn, verified: &[VerifiedToken], headers: &mut HeaderMap) {
    for v in verified {
        let p = &authn.providers[v.provider];
        if let Some(name) = &p.forward_payload_header {
            let mut b64 = v.jwt.payload_b64.trim_end_matches('=').to_string();
            if p.pad_forward_payload_header {
                while b64.len() % 4 != 0 {
                    b64.push('=');
                }
            }
            if let Ok(val) = HeaderValue::from_str(&b64) {
                headers.insert(name.clone(), val);
            }
        }
        for (name, claim) in &p.claim_to_headers {
            let text = claim_at(&v.jwt.payload, claim).and_then(claim_text);
            if let Some(val) = text.and_then(|t| HeaderValue::from_str(&t).ok()) {
                headers.insert(name.clone(), val);
            }
        }
    }
    for v in verified {
        if let TokenLocation::Header { name, .. } = &v.location
            && !authn.providers[v.provider].forward
        {
            headers.remove(name);
        }
    }
}

/// A claim by name; a dotted name walks nested objects (`nested.key`) when no top-level claim
/// has the whole name.
fn claim_at<'a>(payload: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = payload.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = payload.get(parts.next()?)?;
    for part in parts {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Strings, numbers and booleans as text; a list of those joined by commas.
fn claim_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::Array(_) | Value::Object(_) => None,
                    other => claim_text(other),
                })
                .collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

/// Dynamic metadata by namespace: `envoy.filters.http.jwt_authn` with each provider's payload
/// under its `payload_in_metadata` key, and `istio_authn` from the first verified token.
pub fn metadata(authn: &JwtAuthn, verified: &[VerifiedToken]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut payloads = Map::new();
    for v in verified {
        if let Some(key) = &authn.providers[v.provider].payload_in_metadata
            && !payloads.contains_key(key)
        {
            payloads.insert(key.clone(), Value::Object(v.jwt.payload.clone()));
        }
    }
    if !payloads.is_empty() {
        out.insert(JWT_AUTHN_FILTER.into(), Value::Object(payloads));
    }
    if let Some(first) = verified.first() {
        out.insert(ISTIO_AUTHN.into(), istio_identity(&first.jwt));
    }
    out
}

/// What Istio's authn filter derives from a verified payload.
fn istio_identity(jwt: &super::Jwt) -> Value {
    let mut m = Map::new();
    if let (Some(iss), Some(sub)) = (jwt.claim_str("iss"), jwt.claim_str("sub")) {
        m.insert(
            "request.auth.principal".into(),
            json!(format!("{iss}/{sub}")),
        );
    }
    m.insert("request.auth.audiences".into(), json!(jwt.audiences()));
    if let Some(azp) = jwt.claim_str("azp") {
        m.insert("request.auth.presenter".into(), json!(azp));
    }
    m.insert(
        "request.auth.claims".into(),
        Value::Object(jwt.payload.clone()),
    );
    Value::Object(m)
}
