//! `RouteConfiguration` protobufs into the model.
#![allow(deprecated)] // legacy `append` on header options is part of the accepted subset

use weft_xds::pb::envoy::config::route::v3 as pb;
use weft_xds::pb::envoy::r#type::matcher::v3 as mt;

use super::filters::per_filter_configs;
use super::route_policy as policy;
use super::{dur, enum_named, header_options, rest};
use crate::error::{At, Result};
use crate::model::core as mc;
use crate::model::route as m;

/// An RDS resource: `RouteConfiguration NAME: field: reason` on errors.
pub fn route_configuration(rc: &pb::RouteConfiguration) -> Result<m::RouteConfiguration> {
    let resource = format!("RouteConfiguration {}", rc.name);
    route_at(&At::new(&resource), rc)
}

pub(super) fn route_at(at: &At<'_>, rc: &pb::RouteConfiguration) -> Result<m::RouteConfiguration> {
    let mut left = rc.clone();
    left.name.clear();
    left.virtual_hosts.clear();
    left.validate_clusters = None;
    clear_mutations(
        &mut left.request_headers_to_add,
        &mut left.request_headers_to_remove,
        &mut left.response_headers_to_add,
        &mut left.response_headers_to_remove,
    );
    rest(at, &left)?;
    let virtual_hosts = rc
        .virtual_hosts
        .iter()
        .enumerate()
        .map(|(i, v)| virtual_host(&at.field("virtual_hosts").index(i), v))
        .collect::<Result<_>>()?;
    Ok(m::RouteConfiguration {
        name: rc.name.clone(),
        virtual_hosts,
        request_headers_to_add: header_options(
            &at.field("request_headers_to_add"),
            &rc.request_headers_to_add,
        )?,
        request_headers_to_remove: rc.request_headers_to_remove.clone(),
        response_headers_to_add: header_options(
            &at.field("response_headers_to_add"),
            &rc.response_headers_to_add,
        )?,
        response_headers_to_remove: rc.response_headers_to_remove.clone(),
        validate_clusters: rc.validate_clusters.map(|b| b.value),
    })
}

fn clear_mutations<T>(a: &mut Vec<T>, b: &mut Vec<String>, c: &mut Vec<T>, d: &mut Vec<String>) {
    a.clear();
    b.clear();
    c.clear();
    d.clear();
}

fn virtual_host(at: &At<'_>, v: &pb::VirtualHost) -> Result<m::VirtualHost> {
    let mut left = v.clone();
    left.name.clear();
    left.domains.clear();
    left.routes.clear();
    left.require_tls = 0;
    left.retry_policy = None;
    left.include_request_attempt_count = false;
    left.include_attempt_count_in_response = false;
    left.typed_per_filter_config.clear();
    clear_mutations(
        &mut left.request_headers_to_add,
        &mut left.request_headers_to_remove,
        &mut left.response_headers_to_add,
        &mut left.response_headers_to_remove,
    );
    rest(at, &left)?;
    let routes = v
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| route(&at.field("routes").index(i), r))
        .collect::<Result<_>>()?;
    Ok(m::VirtualHost {
        name: v.name.clone(),
        domains: v.domains.clone(),
        routes,
        request_headers_to_add: header_options(
            &at.field("request_headers_to_add"),
            &v.request_headers_to_add,
        )?,
        request_headers_to_remove: v.request_headers_to_remove.clone(),
        response_headers_to_add: header_options(
            &at.field("response_headers_to_add"),
            &v.response_headers_to_add,
        )?,
        response_headers_to_remove: v.response_headers_to_remove.clone(),
        require_tls: match v.require_tls {
            0 => None,
            n => Some(enum_named(
                &at.field("require_tls"),
                pb::virtual_host::TlsRequirementType::try_from(n)
                    .ok()
                    .map(|t| t.as_str_name()),
            )?),
        },
        retry_policy: v
            .retry_policy
            .as_ref()
            .map(|r| policy::retry_policy(&at.field("retry_policy"), r))
            .transpose()?,
        include_request_attempt_count: v.include_request_attempt_count,
        include_attempt_count_in_response: v.include_attempt_count_in_response,
        typed_per_filter_config: per_filter_configs(
            &at.field("typed_per_filter_config"),
            &v.typed_per_filter_config,
        )?,
    })
}

fn route(at: &At<'_>, r: &pb::Route) -> Result<m::Route> {
    use pb::route::Action;
    let mut left = r.clone();
    left.name.clear();
    left.r#match = None;
    left.action = None;
    left.metadata = None;
    left.decorator = None;
    left.typed_per_filter_config.clear();
    clear_mutations(
        &mut left.request_headers_to_add,
        &mut left.request_headers_to_remove,
        &mut left.response_headers_to_add,
        &mut left.response_headers_to_remove,
    );
    rest(at, &left)?;
    let (mut route, mut redirect, mut direct_response) = (None, None, None);
    match &r.action {
        Some(Action::Route(a)) => route = Some(route_action(&at.field("route"), a)?),
        Some(Action::Redirect(a)) => redirect = Some(redirect_action(&at.field("redirect"), a)?),
        Some(Action::DirectResponse(d)) => {
            direct_response = Some(direct(&at.field("direct_response"), d)?);
        }
        Some(_) => return Err(at.err("only route, redirect and direct_response are supported")),
        None => {}
    }
    let match_ = r
        .r#match
        .as_ref()
        .map(|mm| route_match(&at.field("match"), mm))
        .transpose()?
        .unwrap_or_default();
    Ok(m::Route {
        name: r.name.clone(),
        match_,
        route,
        redirect,
        direct_response,
        request_headers_to_add: header_options(
            &at.field("request_headers_to_add"),
            &r.request_headers_to_add,
        )?,
        request_headers_to_remove: r.request_headers_to_remove.clone(),
        response_headers_to_add: header_options(
            &at.field("response_headers_to_add"),
            &r.response_headers_to_add,
        )?,
        response_headers_to_remove: r.response_headers_to_remove.clone(),
        metadata: super::metadata(r.metadata.as_ref()),
        decorator: r
            .decorator
            .as_ref()
            .map(|d| serde_json::json!({"operation": d.operation})),
        typed_per_filter_config: per_filter_configs(
            &at.field("typed_per_filter_config"),
            &r.typed_per_filter_config,
        )?,
    })
}

fn route_match(at: &At<'_>, mm: &pb::RouteMatch) -> Result<m::RouteMatch> {
    use pb::route_match::PathSpecifier as P;
    let mut left = mm.clone();
    left.path_specifier = None;
    left.case_sensitive = None;
    left.headers.clear();
    left.query_parameters.clear();
    left.grpc = None;
    rest(at, &left)?;
    let mut out = m::RouteMatch {
        case_sensitive: mm.case_sensitive.map(|b| b.value),
        grpc: mm.grpc.as_ref().map(|_| serde_json::json!({})),
        ..Default::default()
    };
    match &mm.path_specifier {
        Some(P::Prefix(p)) => out.prefix = Some(p.clone()),
        Some(P::Path(p)) => out.path = Some(p.clone()),
        Some(P::SafeRegex(r)) => out.safe_regex = Some(regex(r)),
        Some(P::PathSeparatedPrefix(p)) => out.path_separated_prefix = Some(p.clone()),
        Some(P::ConnectMatcher(_)) => out.connect_matcher = Some(serde_json::json!({})),
        Some(_) => {
            return Err(at.err(
                "only prefix, path, safe_regex, path_separated_prefix and connect_matcher are supported",
            ));
        }
        None => out.prefix = Some(String::new()),
    }
    for (i, h) in mm.headers.iter().enumerate() {
        out.headers
            .push(header_matcher(&at.field("headers").index(i), h)?);
    }
    for (i, q) in mm.query_parameters.iter().enumerate() {
        out.query_parameters
            .push(query_matcher(&at.field("query_parameters").index(i), q)?);
    }
    Ok(out)
}

pub(super) fn regex(r: &mt::RegexMatcher) -> mc::RegexMatcher {
    mc::RegexMatcher {
        regex: r.regex.clone(),
        google_re2: None,
    }
}

pub(super) fn string_matcher(at: &At<'_>, s: &mt::StringMatcher) -> Result<mc::StringMatcher> {
    use mt::string_matcher::MatchPattern as P;
    let mut out = mc::StringMatcher {
        ignore_case: s.ignore_case,
        ..Default::default()
    };
    match &s.match_pattern {
        Some(P::Exact(v)) => out.exact = Some(v.clone()),
        Some(P::Prefix(v)) => out.prefix = Some(v.clone()),
        Some(P::Suffix(v)) => out.suffix = Some(v.clone()),
        Some(P::Contains(v)) => out.contains = Some(v.clone()),
        Some(P::SafeRegex(r)) => out.safe_regex = Some(regex(r)),
        Some(P::Custom(_)) => return Err(at.field("custom").err("is not supported")),
        None => return Err(at.err("a match pattern is required")),
    }
    Ok(out)
}

pub(super) fn header_matcher(at: &At<'_>, h: &pb::HeaderMatcher) -> Result<mc::HeaderMatcher> {
    use pb::header_matcher::HeaderMatchSpecifier as S;
    let mut out = mc::HeaderMatcher {
        name: h.name.clone(),
        invert_match: h.invert_match,
        treat_missing_header_as_empty: h.treat_missing_header_as_empty,
        ..Default::default()
    };
    match &h.header_match_specifier {
        Some(S::ExactMatch(v)) => out.exact_match = Some(v.clone()),
        Some(S::SafeRegexMatch(r)) => out.safe_regex_match = Some(regex(r)),
        Some(S::RangeMatch(r)) => {
            out.range_match = Some(mc::Int64Range {
                start: r.start,
                end: r.end,
            });
        }
        Some(S::PresentMatch(b)) => out.present_match = Some(*b),
        Some(S::PrefixMatch(v)) => out.prefix_match = Some(v.clone()),
        Some(S::SuffixMatch(v)) => out.suffix_match = Some(v.clone()),
        Some(S::ContainsMatch(v)) => out.contains_match = Some(v.clone()),
        Some(S::StringMatch(s)) => {
            out.string_match = Some(string_matcher(&at.field("string_match"), s)?);
        }
        None => out.present_match = Some(true),
    }
    Ok(out)
}

fn query_matcher(at: &At<'_>, q: &pb::QueryParameterMatcher) -> Result<mc::QueryParameterMatcher> {
    use pb::query_parameter_matcher::QueryParameterMatchSpecifier as S;
    let (string_match, present_match) = match &q.query_parameter_match_specifier {
        Some(S::StringMatch(s)) => (Some(string_matcher(&at.field("string_match"), s)?), None),
        Some(S::PresentMatch(b)) => (None, Some(*b)),
        None => (None, Some(true)),
    };
    Ok(mc::QueryParameterMatcher {
        name: q.name.clone(),
        string_match,
        present_match,
    })
}

fn route_action(at: &At<'_>, a: &pb::RouteAction) -> Result<m::RouteAction> {
    use pb::route_action::{ClusterSpecifier as C, HostRewriteSpecifier as H};
    let mut left = a.clone();
    left.cluster_specifier = None;
    left.prefix_rewrite.clear();
    left.host_rewrite_specifier = None;
    left.timeout = None;
    left.idle_timeout = None;
    left.regex_rewrite = None;
    left.retry_policy = None;
    left.hash_policy.clear();
    left.request_mirror_policies.clear();
    left.max_stream_duration = None;
    left.upgrade_configs.clear();
    rest(at, &left)?;
    let (cluster, weighted_clusters) = match &a.cluster_specifier {
        Some(C::Cluster(c)) => (Some(c.clone()), None),
        Some(C::WeightedClusters(w)) => (None, Some(weighted(&at.field("weighted_clusters"), w)?)),
        Some(_) => return Err(at.err("only cluster and weighted_clusters are supported")),
        None => (None, None),
    };
    let host_rewrite_literal = match &a.host_rewrite_specifier {
        Some(H::HostRewriteLiteral(h)) => Some(h.clone()),
        Some(_) => return Err(at.err("only host_rewrite_literal is supported")),
        None => None,
    };
    Ok(m::RouteAction {
        cluster,
        weighted_clusters,
        prefix_rewrite: (!a.prefix_rewrite.is_empty()).then(|| a.prefix_rewrite.clone()),
        host_rewrite_literal,
        timeout: dur(&at.field("timeout"), a.timeout.as_ref())?,
        idle_timeout: dur(&at.field("idle_timeout"), a.idle_timeout.as_ref())?,
        regex_rewrite: a
            .regex_rewrite
            .as_ref()
            .map(|r| policy::regex_rewrite(&at.field("regex_rewrite"), r))
            .transpose()?,
        retry_policy: a
            .retry_policy
            .as_ref()
            .map(|r| policy::retry_policy(&at.field("retry_policy"), r))
            .transpose()?,
        hash_policy: a
            .hash_policy
            .iter()
            .enumerate()
            .map(|(i, h)| policy::hash_policy(&at.field("hash_policy").index(i), h))
            .collect::<Result<_>>()?,
        request_mirror_policies: a
            .request_mirror_policies
            .iter()
            .enumerate()
            .map(|(i, p)| policy::mirror_policy(&at.field("request_mirror_policies").index(i), p))
            .collect::<Result<_>>()?,
        max_stream_duration: a
            .max_stream_duration
            .as_ref()
            .map(|d| policy::max_stream_duration(&at.field("max_stream_duration"), d))
            .transpose()?,
        upgrade_configs: a
            .upgrade_configs
            .iter()
            .enumerate()
            .map(|(i, u)| route_upgrade(&at.field("upgrade_configs").index(i), u))
            .collect::<Result<_>>()?,
    })
}

fn route_upgrade(
    at: &At<'_>,
    u: &pb::route_action::UpgradeConfig,
) -> Result<m::RouteUpgradeConfig> {
    if let Some(c) = &u.connect_config {
        let cat = at.field("connect_config");
        if c.proxy_protocol_config.is_some() {
            return Err(cat.field("proxy_protocol_config").err("not supported"));
        }
        if c.allow_post {
            return Err(cat.field("allow_post").err("not supported"));
        }
    }
    Ok(m::RouteUpgradeConfig {
        upgrade_type: u.upgrade_type.clone(),
        enabled: u.enabled.map(|b| b.value),
        connect_config: u.connect_config.as_ref().map(|_| serde_json::json!({})),
    })
}

fn weighted(at: &At<'_>, w: &pb::WeightedCluster) -> Result<m::WeightedClusters> {
    let mut left = w.clone();
    left.clusters.clear();
    left.total_weight = None;
    rest(at, &left)?;
    let mut clusters = Vec::new();
    for (i, c) in w.clusters.iter().enumerate() {
        let cat = at.field("clusters").index(i);
        let mut left = c.clone();
        left.name.clear();
        left.weight = None;
        clear_mutations(
            &mut left.request_headers_to_add,
            &mut left.request_headers_to_remove,
            &mut left.response_headers_to_add,
            &mut left.response_headers_to_remove,
        );
        rest(&cat, &left)?;
        clusters.push(m::ClusterWeight {
            name: c.name.clone(),
            weight: c.weight.map(|v| v.value),
            request_headers_to_add: header_options(
                &cat.field("request_headers_to_add"),
                &c.request_headers_to_add,
            )?,
            request_headers_to_remove: c.request_headers_to_remove.clone(),
            response_headers_to_add: header_options(
                &cat.field("response_headers_to_add"),
                &c.response_headers_to_add,
            )?,
            response_headers_to_remove: c.response_headers_to_remove.clone(),
        });
    }
    Ok(m::WeightedClusters {
        clusters,
        total_weight: w.total_weight.map(|v| v.value),
    })
}

fn redirect_action(at: &At<'_>, a: &pb::RedirectAction) -> Result<m::RedirectAction> {
    use pb::redirect_action::{PathRewriteSpecifier as P, SchemeRewriteSpecifier as S};
    let (https_redirect, scheme_redirect) = match &a.scheme_rewrite_specifier {
        Some(S::HttpsRedirect(b)) => (*b, None),
        Some(S::SchemeRedirect(s)) => (false, Some(s.clone())),
        None => (false, None),
    };
    let (path_redirect, prefix_rewrite) = match &a.path_rewrite_specifier {
        Some(P::PathRedirect(p)) => (Some(p.clone()), None),
        Some(P::PrefixRewrite(p)) => (None, Some(p.clone())),
        Some(_) => return Err(at.err("regex_rewrite and path_rewrite are not supported")),
        None => (None, None),
    };
    let code = pb::redirect_action::RedirectResponseCode::try_from(a.response_code)
        .ok()
        .map(|c| c.as_str_name());
    Ok(m::RedirectAction {
        https_redirect,
        scheme_redirect,
        host_redirect: (!a.host_redirect.is_empty()).then(|| a.host_redirect.clone()),
        port_redirect: (a.port_redirect != 0).then_some(a.port_redirect),
        path_redirect,
        prefix_rewrite,
        response_code: enum_named(&at.field("response_code"), code)?,
        strip_query: a.strip_query,
    })
}

fn direct(at: &At<'_>, d: &pb::DirectResponseAction) -> Result<m::DirectResponseAction> {
    use weft_xds::pb::envoy::config::core::v3::data_source::Specifier;
    let body = match d.body.as_ref().and_then(|b| b.specifier.as_ref()) {
        None => None,
        Some(Specifier::InlineString(s)) => Some(mc::DataSource {
            inline_string: Some(s.clone()),
            ..Default::default()
        }),
        Some(_) => return Err(at.field("body").err("only inline_string is supported")),
    };
    Ok(m::DirectResponseAction {
        status: d.status,
        body,
    })
}
