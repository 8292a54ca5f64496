//! Checks shared by many kinds: host names, ports, label selectors, regular expressions,
//! percentages and durations. Each returns `Err(reason)` so callers choose the field path.

use std::collections::BTreeMap;

use weft_config::Duration;

/// How a host field may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostRules {
    /// `*` alone, or `*.` as the leftmost label.
    pub allow_wildcard: bool,
    /// A short name without dots (`reviews`), resolved against the namespace.
    pub allow_short: bool,
    /// The `namespace/host` form (Gateway servers, Sidecar egress hosts).
    pub allow_namespace_prefix: bool,
}

impl HostRules {
    pub const SERVICE: HostRules = HostRules {
        allow_wildcard: true,
        allow_short: true,
        allow_namespace_prefix: false,
    };
    pub const NAMESPACED: HostRules = HostRules {
        allow_wildcard: true,
        allow_short: true,
        allow_namespace_prefix: true,
    };
    pub const FQDN_ONLY: HostRules = HostRules {
        allow_wildcard: false,
        allow_short: true,
        allow_namespace_prefix: false,
    };
}

/// Checks a host as Istio's webhook does: DNS-1123 labels, `*` only as the whole leftmost
/// label, optional `ns/` prefix where allowed (`.` and `*` and `~` are the special namespaces).
pub fn check_host(host: &str, rules: HostRules) -> Result<(), String> {
    let host = match host.split_once('/') {
        Some((ns, h)) if rules.allow_namespace_prefix => {
            if !(ns == "*" || ns == "." || ns == "~" || is_dns1123_label(ns)) {
                return Err(format!(
                    "namespace {ns:?} in {host:?} is not a valid namespace name, \".\", \"~\" or \"*\""
                ));
            }
            h
        }
        Some(_) => return Err(format!("host {host:?} must not contain \"/\"")),
        None => host,
    };
    if host.is_empty() {
        return Err("host must not be empty".into());
    }
    if host == "*" {
        return if rules.allow_wildcard {
            Ok(())
        } else {
            Err("wildcard host \"*\" is not allowed here".into())
        };
    }
    if host.len() > 253 {
        return Err(format!("host {host:?} is longer than 253 characters"));
    }
    let (wild, rest) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    if wild && !rules.allow_wildcard {
        return Err(format!("wildcard host {host:?} is not allowed here"));
    }
    if rest.contains('*') {
        return Err(format!(
            "host {host:?}: \"*\" is only allowed as the leftmost label (\"*.example.com\")"
        ));
    }
    if !rules.allow_short && !rest.contains('.') && !wild {
        return Err(format!(
            "host {host:?} must be a fully qualified domain name"
        ));
    }
    for label in rest.trim_end_matches('.').split('.') {
        if !is_dns1123_label(label) {
            return Err(format!(
                "host {host:?}: label {label:?} is not a valid DNS label (lowercase letters, digits and '-', at most 63)"
            ));
        }
    }
    Ok(())
}

/// RFC 1123 label: 1-63 lowercase alphanumerics or '-', starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (object names).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Ports must be 1-65535.
pub fn check_port(port: i64) -> Result<(), String> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!("port {port} is out of range 1-65535"))
    }
}

/// Kubernetes label keys (`prefix/name`) and values.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        check_label_key(k)?;
        check_label_value(v).map_err(|e| format!("label {k:?}: {e}"))?;
    }
    Ok(())
}

pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !is_dns1123_subdomain(p)
    {
        return Err(format!(
            "label key {key:?}: prefix {p:?} must be a DNS subdomain"
        ));
    }
    if !is_label_name(name) {
        return Err(format!(
            "label key {key:?}: name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "value {value:?} must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Regular expressions use RE2 semantics in Envoy; Rust's `regex` crate implements the same
/// family (no backreferences or lookaround), so a pattern that compiles here compiles there.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern).map(|_| ()).map_err(|e| {
        format!(
            "invalid regular expression {pattern:?}: {}",
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// A percentage in 0-100.
pub fn check_percentage(value: f64) -> Result<(), String> {
    if (0.0..=100.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("percentage {value} must be between 0 and 100"))
    }
}

/// Durations must be positive (or zero when `allow_zero`), and at least 1ms as Envoy rounds
/// below that to zero.
pub fn check_duration(d: &Duration, allow_zero: bool) -> Result<(), String> {
    if d.is_negative() {
        return Err(format!("duration {d} must not be negative"));
    }
    if d.is_zero() {
        return if allow_zero {
            Ok(())
        } else {
            Err("duration must be greater than zero".into())
        };
    }
    if d.nanos < 1_000_000 {
        return Err(format!("duration {d} is shorter than 1ms"));
    }
    Ok(())
}

/// A CIDR block or a single IP address.
pub fn check_ip_or_cidr(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() || s.parse::<ipnet::IpNet>().is_ok() {
        Ok(())
    } else {
        Err(format!("{s:?} is neither an IP address nor a CIDR block"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(check_host("reviews", HostRules::SERVICE).is_ok());
        assert!(check_host("reviews.default.svc.cluster.local", HostRules::SERVICE).is_ok());
        assert!(check_host("*.example.com", HostRules::SERVICE).is_ok());
        assert!(check_host("*", HostRules::SERVICE).is_ok());
        assert!(check_host("foo.*.com", HostRules::SERVICE).is_err());
        assert!(check_host("*foo.com", HostRules::SERVICE).is_err());
        assert!(check_host("Reviews", HostRules::SERVICE).is_err());
        assert!(check_host("ns/reviews", HostRules::SERVICE).is_err());
        assert!(check_host("ns/reviews", HostRules::NAMESPACED).is_ok());
        assert!(check_host("./*", HostRules::NAMESPACED).is_ok());
        assert!(check_host("Bad_NS/x", HostRules::NAMESPACED).is_err());
        assert!(check_host("*", HostRules::FQDN_ONLY).is_err());
    }

    #[test]
    fn ports_labels_regex() {
        assert!(check_port(0).is_err());
        assert!(check_port(65536).is_err());
        assert!(check_port(9080).is_ok());
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("-bad").is_err());
        assert!(check_label_value("v1").is_ok());
        assert!(check_label_value("v1 ").is_err());
        assert!(check_regex("^/api/v[0-9]+").is_ok());
        assert!(check_regex("(a").is_err());
        assert!(check_regex("(?=x)").is_err(), "lookaround is not RE2");
    }

    #[test]
    fn durations_and_percentages() {
        assert!(check_duration(&Duration::from_millis(0), false).is_err());
        assert!(check_duration(&Duration::from_millis(0), true).is_ok());
        assert!(check_duration(&Duration::from_secs(-1), true).is_err());
        assert!(check_duration(&Duration { nanos: 10 }, true).is_err());
        assert!(check_percentage(100.1).is_err());
        assert!(check_percentage(30.0).is_ok());
        assert!(check_ip_or_cidr("10.0.0.0/8").is_ok());
        assert!(check_ip_or_cidr("10.0.0.0/33").is_err());
    }
}
