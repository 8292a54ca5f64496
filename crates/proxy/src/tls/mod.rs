//! TLS on the data path (rustls with the ring provider): downstream termination after
//! filter-chain selection (`server`), upstream origination for HTTP pools and tcp_proxy
//! (`client`), the certificate checks Envoy's validation context asks for (`verify`), key and
//! trust material from inline config or the secret store (`material`), what `/certs` shows
//! (`certs`) and the plain-or-TLS stream type the proxies use (`stream`).
//!
//! Handshake configs are built once per TLS context and secrets version and kept in the
//! context's `BuiltCache`; a rotation in the secret store makes the next handshake rebuild,
//! while open connections keep the config they were established with. This module never
//! logs or formats key material.

pub mod certs;
pub mod client;
mod material;
pub mod server;
pub mod stream;
mod verify;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use weft_proxy_config::runtime::tls::TlsVersion;

pub use stream::Stream;

use crate::stats::SslStats;

/// The ring crypto provider, shared by every config.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The provider for a context: the shared one, or one limited to `cipher_suites` (TLS 1.2
/// names; the TLS 1.3 suites always stay).
pub(crate) fn provider_for(
    common: &weft_proxy_config::runtime::tls::CommonTls,
) -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    if common.cipher_suites.is_empty() {
        return provider();
    }
    let by_name = [
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ];
    let mut suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    for name in &common.cipher_suites {
        if let Some((_, s)) = by_name.iter().find(|(n, _)| n == name) {
            suites.push(*s);
        }
    }
    Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    })
}

pub(crate) fn versions(
    min: TlsVersion,
    max: TlsVersion,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut out = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    out
}

/// Why a handshake failed, in the categories of Envoy's `ssl.*` stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The peer sent no certificate where one is required (`ssl.no_certificate`).
    NoCertificate,
    /// The peer's certificate did not verify: CA, validity period (`ssl.fail_verify_error`).
    VerifyError,
    /// The certificate verified but no SAN matched (`ssl.fail_verify_san`).
    VerifySan,
    /// Anything else: protocol errors, plaintext, missing secrets, timeouts.
    Other,
}

impl Failure {
    pub fn of_io(e: &std::io::Error) -> Failure {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .map_or(Failure::Other, Failure::of)
    }

    pub fn of(e: &rustls::Error) -> Failure {
        use rustls::{CertificateError as C, Error as E};
        match e {
            E::NoCertificatesPresented => Failure::NoCertificate,
            E::InvalidCertificate(C::ApplicationVerificationFailure) => Failure::VerifySan,
            E::InvalidCertificate(_) => Failure::VerifyError,
            _ => Failure::Other,
        }
    }

    /// Counts a failed handshake: `ssl.connection_error` plus its category.
    pub fn count(self, stats: &SslStats) {
        stats.connection_error.inc();
        match self {
            Failure::NoCertificate => stats.no_certificate.inc(),
            Failure::VerifyError => stats.fail_verify_error.inc(),
            Failure::VerifySan => stats.fail_verify_san.inc(),
            Failure::Other => 0,
        };
    }
}
