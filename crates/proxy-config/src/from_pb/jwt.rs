//! `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication` protobufs into the model.
//! Fields outside the accepted subset are errors naming their path.

use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::route::v3 as route;
use weft_xds::pb::envoy::extensions::filters::http::jwt_authn::v3 as pb;

use super::{dur, rest};
use crate::error::{At, Result};
use crate::model::core as mc;
use crate::model::jwt as m;

pub(crate) const JWT_AUTHN_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

pub(crate) fn jwt_authentication(
    at: &At<'_>,
    j: &pb::JwtAuthentication,
) -> Result<m::JwtAuthentication> {
    let mut left = j.clone();
    left.providers.clear();
    left.rules.clear();
    left.bypass_cors_preflight = false;
    rest(at, &left)?;
    let mut providers = std::collections::BTreeMap::new();
    for (name, p) in &j.providers {
        let pat = at.field("providers").field(name);
        providers.insert(name.clone(), provider(&pat, p)?);
    }
    let rules = j
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| rule(&at.field("rules").index(i), r))
        .collect::<Result<_>>()?;
    Ok(m::JwtAuthentication {
        providers,
        rules,
        bypass_cors_preflight: j.bypass_cors_preflight,
    })
}

fn provider(at: &At<'_>, p: &pb::JwtProvider) -> Result<m::JwtProvider> {
    use pb::jwt_provider::JwksSourceSpecifier as S;
    let mut left = p.clone();
    left.issuer.clear();
    left.audiences.clear();
    left.forward = false;
    left.from_headers.clear();
    left.from_params.clear();
    left.from_cookies.clear();
    left.forward_payload_header.clear();
    left.pad_forward_payload_header = false;
    left.payload_in_metadata.clear();
    left.clock_skew_seconds = 0;
    left.claim_to_headers.clear();
    left.jwks_source_specifier = None;
    rest(at, &left)?;
    let (local_jwks, remote_jwks) = match &p.jwks_source_specifier {
        Some(S::LocalJwks(ds)) => (Some(local_jwks(&at.field("local_jwks"), ds)?), None),
        Some(S::RemoteJwks(r)) => (None, Some(remote_jwks(&at.field("remote_jwks"), r)?)),
        None => return Err(at.err("one of local_jwks, remote_jwks is required")),
    };
    let claim_to_headers = p
        .claim_to_headers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cat = at.field("claim_to_headers").index(i);
            let mut left = c.clone();
            left.header_name.clear();
            left.claim_name.clear();
            rest(&cat, &left)?;
            Ok(m::JwtClaimToHeader {
                header_name: c.header_name.clone(),
                claim_name: c.claim_name.clone(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(m::JwtProvider {
        issuer: p.issuer.clone(),
        audiences: p.audiences.clone(),
        local_jwks,
        remote_jwks,
        forward: p.forward,
        from_headers: p
            .from_headers
            .iter()
            .map(|h| m::JwtHeader {
                name: h.name.clone(),
                value_prefix: h.value_prefix.clone(),
            })
            .collect(),
        from_params: p.from_params.clone(),
        from_cookies: p.from_cookies.clone(),
        forward_payload_header: p.forward_payload_header.clone(),
        pad_forward_payload_header: p.pad_forward_payload_header,
        payload_in_metadata: p.payload_in_metadata.clone(),
        clock_skew_seconds: p.clock_skew_seconds,
        claim_to_headers,
    })
}

fn local_jwks(at: &At<'_>, ds: &core::DataSource) -> Result<mc::DataSource> {
    use core::data_source::Specifier;
    match &ds.specifier {
        Some(Specifier::InlineString(s)) => Ok(mc::DataSource {
            inline_string: Some(s.clone()),
            ..Default::default()
        }),
        Some(Specifier::Filename(f)) => Ok(mc::DataSource {
            filename: Some(f.clone()),
            ..Default::default()
        }),
        _ => Err(at.err("only inline_string and filename are supported")),
    }
}

fn remote_jwks(at: &At<'_>, r: &pb::RemoteJwks) -> Result<m::RemoteJwks> {
    use core::http_uri::HttpUpstreamType;
    let mut left = r.clone();
    left.http_uri = None;
    left.cache_duration = None;
    rest(at, &left)?;
    let uat = at.field("http_uri");
    let u = r.http_uri.as_ref().ok_or_else(|| uat.err("is required"))?;
    let Some(HttpUpstreamType::Cluster(cluster)) = &u.http_upstream_type else {
        return Err(uat.field("cluster").err("is required"));
    };
    Ok(m::RemoteJwks {
        http_uri: m::HttpUri {
            uri: u.uri.clone(),
            cluster: cluster.clone(),
            timeout: dur(&uat.field("timeout"), u.timeout.as_ref())?,
        },
        cache_duration: dur(&at.field("cache_duration"), r.cache_duration.as_ref())?,
    })
}

fn rule(at: &At<'_>, r: &pb::RequirementRule) -> Result<m::RequirementRule> {
    use pb::requirement_rule::RequirementType as T;
    let requires = match &r.requirement_type {
        Some(T::Requires(req)) => Some(requirement(&at.field("requires"), req)?),
        Some(T::RequirementName(_)) => {
            return Err(at
                .field("requirement_name")
                .err("is not supported (requirement_map is not supported)"));
        }
        None => None,
    };
    Ok(m::RequirementRule {
        match_: rule_match(&at.field("match"), r.r#match.as_ref())?,
        requires,
    })
}

fn rule_match(at: &At<'_>, mm: Option<&route::RouteMatch>) -> Result<m::RuleMatch> {
    use route::route_match::PathSpecifier as P;
    let mm = mm.ok_or_else(|| at.err("is required"))?;
    let mut left = mm.clone();
    left.path_specifier = None;
    rest(at, &left)?;
    match &mm.path_specifier {
        Some(P::Prefix(p)) => Ok(m::RuleMatch {
            prefix: Some(p.clone()),
            path: None,
        }),
        Some(P::Path(p)) => Ok(m::RuleMatch {
            prefix: None,
            path: Some(p.clone()),
        }),
        _ => Err(at.err("only prefix and path are supported")),
    }
}

fn requirement(at: &At<'_>, r: &pb::JwtRequirement) -> Result<m::JwtRequirement> {
    use pb::jwt_requirement::RequiresType as R;
    let list = |at: &At<'_>, reqs: &[pb::JwtRequirement]| -> Result<m::RequirementList> {
        let requirements = reqs
            .iter()
            .enumerate()
            .map(|(i, q)| requirement(&at.field("requirements").index(i), q))
            .collect::<Result<_>>()?;
        Ok(m::RequirementList { requirements })
    };
    let mut out = m::JwtRequirement::default();
    match &r.requires_type {
        Some(R::ProviderName(p)) => out.provider_name = Some(p.clone()),
        Some(R::RequiresAny(l)) => {
            out.requires_any = Some(list(&at.field("requires_any"), &l.requirements)?)
        }
        Some(R::RequiresAll(l)) => {
            out.requires_all = Some(list(&at.field("requires_all"), &l.requirements)?)
        }
        Some(R::AllowMissing(_)) => out.allow_missing = Some(serde_json::json!({})),
        Some(R::AllowMissingOrFailed(_)) => {
            out.allow_missing_or_failed = Some(serde_json::json!({}))
        }
        Some(R::ProviderAndAudiences(_)) => {
            return Err(at.field("provider_and_audiences").err("is not supported"));
        }
        Some(_) => return Err(at.err("this requirement type is not supported")),
        None => return Err(at.err("a requirement type is required")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pb::jwt_requirement::RequiresType as R;
    use weft_xds::pb::google::protobuf::Empty;

    use super::*;

    const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn req(t: R) -> pb::JwtRequirement {
        pb::JwtRequirement {
            requires_type: Some(t),
        }
    }

    /// Istio's shape: one provider, one rule `prefix: /` requiring it or nothing.
    fn istio() -> pb::JwtAuthentication {
        let provider = pb::JwtProvider {
            issuer: "https://issuer.example".into(),
            jwks_source_specifier: Some(pb::jwt_provider::JwksSourceSpecifier::LocalJwks(
                core::DataSource {
                    specifier: Some(core::data_source::Specifier::InlineString(JWKS.into())),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let any = pb::JwtRequirementOrList {
            requirements: vec![
                req(R::ProviderName("origins-0".into())),
                req(R::AllowMissing(Empty {})),
            ],
        };
        pb::JwtAuthentication {
            providers: [("origins-0".to_string(), provider)].into(),
            rules: vec![pb::RequirementRule {
                r#match: Some(route::RouteMatch {
                    path_specifier: Some(route::route_match::PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                requirement_type: Some(pb::requirement_rule::RequirementType::Requires(req(
                    R::RequiresAny(any),
                ))),
            }],
            bypass_cors_preflight: true,
            ..Default::default()
        }
    }

    fn err(j: &pb::JwtAuthentication) -> String {
        let at = At::new("Listener l");
        let e = jwt_authentication(&at.field("typed_config"), j).unwrap_err();
        format!("{e}")
    }

    #[test]
    fn istio_shape_converts_and_compiles() {
        let at = At::new("Listener l");
        let m = jwt_authentication(&at, &istio()).unwrap();
        assert!(m.rules[0].requires.as_ref().unwrap().requires_any.is_some());
        let rt = crate::runtime::jwt::compile_jwt_authn(&at, &m).unwrap();
        assert_eq!(rt.providers[0].name, "origins-0");
        assert!(rt.requirement_for("/anything").is_some());
    }

    #[test]
    fn unsupported_fields_are_named() {
        let mut j = istio();
        j.providers.get_mut("origins-0").unwrap().require_expiration = true;
        let e = err(&j);
        assert!(
            e.starts_with("Listener l: typed_config.providers.origins-0: field number"),
            "{e}"
        );
        assert!(e.contains("JwtProvider is not supported"), "{e}");

        let mut j = istio();
        j.rules[0].r#match.as_mut().unwrap().path_specifier = Some(
            route::route_match::PathSpecifier::SafeRegex(Default::default()),
        );
        assert_eq!(
            err(&j),
            "Listener l: typed_config.rules[0].match: only prefix and path are supported"
        );

        let mut j = istio();
        j.rules[0].requirement_type = Some(pb::requirement_rule::RequirementType::RequirementName(
            "x".into(),
        ));
        assert!(err(&j).contains("typed_config.rules[0].requirement_name: is not supported"));

        let mut j = istio();
        j.providers
            .get_mut("origins-0")
            .unwrap()
            .jwks_source_specifier = None;
        assert!(
            err(&j).ends_with("providers.origins-0: one of local_jwks, remote_jwks is required")
        );
    }
}
