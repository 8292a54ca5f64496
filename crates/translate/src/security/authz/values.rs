//! Istio's value forms (exact, `prefix*`, `*suffix`, `*`) as Envoy matchers: strings, headers,
//! CIDRs, `istio_authn` metadata, and the permission / principal leaves that hold them.
// `Principal.metadata` is deprecated upstream in favour of `sourced_metadata`; Istio still emits
// it and weft's proxy reads it.
#![allow(deprecated)]

use weft_xds::pb::envoy::config::core::v3::CidrRange;
use weft_xds::pb::envoy::config::rbac::v3::{Permission, Principal, permission, principal};
use weft_xds::pb::envoy::config::route::v3::{HeaderMatcher, header_matcher};
use weft_xds::pb::envoy::r#type::matcher::v3::{
    ListMatcher, MetadataMatcher, PathMatcher, StringMatcher, ValueMatcher, list_matcher,
    metadata_matcher, path_matcher, string_matcher, value_matcher,
};

use crate::matching::regex;
use crate::pbutil::u32v;

/// The filter namespace Istio's request authentication writes (`request.auth.*`).
pub const AUTHN_FILTER: &str = "istio_authn";
pub const SPIFFE: &str = "spiffe://";

fn matcher(p: string_matcher::MatchPattern, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(p),
        ignore_case,
    }
}

pub fn regex_matcher(re: &str) -> StringMatcher {
    matcher(string_matcher::MatchPattern::SafeRegex(regex(re)), false)
}

/// `v` in Istio's wildcard forms, with `prefix` in front of the literal part: `*` is "any
/// non-empty value", `x*` a prefix, `*x` a suffix, anything else exact.
pub fn wildcard(v: &str, prefix: &str) -> StringMatcher {
    use string_matcher::MatchPattern as P;
    if v == "*" {
        regex_matcher(".+")
    } else if let Some(suffix) = v.strip_prefix('*') {
        matcher(P::Suffix(suffix.into()), false)
    } else if let Some(start) = v.strip_suffix('*') {
        matcher(P::Prefix(format!("{prefix}{start}")), false)
    } else {
        matcher(P::Exact(format!("{prefix}{v}")), false)
    }
}

/// Escapes regex metacharacters (RE2 and Rust's `regex` agree on these).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A wildcard value as a regex fragment: `*` alone matches one or more characters, a leading
/// or trailing `*` any run of `segment` characters.
fn wildcard_regex(v: &str, segment: &str) -> String {
    if v == "*" {
        return format!("{segment}+");
    }
    let (lead, rest) = v.strip_prefix('*').map_or(("", v), |r| (segment, r));
    let (body, trail) = rest.strip_suffix('*').map_or((rest, ""), |b| (b, segment));
    let star = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{s}*")
        }
    };
    format!("{}{}{}", star(lead), quote(body), star(trail))
}

pub fn authenticated(name: StringMatcher) -> Principal {
    id(principal::Identifier::Authenticated(
        principal::Authenticated {
            principal_name: Some(name),
        },
    ))
}

/// `principals` / `source.principal`: the peer's SPIFFE id (Istio writes it without the scheme).
pub fn source_principal(v: &str) -> Principal {
    authenticated(wildcard(v, SPIFFE))
}

/// `namespaces` / `source.namespace`: any identity in the namespace.
pub fn source_namespace(v: &str) -> Principal {
    authenticated(regex_matcher(&format!(
        ".*/ns/{}/.*",
        wildcard_regex(v, "[^/]")
    )))
}

/// `serviceAccounts` (`namespace/name`) in any trust domain.
pub fn service_account(v: &str) -> Option<Principal> {
    let (ns, sa) = v.split_once('/')?;
    Some(authenticated(matcher(
        string_matcher::MatchPattern::Suffix(format!("/ns/{ns}/sa/{sa}")),
        false,
    )))
}

/// An Istio address (`10.0.0.1` or `10.0.0.0/16`) as a CIDR range.
pub fn cidr(v: &str) -> Option<CidrRange> {
    let (ip, len) = match v.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u32>().ok()?)),
        None => (v, None),
    };
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then(|| CidrRange {
        address_prefix: ip.to_string(),
        prefix_len: Some(u32v(len)),
    })
}

pub fn id(identifier: principal::Identifier) -> Principal {
    Principal {
        identifier: Some(identifier),
    }
}

pub fn rule(rule: permission::Rule) -> Permission {
    Permission { rule: Some(rule) }
}

/// A header matcher in Istio's forms; `*` means "present".
pub fn header(name: &str, v: &str) -> HeaderMatcher {
    let spec = if v == "*" {
        header_matcher::HeaderMatchSpecifier::PresentMatch(true)
    } else {
        header_matcher::HeaderMatchSpecifier::StringMatch(wildcard(v, ""))
    };
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(spec),
        ..Default::default()
    }
}

/// `hosts`: `:authority`, case-insensitive, with or without a port when the value has none.
pub fn host(v: &str) -> HeaderMatcher {
    let body = wildcard_regex(v, ".");
    let has_port = v
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let port = if has_port { "" } else { "(:[0-9]+)?" };
    HeaderMatcher {
        name: ":authority".into(),
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(
            regex_matcher(&format!("(?i){body}{port}")),
        )),
        ..Default::default()
    }
}

/// `paths`: the path without query; Istio's templates `{*}` (one segment) and `{**}` (the rest)
/// become a regex.
pub fn path(v: &str) -> PathMatcher {
    let m = if v.contains("{*}") || v.contains("{**}") {
        let re = v
            .split('/')
            .map(|seg| match seg {
                "{*}" => "[^/]+".to_string(),
                "{**}" => ".*".to_string(),
                s => quote(s),
            })
            .collect::<Vec<_>>()
            .join("/");
        regex_matcher(&re)
    } else {
        wildcard(v, "")
    };
    PathMatcher {
        rule: Some(path_matcher::Rule::Path(m)),
    }
}

fn metadata_value(path: &[&str], value: ValueMatcher) -> MetadataMatcher {
    use metadata_matcher::{PathSegment, path_segment::Segment};
    MetadataMatcher {
        filter: AUTHN_FILTER.into(),
        path: path
            .iter()
            .map(|k| PathSegment {
                segment: Some(Segment::Key((*k).into())),
            })
            .collect(),
        value: Some(value),
        invert: false,
    }
}

fn string_value(m: StringMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(m)),
    }
}

fn one_of(m: StringMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(
            ListMatcher {
                match_pattern: Some(list_matcher::MatchPattern::OneOf(Box::new(string_value(m)))),
            },
        ))),
    }
}

/// A string entry of `istio_authn` (`request.auth.principal`, `request.auth.presenter`).
pub fn authn_string(key: &str, v: &str) -> Principal {
    let md = metadata_value(&[key], string_value(wildcard(v, "")));
    id(principal::Identifier::Metadata(md))
}

/// A list entry of `istio_authn` containing `v` (`request.auth.audiences`).
pub fn authn_list(key: &str, v: &str) -> Principal {
    let md = metadata_value(&[key], one_of(wildcard(v, "")));
    id(principal::Identifier::Metadata(md))
}

/// `request.auth.claims[a][b]`: the claim is a list containing `v`, or the string `v`.
pub fn authn_claim(claim: &[&str], v: &str) -> Principal {
    let mut path = vec!["request.auth.claims"];
    path.extend_from_slice(claim);
    let list = metadata_value(&path, one_of(wildcard(v, "")));
    let single = metadata_value(&path, string_value(wildcard(v, "")));
    id(principal::Identifier::OrIds(principal::Set {
        ids: vec![
            id(principal::Identifier::Metadata(list)),
            id(principal::Identifier::Metadata(single)),
        ],
    }))
}
