//! Rules for RequestAuthentication.

use weft_config::model::security::{JwtRule, RequestAuthentication};

use super::shared::{Attachment, check_attachment, check_header_name};
use crate::Checker;
use crate::common::{check_duration, check_port};

pub fn check(spec: &RequestAuthentication, c: &mut Checker) {
    check_attachment(
        Attachment {
            selector: spec.selector.as_ref(),
            target_ref: spec.target_ref.as_ref(),
            target_refs: &spec.target_refs,
        },
        c,
    );
    if spec.jwt_rules.is_empty() {
        c.warn(
            "spec.jwtRules",
            "no jwtRules: this RequestAuthentication accepts no tokens and has no effect",
        );
    }
    for (i, rule) in spec.jwt_rules.iter().enumerate() {
        check_rule(rule, &format!("spec.jwtRules[{i}]"), c);
    }
}

fn check_rule(rule: &JwtRule, path: &str, c: &mut Checker) {
    c.require(!rule.issuer.is_empty(), format!("{path}.issuer"));
    for (j, aud) in rule.audiences.iter().enumerate() {
        if aud.is_empty() {
            c.error(
                format!("{path}.audiences[{j}]"),
                "audience must not be empty",
            );
        }
    }
    if rule.jwks.is_some() && rule.jwks_uri.is_some() {
        c.error(
            format!("{path}.jwks"),
            "jwks and jwksUri are mutually exclusive (Istio silently ignores jwksUri when both are set)",
        );
    }
    if let Some(uri) = &rule.jwks_uri
        && let Err(e) = check_jwks_uri(uri)
    {
        c.error(format!("{path}.jwksUri"), e);
    }
    if let Some(jwks) = &rule.jwks
        && let Err(e) = check_jwks(jwks)
    {
        c.error(format!("{path}.jwks"), e);
    }
    check_locations(rule, path, c);
    check_outputs(rule, path, c);
    if let Some(t) = &rule.timeout
        && let Err(e) = check_duration(t, false)
    {
        c.error(format!("{path}.timeout"), e);
    }
}

/// Where the token is read from: headers, query parameters and cookies.
fn check_locations(rule: &JwtRule, path: &str, c: &mut Checker) {
    for (j, h) in rule.from_headers.iter().enumerate() {
        let p = format!("{path}.fromHeaders[{j}].name");
        if h.name.is_empty() {
            c.require(false, p);
        } else if let Err(e) = check_header_name(&h.name) {
            c.error(p, e);
        }
    }
    for (j, param) in rule.from_params.iter().enumerate() {
        if param.is_empty() {
            c.error(
                format!("{path}.fromParams[{j}]"),
                "query parameter name must not be empty",
            );
        }
    }
    for (j, cookie) in rule.from_cookies.iter().enumerate() {
        if cookie.is_empty() {
            c.error(
                format!("{path}.fromCookies[{j}]"),
                "cookie name must not be empty",
            );
        }
    }
}

/// Headers written from a verified token.
fn check_outputs(rule: &JwtRule, path: &str, c: &mut Checker) {
    if let Some(h) = &rule.output_payload_to_header
        && let Err(e) = check_header_name(h)
    {
        c.error(format!("{path}.outputPayloadToHeader"), e);
    }
    for (j, out) in rule.output_claim_to_headers.iter().enumerate() {
        let p = format!("{path}.outputClaimToHeaders[{j}]");
        c.require(!out.claim.is_empty(), format!("{p}.claim"));
        if out.header.is_empty() {
            c.require(false, format!("{p}.header"));
        } else if let Err(e) = check_header_name(&out.header) {
            c.error(format!("{p}.header"), e);
        }
    }
}

/// `http://` or `https://`, a host, and an optional port, as Istio's `ParseJwksURI` accepts.
fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(|| format!("jwksUri {uri:?} must be an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return Err(format!("jwksUri {uri:?} has no host"));
    }
    if host.contains(|ch: char| ch.is_whitespace()) {
        return Err(format!("jwksUri {uri:?} has an invalid host {host:?}"));
    }
    if let Some(port) = port {
        let n: i64 = port
            .parse()
            .map_err(|_| format!("jwksUri {uri:?} has an invalid port {port:?}"))?;
        check_port(n).map_err(|e| format!("jwksUri {uri:?}: {e}"))?;
    }
    Ok(())
}

/// Splits `host:port` and `[v6]:port`; the port is `None` when absent.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(v6) = s.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => ("", None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

/// A JSON Web Key Set: a JSON object with a `keys` array (Istio refuses what it cannot parse).
fn check_jwks(jwks: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(jwks).map_err(|e| format!("jwks is not valid JSON: {e}"))?;
    match value.get("keys") {
        Some(serde_json::Value::Array(keys)) if keys.iter().all(|k| k.is_object()) => Ok(()),
        Some(_) => Err("jwks \"keys\" must be a list of JSON Web Keys".into()),
        None => Err("jwks must be a JSON Web Key Set: an object with a \"keys\" list".into()),
    }
}

#[cfg(test)]
#[path = "request_authentication_tests.rs"]
mod tests;
