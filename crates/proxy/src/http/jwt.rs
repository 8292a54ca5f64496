//! The jwt_authn filter on a request: the rule for its path, remote keys made ready (the first
//! request waits for the first fetch up to the URI's timeout), the verdict, then either Envoy's
//! local reply (401, or 403 for a wrong audience, with `www-authenticate`) or the outputs on
//! the request and the dynamic metadata for later filters. Output headers a client sent are
//! removed first, so they can only come from a verified token. When several tokens verify,
//! `istio_authn` describes the first.

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request};
use serde_json::{Map, Value};
use weft_proxy_config::runtime::jwt::{self, JwksSource, JwtAuthn, JwtError};

use super::request_body::DownstreamBody;
use super::{Ctx, Outcome, ProxyBody, reply};

type LocalReply = (http::Response<ProxyBody>, Outcome);

pub async fn run(
    ctx: &Ctx,
    authn: &JwtAuthn,
    req: &mut Request<DownstreamBody>,
    metadata: &mut Map<String, Value>,
) -> Result<(), LocalReply> {
    if authn.bypass_cors_preflight && is_cors_preflight(req) {
        return Ok(());
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    jwt::strip_output_headers(authn, req.headers_mut());
    let Some(requirement) = authn.requirement_for(&path) else {
        return Ok(());
    };
    let mut keys: Vec<_> = authn
        .providers
        .iter()
        .map(|p| match &p.jwks {
            JwksSource::Local(k) => Some(k.clone()),
            JwksSource::Remote(_) => None,
        })
        .collect();
    for (i, src) in authn.remote_sources(requirement) {
        let entry = ctx.shared.jwks.entry(&ctx.shared, src);
        keys[i] = entry.ready(src.timeout).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verdict = jwt::check(
        authn,
        requirement,
        req.headers(),
        &path,
        &|i| keys[i].clone(),
        now,
    );
    if let Err(e) = verdict.result {
        tracing::debug!(error = %e, "jwt_authn denied the request");
        return Err(denied(req, &path, e));
    }
    jwt::apply_outputs(authn, &verdict.verified, req.headers_mut());
    for (ns, v) in jwt::metadata(authn, &verdict.verified) {
        metadata.insert(ns, v);
    }
    Ok(())
}

fn is_cors_preflight(req: &Request<DownstreamBody>) -> bool {
    let h = req.headers();
    req.method() == Method::OPTIONS
        && h.contains_key(http::header::ORIGIN)
        && h.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Envoy's answer: the status text as body, `www-authenticate` naming the request's URL as
/// realm (RFC 6750), with `error="invalid_token"` unless the token was missing.
fn denied(req: &Request<DownstreamBody>, path: &str, e: JwtError) -> LocalReply {
    let mut resp = reply::local(e.http_status(), &e.to_string());
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            let h = req.headers().get(http::header::HOST)?;
            h.to_str().ok().map(str::to_string)
        })
        .unwrap_or_default();
    let path_only = path.split_once('?').map_or(path, |(p, _)| p);
    let mut challenge = format!("Bearer realm=\"http://{host}{path_only}\"");
    if e != JwtError::Missing {
        challenge.push_str(", error=\"invalid_token\"");
    }
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    let outcome = Outcome {
        flags: "-",
        details: e.details().into(),
    };
    (resp, outcome)
}
