//! The workload side (pilot-agent's job): generate a key, ask the CA to sign a CSR for the
//! workload's identity, check what comes back, and keep it fresh (see [`rotate`]).

mod rotate;

use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::ca::split_certificates;
use crate::service::{CaClient, CaClientError};
use crate::spiffe::SpiffeId;

pub use rotate::{RotationOptions, renewal_delay, run_rotation};

/// The key type the agent generates (Istio: ECDSA P-256 by default, RSA 2048 optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    #[default]
    EcdsaP256,
    Rsa2048,
}

/// A workload's key and chain as obtained from the CA.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The leaf and intermediates (PEM), leaf first; the root is in `root_pem`.
    pub chain_pem: String,
    /// PKCS#8 PEM; never logged (`Debug` redacts it).
    pub key_pem: String,
    /// The trust bundle: the last certificate of the CA's response.
    pub root_pem: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"[redacted]")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Why a certificate could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot generate a {0:?} key: {1}")]
    Key(KeyAlgorithm, String),
    #[error("cannot build the CSR for {0}: {1}")]
    Csr(SpiffeId, String),
    #[error(transparent)]
    Ca(#[from] CaClientError),
    #[error("CA response: {0}")]
    Response(String),
}

/// Generates a key of `algorithm`.
pub fn generate_key(algorithm: KeyAlgorithm) -> Result<KeyPair, AgentError> {
    let fail = |e: String| AgentError::Key(algorithm, e);
    match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))
        }
        KeyAlgorithm::Rsa2048 => {
            use rsa::pkcs8::EncodePrivateKey as _;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| fail(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| fail(e.to_string()))?;
            KeyPair::from_pem(&pem).map_err(|e| fail(e.to_string()))
        }
    }
}

/// A PEM CSR asking for exactly `identity` as URI SAN.
pub fn csr_for(identity: &SpiffeId, key: &KeyPair) -> Result<String, AgentError> {
    let fail = |e: String| AgentError::Csr(identity.clone(), e);
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e: rcgen::Error| fail(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(uri)];
    let csr = params
        .serialize_request(key)
        .map_err(|e| fail(e.to_string()))?;
    csr.pem().map_err(|e| fail(e.to_string()))
}

/// One round: new key, CSR, `CreateCertificate`, checks.
pub async fn obtain(
    client: &mut CaClient,
    identity: &SpiffeId,
    algorithm: KeyAlgorithm,
    validity: Duration,
) -> Result<Issued, AgentError> {
    let key = generate_key(algorithm)?;
    let csr = csr_for(identity, &key)?;
    let chain = client.create_certificate(csr, validity).await?;
    issued_from_response(&chain, identity, &key)
}

/// Checks the CA's answer: a leaf for our key and identity, then a root.
fn issued_from_response(
    response: &[String],
    identity: &SpiffeId,
    key: &KeyPair,
) -> Result<Issued, AgentError> {
    let bad = |s: String| AgentError::Response(s);
    // An element may hold several certificates (Istio concatenates leaf and chain).
    let mut certs = Vec::new();
    for element in response {
        certs.extend(split_certificates(element).map_err(bad)?);
    }
    if certs.len() < 2 {
        return Err(bad(format!(
            "{} certificates, want a leaf and a root",
            certs.len()
        )));
    }
    let root_pem = certs.pop().unwrap_or_default();
    let leaf_der = pem::parse(&certs[0])
        .map_err(|e| bad(e.to_string()))?
        .into_contents();
    let (_, leaf) = X509Certificate::from_der(&leaf_der).map_err(|e| bad(format!("leaf: {e}")))?;
    if leaf.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(bad("the leaf is not for the key we generated".into()));
    }
    let uris = leaf_uris(&leaf);
    if uris != [identity.uri()] {
        return Err(bad(format!("the leaf names {uris:?}, want [{identity}]")));
    }
    let validity = leaf.validity();
    Ok(Issued {
        chain_pem: certs.concat(),
        key_pem: key.serialize_pem(),
        root_pem,
        not_before: validity.not_before.to_datetime().into(),
        not_after: validity.not_after.to_datetime().into(),
    })
}

/// The URI SANs of a certificate.
pub fn leaf_uris(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => Some(uri.to_string()),
            _ => None,
        })
        .collect()
}
