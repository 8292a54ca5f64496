//! `envoy.extensions.transport_sockets.tls.v3` of the subset: the TLS transport socket's
//! `DownstreamTlsContext` / `UpstreamTlsContext` and SDS `Secret`s.
//!
//! Private keys are model data like any other field here; `/config_dump` redacts them
//! (`Secret::redacted`), and the runtime form (`runtime::secret::PrivateKey`) never prints them.

use serde::{Deserialize, Serialize};

use super::core::{ConfigSource, DataSource, StringMatcher};

/// `transport_socket` of a filter chain or cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSocket {
    pub name: String,
    pub typed_config: Option<TransportSocketConfig>,
}

pub const DOWNSTREAM_TLS_CONTEXT: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
pub const UPSTREAM_TLS_CONTEXT: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
pub const RAW_BUFFER: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

/// The socket's `typed_config`, selected by its `@type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum TransportSocketConfig {
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
    )]
    Downstream(DownstreamTlsContext),
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    )]
    Upstream(UpstreamTlsContext),
    /// Plaintext, as if no transport socket were set.
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
    )]
    RawBuffer {},
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownstreamTlsContext {
    pub common_tls_context: Option<CommonTlsContext>,
    pub require_client_certificate: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamTlsContext {
    pub common_tls_context: Option<CommonTlsContext>,
    pub sni: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonTlsContext {
    pub tls_params: Option<TlsParameters>,
    pub tls_certificates: Vec<TlsCertificate>,
    pub tls_certificate_sds_secret_configs: Vec<SdsSecretConfig>,
    pub validation_context: Option<CertificateValidationContext>,
    pub validation_context_sds_secret_config: Option<SdsSecretConfig>,
    pub combined_validation_context: Option<CombinedValidationContext>,
    pub alpn_protocols: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsParameters {
    /// `TLS_AUTO`, `TLSv1_0` … `TLSv1_3`.
    pub tls_minimum_protocol_version: Option<String>,
    pub tls_maximum_protocol_version: Option<String>,
    /// TLS 1.2 cipher suites by OpenSSL name (TLS 1.3 suites are not configurable, as in Envoy).
    pub cipher_suites: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsCertificate {
    pub certificate_chain: Option<DataSource>,
    pub private_key: Option<DataSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdsSecretConfig {
    pub name: String,
    pub sds_config: Option<ConfigSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateValidationContext {
    pub trusted_ca: Option<DataSource>,
    pub match_typed_subject_alt_names: Vec<SubjectAltNameMatcher>,
    /// Deprecated in Envoy (any SAN type); still sent by older control planes.
    pub match_subject_alt_names: Vec<StringMatcher>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubjectAltNameMatcher {
    /// `URI` or `DNS` (others are rejected).
    pub san_type: String,
    pub matcher: Option<StringMatcher>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CombinedValidationContext {
    pub default_validation_context: Option<CertificateValidationContext>,
    pub validation_context_sds_secret_config: Option<SdsSecretConfig>,
}

/// An SDS `Secret`: a certificate with its key, or a validation context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    pub tls_certificate: Option<TlsCertificate>,
    pub validation_context: Option<CertificateValidationContext>,
}

/// What dumps show in place of a private key.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// A copy whose private key (if any) reads `[redacted]`.
    pub fn redacted(&self) -> Secret {
        let mut s = self.clone();
        if let Some(key) = s
            .tls_certificate
            .as_mut()
            .and_then(|c| c.private_key.as_mut())
        {
            *key = DataSource {
                inline_string: Some(REDACTED.into()),
                ..Default::default()
            };
        }
        s
    }
}

impl TransportSocket {
    /// A copy with inline private keys replaced by `[redacted]` (file names are kept).
    pub fn redacted(&self) -> TransportSocket {
        let mut t = self.clone();
        let common = match &mut t.typed_config {
            Some(TransportSocketConfig::Downstream(d)) => d.common_tls_context.as_mut(),
            Some(TransportSocketConfig::Upstream(u)) => u.common_tls_context.as_mut(),
            _ => None,
        };
        for cert in common
            .into_iter()
            .flat_map(|c| c.tls_certificates.iter_mut())
        {
            if let Some(key) = cert.private_key.as_mut().filter(|k| k.filename.is_none()) {
                *key = DataSource {
                    inline_string: Some(REDACTED.into()),
                    ..Default::default()
                };
            }
        }
        t
    }
}
