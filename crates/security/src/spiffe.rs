//! SPIFFE workload identities in Istio's form: `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT`.

use std::fmt;
use std::str::FromStr;

/// The identity of a workload: who its certificate says it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    pub trust_domain: String,
    pub namespace: String,
    pub service_account: String,
}

/// Why a text is not an Istio SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    #[error("SPIFFE id {0:?}: must start with spiffe://")]
    Scheme(String),
    #[error("SPIFFE id {0:?}: path must be /ns/NAMESPACE/sa/SERVICE_ACCOUNT")]
    Path(String),
    #[error("SPIFFE id {id:?}: {part} {value:?} is invalid: {reason}")]
    Part {
        id: String,
        part: &'static str,
        value: String,
        reason: &'static str,
    },
}

const SCHEME: &str = "spiffe://";

impl SpiffeId {
    /// Builds an id after checking each part.
    pub fn new(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<SpiffeId, SpiffeError> {
        let id = SpiffeId {
            trust_domain: trust_domain.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        };
        let text = id.to_string();
        check_trust_domain(&text, trust_domain)?;
        check_segment(&text, "namespace", namespace)?;
        check_segment(&text, "service account", service_account)?;
        Ok(id)
    }

    /// The id as a URI (the certificate's URI SAN).
    pub fn uri(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeError;

    fn from_str(s: &str) -> Result<SpiffeId, SpiffeError> {
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or_else(|| SpiffeError::Scheme(s.to_string()))?;
        let (trust_domain, path) = rest
            .split_once('/')
            .ok_or_else(|| SpiffeError::Path(s.to_string()))?;
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["ns", namespace, "sa", account] => {
                let id = SpiffeId::new(trust_domain, namespace, account)?;
                Ok(id)
            }
            _ => Err(SpiffeError::Path(s.to_string())),
        }
    }
}

/// Trust domains are DNS-like: lowercase letters, digits, `.`, `-`, `_`.
fn check_trust_domain(id: &str, td: &str) -> Result<(), SpiffeError> {
    let bad = |reason| SpiffeError::Part {
        id: id.to_string(),
        part: "trust domain",
        value: td.to_string(),
        reason,
    };
    if td.is_empty() {
        return Err(bad("empty"));
    }
    if td.len() > 255 {
        return Err(bad("longer than 255 characters"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c);
    if !td.chars().all(allowed) {
        return Err(bad(
            "only lowercase letters, digits, '.', '-' and '_' are allowed",
        ));
    }
    Ok(())
}

/// Namespaces and service accounts are Kubernetes names: no `/`, not empty, not `.`/`..`.
fn check_segment(id: &str, part: &'static str, value: &str) -> Result<(), SpiffeError> {
    let bad = |reason| SpiffeError::Part {
        id: id.to_string(),
        part,
        value: value.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(bad("empty"));
    }
    if value == "." || value == ".." {
        return Err(bad("'.' and '..' are not names"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
    if !value.chars().all(allowed) {
        return Err(bad("only letters, digits, '.', '-' and '_' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_istio_ids() {
        let text = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage";
        let id: SpiffeId = text.parse().expect("valid");
        assert_eq!(id.trust_domain, "cluster.local");
        assert_eq!(id.namespace, "default");
        assert_eq!(id.service_account, "bookinfo-productpage");
        assert_eq!(id.to_string(), text);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let err = |s: &str| s.parse::<SpiffeId>().expect_err(s).to_string();
        assert!(err("https://x/ns/a/sa/b").contains("must start with spiffe://"));
        assert!(err("spiffe://td/ns/a").contains("/ns/NAMESPACE/sa/SERVICE_ACCOUNT"));
        assert!(err("spiffe://td/ns/a/sa/b/c").contains("/ns/NAMESPACE/sa/SERVICE_ACCOUNT"));
        assert!(err("spiffe://TD/ns/a/sa/b").contains("trust domain \"TD\""));
        assert!(err("spiffe:///ns/a/sa/b").contains("trust domain \"\" is invalid: empty"));
        assert!(err("spiffe://td/ns//sa/b").contains("namespace \"\" is invalid: empty"));
        assert!(err("spiffe://td/ns/a/sa/..").contains("service account \"..\""));
        assert!(err("spiffe://td/ns/a b/sa/c").contains("namespace \"a b\""));
    }
}
