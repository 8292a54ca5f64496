//! A request against a requirement: token extraction from the provider's locations, one
//! verification per (provider, token), and the requirement tree's verdict with Envoy's
//! semantics (`requires_any` passes when one child passes, `allow_missing` passes without a
//! token but not with a bad one, `allow_missing_or_failed` always passes).

use std::sync::Arc;

use http::HeaderMap;

use super::token::{Jwt, JwtError};
use super::{Jwks, JwtAuthn, Provider, Requirement, TokenLocation};

/// A token that verified, in the order it was verified.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub provider: usize,
    pub location: TokenLocation,
    pub jwt: Jwt,
}

#[derive(Debug)]
pub struct Verdict {
    pub result: Result<(), JwtError>,
    pub verified: Vec<VerifiedToken>,
}

/// One extracted token.
#[derive(Debug, Clone)]
struct Found {
    provider: usize,
    location: TokenLocation,
    value: String,
}

struct Checker<'a> {
    authn: &'a JwtAuthn,
    keys: &'a dyn Fn(usize) -> Option<Arc<Jwks>>,
    now: u64,
    found: Vec<Found>,
    /// (provider, token value) → outcome, so a token is verified once per provider.
    done: Vec<(usize, String, Result<(), JwtError>)>,
    verified: Vec<VerifiedToken>,
}

/// Checks a request; `keys(provider)` gives the provider's current keys (`None`: none yet),
/// `now` is seconds since the epoch.
pub fn check(
    authn: &JwtAuthn,
    req: &Requirement,
    headers: &HeaderMap,
    path: &str,
    keys: &dyn Fn(usize) -> Option<Arc<Jwks>>,
    now: u64,
) -> Verdict {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let found = authn
        .providers
        .iter()
        .enumerate()
        .flat_map(|(i, p)| extract(i, p, headers, query))
        .collect();
    let mut c = Checker {
        authn,
        keys,
        now,
        found,
        done: Vec::new(),
        verified: Vec::new(),
    };
    let result = c.eval(req);
    Verdict {
        result,
        verified: c.verified,
    }
}

fn extract(i: usize, p: &Provider, headers: &HeaderMap, query: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for loc in &p.locations {
        let values: Vec<String> = match loc {
            TokenLocation::Header { name, prefix } => headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| after_prefix(v, prefix))
                .collect(),
            TokenLocation::Param(name) => query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.to_string())
                .collect(),
            TokenLocation::Cookie(name) => headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .filter(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.trim_matches('"').to_string())
                .collect(),
        };
        out.extend(values.into_iter().map(|value| Found {
            provider: i,
            location: loc.clone(),
            value,
        }));
    }
    out
}

/// The token after the prefix, up to the first character a JWT cannot contain.
fn after_prefix(value: &str, prefix: &str) -> Option<String> {
    let rest = value.strip_prefix(prefix)?;
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='))
        .collect();
    (!token.is_empty()).then_some(token)
}

impl Checker<'_> {
    fn eval(&mut self, req: &Requirement) -> Result<(), JwtError> {
        match req {
            Requirement::Provider(i) => self.provider(*i),
            Requirement::All(list) => list.iter().try_for_each(|r| self.eval(r)),
            Requirement::Any(list) => {
                // Every child runs, so each verified token reaches the outputs.
                let results: Vec<_> = list.iter().map(|r| self.eval(r)).collect();
                if results.iter().any(Result::is_ok) {
                    return Ok(());
                }
                Err(most_specific(results.into_iter().filter_map(Result::err)))
            }
            Requirement::AllowMissing => self.any_token(),
            Requirement::AllowMissingOrFailed => {
                let _ = self.any_token();
                Ok(())
            }
        }
    }

    /// Every token found at this provider's locations must verify with it.
    fn provider(&mut self, i: usize) -> Result<(), JwtError> {
        let tokens: Vec<Found> = self
            .found
            .iter()
            .filter(|f| f.provider == i)
            .cloned()
            .collect();
        if tokens.is_empty() {
            return Err(JwtError::Missing);
        }
        tokens.into_iter().try_for_each(|f| self.verify(f))
    }

    /// `allow_missing`: no token passes; each token present must verify with the provider of
    /// its issuer among those whose locations it was found at.
    fn any_token(&mut self) -> Result<(), JwtError> {
        let mut values: Vec<String> = Vec::new();
        for f in &self.found {
            if !values.contains(&f.value) {
                values.push(f.value.clone());
            }
        }
        // Every token is verified (so each good one reaches the outputs); the first failure
        // is the answer.
        let mut first_err = None;
        for value in values {
            if let Err(e) = self.verify_by_issuer(&value) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Verifies a token with the provider of its issuer among those it was found for.
    fn verify_by_issuer(&mut self, value: &str) -> Result<(), JwtError> {
        let at: Vec<Found> = self
            .found
            .iter()
            .filter(|f| f.value == value)
            .cloned()
            .collect();
        let iss = Jwt::decode(value)?.claim_str("iss").map(str::to_string);
        let own = at.into_iter().find(|f| {
            let issuer = &self.authn.providers[f.provider].issuer;
            issuer.is_empty() || Some(issuer) == iss.as_ref()
        });
        self.verify(own.ok_or(JwtError::UnknownIssuer)?)
    }

    fn verify(&mut self, f: Found) -> Result<(), JwtError> {
        if let Some((_, _, r)) = self
            .done
            .iter()
            .find(|(p, v, _)| *p == f.provider && *v == f.value)
        {
            return *r;
        }
        let p = &self.authn.providers[f.provider];
        let outcome = verify_token(p, &f.value, (self.keys)(f.provider), self.now);
        let result = outcome.as_ref().map(|_| ()).map_err(|e| *e);
        self.done.push((f.provider, f.value.clone(), result));
        if let Ok(jwt) = outcome {
            self.verified.push(VerifiedToken {
                provider: f.provider,
                location: f.location,
                jwt,
            });
        }
        result
    }
}

/// Envoy's order: format, issuer, time, audiences, then keys and signature.
fn verify_token(
    p: &Provider,
    token: &str,
    keys: Option<Arc<Jwks>>,
    now: u64,
) -> Result<Jwt, JwtError> {
    let jwt = Jwt::decode(token)?;
    if !p.issuer.is_empty() && jwt.claim_str("iss") != Some(p.issuer.as_str()) {
        return Err(JwtError::UnknownIssuer);
    }
    jwt.check_time(now, p.clock_skew_secs)?;
    if !p.audiences.is_empty()
        && !jwt
            .audiences()
            .iter()
            .any(|a| p.audiences.iter().any(|w| w == a))
    {
        return Err(JwtError::AudienceNotAllowed);
    }
    let keys = keys.ok_or(JwtError::JwksFetchFail)?;
    jwt.verify_signature(&keys)?;
    Ok(jwt)
}

/// The error to report when no alternative passed: a real failure over a missing token or a
/// token meant for another provider.
fn most_specific(errs: impl Iterator<Item = JwtError>) -> JwtError {
    let rank = |e: &JwtError| match e {
        JwtError::Missing => 0,
        JwtError::UnknownIssuer => 1,
        _ => 2,
    };
    errs.fold(JwtError::Missing, |best, e| {
        if rank(&e) > rank(&best) { e } else { best }
    })
}
