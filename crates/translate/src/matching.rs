//! VirtualService matches → Envoy route matches.

use weft_config::model::networking::{HttpMatchRequest, StringMatch};
use weft_xds::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RouteMatch, header_matcher, query_parameter_matcher,
    route_match,
};
use weft_xds::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};

use crate::pbutil::boolv;

pub fn regex(re: &str) -> RegexMatcher {
    RegexMatcher {
        regex: re.to_string(),
        ..Default::default()
    }
}

pub fn string_matcher(m: &StringMatch) -> StringMatcher {
    use string_matcher::MatchPattern;
    let pattern = if let Some(e) = &m.exact {
        MatchPattern::Exact(e.clone())
    } else if let Some(p) = &m.prefix {
        MatchPattern::Prefix(p.clone())
    } else if let Some(r) = &m.regex {
        MatchPattern::SafeRegex(regex(r))
    } else {
        MatchPattern::Prefix(String::new())
    };
    StringMatcher {
        match_pattern: Some(pattern),
        ignore_case: false,
    }
}

fn header(name: &str, m: &StringMatch, invert: bool) -> HeaderMatcher {
    HeaderMatcher {
        name: name.to_string(),
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(
            string_matcher(m),
        )),
        invert_match: invert,
        ..Default::default()
    }
}

/// The Envoy match of one Istio match (`None`: the catch-all `prefix: /`).
pub fn route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let mut out = RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
        ..Default::default()
    };
    let Some(m) = m else { return out };
    if let Some(uri) = &m.uri {
        out.path_specifier = Some(if let Some(e) = &uri.exact {
            route_match::PathSpecifier::Path(e.clone())
        } else if let Some(p) = &uri.prefix {
            route_match::PathSpecifier::Prefix(p.clone())
        } else if let Some(r) = &uri.regex {
            route_match::PathSpecifier::SafeRegex(regex(r))
        } else {
            route_match::PathSpecifier::Prefix("/".into())
        });
    }
    if m.ignore_uri_case == Some(true) {
        out.case_sensitive = Some(boolv(false));
    }
    for (name, pseudo) in [
        (&m.method, ":method"),
        (&m.authority, ":authority"),
        (&m.scheme, ":scheme"),
    ] {
        if let Some(sm) = name {
            out.headers.push(header(pseudo, sm, false));
        }
    }
    for (name, sm) in &m.headers {
        out.headers.push(header(name, sm, false));
    }
    for (name, sm) in &m.without_headers {
        out.headers.push(header(name, sm, true));
    }
    for (name, sm) in &m.query_params {
        out.query_parameters.push(QueryParameterMatcher {
            name: name.clone(),
            query_parameter_match_specifier: Some(
                query_parameter_matcher::QueryParameterMatchSpecifier::StringMatch(string_matcher(
                    sm,
                )),
            ),
        });
    }
    out
}
