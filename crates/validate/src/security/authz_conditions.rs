//! The `when` conditions of AuthorizationPolicy rules: which attribute keys exist and what
//! their values look like, following Istio's list of supported conditions. Istio's webhook
//! refuses unknown keys too; here the message also suggests the key that was probably meant.

use weft_config::closest;
use weft_config::model::security::Condition;

use super::authz_values::{ValueKind, check_values};
use super::shared::check_header_name;
use crate::Checker;

/// Keys without a `[name]` part and the kind of their values.
const PLAIN_KEYS: &[(&str, ValueKind)] = &[
    ("source.ip", ValueKind::Ip),
    ("remote.ip", ValueKind::Ip),
    ("source.namespace", ValueKind::Namespace),
    ("source.principal", ValueKind::Match),
    ("source.serviceAccount", ValueKind::ServiceAccount),
    ("request.auth.principal", ValueKind::Match),
    ("request.auth.audiences", ValueKind::Match),
    ("request.auth.presenter", ValueKind::Match),
    ("destination.ip", ValueKind::Ip),
    ("destination.port", ValueKind::Port),
    ("connection.sni", ValueKind::Match),
];

/// Keys written `prefix[name]`.
const HEADER_KEY: &str = "request.headers";
const CLAIMS_KEY: &str = "request.auth.claims";
const EXPERIMENTAL_PREFIX: &str = "experimental.envoy.filters.";

/// Keys Istio once supported and now refuses, with the reason it gives.
const RETIRED_KEYS: &[(&str, &str)] = &[
    (
        "destination.namespace",
        "is replaced by the policy's metadata.namespace",
    ),
    ("destination.labels", "is replaced by the workload selector"),
    (
        "destination.name",
        "was only supported by the v1alpha1 RBAC API",
    ),
    (
        "destination.user",
        "was only supported by the v1alpha1 RBAC API",
    ),
];

/// Checks one condition at `path` (`spec.rules[0].when[1]`).
pub(crate) fn check_condition(cond: &Condition, path: &str, c: &mut Checker) {
    let key_path = format!("{path}.key");
    if cond.key.is_empty() {
        c.require(false, key_path);
        return;
    }
    if cond.values.is_empty() && cond.not_values.is_empty() {
        c.error(
            format!("{path}.values"),
            format!("condition {:?} needs values or notValues", cond.key),
        );
    }
    match value_kind(&cond.key) {
        Ok(kind) => {
            check_values(c, &format!("{path}.values"), kind, &cond.values);
            check_values(c, &format!("{path}.notValues"), kind, &cond.not_values);
        }
        Err(e) => c.error(key_path, e),
    }
}

/// The kind of values a key takes, or why the key is not supported.
fn value_kind(key: &str) -> Result<ValueKind, String> {
    if let Some((_, kind)) = PLAIN_KEYS.iter().find(|(k, _)| *k == key) {
        return Ok(*kind);
    }
    let (base, names) = split_key(key);
    if base == HEADER_KEY {
        return match names.as_deref() {
            // Pseudo-headers (`:authority`, `:path`) can be matched too.
            Some([name]) => check_header_name(name.strip_prefix(':').unwrap_or(name))
                .map(|()| ValueKind::Match)
                .map_err(|e| format!("condition key {key:?}: {e}")),
            _ => Err(format!(
                "condition key {key:?} must name one header: \"request.headers[x-header-name]\""
            )),
        };
    }
    if base == CLAIMS_KEY {
        return match names.as_deref() {
            Some(n) if !n.is_empty() && n.iter().all(|s| !s.is_empty()) => Ok(ValueKind::Match),
            _ => Err(format!(
                "condition key {key:?} must name a claim: \"request.auth.claims[iss]\", or a \
                 nested one: \"request.auth.claims[a][b]\""
            )),
        };
    }
    if base.starts_with(EXPERIMENTAL_PREFIX) && base.len() > EXPERIMENTAL_PREFIX.len() {
        return match names.as_deref() {
            Some([name]) if !name.is_empty() => Ok(ValueKind::Match),
            _ => Err(format!(
                "condition key {key:?} must have the form \"experimental.envoy.filters.<filter>[<key>]\""
            )),
        };
    }
    if let Some((_, why)) = RETIRED_KEYS.iter().find(|(k, _)| *k == base) {
        return Err(format!(
            "condition key {key:?} is not supported: {base} {why}"
        ));
    }
    Err(unknown_key(key, base))
}

fn unknown_key(key: &str, base: &str) -> String {
    let mut known: Vec<String> = PLAIN_KEYS.iter().map(|(k, _)| k.to_string()).collect();
    known.extend([HEADER_KEY.to_string(), CLAIMS_KEY.to_string()]);
    match closest(base, &known) {
        Some(best) if best == HEADER_KEY || best == CLAIMS_KEY => {
            format!("unknown condition key {key:?} (did you mean \"{best}[...]\"?)")
        }
        Some(best) => format!("unknown condition key {key:?} (did you mean {best:?}?)"),
        None => format!(
            "unknown condition key {key:?}; supported keys are {}, request.headers[NAME], \
             request.auth.claims[NAME] and experimental.envoy.filters.*",
            PLAIN_KEYS
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Splits `a.b[x][y]` into `a.b` and `["x", "y"]`; `None` when the brackets are malformed.
fn split_key(key: &str) -> (&str, Option<Vec<&str>>) {
    let Some(open) = key.find('[') else {
        return (key, None);
    };
    let (base, mut rest) = key.split_at(open);
    let mut names = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return (base, None);
        };
        names.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    if rest.is_empty() {
        (base, Some(names))
    } else {
        (base, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_bracketed_keys() {
        assert_eq!(
            split_key("request.headers[x-a]"),
            ("request.headers", Some(vec!["x-a"]))
        );
        assert_eq!(
            split_key("request.auth.claims[a][b]"),
            ("request.auth.claims", Some(vec!["a", "b"]))
        );
        assert_eq!(split_key("request.headers[x"), ("request.headers", None));
        assert_eq!(split_key("request.headers[x]y"), ("request.headers", None));
        assert_eq!(split_key("source.ip"), ("source.ip", None));
    }

    #[test]
    fn knows_istio_condition_keys() {
        for key in [
            "request.headers[User-Agent]",
            "request.headers[:authority]",
            "source.ip",
            "remote.ip",
            "source.namespace",
            "source.principal",
            "request.auth.principal",
            "request.auth.audiences",
            "request.auth.presenter",
            "request.auth.claims[iss]",
            "request.auth.claims[groups][admin]",
            "destination.ip",
            "destination.port",
            "connection.sni",
            "experimental.envoy.filters.network.mysql_proxy[db.table]",
        ] {
            assert!(value_kind(key).is_ok(), "{key}: {:?}", value_kind(key));
        }
    }

    #[test]
    fn refuses_unknown_malformed_and_retired_keys() {
        assert_eq!(
            value_kind("source.principals").unwrap_err(),
            "unknown condition key \"source.principals\" (did you mean \"source.principal\"?)"
        );
        assert_eq!(
            value_kind("request.header[x-a]").unwrap_err(),
            "unknown condition key \"request.header[x-a]\" (did you mean \"request.headers[...]\"?)"
        );
        assert!(value_kind("request.headers").is_err());
        assert!(value_kind("request.headers[]").is_err());
        assert!(value_kind("request.auth.claims[a][]").is_err());
        assert!(value_kind("experimental.envoy.filters.x").is_err());
        assert_eq!(
            value_kind("destination.labels[app]").unwrap_err(),
            "condition key \"destination.labels[app]\" is not supported: destination.labels is \
             replaced by the workload selector"
        );
        assert!(
            value_kind("foo")
                .unwrap_err()
                .contains("supported keys are source.ip")
        );
    }
}
