//! One Istio `JWTRule` → one Envoy `JwtProvider`: issuer, audiences, token locations, outputs
//! and where the keys come from. `jwks` is inlined; `jwksUri` becomes `remote_jwks` through the
//! cluster of the URI's service (`outbound|PORT||HOST`). When that is impossible (the host is
//! not a known service, an https URI, no key source at all) the provider gets Istio's answer to
//! a failed fetch: a key set no token verifies against, so tokens of that issuer are refused
//! rather than accepted unchecked.

use std::time::Duration;

use weft_config::model::security::{JwtRule, RequestAuthentication};
use weft_xds::pb::envoy::config::core::v3::{DataSource, HttpUri, data_source, http_uri};
use weft_xds::pb::envoy::extensions::filters::http::jwt_authn::v3::{
    JwtClaimToHeader, JwtHeader, JwtProvider, RemoteJwks, jwt_provider::JwksSourceSpecifier,
};

use crate::context::{Config, Context};
use crate::names::outbound_cluster;
use crate::pbutil::{duration, duration_of};

/// Istio's JWKS fetch timeout default.
const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the proxy keeps fetched keys (Istio's value).
const JWKS_CACHE_DURATION: Duration = Duration::from_secs(300);

/// A single RSA key whose private half was discarded: no token verifies against it.
pub(crate) const UNVERIFIABLE_JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"weft-unverifiable","alg":"RS256","e":"AQAB","n":"s0dXFQbKlmdXy3lHP6b85-G512KRLT7pCmEttvtLMSM87-ixpSSxy1EzD61LGEHP8d1pu0V0v-8VvBbc9YzRsycuA_mMTCJmkL1m7rv6-snq_qP_pc5FHnDmV_WuwOWOZcpzVw3lJsmF8K3Boq6wIeg_35E8ixEQ-FFKjgcfPT42Vc9NafIHQNdpJP0u2aINKQ7Om3b4mWSpKQgDpYjIn1q_XgyJJiDkJabc_EE4AqY8imwiDvMNW4dTuyC_pmp99OwA8DvKGKiZGqW00GNWDcvSEiqARMDLY4zOlQ9AaL3IQp-jFC9PKCkhiMBqsYdGLeROz8Cxc3MsSRmO_xzg3Q"}]}"#;

pub(crate) fn jwt_provider(
    ctx: &Context,
    policy: &Config<RequestAuthentication>,
    rule: &JwtRule,
) -> JwtProvider {
    JwtProvider {
        issuer: rule.issuer.clone(),
        audiences: rule.audiences.clone(),
        forward: rule.forward_original_token.unwrap_or(false),
        from_headers: rule
            .from_headers
            .iter()
            .map(|h| JwtHeader {
                name: h.name.clone(),
                value_prefix: h.prefix.clone().unwrap_or_default(),
            })
            .collect(),
        from_params: rule.from_params.clone(),
        from_cookies: rule.from_cookies.clone(),
        forward_payload_header: rule.output_payload_to_header.clone().unwrap_or_default(),
        // Istio keys the verified payload by issuer.
        payload_in_metadata: rule.issuer.clone(),
        claim_to_headers: rule
            .output_claim_to_headers
            .iter()
            .map(|c| JwtClaimToHeader {
                header_name: c.header.clone(),
                claim_name: c.claim.clone(),
                ..Default::default()
            })
            .collect(),
        jwks_source_specifier: Some(jwks_source(ctx, policy, rule)),
        ..Default::default()
    }
}

fn inline(text: &str) -> JwksSourceSpecifier {
    JwksSourceSpecifier::LocalJwks(DataSource {
        specifier: Some(data_source::Specifier::InlineString(text.to_string())),
        ..Default::default()
    })
}

fn jwks_source(
    ctx: &Context,
    policy: &Config<RequestAuthentication>,
    rule: &JwtRule,
) -> JwksSourceSpecifier {
    if let Some(jwks) = &rule.jwks {
        return inline(jwks);
    }
    let why = match &rule.jwks_uri {
        None => "neither jwks nor jwksUri is set (OpenID discovery is not supported)".to_string(),
        Some(uri) => match remote(ctx, &policy.namespace, uri) {
            Ok((uri, cluster)) => {
                let timeout = rule
                    .timeout
                    .as_ref()
                    .map_or(duration(DEFAULT_JWKS_TIMEOUT), duration_of);
                return JwksSourceSpecifier::RemoteJwks(RemoteJwks {
                    http_uri: Some(HttpUri {
                        uri,
                        timeout: Some(timeout),
                        http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(cluster)),
                    }),
                    cache_duration: Some(duration(JWKS_CACHE_DURATION)),
                    ..Default::default()
                });
            }
            Err(why) => why,
        },
    };
    tracing::warn!(
        "RequestAuthentication {}/{}: issuer {}: {why}; tokens of this issuer will be rejected",
        policy.namespace,
        policy.name,
        rule.issuer
    );
    inline(UNVERIFIABLE_JWKS)
}

/// The URI and the cluster of its service, or why there is none.
fn remote(ctx: &Context, namespace: &str, uri: &str) -> Result<(String, String), String> {
    let rest = match uri.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => {
            return Err(format!(
                "jwksUri {uri}: https is not supported by weft's proxy yet"
            ));
        }
        _ => return Err(format!("jwksUri {uri}: not an http URL")),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u32>()
                .map_err(|_| format!("jwksUri {uri}: bad port"))?,
        ),
        None => (authority, 80),
    };
    let service = ctx
        .registry
        .lookup(host, namespace)
        .ok_or_else(|| format!("jwksUri {uri}: host {host} is not a known service"))?;
    if service.port(port).is_none() {
        return Err(format!("jwksUri {uri}: service {host} has no port {port}"));
    }
    Ok((
        uri.to_string(),
        outbound_cluster(port, "", &service.hostname),
    ))
}
