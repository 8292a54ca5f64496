//! Peer-certificate checks beyond the chain: Envoy's SAN matchers, for client certificates
//! (wrapping rustls' WebPKI client verifier) and for server certificates (chain to the trusted
//! CA without a host-name check: mesh certificates carry SPIFFE URIs, not the SNI name).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use weft_proxy_config::runtime::tls::SanMatcher;

/// URI and DNS SANs of a DER certificate (empty when it cannot be parsed).
pub fn sans_of(der: &[u8]) -> (Vec<String>, Vec<String>) {
    use x509_parser::extensions::GeneralName;
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return (uris, dns);
    };
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::URI(u) => uris.push((*u).to_string()),
                GeneralName::DNSName(d) => dns.push((*d).to_string()),
                _ => {}
            }
        }
    }
    (uris, dns)
}

/// Envoy accepts a certificate when any matcher matches any SAN of its type.
fn check_sans(matchers: &[SanMatcher], leaf: &CertificateDer<'_>) -> Result<(), Error> {
    if matchers.is_empty() {
        return Ok(());
    }
    let (uris, dns) = sans_of(leaf);
    if matchers.iter().any(|m| m.matches(&uris, &dns)) {
        return Ok(());
    }
    Err(Error::InvalidCertificate(
        CertificateError::ApplicationVerificationFailure,
    ))
}

/// Client certificates: WebPKI chain and validity checks, then the SAN matchers.
#[derive(Debug)]
pub struct ClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub sans: Vec<SanMatcher>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_sans(&self.sans, end_entity)?;
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Server certificates: chain to `roots` (when given) and validity, then the SAN matchers.
/// Without roots nothing is verified beyond the handshake signature, as in Envoy without a
/// validation context.
#[derive(Debug)]
pub struct ServerVerifier {
    pub roots: Option<Arc<RootCertStore>>,
    pub sans: Vec<SanMatcher>,
    pub provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        check_sans(&self.sans, end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
