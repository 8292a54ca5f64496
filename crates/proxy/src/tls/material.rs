//! Certificates, keys and trust anchors for a handshake config, from inline config or from the
//! secret store by SDS name. Errors name the secret or field, never the key material.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use weft_proxy_config::runtime::secret::{Secret, TlsCertificate};
use weft_proxy_config::runtime::tls::{CaSource, CertSource};

use crate::secrets::SecretStore;

#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("secret {0:?} is not available yet")]
    Missing(String),
    #[error("secret {name:?} is not a {expected}")]
    WrongKind {
        name: String,
        expected: &'static str,
    },
    #[error("{what}: {reason}")]
    Bad { what: String, reason: String },
    #[error("TLS config: {0}")]
    Rustls(#[from] rustls::Error),
}

fn bad(what: &str, reason: impl Into<String>) -> MaterialError {
    MaterialError::Bad {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// A certificate chain (leaf first) and its key.
#[derive(Debug)]
pub struct CertKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn cert_key(src: &CertSource, store: &SecretStore) -> Result<CertKey, MaterialError> {
    let (what, stored);
    let cert: &TlsCertificate = match src {
        CertSource::Inline(c) => {
            what = "inline certificate".to_string();
            c
        }
        CertSource::Sds(n) => {
            stored = store
                .get(&n.name)
                .ok_or_else(|| MaterialError::Missing(n.name.clone()))?;
            what = format!("secret {:?}", n.name);
            match &*stored {
                Secret::Certificate(c) => c,
                Secret::Validation(_) => {
                    return Err(MaterialError::WrongKind {
                        name: n.name.clone(),
                        expected: "tls_certificate",
                    });
                }
            }
        }
    };
    let chain = parse_chain(&what, &cert.chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(cert.key.pem().as_bytes())
        .map_err(|_| bad(&what, "no readable private key in PEM"))?;
    Ok(CertKey { chain, key })
}

pub fn parse_chain(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, MaterialError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(what, format!("bad certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad(what, "no certificate in PEM"));
    }
    Ok(chain)
}

/// The trust anchors of a validation context.
pub fn roots(src: &CaSource, store: &SecretStore) -> Result<Arc<RootCertStore>, MaterialError> {
    let (what, pem) = match src {
        CaSource::Inline(pem) => ("trusted_ca".to_string(), pem.clone()),
        CaSource::Sds(n) => {
            let s = store
                .get(&n.name)
                .ok_or_else(|| MaterialError::Missing(n.name.clone()))?;
            match &*s {
                Secret::Validation(v) => (format!("secret {:?}", n.name), v.trusted_ca_pem.clone()),
                Secret::Certificate(_) => {
                    return Err(MaterialError::WrongKind {
                        name: n.name.clone(),
                        expected: "validation_context",
                    });
                }
            }
        }
    };
    let mut roots = RootCertStore::empty();
    for cert in parse_chain(&what, &pem)? {
        roots
            .add(cert)
            .map_err(|e| bad(&what, format!("bad CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}
