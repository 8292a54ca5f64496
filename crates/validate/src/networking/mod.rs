//! Rules for networking.istio.io kinds, and the checks several of them share: paths, oneofs,
//! string matches, durations, ports and protocols, labels, `exportTo`, gateway references and
//! host coverage.

pub mod destination_rule;
pub mod envoy_filter;
pub mod gateway;
mod http_route;
pub mod service_entry;
pub mod sidecar;
mod traffic_policy;
pub mod virtual_service;
pub mod workload;

#[cfg(test)]
mod destination_rule_tests;
#[cfg(test)]
mod gateway_tests;
#[cfg(test)]
mod http_route_tests;
#[cfg(test)]
mod service_entry_tests;
#[cfg(test)]
mod sidecar_tests;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod virtual_service_tests;
#[cfg(test)]
mod workload_tests;

use std::collections::{BTreeMap, BTreeSet};

use weft_config::Duration;
use weft_config::model::networking::StringMatch;

use crate::Checker;
use crate::common::{self, HostRules, is_dns1123_label, is_dns1123_subdomain};

/// `base.key`, or `base[key]` when the key has dots (label keys such as `app.kubernetes.io/name`)
/// so that the path still resolves to the key's line.
pub(crate) fn key_path(base: &str, key: &str) -> String {
    if key.contains('.') {
        format!("{base}[{key}]")
    } else {
        format!("{base}.{key}")
    }
}

/// Reports the error of `result` at `path`.
pub(crate) fn report(c: &mut Checker, path: impl AsRef<str>, result: Result<(), String>) {
    if let Err(e) = result {
        c.error(path, e);
    }
}

/// `a`, `a and b`, `a, b or c` style lists.
fn join(names: &[&str], last: &str) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// A protobuf oneof: at most one of `fields` (name, set) may be set, and one must be when
/// `required`. Reported at `path`, the object holding the alternatives.
pub(crate) fn one_of(c: &mut Checker, path: &str, fields: &[(&str, bool)], required: bool) {
    let all: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    let set: Vec<&str> = fields.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    if set.len() > 1 {
        let msg = format!(
            "only one of {} may be set (found {})",
            join(&all, "or"),
            join(&set, "and")
        );
        c.error(path, msg);
    } else if set.is_empty() && required {
        c.error(path, format!("one of {} is required", join(&all, "or")));
    }
}

/// A string match. `required` when the match must test something (`uri`), not when an empty
/// match means "present" (`headers`).
pub(crate) fn check_string_match(c: &mut Checker, path: &str, m: &StringMatch, required: bool) {
    let fields = [
        ("exact", m.exact.is_some()),
        ("prefix", m.prefix.is_some()),
        ("regex", m.regex.is_some()),
    ];
    one_of(c, path, &fields, required);
    if m.prefix.as_deref() == Some("") {
        c.error(
            format!("{path}.prefix"),
            "an empty prefix matches everything; remove the match instead",
        );
    }
    match m.regex.as_deref() {
        Some("") => c.error(
            format!("{path}.regex"),
            "an empty regex matches everything; remove the match instead",
        ),
        Some(re) => report(c, format!("{path}.regex"), common::check_regex(re)),
        None => {}
    }
}

/// A duration Istio accepts: not negative, at least 1ms, whole milliseconds; zero only when
/// `allow_zero` (where zero has a meaning, such as "no timeout").
pub(crate) fn check_duration(c: &mut Checker, path: &str, d: &Duration, allow_zero: bool) {
    if let Err(e) = common::check_duration(d, allow_zero) {
        c.error(path, e);
    } else if d.nanos % 1_000_000 != 0 {
        c.error(
            path,
            format!("duration {d} is not a whole number of milliseconds (Istio's precision)"),
        );
    }
}

pub(crate) fn check_optional_duration(
    c: &mut Checker,
    path: &str,
    d: Option<&Duration>,
    allow_zero: bool,
) {
    if let Some(d) = d {
        check_duration(c, path, d, allow_zero);
    }
}

pub(crate) fn check_port(c: &mut Checker, path: &str, port: u32) {
    report(c, path, common::check_port(i64::from(port)));
}

/// Port names are DNS-1123 labels (`http`, `grpc-web`).
pub(crate) fn check_port_name(c: &mut Checker, path: &str, name: &str) {
    if !is_dns1123_label(name) {
        c.error(
            path,
            format!("port name {name:?} must be a DNS label (lowercase letters, digits and '-')"),
        );
    }
}

/// Every label key and value, each reported at its own key.
pub(crate) fn check_labels(c: &mut Checker, path: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let at = key_path(path, k);
        if let Err(e) = common::check_label_key(k) {
            c.error(&at, e);
        } else if let Err(e) = common::check_label_value(v) {
            c.error(&at, format!("label {k:?}: {e}"));
        }
    }
}

/// A workload selector's labels; an empty one selects every workload of the namespace.
pub(crate) fn check_selector(c: &mut Checker, path: &str, labels: &BTreeMap<String, String>) {
    if labels.is_empty() {
        c.warn(
            path,
            "workload selector has no labels and selects every workload in the namespace",
        );
    }
    check_labels(c, path, labels);
}

pub(crate) fn check_namespace(c: &mut Checker, path: &str, ns: &str) {
    if !is_dns1123_label(ns) {
        c.error(
            path,
            format!("{ns:?} is not a valid namespace name (a DNS label)"),
        );
    }
}

/// `exportTo`: `.`, `*`, `~` or namespace names, without duplicates, and `*`/`~` alone.
pub(crate) fn check_export_to(c: &mut Checker, path: &str, values: &[String]) {
    let mut seen = BTreeSet::new();
    for (i, v) in values.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !seen.insert(v.as_str()) {
            c.error(&at, format!("duplicate exportTo value {v:?}"));
        } else if !matches!(v.as_str(), "." | "*" | "~") && !is_dns1123_label(v) {
            c.error(
                &at,
                format!("{v:?} is not \".\", \"*\", \"~\" or a namespace name"),
            );
        }
    }
    for special in ["*", "~"] {
        if values.len() > 1 && values.iter().any(|v| v == special) {
            c.error(
                path,
                format!("exportTo {special:?} cannot be combined with other values"),
            );
        }
    }
}

/// A Gateway reference of a VirtualService: `mesh`, `name` or `namespace/name`.
pub(crate) fn check_gateway_ref(c: &mut Checker, path: &str, name: &str) {
    match name.split_once('/') {
        Some((ns, gw)) => {
            if ns.is_empty() || gw.is_empty() {
                c.error(path, format!("gateway {name:?} must be namespace/name"));
            } else if !is_dns1123_label(ns) {
                c.error(
                    path,
                    format!("invalid namespace {ns:?} in gateway {name:?}"),
                );
            } else if !is_dns1123_subdomain(gw) {
                c.error(path, format!("invalid gateway name {gw:?} in {name:?}"));
            }
        }
        None if name.contains('.') && is_dns1123_subdomain(name) => {
            let (gw, ns) = name.split_once('.').unwrap_or((name, ""));
            let ns = ns.split('.').next().unwrap_or(ns);
            c.warn(
                path,
                format!(
                    "gateway {name:?} uses the legacy name.namespace form; write \"{ns}/{gw}\""
                ),
            );
        }
        None if !is_dns1123_subdomain(name) => {
            c.error(path, format!("{name:?} is not a valid gateway name"));
        }
        None => {}
    }
}

/// A host field with `rules`, reported at `path`.
pub(crate) fn check_host_at(c: &mut Checker, path: &str, host: &str, rules: HostRules) {
    report(c, path, common::check_host(host, rules));
}

pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// `unix://` followed by an absolute path or an `@abstract` name.
pub(crate) fn check_unix_address(addr: &str) -> Result<(), String> {
    let Some(rest) = addr.strip_prefix("unix://") else {
        return Err(format!("{addr:?} is not a unix:// address"));
    };
    if rest.is_empty() {
        return Err("unix:// address has no path".into());
    }
    if rest.starts_with('@') || (rest.starts_with('/') && !rest.ends_with('/')) {
        Ok(())
    } else {
        Err(format!(
            "{addr:?}: a unix socket must be an absolute file path or an @abstract name"
        ))
    }
}

/// Whether the host pattern `pattern` (`*.example.com`, `*`, `reviews`) covers `host`, itself
/// possibly a wildcard; Istio's "subset of" relation on host names.
pub(crate) fn host_covers(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match (pattern.strip_prefix('*'), host.strip_prefix('*')) {
        (Some(suffix), Some(host_suffix)) => host_suffix.ends_with(suffix),
        (Some(suffix), None) => host.ends_with(suffix),
        (None, Some(_)) => false,
        (None, None) => host == pattern,
    }
}

/// Application protocols Istio understands on ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Http2,
    HttpProxy,
    Grpc,
    GrpcWeb,
    Https,
    Tls,
    Tcp,
    Udp,
    Mongo,
    Redis,
    Mysql,
}

const PROTOCOLS: &[(&str, Protocol)] = &[
    ("HTTP", Protocol::Http),
    ("HTTP2", Protocol::Http2),
    ("HTTP_PROXY", Protocol::HttpProxy),
    ("GRPC", Protocol::Grpc),
    ("GRPC-Web", Protocol::GrpcWeb),
    ("HTTPS", Protocol::Https),
    ("TLS", Protocol::Tls),
    ("TCP", Protocol::Tcp),
    ("UDP", Protocol::Udp),
    ("Mongo", Protocol::Mongo),
    ("Redis", Protocol::Redis),
    ("MySQL", Protocol::Mysql),
];

impl Protocol {
    /// Istio parses protocols case-insensitively.
    pub(crate) fn parse(s: &str) -> Option<Protocol> {
        PROTOCOLS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, p)| *p)
    }

    pub(crate) fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// Parses a port protocol, reporting an unknown one with the closest known name.
pub(crate) fn check_protocol(c: &mut Checker, path: &str, protocol: &str) -> Option<Protocol> {
    let parsed = Protocol::parse(protocol);
    if parsed.is_none() {
        let names: Vec<String> = PROTOCOLS.iter().map(|(n, _)| n.to_string()).collect();
        let msg = match weft_config::closest(protocol, &names) {
            Some(best) => format!("unknown protocol {protocol:?} (did you mean {best:?}?)"),
            None => format!(
                "unknown protocol {protocol:?} (expected one of: {})",
                names.join(", ")
            ),
        };
        c.error(path, msg);
    }
    parsed
}

/// An HTTP header name: an RFC 7230 token, or a `:pseudo` header where `allow_pseudo`.
pub(crate) fn check_header_name(c: &mut Checker, path: &str, name: &str, allow_pseudo: bool) {
    let token = name
        .strip_prefix(':')
        .filter(|_| allow_pseudo)
        .unwrap_or(name);
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        c.error(path, format!("{name:?} is not a valid HTTP header name"));
    }
}

/// A `region/zone/sub-zone` locality where `*` may stand for a whole trailing segment.
pub(crate) fn check_locality(locality: &str, allow_wildcard: bool) -> Result<(), String> {
    let parts: Vec<&str> = locality.split('/').collect();
    if locality.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "locality {locality:?} must be region[/zone[/sub-zone]] without empty parts"
        ));
    }
    for (i, part) in parts.iter().enumerate() {
        if part.contains('*') && !(allow_wildcard && *part == "*" && i == parts.len() - 1) {
            return Err(format!(
                "locality {locality:?}: \"*\" is only allowed as the whole last part"
            ));
        }
    }
    Ok(())
}
