//! SDS secrets as the data path uses them: a certificate chain with its private key
//! (`tls_certificate`) or a trust bundle (`validation_context`). The private key never prints:
//! its `Debug` is redacted and it has no `Serialize`, so it cannot reach logs or `/config_dump`.

/// PEM text of a private key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(String);

impl PrivateKey {
    pub fn new(pem: String) -> Self {
        Self(pem)
    }

    /// The PEM text, for building a TLS config only.
    pub fn pem(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A certificate chain (leaf first, PEM) and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCertificate {
    pub chain_pem: String,
    pub key: PrivateKey,
}

/// Trusted CA certificates (PEM), e.g. Istio's `ROOTCA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationContext {
    pub trusted_ca_pem: String,
}

/// One named secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Certificate(TlsCertificate),
    Validation(ValidationContext),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_debug_is_redacted() {
        let s = Secret::Certificate(TlsCertificate {
            chain_pem: "CHAIN".into(),
            key: PrivateKey::new("-----BEGIN PRIVATE KEY-----SECRET".into()),
        });
        let text = format!("{s:?}");
        assert!(
            text.contains("CHAIN") && text.contains("[redacted]"),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }
}
