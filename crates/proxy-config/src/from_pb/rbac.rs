//! RBAC protobufs (HTTP filter, per-route override, network filter, `envoy.config.rbac.v3`)
//! into the model. Matcher trees (`matcher`), CEL conditions and audit loggers are rejected.

use weft_xds::pb::envoy::config::rbac::v3 as pb;
use weft_xds::pb::envoy::extensions::filters::http::rbac::v3 as http_pb;
use weft_xds::pb::envoy::extensions::filters::network::rbac::v3 as net_pb;
use weft_xds::pb::envoy::r#type::matcher::v3 as mt;

use super::route::{header_matcher, string_matcher};
use super::{cidr, enum_named, rest};
use crate::error::{At, Result};
use crate::model::rbac as m;

pub(crate) fn http_rbac(at: &At<'_>, r: &http_pb::Rbac) -> Result<m::HttpRbac> {
    let mut left = r.clone();
    left.rules = None;
    left.rules_stat_prefix.clear();
    left.shadow_rules = None;
    left.shadow_rules_stat_prefix.clear();
    if left.matcher.is_some() || left.shadow_matcher.is_some() {
        return Err(at
            .field("matcher")
            .err("matcher trees are not supported; use rules"));
    }
    rest(at, &left)?;
    Ok(m::HttpRbac {
        rules: opt_rules(&at.field("rules"), r.rules.as_ref())?,
        rules_stat_prefix: r.rules_stat_prefix.clone(),
        shadow_rules: opt_rules(&at.field("shadow_rules"), r.shadow_rules.as_ref())?,
        shadow_rules_stat_prefix: r.shadow_rules_stat_prefix.clone(),
    })
}

pub(crate) fn rbac_per_route(at: &At<'_>, r: &http_pb::RbacPerRoute) -> Result<m::RbacPerRoute> {
    Ok(m::RbacPerRoute {
        rbac: r
            .rbac
            .as_ref()
            .map(|r| http_rbac(&at.field("rbac"), r))
            .transpose()?,
    })
}

pub(crate) fn network_rbac(at: &At<'_>, r: &net_pb::Rbac) -> Result<m::NetworkRbac> {
    let mut left = r.clone();
    left.rules = None;
    left.shadow_rules = None;
    left.shadow_rules_stat_prefix.clear();
    left.stat_prefix.clear();
    if left.matcher.is_some() || left.shadow_matcher.is_some() {
        return Err(at
            .field("matcher")
            .err("matcher trees are not supported; use rules"));
    }
    if left.enforcement_type != 0 {
        return Err(at
            .field("enforcement_type")
            .err("only ONE_TIME_ON_FIRST_BYTE is supported"));
    }
    rest(at, &left)?;
    Ok(m::NetworkRbac {
        stat_prefix: r.stat_prefix.clone(),
        rules: opt_rules(&at.field("rules"), r.rules.as_ref())?,
        shadow_rules: opt_rules(&at.field("shadow_rules"), r.shadow_rules.as_ref())?,
        shadow_rules_stat_prefix: r.shadow_rules_stat_prefix.clone(),
    })
}

fn opt_rules(at: &At<'_>, r: Option<&pb::Rbac>) -> Result<Option<m::Rules>> {
    r.map(|r| rules(at, r)).transpose()
}

fn rules(at: &At<'_>, r: &pb::Rbac) -> Result<m::Rules> {
    if r.audit_logging_options.is_some() {
        return Err(at.field("audit_logging_options").err("is not supported"));
    }
    let action = pb::rbac::Action::try_from(r.action)
        .ok()
        .map(|a| a.as_str_name());
    let mut policies = std::collections::BTreeMap::new();
    for (name, p) in &r.policies {
        let pat = at.field("policies").field(name);
        policies.insert(name.clone(), policy(&pat, p)?);
    }
    Ok(m::Rules {
        action: enum_named(&at.field("action"), action)?,
        policies,
    })
}

fn policy(at: &At<'_>, p: &pb::Policy) -> Result<m::Policy> {
    if p.condition.is_some() || p.checked_condition.is_some() || p.cel_config.is_some() {
        return Err(at
            .field("condition")
            .err("CEL conditions are not supported"));
    }
    Ok(m::Policy {
        permissions: each(&at.field("permissions"), &p.permissions, permission)?,
        principals: each(&at.field("principals"), &p.principals, principal)?,
    })
}

fn each<P, M>(at: &At<'_>, items: &[P], f: fn(&At<'_>, &P) -> Result<M>) -> Result<Vec<M>> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| f(&at.index(i), p))
        .collect()
}

fn permission(at: &At<'_>, p: &pb::Permission) -> Result<m::Permission> {
    use pb::permission::Rule as R;
    let mut out = m::Permission::default();
    match &p.rule {
        Some(R::Any(b)) => out.any = Some(*b),
        Some(R::AndRules(s)) => {
            let rules = each(&at.field("and_rules").field("rules"), &s.rules, permission)?;
            out.and_rules = Some(m::PermissionSet { rules });
        }
        Some(R::OrRules(s)) => {
            let rules = each(&at.field("or_rules").field("rules"), &s.rules, permission)?;
            out.or_rules = Some(m::PermissionSet { rules });
        }
        Some(R::NotRule(inner)) => {
            out.not_rule = Some(Box::new(permission(&at.field("not_rule"), inner)?));
        }
        Some(R::Header(h)) => out.header = Some(header_matcher(&at.field("header"), h)?),
        Some(R::UrlPath(u)) => out.url_path = Some(path_matcher(&at.field("url_path"), u)?),
        Some(R::DestinationIp(c)) => out.destination_ip = Some(cidr(c)),
        Some(R::DestinationPort(port)) => out.destination_port = Some(*port),
        Some(R::DestinationPortRange(r)) => {
            out.destination_port_range = Some(m::Int32Range {
                start: r.start,
                end: r.end,
            });
        }
        Some(R::Metadata(md)) => out.metadata = Some(metadata(&at.field("metadata"), md)?),
        Some(R::RequestedServerName(s)) => {
            out.requested_server_name =
                Some(string_matcher(&at.field("requested_server_name"), s)?);
        }
        Some(R::Matcher(_) | R::UriTemplate(_) | R::SourcedMetadata(_)) => {
            return Err(at.err(
                "extension matchers (matcher, uri_template, sourced_metadata) are not supported",
            ));
        }
        None => return Err(at.err("a rule is required")),
    }
    Ok(out)
}

fn principal(at: &At<'_>, p: &pb::Principal) -> Result<m::Principal> {
    use pb::principal::Identifier as I;
    let mut out = m::Principal::default();
    match &p.identifier {
        Some(I::Any(b)) => out.any = Some(*b),
        Some(I::AndIds(s)) => {
            let ids = each(&at.field("and_ids").field("ids"), &s.ids, principal)?;
            out.and_ids = Some(m::PrincipalSet { ids });
        }
        Some(I::OrIds(s)) => {
            let ids = each(&at.field("or_ids").field("ids"), &s.ids, principal)?;
            out.or_ids = Some(m::PrincipalSet { ids });
        }
        Some(I::NotId(inner)) => {
            out.not_id = Some(Box::new(principal(&at.field("not_id"), inner)?));
        }
        Some(I::Authenticated(a)) => {
            let principal_name = a
                .principal_name
                .as_ref()
                .map(|s| string_matcher(&at.field("authenticated.principal_name"), s))
                .transpose()?;
            out.authenticated = Some(m::Authenticated { principal_name });
        }
        Some(I::SourceIp(c)) => out.source_ip = Some(cidr(c)),
        Some(I::DirectRemoteIp(c)) => out.direct_remote_ip = Some(cidr(c)),
        Some(I::RemoteIp(c)) => out.remote_ip = Some(cidr(c)),
        Some(I::Header(h)) => out.header = Some(header_matcher(&at.field("header"), h)?),
        Some(I::UrlPath(u)) => out.url_path = Some(path_matcher(&at.field("url_path"), u)?),
        Some(I::Metadata(md)) => out.metadata = Some(metadata(&at.field("metadata"), md)?),
        Some(I::FilterState(_) | I::SourcedMetadata(_) | I::Custom(_)) => {
            return Err(at.err("filter_state, sourced_metadata and custom are not supported"));
        }
        None => return Err(at.err("an identifier is required")),
    }
    Ok(out)
}

fn path_matcher(at: &At<'_>, p: &mt::PathMatcher) -> Result<m::PathMatcher> {
    let Some(mt::path_matcher::Rule::Path(s)) = &p.rule else {
        return Err(at.field("path").err("is required"));
    };
    Ok(m::PathMatcher {
        path: Some(string_matcher(&at.field("path"), s)?),
    })
}

fn metadata(at: &At<'_>, md: &mt::MetadataMatcher) -> Result<m::MetadataMatcher> {
    use mt::metadata_matcher::path_segment::Segment;
    let path = md
        .path
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.segment {
            Some(Segment::Key(k)) => Ok(m::PathSegment { key: k.clone() }),
            None => Err(at.field("path").index(i).field("key").err("is required")),
        })
        .collect::<Result<_>>()?;
    let value = md
        .value
        .as_ref()
        .map(|v| value_matcher(&at.field("value"), v))
        .transpose()?;
    Ok(m::MetadataMatcher {
        filter: md.filter.clone(),
        path,
        value,
        invert: md.invert,
    })
}

fn value_matcher(at: &At<'_>, v: &mt::ValueMatcher) -> Result<m::ValueMatcher> {
    use mt::value_matcher::MatchPattern as P;
    let mut out = m::ValueMatcher::default();
    match &v.match_pattern {
        Some(P::NullMatch(_)) => out.null_match = Some(serde_json::json!({})),
        Some(P::DoubleMatch(d)) => {
            use mt::double_matcher::MatchPattern as D;
            out.double_match = Some(match &d.match_pattern {
                Some(D::Range(r)) => m::DoubleMatcher {
                    range: Some(m::DoubleRange {
                        start: r.start,
                        end: r.end,
                    }),
                    exact: None,
                },
                Some(D::Exact(x)) => m::DoubleMatcher {
                    range: None,
                    exact: Some(*x),
                },
                None => return Err(at.field("double_match").err("a match pattern is required")),
            });
        }
        Some(P::StringMatch(s)) => {
            out.string_match = Some(string_matcher(&at.field("string_match"), s)?);
        }
        Some(P::BoolMatch(b)) => out.bool_match = Some(*b),
        Some(P::PresentMatch(b)) => out.present_match = Some(*b),
        Some(P::ListMatch(l)) => {
            use mt::list_matcher::MatchPattern as L;
            let Some(L::OneOf(inner)) = &l.match_pattern else {
                return Err(at.field("list_match.one_of").err("is required"));
            };
            let inner = value_matcher(&at.field("list_match").field("one_of"), inner)?;
            out.list_match = Some(m::ListMatcher {
                one_of: Some(Box::new(inner)),
            });
        }
        Some(P::OrMatch(_)) => return Err(at.field("or_match").err("is not supported")),
        None => return Err(at.err("a match pattern is required")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use weft_xds::pack;
    use weft_xds::pb::envoy::config::core::v3 as core;
    use weft_xds::pb::envoy::config::listener::v3 as li;
    use weft_xds::pb::envoy::extensions::filters::network::tcp_proxy::v3 as tcp;

    use super::*;
    use crate::runtime::listener::build_listener;

    fn rules(condition: bool) -> pb::Rbac {
        let policy = pb::Policy {
            permissions: vec![pb::Permission {
                rule: Some(pb::permission::Rule::DestinationPort(5432)),
            }],
            principals: vec![pb::Principal {
                identifier: Some(pb::principal::Identifier::DirectRemoteIp(core::CidrRange {
                    address_prefix: "10.0.0.0".into(),
                    prefix_len: Some(weft_xds::pb::google::protobuf::UInt32Value { value: 8 }),
                })),
            }],
            condition: condition.then(Default::default),
            ..Default::default()
        };
        pb::Rbac {
            action: pb::rbac::Action::Deny as i32,
            policies: HashMap::from([("p".to_string(), policy)]),
            ..Default::default()
        }
    }

    fn tcp_listener(rbac: net_pb::Rbac) -> li::Listener {
        let filter = |name: &str, any| li::Filter {
            name: name.into(),
            config_type: Some(li::filter::ConfigType::TypedConfig(any)),
        };
        let proxy = tcp::TcpProxy {
            stat_prefix: "db".into(),
            cluster_specifier: Some(tcp::tcp_proxy::ClusterSpecifier::Cluster("db".into())),
            ..Default::default()
        };
        li::Listener {
            name: "l1".into(),
            address: Some(core::Address {
                address: Some(core::address::Address::SocketAddress(core::SocketAddress {
                    address: "127.0.0.1".into(),
                    port_specifier: Some(core::socket_address::PortSpecifier::PortValue(5432)),
                    ..Default::default()
                })),
            }),
            filter_chains: vec![li::FilterChain {
                filters: vec![
                    filter("envoy.filters.network.rbac", pack(&rbac)),
                    filter("envoy.filters.network.tcp_proxy", pack(&proxy)),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn network_rbac_before_tcp_proxy_converts_and_compiles() {
        let rbac = net_pb::Rbac {
            stat_prefix: "tcp.".into(),
            rules: Some(rules(false)),
            ..Default::default()
        };
        let model = super::super::listener(&tcp_listener(rbac)).unwrap();
        let built = build_listener(&model).unwrap();
        let chain = &built.chains[0];
        assert_eq!(chain.rbac.len(), 1);
        assert_eq!(chain.rbac[0].stat_prefix, "tcp.");
        let engine = chain.rbac[0].rules.as_ref().unwrap();
        assert_eq!(engine.action, m::Action::Deny);
        assert_eq!(engine.policies[0].0, "p");
    }

    #[test]
    fn cel_conditions_and_continuous_enforcement_are_rejected() {
        let rbac = net_pb::Rbac {
            stat_prefix: "tcp.".into(),
            rules: Some(rules(true)),
            ..Default::default()
        };
        let err = super::super::listener(&tcp_listener(rbac))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Listener l1: filter_chains[0].filters[0].typed_config.rules.policies.p.condition: CEL conditions are not supported"
        );
        let continuous = net_pb::Rbac {
            stat_prefix: "tcp.".into(),
            enforcement_type: 1,
            ..Default::default()
        };
        let err = super::super::listener(&tcp_listener(continuous))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("enforcement_type: only ONE_TIME_ON_FIRST_BYTE is supported"),
            "{err}"
        );
    }

    #[test]
    fn per_route_without_rbac_disables() {
        let at = At::new("RouteConfiguration r");
        let off = rbac_per_route(&at, &http_pb::RbacPerRoute { rbac: None }).unwrap();
        assert_eq!(off.rbac, None);
        let on = http_pb::RbacPerRoute {
            rbac: Some(http_pb::Rbac {
                rules: Some(rules(false)),
                ..Default::default()
            }),
        };
        let on = rbac_per_route(&at, &on).unwrap();
        assert_eq!(on.rbac.unwrap().rules.unwrap().action, m::Action::Deny);
    }
}
