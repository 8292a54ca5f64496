//! AuthorizationPolicy → `envoy.filters.http.rbac` and `envoy.filters.network.rbac`, as Istio
//! generates them: one RBAC filter per action present, in the order AUDIT (`LOG`), DENY,
//! ALLOW, each holding the rules of every policy of that action that applies to the proxy,
//! named `ns[NS]-policy[NAME]-rule[IDX]`. No ALLOW policy means no ALLOW filter (allow all);
//! ALLOW policies without a rule that can match leave an ALLOW filter with no policies (deny
//! all).
//!
//! CUSTOM (ext_authz) is not translated: such policies are left out with a warning. Policies
//! attached with `targetRef(s)` apply only to a Kubernetes `Gateway` (`gateway.networking.k8s.io`)
//! of their namespace, whose proxies carry the `gateway.networking.k8s.io/gateway-name` label.

mod rules;
mod values;

use std::collections::HashMap;

use weft_config::model::security::{Action, AuthorizationPolicy, PolicyTargetReference};
use weft_xds::pb::envoy::config::listener::v3::{Filter, filter};
use weft_xds::pb::envoy::config::rbac::v3 as rbac;
use weft_xds::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use weft_xds::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;

use crate::context::{Config, Context};
use crate::listener::http_filter;
use crate::view::ProxyView;
use prost::{Message, Name};
use rules::Traffic;
use weft_xds::pb::google::protobuf::Any;

pub const HTTP_FILTER: &str = "envoy.filters.http.rbac";
pub const NETWORK_FILTER: &str = "envoy.filters.network.rbac";
/// Istio's network RBAC stat prefix: stats are `tcp.rbac.allowed` ...
const NETWORK_STAT_PREFIX: &str = "tcp.";
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

/// RBAC filters for an HTTP connection manager (inbound port or gateway listener).
pub(crate) fn http_filters(ctx: &Context, view: &ProxyView, _port: Option<u32>) -> Vec<HttpFilter> {
    rule_sets(ctx, view, Traffic::Http)
        .into_iter()
        .map(|rules| http_filter(HTTP_FILTER, canonical(&HttpRbac::default(), &rules)))
        .collect()
}

/// Network RBAC filters before tcp_proxy on an inbound TCP port.
pub(crate) fn network_filters(ctx: &Context, view: &ProxyView, _port: u32) -> Vec<Filter> {
    rule_sets(ctx, view, Traffic::Tcp)
        .into_iter()
        .map(|rules| {
            let cfg = NetworkRbac {
                stat_prefix: NETWORK_STAT_PREFIX.into(),
                ..Default::default()
            };
            Filter {
                name: NETWORK_FILTER.into(),
                config_type: Some(filter::ConfigType::TypedConfig(canonical(&cfg, &rules))),
            }
        })
        .collect()
}

/// `outer` (an HTTP or network RBAC config without rules) with `rules` as its field 1, encoded
/// with the policies in name order: prost writes map fields in hash-map order, which would
/// make equal configs differ byte for byte (and the control plane push them again).
fn canonical<T: Message + Name>(outer: &T, rules: &rbac::Rbac) -> Any {
    let head = rbac::Rbac {
        policies: HashMap::new(),
        ..rules.clone()
    };
    let mut inner = head.encode_to_vec();
    let mut names: Vec<&String> = rules.policies.keys().collect();
    names.sort();
    for name in names {
        // A message holding one map entry encodes exactly that entry; concatenated messages
        // merge, so the entries add up to the whole map.
        let one = rbac::Rbac {
            policies: HashMap::from([(name.clone(), rules.policies[name].clone())]),
            ..Default::default()
        };
        inner.extend(one.encode_to_vec());
    }
    let mut value = outer.encode_to_vec();
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut value);
    prost::encoding::encode_varint(inner.len() as u64, &mut value);
    value.extend_from_slice(&inner);
    Any {
        type_url: T::type_url(),
        value,
    }
}

/// One rule set per action present, in Istio's order.
fn rule_sets(ctx: &Context, view: &ProxyView, traffic: Traffic) -> Vec<rbac::Rbac> {
    let applicable: Vec<&Config<AuthorizationPolicy>> = ctx
        .authorization_policies
        .iter()
        .filter(|p| applies(ctx, view, p))
        .collect();
    for p in applicable
        .iter()
        .filter(|p| p.spec.action() == Action::Custom)
    {
        tracing::warn!(
            policy = %format!("{}/{}", p.namespace, p.name),
            "AuthorizationPolicy action CUSTOM (ext_authz) is not supported; policy left out"
        );
    }
    let order = [
        (Action::Audit, rbac::rbac::Action::Log),
        (Action::Deny, rbac::rbac::Action::Deny),
        (Action::Allow, rbac::rbac::Action::Allow),
    ];
    let mut out = Vec::new();
    for (action, envoy_action) in order {
        let of_action: Vec<_> = applicable
            .iter()
            .filter(|p| p.spec.action() == action)
            .collect();
        if of_action.is_empty() {
            continue;
        }
        let mut policies = HashMap::new();
        for p in of_action {
            add_policies(&mut policies, p, action, traffic);
        }
        if policies.is_empty() && action != Action::Allow {
            continue;
        }
        out.push(rbac::Rbac {
            action: envoy_action as i32,
            policies,
            ..Default::default()
        });
    }
    out
}

fn add_policies(
    out: &mut HashMap<String, rbac::Policy>,
    p: &Config<AuthorizationPolicy>,
    action: Action,
    traffic: Traffic,
) {
    let allow = action == Action::Allow;
    for (i, rule) in p.spec.rules.iter().enumerate() {
        let name = format!("ns[{}]-policy[{}]-rule[{i}]", p.namespace, p.name);
        match rules::policy(rule, allow, traffic) {
            Ok(Some(policy)) => {
                out.insert(name, policy);
            }
            Ok(None) => {}
            Err(e) if allow => {
                tracing::warn!(policy = %name, "AuthorizationPolicy rule left out: spec.rules[{i}].{e}");
            }
            Err(e) => {
                // A DENY (or AUDIT) rule that cannot be translated fails closed.
                tracing::warn!(policy = %name, "AuthorizationPolicy rule matches everything: spec.rules[{i}].{e}");
                out.insert(name, rules::match_all());
            }
        }
    }
}

fn applies(ctx: &Context, view: &ProxyView, p: &Config<AuthorizationPolicy>) -> bool {
    let spec = &p.spec;
    let refs: Vec<&PolicyTargetReference> =
        spec.target_ref.iter().chain(&spec.target_refs).collect();
    if !refs.is_empty() {
        return refs.iter().any(|r| targets_gateway(r, p, view));
    }
    let in_root = p.namespace == ctx.root_namespace();
    if !in_root && p.namespace != view.namespace {
        return false;
    }
    spec.selector.as_ref().is_none_or(|s| {
        s.match_labels
            .iter()
            .all(|(k, v)| view.labels.get(k) == Some(v))
    })
}

fn targets_gateway(
    r: &PolicyTargetReference,
    p: &Config<AuthorizationPolicy>,
    view: &ProxyView,
) -> bool {
    if r.kind != "Gateway" || r.group != "gateway.networking.k8s.io" {
        tracing::warn!(
            policy = %format!("{}/{}", p.namespace, p.name),
            kind = %r.kind,
            "AuthorizationPolicy targetRef kinds other than a Kubernetes Gateway are not supported"
        );
        return false;
    }
    view.namespace == p.namespace
        && r.namespace.as_deref().is_none_or(|n| n == p.namespace)
        && view.labels.get(GATEWAY_NAME_LABEL) == Some(&r.name)
}

#[cfg(test)]
mod tests;
