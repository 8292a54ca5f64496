//! Signing a workload's CSR: the CSR must verify and ask for exactly the caller's identity;
//! the leaf gets that URI SAN, Istio's key usages and a lifetime within the policy.

use std::time::Duration;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, ExtendedKeyUsagePurpose,
    IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom as _, SystemRandom};
use time::OffsetDateTime;

use super::{CLOCK_SKEW_GRACE, CaError, CertificateAuthority, SignedChain};
use crate::spiffe::SpiffeId;

impl CertificateAuthority {
    /// Signs `csr_pem` for `identity` (the authenticated caller), valid for `ttl` (none or
    /// zero: the default) cut to the maximum and to the signing certificate's own expiry.
    pub fn sign(
        &self,
        csr_pem: &str,
        identity: &SpiffeId,
        ttl: Option<Duration>,
    ) -> Result<SignedChain, CaError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(csr_error)?;
        self.check_requested_names(&csr.params.subject_alt_names, identity)?;
        let now = OffsetDateTime::now_utc();
        let not_before = now - CLOCK_SKEW_GRACE;
        let not_after = (now + self.ttl.effective(ttl)).min(self.signing_not_after);
        let params = leaf_params(identity, not_before, not_after)?;
        let leaf = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        let mut certificates = Vec::with_capacity(self.intermediates.len() + 2);
        certificates.push(leaf.pem());
        certificates.extend(self.intermediates.iter().cloned());
        certificates.push(self.root_pem.clone());
        tracing::info!(%identity, %not_after, "signed a workload certificate");
        Ok(SignedChain {
            certificates,
            not_before,
            not_after,
        })
    }

    /// The CSR may name the caller's identity and nothing else.
    fn check_requested_names(&self, sans: &[SanType], identity: &SpiffeId) -> Result<(), CaError> {
        let allowed = identity.uri();
        let requested: Vec<String> = sans.iter().map(describe_san).collect();
        let exactly_allowed = matches!(sans, [SanType::URI(uri)] if uri.as_str() == allowed);
        if !exactly_allowed || identity.trust_domain != self.trust_domain {
            return Err(CaError::IdentityMismatch { requested, allowed });
        }
        Ok(())
    }
}

fn csr_error(e: rcgen::Error) -> CaError {
    let reason = match e {
        rcgen::Error::InvalidCertificationRequestSignature => {
            "signature does not verify".to_string()
        }
        rcgen::Error::CouldNotParseCertificationRequest => {
            "not a PEM PKCS#10 certificate request".to_string()
        }
        rcgen::Error::UnsupportedExtension => {
            "requests an extension other than subjectAltName, key usages and basic constraints"
                .to_string()
        }
        other => other.to_string(),
    };
    CaError::Csr(reason)
}

fn describe_san(san: &SanType) -> String {
    match san {
        SanType::URI(uri) => uri.as_str().to_string(),
        SanType::DnsName(name) => format!("DNS:{}", name.as_str()),
        SanType::Rfc822Name(name) => format!("email:{}", name.as_str()),
        SanType::IpAddress(ip) => format!("IP:{ip}"),
        other => format!("{other:?}"),
    }
}

fn leaf_params(
    identity: &SpiffeId,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e| CaError::Signing(format!("URI SAN {identity}: {e}")))?;
    let mut params = CertificateParams::default();
    // Istio leaves have an empty subject; rcgen then marks the SAN critical, as RFC 5280 asks.
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// 128 random bits, positive.
pub(crate) fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Signing("no random numbers".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}
