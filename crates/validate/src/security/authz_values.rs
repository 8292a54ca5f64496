//! Formats of the strings in AuthorizationPolicy rules and conditions.
//!
//! Every string field supports exact, prefix (`abc*`), suffix (`*abc`) and presence (`*`)
//! matches. Istio treats any other `*` literally, so `/api/*/v1` or `*abc*` silently never match
//! what the author meant; here they are errors.

use crate::Checker;
use crate::common::{check_ip_or_cidr, check_port, is_dns1123_label, is_dns1123_subdomain};

/// What a list of rule values holds, which decides how each value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// Principals, hosts, claim values...: exact, prefix, suffix or presence.
    Match,
    Namespace,
    /// `namespace/name`, no wildcards.
    ServiceAccount,
    Ip,
    Port,
    Method,
    Path,
}

const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Checks every value of a list at `path` (`spec.rules[0].to[0].operation.paths`).
pub(crate) fn check_values(c: &mut Checker, path: &str, kind: ValueKind, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if v.is_empty() {
            c.error(at, "empty value is not allowed");
            continue;
        }
        if let Err(e) = check_value(kind, v) {
            c.error(&at, e);
        } else if kind == ValueKind::Method
            && !v.contains('*')
            && !HTTP_METHODS.contains(&v.as_str())
        {
            c.warn(&at, format!("{v:?} is not a standard HTTP method"));
        }
    }
}

pub(crate) fn check_value(kind: ValueKind, v: &str) -> Result<(), String> {
    match kind {
        ValueKind::Match => check_wildcard(v),
        ValueKind::Namespace => check_namespace(v),
        ValueKind::ServiceAccount => check_service_account(v),
        ValueKind::Ip => check_ip_or_cidr(v),
        ValueKind::Port => check_port_string(v),
        ValueKind::Method => check_method(v),
        ValueKind::Path => check_path(v),
    }
}

/// `*` alone, or once at the start or the end.
pub(crate) fn check_wildcard(v: &str) -> Result<(), String> {
    let inner = v
        .strip_prefix('*')
        .or_else(|| v.strip_suffix('*'))
        .unwrap_or(v);
    if inner.contains('*') {
        Err(format!(
            "{v:?}: \"*\" is only supported as a prefix or suffix wildcard (\"abc*\", \"*abc\") or \
             alone; elsewhere it matches a literal \"*\""
        ))
    } else {
        Ok(())
    }
}

fn check_namespace(v: &str) -> Result<(), String> {
    check_wildcard(v)?;
    let literal = v.trim_matches('*');
    let ok = if v.contains('*') {
        literal
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    } else {
        is_dns1123_label(v)
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{v:?} is not a valid namespace name"))
    }
}

fn check_service_account(v: &str) -> Result<(), String> {
    let valid = v
        .split_once('/')
        .is_some_and(|(ns, name)| is_dns1123_label(ns) && is_dns1123_subdomain(name));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{v:?} must be a service account as \"namespace/name\" (wildcards are not supported)"
        ))
    }
}

/// A decimal port number 1-65535 (Istio takes ports as strings).
pub(crate) fn check_port_string(v: &str) -> Result<(), String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {v:?} must be a number"));
    }
    let n: i64 = v
        .parse()
        .map_err(|_| format!("port {v} is out of range 1-65535"))?;
    check_port(n)
}

/// Methods are matched case-sensitively against what clients send, which is upper case.
fn check_method(v: &str) -> Result<(), String> {
    check_wildcard(v)?;
    let name = v.trim_matches('*');
    if name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "method {v:?} must be upper case (methods match case-sensitively, e.g. \"GET\")"
        ))
    }
}

/// A path: an exact, prefix or suffix match starting with `/`, or an Envoy URI template
/// using Istio's `{*}` (one segment) and `{**}` (the rest, only as the last operator).
pub(crate) fn check_path(v: &str) -> Result<(), String> {
    if v.contains("{*}") || v.contains("{**}") {
        return check_path_template(v);
    }
    check_wildcard(v)?;
    if v.starts_with('/') || v.starts_with('*') {
        Ok(())
    } else {
        Err(format!(
            "path {v:?} must start with \"/\" (or \"*\" for a suffix match); it can never match"
        ))
    }
}

fn check_path_template(v: &str) -> Result<(), String> {
    if !v.starts_with('/') {
        return Err(format!("path template {v:?} must start with \"/\""));
    }
    let rest = v.replace("{**}", "\u{1}").replace("{*}", "\u{2}");
    if rest.contains(['*', '{', '}']) {
        return Err(format!(
            "path template {v:?}: only the operators {{*}} and {{**}} are supported (no named \
             variables, and no \"*\" outside an operator)"
        ));
    }
    if let Some(pos) = rest.find('\u{1}')
        && rest[pos + 1..].contains(['\u{1}', '\u{2}'])
    {
        return Err(format!(
            "path template {v:?}: {{**}} must be the last operator"
        ));
    }
    Ok(())
}
