//! RequestAuthentication → `envoy.filters.http.jwt_authn`, as Istio emits it.
//!
//! Every RequestAuthentication that applies to the workload contributes its `jwtRules`: those in
//! the root namespace and in the workload's namespace, without a selector or with one matching
//! the workload's labels (oldest first). Each rule becomes one provider `origins-N`; one rule
//! for every path (`prefix: /`) requires any of the providers or `allow_missing`, so an invalid
//! token is refused (401) and a request without one goes on for AuthorizationPolicy to judge.
//! Policies attached by `targetRef(s)` are not applied yet. This module only builds xDS; it
//! reads the registry to name JWKS clusters and does no I/O.

mod provider;

use weft_config::model::security::{JwtRule, RequestAuthentication};
use weft_xds::pb::envoy::config::route::v3::RouteMatch;
use weft_xds::pb::envoy::config::route::v3::route_match::PathSpecifier;
use weft_xds::pb::envoy::extensions::filters::http::jwt_authn::v3::{
    JwtAuthentication, JwtRequirement, JwtRequirementOrList, RequirementRule,
    jwt_requirement::RequiresType, requirement_rule::RequirementType,
};
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter::ConfigType,
};
use weft_xds::pb::google::protobuf::{Any, Empty};
use weft_xds::prost::{Message, Name};

use crate::context::{Config, Context};
use crate::view::ProxyView;

pub(crate) const JWT_AUTHN_FILTER: &str = "envoy.filters.http.jwt_authn";

/// The jwt_authn filter for the proxy's inbound or gateway HTTP listeners, or nothing when no
/// RequestAuthentication applies. RequestAuthentication has no port-level settings.
pub(crate) fn http_filters(ctx: &Context, view: &ProxyView, _port: Option<u32>) -> Vec<HttpFilter> {
    let rules = applicable_rules(ctx, view);
    if rules.is_empty() {
        return Vec::new();
    }
    let authn = jwt_authentication(ctx, &rules);
    vec![HttpFilter {
        name: JWT_AUTHN_FILTER.into(),
        config_type: Some(ConfigType::TypedConfig(pack_sorted(authn))),
        ..Default::default()
    }]
}

/// Packs the filter config with its `providers` map entries in name order. prost writes maps
/// in hash-map order, which would make equal configs differ byte for byte (and look like a
/// listener change on every push). A protobuf message may be sent as concatenated parts, each
/// holding some map entries; the receiver merges them.
fn pack_sorted(mut authn: JwtAuthentication) -> Any {
    let mut providers: Vec<_> = authn.providers.drain().collect();
    providers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut value = authn.encode_to_vec();
    for (name, provider) in providers {
        let one = JwtAuthentication {
            providers: [(name, provider)].into(),
            ..Default::default()
        };
        value.extend(one.encode_to_vec());
    }
    Any {
        type_url: JwtAuthentication::type_url(),
        value,
    }
}

/// The jwt rules of every policy that applies, with the policy they come from.
fn applicable_rules<'a>(
    ctx: &'a Context,
    view: &ProxyView,
) -> Vec<(&'a Config<RequestAuthentication>, &'a JwtRule)> {
    ctx.request_authentications
        .iter()
        .filter(|p| applies(ctx, p, view))
        .flat_map(|p| p.spec.jwt_rules.iter().map(move |r| (p, r)))
        .collect()
}

fn applies(ctx: &Context, p: &Config<RequestAuthentication>, view: &ProxyView) -> bool {
    if p.spec.target_ref.is_some() || !p.spec.target_refs.is_empty() {
        return false;
    }
    if p.namespace != view.namespace && p.namespace != ctx.root_namespace() {
        return false;
    }
    p.spec.selector.as_ref().is_none_or(|s| {
        s.match_labels
            .iter()
            .all(|(k, v)| view.labels.get(k) == Some(v))
    })
}

fn jwt_authentication(
    ctx: &Context,
    rules: &[(&Config<RequestAuthentication>, &JwtRule)],
) -> JwtAuthentication {
    let mut out = JwtAuthentication {
        bypass_cors_preflight: true,
        ..Default::default()
    };
    let mut requirements = Vec::new();
    for (i, (policy, rule)) in rules.iter().enumerate() {
        let name = format!("origins-{i}");
        out.providers
            .insert(name.clone(), provider::jwt_provider(ctx, policy, rule));
        requirements.push(JwtRequirement {
            requires_type: Some(RequiresType::ProviderName(name)),
        });
    }
    requirements.push(JwtRequirement {
        requires_type: Some(RequiresType::AllowMissing(Empty {})),
    });
    out.rules.push(RequirementRule {
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        requirement_type: Some(RequirementType::Requires(JwtRequirement {
            requires_type: Some(RequiresType::RequiresAny(JwtRequirementOrList {
                requirements,
            })),
        })),
    });
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use weft_xds::pb::envoy::extensions::filters::http::jwt_authn::v3::JwtProvider;

    use super::*;

    fn config() -> JwtAuthentication {
        let mut out = JwtAuthentication::default();
        for i in 0..8 {
            let p = JwtProvider {
                issuer: format!("https://issuer-{i}"),
                ..Default::default()
            };
            out.providers.insert(format!("origins-{i}"), p);
        }
        out
    }

    #[test]
    fn packing_is_byte_for_byte_stable_and_keeps_every_provider() {
        let a = pack_sorted(config());
        for _ in 0..4 {
            assert_eq!(pack_sorted(config()).value, a.value);
        }
        let back: JwtAuthentication = weft_xds::unpack(&a).unwrap();
        assert_eq!(back, config());
    }
}
