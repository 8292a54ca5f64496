//! Host names: short-name resolution, wildcard matching and `exportTo` visibility.

use std::collections::BTreeSet;

use serde::Serialize;

/// Turns a short name (`reviews`) into `reviews.NAMESPACE.svc.DOMAIN`, as Istio does for hosts
/// in VirtualServices, DestinationRules and destinations. Names with a dot and wildcards are
/// left alone.
pub fn resolve_short_name(host: &str, namespace: &str, domain: &str) -> String {
    if host.contains('.') || host.contains('*') || host.is_empty() {
        host.to_string()
    } else {
        format!("{host}.{namespace}.svc.{domain}")
    }
}

/// Whether `pattern` (which may start with `*.`, or be `*`) matches the concrete `host`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Whether two host patterns overlap (either may be a wildcard).
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    host_matches(a, b) || host_matches(b, a)
}

/// Which namespaces may see an object (`exportTo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportTo {
    /// `*`: every namespace.
    Public,
    /// Only these namespaces (`.` resolved to the object's own).
    Namespaces(BTreeSet<String>),
}

impl ExportTo {
    /// Reads `exportTo` of an object in `namespace`; `defaults` apply when it is empty.
    pub fn parse(values: &[String], defaults: &[String], namespace: &str) -> ExportTo {
        let values = if values.is_empty() { defaults } else { values };
        if values.is_empty() || values.iter().any(|v| v == "*") {
            return ExportTo::Public;
        }
        let set = values
            .iter()
            .filter(|v| v.as_str() != "~")
            .map(|v| {
                if v == "." {
                    namespace.to_string()
                } else {
                    v.clone()
                }
            })
            .collect();
        ExportTo::Namespaces(set)
    }

    pub fn visible_to(&self, namespace: &str) -> bool {
        match self {
            ExportTo::Public => true,
            ExportTo::Namespaces(set) => set.contains(namespace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            resolve_short_name("reviews", "default", "cluster.local"),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(
            resolve_short_name("reviews.other", "default", "cluster.local"),
            "reviews.other"
        );
        assert_eq!(resolve_short_name("*", "default", "cluster.local"), "*");
    }

    #[test]
    fn wildcards() {
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("*", "anything"));
        assert!(host_matches("A.b", "a.B"));
        assert!(hosts_overlap("api.example.com", "*.example.com"));
    }

    #[test]
    fn export_to() {
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(ExportTo::parse(&[], &[], "a"), ExportTo::Public);
        let private = ExportTo::parse(&ns(&["."]), &[], "a");
        assert!(private.visible_to("a") && !private.visible_to("b"));
        let none = ExportTo::parse(&ns(&["~"]), &[], "a");
        assert!(!none.visible_to("a"));
        let by_default = ExportTo::parse(&[], &ns(&["."]), "a");
        assert!(!by_default.visible_to("b"));
    }
}
