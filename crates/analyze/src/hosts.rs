//! Host names as Istio's analyzers treat them: short names completed with the namespace and
//! `svc.cluster.local`, wildcard matching, and the `namespace/host` form of Gateway servers.

/// The cluster's DNS suffix for Services.
pub const KUBERNETES_DOMAIN: &str = "svc.cluster.local";

/// `*` as an `exportTo` entry: visible everywhere.
pub const EXPORT_TO_ALL: &str = "*";
/// `.` as an `exportTo` entry: visible in the object's own namespace.
pub const EXPORT_TO_LOCAL: &str = ".";

/// Completes a short name (`reviews`) to `reviews.NS.svc.cluster.local`; wildcards and names
/// with a dot are kept as written.
pub fn to_fqdn(namespace: &str, host: &str) -> String {
    if is_short_name(host) {
        format!("{host}.{namespace}.{KUBERNETES_DOMAIN}")
    } else {
        host.to_string()
    }
}

/// A name without dots that is not a wildcard.
pub fn is_short_name(host: &str) -> bool {
    !host.starts_with('*') && !host.contains('.')
}

/// `(name, namespace)` of a Kubernetes Service FQDN (`reviews.default.svc.cluster.local`).
pub fn service_of_fqdn(fqdn: &str) -> Option<(&str, &str)> {
    let rest = fqdn.strip_suffix(KUBERNETES_DOMAIN)?.strip_suffix('.')?;
    let (name, namespace) = rest.rsplit_once('.')?;
    (!name.is_empty() && !namespace.is_empty()).then_some((name, namespace))
}

/// Whether two host names overlap, wildcards on either side (Istio's `host.Name.Matches`).
pub fn matches(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if sa.len() < sb.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// The hosts of Gateway servers visible to a VirtualService in `namespace`: `ns/host` entries
/// count when `ns` is `*` or `namespace` (`.` meaning the gateway's own namespace), plain hosts
/// always.
pub fn gateway_hosts_for_namespace<'a>(
    hosts: impl IntoIterator<Item = &'a str>,
    gateway_namespace: &str,
    namespace: &str,
) -> Vec<&'a str> {
    hosts
        .into_iter()
        .filter_map(|h| match h.split_once('/') {
            None => Some(h),
            Some(("*", host)) => Some(host),
            Some((".", host)) if gateway_namespace == namespace => Some(host),
            Some((ns, host)) if ns == namespace => Some(host),
            Some(_) => None,
        })
        .collect()
}

/// Whether an `exportTo` list makes an object visible in every namespace (empty means all).
pub fn exports_to_all(export_to: &[String]) -> bool {
    export_to.is_empty() || export_to.iter().any(|e| e == EXPORT_TO_ALL)
}

/// The namespaces an `exportTo` list names, with `.` resolved to `own` (`None` for all).
pub fn export_scopes(export_to: &[String], own: &str) -> Option<Vec<String>> {
    if exports_to_all(export_to) {
        return None;
    }
    let mut scopes: Vec<String> = export_to
        .iter()
        .map(|e| {
            if e == EXPORT_TO_LOCAL {
                own.to_string()
            } else {
                e.clone()
            }
        })
        .collect();
    scopes.sort();
    scopes.dedup();
    Some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_completed_with_the_namespace() {
        assert_eq!(
            to_fqdn("default", "reviews"),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(to_fqdn("default", "reviews.prod"), "reviews.prod");
        assert_eq!(to_fqdn("default", "*.example.com"), "*.example.com");
        assert_eq!(to_fqdn("default", "*"), "*");
    }

    #[test]
    fn service_names_are_read_from_fqdns() {
        assert_eq!(
            service_of_fqdn("reviews.prod.svc.cluster.local"),
            Some(("reviews", "prod"))
        );
        assert_eq!(service_of_fqdn("reviews.prod"), None);
        assert_eq!(service_of_fqdn("svc.cluster.local"), None);
    }

    #[test]
    fn wildcards_match_either_way() {
        assert!(matches("*.example.com", "a.example.com"));
        assert!(matches("a.example.com", "*.example.com"));
        assert!(matches("*", "anything.io"));
        assert!(matches("*.a.example.com", "*.example.com"));
        assert!(!matches("*.example.com", "example.org"));
        assert!(!matches("a.example.com", "b.example.com"));
    }

    #[test]
    fn gateway_hosts_respect_namespace_prefixes() {
        let hosts = ["*/a.com", "./b.com", "prod/c.com", "other/d.com", "e.com"];
        assert_eq!(
            gateway_hosts_for_namespace(hosts, "prod", "prod"),
            ["a.com", "b.com", "c.com", "e.com"]
        );
        assert_eq!(
            gateway_hosts_for_namespace(hosts, "istio-system", "prod"),
            ["a.com", "c.com", "e.com"]
        );
    }

    #[test]
    fn export_to_scopes() {
        assert_eq!(export_scopes(&[], "ns"), None);
        assert_eq!(export_scopes(&["*".into()], "ns"), None);
        assert_eq!(
            export_scopes(&[".".into(), "b".into()], "ns"),
            Some(vec!["b".into(), "ns".into()])
        );
    }
}
