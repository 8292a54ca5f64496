//! Where the CA's signing material comes from: a self-signed root created (once) in a
//! directory, or Istio's plugged-in `cacerts` layout.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::pem_text::{der_of, split_certificates};
use super::{CLOCK_SKEW_GRACE, CaError, CertificateAuthority, SELF_SIGNED_ROOT_TTL, TtlPolicy};
use crate::files;

/// The signing certificate (`cacerts` layout).
pub const CA_CERT: &str = "ca-cert.pem";
/// The signing key (both layouts).
pub const CA_KEY: &str = "ca-key.pem";
/// The trust bundle (both layouts).
pub const ROOT_CERT: &str = "root-cert.pem";
/// The signing certificate followed by its issuers (`cacerts` layout).
pub const CERT_CHAIN: &str = "cert-chain.pem";

fn material(path: &Path, reason: impl Into<String>) -> CaError {
    CaError::Material {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl CertificateAuthority {
    /// The CA of a self-signed root kept in `dir`: created on first start (ECDSA P-256,
    /// 10 years, key 0600), reloaded afterwards.
    pub fn self_signed(
        dir: &Path,
        trust_domain: &str,
        ttl: TtlPolicy,
    ) -> Result<CertificateAuthority, CaError> {
        files::create_private_dir(dir)?;
        let (cert_path, key_path) = (dir.join(ROOT_CERT), dir.join(CA_KEY));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {}
            (false, false) => create_root(dir, trust_domain)?,
            (true, false) => return Err(incomplete(dir, ROOT_CERT, CA_KEY)),
            (false, true) => return Err(incomplete(dir, CA_KEY, ROOT_CERT)),
        }
        let root = files::read_text(&cert_path)?;
        let key = load_key(&key_path)?;
        let signing = SigningCert::load(&cert_path, &root, &key)?;
        let issuer = Issuer::from_ca_cert_pem(&root, key)
            .map_err(|e| material(&cert_path, format!("cannot use as issuer: {e}")))?;
        Ok(CertificateAuthority {
            trust_domain: trust_domain.to_string(),
            issuer,
            intermediates: Vec::new(),
            root_pem: root,
            signing_not_after: signing.not_after,
            ttl,
        })
    }

    /// The CA of plugged-in material in Istio's `cacerts` layout: `ca-cert.pem` signs with
    /// `ca-key.pem`; `cert-chain.pem` starts with `ca-cert.pem` and continues towards
    /// `root-cert.pem`.
    pub fn from_cacerts(
        dir: &Path,
        trust_domain: &str,
        ttl: TtlPolicy,
    ) -> Result<CertificateAuthority, CaError> {
        let cert_path = dir.join(CA_CERT);
        let cert = files::read_text(&cert_path)?;
        let key = load_key(&dir.join(CA_KEY))?;
        let root_path = dir.join(ROOT_CERT);
        let root = files::read_text(&root_path)?;
        let chain_path = dir.join(CERT_CHAIN);
        let chain = split_certificates(&files::read_text(&chain_path)?)
            .map_err(|e| material(&chain_path, e))?;
        let signing = SigningCert::load(&cert_path, &cert, &key)?;
        let root_der = der_of(&root).map_err(|e| material(&root_path, e))?;
        let intermediates = check_chain(&chain_path, &signing.der, &chain, &root_der)?;
        let issuer = Issuer::from_ca_cert_pem(&cert, key)
            .map_err(|e| material(&cert_path, format!("cannot use as issuer: {e}")))?;
        Ok(CertificateAuthority {
            trust_domain: trust_domain.to_string(),
            issuer,
            intermediates,
            root_pem: root,
            signing_not_after: signing.not_after,
            ttl,
        })
    }
}

fn incomplete(dir: &Path, present: &'static str, missing: &'static str) -> CaError {
    CaError::Incomplete {
        dir: dir.to_path_buf(),
        present,
        missing,
    }
}

/// Generates the root and writes the key (0600) before the certificate, so a crash between
/// the two leaves an incomplete pair that is reported, not a certificate without its key.
fn create_root(dir: &Path, trust_domain: &str) -> Result<(), CaError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CaError::Signing(format!("cannot generate the root key: {e}")))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, trust_domain);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW_GRACE;
    params.not_after = now + SELF_SIGNED_ROOT_TTL;
    params.serial_number = Some(super::sign::random_serial()?);
    let cert = params
        .self_signed(&key)
        .map_err(|e| CaError::Signing(format!("cannot sign the root: {e}")))?;
    files::write_private(&dir.join(CA_KEY), key.serialize_pem().as_bytes())?;
    files::write_public(&dir.join(ROOT_CERT), cert.pem().as_bytes())?;
    tracing::info!(dir = %dir.display(), %trust_domain, "created a self-signed root CA");
    Ok(())
}

/// Reads a signing key: PKCS#8 (`PRIVATE KEY`) or PKCS#1 RSA (`RSA PRIVATE KEY`).
fn load_key(path: &Path) -> Result<KeyPair, CaError> {
    let text = files::read_text(path)?;
    let pkcs8 = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(&text)
            .map_err(|e| material(path, format!("not a PKCS#1 RSA key: {e}")))?;
        let pem = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| material(path, format!("cannot convert to PKCS#8: {e}")))?;
        pem.to_string()
    } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        return Err(material(
            path,
            "SEC1 EC keys are not supported; convert with `openssl pkcs8 -topk8 -nocrypt`",
        ));
    } else {
        text
    };
    KeyPair::from_pem(&pkcs8).map_err(|e| material(path, format!("not a usable key: {e}")))
}

/// The facts of a signing certificate the CA needs, after checking it can sign.
struct SigningCert {
    der: Vec<u8>,
    not_after: OffsetDateTime,
}

impl SigningCert {
    fn load(path: &Path, pem_text: &str, key: &KeyPair) -> Result<SigningCert, CaError> {
        let der = der_of(pem_text).map_err(|e| material(path, e))?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| material(path, format!("not an X.509 certificate: {e}")))?;
        if !cert.is_ca() {
            return Err(material(path, "basicConstraints: not a CA certificate"));
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(material(
                path,
                format!("does not match the key in {CA_KEY}"),
            ));
        }
        let not_after = cert.validity().not_after.to_datetime();
        if not_after <= OffsetDateTime::now_utc() {
            return Err(material(path, format!("expired at {not_after}")));
        }
        Ok(SigningCert { der, not_after })
    }
}

/// Checks that `chain` starts with the signing certificate and each certificate is signed by
/// the next, the last by the root; returns the chain without a trailing copy of the root.
fn check_chain(
    path: &Path,
    signing_der: &[u8],
    chain: &[String],
    root_der: &[u8],
) -> Result<Vec<String>, CaError> {
    let mut ders = Vec::with_capacity(chain.len() + 1);
    for (i, pem_text) in chain.iter().enumerate() {
        ders.push(der_of(pem_text).map_err(|e| material(path, format!("[{i}]: {e}")))?);
    }
    if ders.first().map(Vec::as_slice) != Some(signing_der) {
        return Err(material(path, format!("must start with {CA_CERT}")));
    }
    let mut intermediates = chain.to_vec();
    if ders.last().map(Vec::as_slice) == Some(root_der) {
        intermediates.pop();
    } else {
        ders.push(root_der.to_vec());
    }
    for (i, pair) in ders.windows(2).enumerate() {
        let (child, parent) = (
            parse_at(path, i, &pair[0])?,
            parse_at(path, i + 1, &pair[1])?,
        );
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|_| {
                let reason =
                    format!("[{i}] is not signed by the next certificate (or {ROOT_CERT})");
                material(path, reason)
            })?;
    }
    Ok(intermediates)
}

fn parse_at<'a>(path: &Path, i: usize, der: &'a [u8]) -> Result<X509Certificate<'a>, CaError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| material(path, format!("[{i}]: not an X.509 certificate: {e}")))
}
