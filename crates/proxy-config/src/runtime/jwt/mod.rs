//! Envoy's JWT authentication filter (`envoy.filters.http.jwt_authn`): the compiled providers
//! (issuer, audiences, JWKS source, token locations, outputs), the rules by path and their
//! requirements, and the pure checks on a request (`check`). Fetching remote JWKS is I/O and
//! belongs to the proxy; this module only describes where they come from.

mod check;
pub mod keys;
mod outputs;
#[cfg(test)]
mod tests;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

pub use check::{Verdict, VerifiedToken, check};
pub use keys::{Jwks, JwksError};
pub use outputs::{ISTIO_AUTHN, apply_outputs, metadata, strip_output_headers};
pub use token::{Jwt, JwtError};

use crate::error::{At, Result};
use crate::model::jwt as m;

/// Envoy's default `clock_skew_seconds`.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;
/// Envoy's default `remote_jwks.cache_duration`.
pub const DEFAULT_JWKS_CACHE: Duration = Duration::from_secs(300);
/// Used when `http_uri.timeout` is unset (Envoy requires it; Istio sends 5 s).
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// A compiled jwt_authn filter.
#[derive(Debug, Default)]
pub struct JwtAuthn {
    /// Sorted by name.
    pub providers: Vec<Provider>,
    pub rules: Vec<Rule>,
    pub bypass_cors_preflight: bool,
}

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    /// Empty: any issuer.
    pub issuer: String,
    /// Empty: any audience.
    pub audiences: Vec<String>,
    pub jwks: JwksSource,
    pub locations: Vec<TokenLocation>,
    pub forward: bool,
    pub forward_payload_header: Option<HeaderName>,
    pub pad_forward_payload_header: bool,
    pub payload_in_metadata: Option<String>,
    pub clock_skew_secs: u64,
    pub claim_to_headers: Vec<(HeaderName, String)>,
}

#[derive(Debug, Clone)]
pub enum JwksSource {
    Local(Arc<Jwks>),
    Remote(RemoteJwks),
}

/// Where remote keys are fetched from; the proxy keeps one cache per (cluster, uri).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    pub uri: http::Uri,
    pub cluster: String,
    pub timeout: Duration,
    pub cache_duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    /// The header's value after `prefix` (empty: the whole value).
    Header {
        name: HeaderName,
        prefix: String,
    },
    Param(String),
    Cookie(String),
}

#[derive(Debug)]
pub struct Rule {
    pub path: RulePath,
    /// `None`: matching requests are not checked.
    pub requires: Option<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulePath {
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Index into `providers`.
    Provider(usize),
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
    AllowMissing,
    AllowMissingOrFailed,
}

impl JwtAuthn {
    /// The requirement of the first rule matching `path` (with its query); `None` when no rule
    /// matches or the rule requires nothing.
    pub fn requirement_for(&self, path: &str) -> Option<&Requirement> {
        let rule = self.rules.iter().find(|r| match &r.path {
            RulePath::Prefix(p) => path.starts_with(p.as_str()),
            RulePath::Exact(p) => path.split_once('?').map_or(path, |(p, _)| p) == p,
        })?;
        rule.requires.as_ref()
    }

    /// The remote key sources a requirement may need, so the caller can have them ready.
    pub fn remote_sources(&self, req: &Requirement) -> Vec<(usize, &RemoteJwks)> {
        let mut indexes = Vec::new();
        collect_providers(req, self.providers.len(), &mut indexes);
        indexes
            .into_iter()
            .filter_map(|i| match &self.providers[i].jwks {
                JwksSource::Remote(r) => Some((i, r)),
                JwksSource::Local(_) => None,
            })
            .collect()
    }
}

/// Providers a requirement can consult: `allow_missing*` verify against every provider.
fn collect_providers(req: &Requirement, count: usize, out: &mut Vec<usize>) {
    match req {
        Requirement::Provider(i) if !out.contains(i) => out.push(*i),
        Requirement::Provider(_) => {}
        Requirement::Any(l) | Requirement::All(l) => {
            l.iter().for_each(|r| collect_providers(r, count, out))
        }
        Requirement::AllowMissing | Requirement::AllowMissingOrFailed => {
            (0..count).for_each(|i| collect_providers(&Requirement::Provider(i), count, out))
        }
    }
}

pub fn compile_jwt_authn(at: &At<'_>, j: &m::JwtAuthentication) -> Result<JwtAuthn> {
    let providers = j
        .providers
        .iter()
        .map(|(name, p)| compile_provider(&at.field("providers").field(name), name, p))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    let rules = j
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| compile_rule(&at.field("rules").index(i), r, &names))
        .collect::<Result<_>>()?;
    Ok(JwtAuthn {
        providers,
        rules,
        bypass_cors_preflight: j.bypass_cors_preflight,
    })
}

fn header_name(at: &At<'_>, name: &str) -> Result<HeaderName> {
    HeaderName::try_from(name).map_err(|_| at.err(format!("{name:?} is not a valid header name")))
}

fn compile_provider(at: &At<'_>, name: &str, p: &m::JwtProvider) -> Result<Provider> {
    let jwks = match (&p.local_jwks, &p.remote_jwks) {
        (Some(ds), None) => JwksSource::Local(Arc::new(local_jwks(&at.field("local_jwks"), ds)?)),
        (None, Some(r)) => JwksSource::Remote(remote_jwks(&at.field("remote_jwks"), r)?),
        _ => return Err(at.err("exactly one of local_jwks, remote_jwks is required")),
    };
    let claim_to_headers = p
        .claim_to_headers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cat = at.field("claim_to_headers").index(i);
            if c.claim_name.is_empty() {
                return Err(cat.field("claim_name").err("is required"));
            }
            let h = header_name(&cat.field("header_name"), &c.header_name)?;
            Ok((h, c.claim_name.clone()))
        })
        .collect::<Result<_>>()?;
    let forward_payload_header = match p.forward_payload_header.as_str() {
        "" => None,
        h => Some(header_name(&at.field("forward_payload_header"), h)?),
    };
    Ok(Provider {
        name: name.to_string(),
        issuer: p.issuer.clone(),
        audiences: p.audiences.clone(),
        jwks,
        locations: token_locations(at, p)?,
        forward: p.forward,
        forward_payload_header,
        pad_forward_payload_header: p.pad_forward_payload_header,
        payload_in_metadata: Some(p.payload_in_metadata.clone()).filter(|s| !s.is_empty()),
        clock_skew_secs: match p.clock_skew_seconds {
            0 => DEFAULT_CLOCK_SKEW_SECS,
            s => u64::from(s),
        },
        claim_to_headers,
    })
}

/// The configured locations, or Envoy's defaults: `Authorization: Bearer ` then the
/// `access_token` query parameter.
fn token_locations(at: &At<'_>, p: &m::JwtProvider) -> Result<Vec<TokenLocation>> {
    let mut out = Vec::new();
    for (i, h) in p.from_headers.iter().enumerate() {
        let name = header_name(&at.field("from_headers").index(i).field("name"), &h.name)?;
        out.push(TokenLocation::Header {
            name,
            prefix: h.value_prefix.clone(),
        });
    }
    out.extend(p.from_params.iter().cloned().map(TokenLocation::Param));
    out.extend(p.from_cookies.iter().cloned().map(TokenLocation::Cookie));
    if out.is_empty() {
        out.push(TokenLocation::Header {
            name: http::header::AUTHORIZATION,
            prefix: "Bearer ".into(),
        });
        out.push(TokenLocation::Param("access_token".into()));
    }
    Ok(out)
}

fn local_jwks(at: &At<'_>, ds: &crate::model::core::DataSource) -> Result<Jwks> {
    let Some(text) = &ds.inline_string else {
        return Err(at.err("only inline_string is supported"));
    };
    Jwks::parse(text).map_err(|e| at.field("inline_string").err(e.to_string()))
}

fn remote_jwks(at: &At<'_>, r: &m::RemoteJwks) -> Result<RemoteJwks> {
    let uat = at.field("http_uri");
    let uri: http::Uri = r
        .http_uri
        .uri
        .parse()
        .map_err(|e| uat.field("uri").err(format!("{e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(uat
            .field("uri")
            .err("must be an absolute http:// URI (https is not supported yet)"));
    }
    if r.http_uri.cluster.is_empty() {
        return Err(uat.field("cluster").err("is required"));
    }
    Ok(RemoteJwks {
        uri,
        cluster: r.http_uri.cluster.clone(),
        timeout: r.http_uri.timeout.map_or(DEFAULT_JWKS_TIMEOUT, |d| d.0),
        cache_duration: r.cache_duration.map_or(DEFAULT_JWKS_CACHE, |d| d.0),
    })
}

fn compile_rule(at: &At<'_>, r: &m::RequirementRule, names: &[&str]) -> Result<Rule> {
    let mat = at.field("match");
    let path = match (&r.match_.prefix, &r.match_.path) {
        (Some(p), None) => RulePath::Prefix(p.clone()),
        (None, Some(p)) => RulePath::Exact(p.clone()),
        _ => return Err(mat.err("exactly one of prefix, path is required")),
    };
    let requires = r
        .requires
        .as_ref()
        .map(|q| compile_requirement(&at.field("requires"), q, names))
        .transpose()?;
    Ok(Rule { path, requires })
}

fn compile_requirement(at: &At<'_>, q: &m::JwtRequirement, names: &[&str]) -> Result<Requirement> {
    let list = |field: &str, l: &m::RequirementList| -> Result<Vec<Requirement>> {
        let lat = at.field(field).field("requirements");
        if l.requirements.len() < 2 {
            return Err(lat.err("must have at least 2 requirements"));
        }
        l.requirements
            .iter()
            .enumerate()
            .map(|(i, r)| compile_requirement(&lat.index(i), r, names))
            .collect()
    };
    let set = [
        q.provider_name.is_some(),
        q.requires_any.is_some(),
        q.requires_all.is_some(),
        q.allow_missing.is_some(),
        q.allow_missing_or_failed.is_some(),
    ];
    if set.iter().filter(|b| **b).count() != 1 {
        return Err(at.err("exactly one requirement type is required"));
    }
    if let Some(name) = &q.provider_name {
        let i = names.iter().position(|n| n == name).ok_or_else(|| {
            at.field("provider_name")
                .err(format!("{name:?} is not a configured provider"))
        })?;
        return Ok(Requirement::Provider(i));
    }
    if let Some(l) = &q.requires_any {
        return Ok(Requirement::Any(list("requires_any", l)?));
    }
    if let Some(l) = &q.requires_all {
        return Ok(Requirement::All(list("requires_all", l)?));
    }
    if q.allow_missing.is_some() {
        return Ok(Requirement::AllowMissing);
    }
    Ok(Requirement::AllowMissingOrFailed)
}
