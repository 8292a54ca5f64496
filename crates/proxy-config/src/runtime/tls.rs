//! TLS transport sockets (`envoy.transport_sockets.tls`): what a filter chain needs to
//! terminate TLS (`DownstreamTlsContext`) and what a cluster needs to originate it
//! (`UpstreamTlsContext`), with certificates by value (inline or read from a file here) or by
//! SDS name (looked up by the proxy in its secret store when it builds a handshake config).
//!
//! This module checks and compiles; it builds no TLS state. The proxy keeps the handshake
//! config it builds from a context in that context's [`BuiltCache`].

use std::any::Any;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;

use super::matcher::{StringMatcher, compile_string};
use super::secret::{PrivateKey, Secret, TlsCertificate, ValidationContext};
use crate::error::{At, Result};
use crate::model::core::{ConfigSource, DataSource};
use crate::model::tls as m;

/// The gRPC cluster name of Istio's node agent SDS socket; weft serves it in process.
pub const AGENT_SDS_CLUSTER: &str = "sds-grpc";

/// Where an SDS secret comes from. All three end up in the proxy's secret store; the source
/// says whether the ADS client must subscribe to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdsSource {
    /// No `sds_config`: `static_resources.secrets` of the bootstrap.
    Static,
    /// `sds_config: {ads: {}}`.
    Ads,
    /// `api_config_source` naming cluster `sds-grpc`: the in-process identity agent.
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdsName {
    pub name: String,
    pub source: SdsSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    Inline(TlsCertificate),
    Sds(SdsName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// PEM of the trusted CAs.
    Inline(String),
    Sds(SdsName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanType {
    Uri,
    Dns,
    /// Legacy `match_subject_alt_names`: any SAN of a supported type.
    Any,
}

#[derive(Debug, Clone)]
pub struct SanMatcher {
    pub san_type: SanType,
    pub matcher: StringMatcher,
}

impl SanMatcher {
    pub fn matches(&self, uri_sans: &[String], dns_sans: &[String]) -> bool {
        let (uris, dns): (&[String], &[String]) = match self.san_type {
            SanType::Uri => (uri_sans, &[]),
            SanType::Dns => (&[], dns_sans),
            SanType::Any => (uri_sans, dns_sans),
        };
        uris.iter().chain(dns).any(|s| self.matcher.matches(s))
    }
}

/// How the peer's certificate is checked.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Without a CA, the peer's certificate is not verified (Envoy's behaviour).
    pub ca: Option<CaSource>,
    /// The peer must have a SAN matching one of these (when any are given).
    pub sans: Vec<SanMatcher>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone)]
pub struct CommonTls {
    pub certificate: Option<CertSource>,
    pub validation: Validation,
    pub alpn: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 suites allowed (OpenSSL names rustls implements); empty means rustls' defaults.
    pub cipher_suites: Vec<String>,
}

/// Downstream (server-side) TLS of a filter chain.
#[derive(Debug)]
pub struct DownstreamTls {
    pub common: CommonTls,
    pub require_client_certificate: bool,
    pub built: BuiltCache,
}

/// Upstream (client-side) TLS of a cluster.
#[derive(Debug)]
pub struct UpstreamTls {
    pub common: CommonTls,
    pub sni: Option<String>,
    pub built: BuiltCache,
}

impl PartialEq for UpstreamTls {
    /// Same config, ignoring what was built from it. Matchers compare by their source text;
    /// inline keys compare by value (their `Debug` is redacted).
    fn eq(&self, other: &Self) -> bool {
        self.common.certificate == other.common.certificate
            && format!("{:?}{:?}", self.common, self.sni)
                == format!("{:?}{:?}", other.common, other.sni)
    }
}

/// What the data path built from a TLS context (type-erased so this crate stays free of TLS
/// libraries). A `RwLock` per context, read on every handshake, written on a rebuild.
#[derive(Default)]
pub struct BuiltCache(RwLock<Option<Arc<dyn Any + Send + Sync>>>);

impl BuiltCache {
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let slot = self.0.read().unwrap_or_else(PoisonError::into_inner);
        slot.clone().and_then(|v| v.downcast::<T>().ok())
    }

    pub fn set<T: Any + Send + Sync>(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }
}

impl std::fmt::Debug for BuiltCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuiltCache")
    }
}

/// Transport socket of a filter chain: `Some` for TLS, `None` for plaintext.
pub fn build_downstream(
    at: &At<'_>,
    ts: Option<&m::TransportSocket>,
) -> Result<Option<DownstreamTls>> {
    let Some(ts) = ts else { return Ok(None) };
    let tat = at.field("typed_config");
    match &ts.typed_config {
        Some(m::TransportSocketConfig::Downstream(d)) => {
            let cat = tat.field("common_tls_context");
            let common = build_common(&cat, d.common_tls_context.as_ref())?;
            if common.certificate.is_none() {
                return Err(cat.err(
                    "a server certificate is required (tls_certificates or tls_certificate_sds_secret_configs)",
                ));
            }
            let require = d.require_client_certificate.unwrap_or(false);
            if require && common.validation.ca.is_none() {
                return Err(tat
                    .field("require_client_certificate")
                    .err("needs a validation context with trusted_ca"));
            }
            Ok(Some(DownstreamTls {
                common,
                require_client_certificate: require,
                built: BuiltCache::default(),
            }))
        }
        Some(m::TransportSocketConfig::RawBuffer {}) => Ok(None),
        Some(m::TransportSocketConfig::Upstream(_)) => {
            Err(tat.err("a filter chain needs a DownstreamTlsContext, not an UpstreamTlsContext"))
        }
        None => Err(tat.err("is required")),
    }
}

/// Transport socket of a cluster: `Some` for TLS, `None` for plaintext.
pub fn build_upstream(at: &At<'_>, ts: Option<&m::TransportSocket>) -> Result<Option<UpstreamTls>> {
    let Some(ts) = ts else { return Ok(None) };
    let tat = at.field("typed_config");
    match &ts.typed_config {
        Some(m::TransportSocketConfig::Upstream(u)) => {
            let common = build_common(
                &tat.field("common_tls_context"),
                u.common_tls_context.as_ref(),
            )?;
            Ok(Some(UpstreamTls {
                common,
                sni: Some(u.sni.clone()).filter(|s| !s.is_empty()),
                built: BuiltCache::default(),
            }))
        }
        Some(m::TransportSocketConfig::RawBuffer {}) => Ok(None),
        Some(m::TransportSocketConfig::Downstream(_)) => {
            Err(tat.err("a cluster needs an UpstreamTlsContext, not a DownstreamTlsContext"))
        }
        None => Err(tat.err("is required")),
    }
}

fn build_common(at: &At<'_>, c: Option<&m::CommonTlsContext>) -> Result<CommonTls> {
    let default = m::CommonTlsContext::default();
    let c = c.unwrap_or(&default);
    let (min_version, max_version) = versions(&at.field("tls_params"), c.tls_params.as_ref())?;
    let cipher_suites = match &c.tls_params {
        Some(p) if !p.cipher_suites.is_empty() => cipher_suites(
            &at.field("tls_params").field("cipher_suites"),
            &p.cipher_suites,
            min_version,
        )?,
        _ => Vec::new(),
    };
    Ok(CommonTls {
        certificate: certificate(at, c)?,
        validation: validation(at, c)?,
        alpn: c.alpn_protocols.clone(),
        min_version,
        max_version,
        cipher_suites,
    })
}

/// TLS 1.2 suites rustls implements (OpenSSL names).
pub const RUSTLS_TLS12_SUITES: [&str; 6] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// Suites Envoy accepts that rustls does not implement (RSA key exchange, CBC): allowed in
/// the list, never negotiated.
const UNAVAILABLE_TLS12_SUITES: [&str; 8] = [
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
];

/// The usable suites of `cipher_suites` (BoringSSL's `[A|B]` groups are flattened).
fn cipher_suites(at: &At<'_>, names: &[String], min: TlsVersion) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, entry) in names.iter().enumerate() {
        let group = entry.trim_start_matches('[').trim_end_matches(']');
        for name in group.split('|') {
            if RUSTLS_TLS12_SUITES.contains(&name) {
                out.push(name.to_string());
            } else if !UNAVAILABLE_TLS12_SUITES.contains(&name) {
                return Err(at.index(i).err(format!("unknown cipher suite {name:?}")));
            }
        }
    }
    if out.is_empty() && min == TlsVersion::Tls12 {
        return Err(at.err(format!(
            "none of these TLS 1.2 suites is available (rustls implements {})",
            RUSTLS_TLS12_SUITES.join(", ")
        )));
    }
    Ok(out)
}

fn certificate(at: &At<'_>, c: &m::CommonTlsContext) -> Result<Option<CertSource>> {
    match (
        &c.tls_certificates[..],
        &c.tls_certificate_sds_secret_configs[..],
    ) {
        ([], []) => Ok(None),
        ([cert], []) => Ok(Some(CertSource::Inline(tls_certificate(
            &at.field("tls_certificates").index(0),
            cert,
        )?))),
        ([], [sds]) => Ok(Some(CertSource::Sds(sds_name(
            &at.field("tls_certificate_sds_secret_configs").index(0),
            sds,
        )?))),
        ([_, ..], [_, ..]) => Err(at
            .err("only one of tls_certificates and tls_certificate_sds_secret_configs may be set")),
        ([_, _, ..], _) => Err(at
            .field("tls_certificates")
            .err("only one certificate is supported")),
        (_, _) => Err(at
            .field("tls_certificate_sds_secret_configs")
            .err("only one certificate is supported")),
    }
}

fn validation(at: &At<'_>, c: &m::CommonTlsContext) -> Result<Validation> {
    let set = [
        c.validation_context.is_some(),
        c.validation_context_sds_secret_config.is_some(),
        c.combined_validation_context.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(at.err(
            "only one of validation_context, validation_context_sds_secret_config, combined_validation_context may be set",
        ));
    }
    if let Some(v) = &c.validation_context {
        return validation_context(&at.field("validation_context"), v);
    }
    if let Some(sds) = &c.validation_context_sds_secret_config {
        let name = sds_name(&at.field("validation_context_sds_secret_config"), sds)?;
        return Ok(Validation {
            ca: Some(CaSource::Sds(name)),
            sans: Vec::new(),
        });
    }
    let Some(comb) = &c.combined_validation_context else {
        return Ok(Validation::default());
    };
    let cat = at.field("combined_validation_context");
    let mut v = match &comb.default_validation_context {
        Some(d) => validation_context(&cat.field("default_validation_context"), d)?,
        None => Validation::default(),
    };
    let sds = comb
        .validation_context_sds_secret_config
        .as_ref()
        .ok_or_else(|| {
            cat.field("validation_context_sds_secret_config")
                .err("is required")
        })?;
    // The dynamic context's trusted CA overrides the default one, as Envoy's merge does.
    v.ca = Some(CaSource::Sds(sds_name(
        &cat.field("validation_context_sds_secret_config"),
        sds,
    )?));
    Ok(v)
}

fn validation_context(at: &At<'_>, v: &m::CertificateValidationContext) -> Result<Validation> {
    let ca = v
        .trusted_ca
        .as_ref()
        .map(|d| pem_text(&at.field("trusted_ca"), d, "CERTIFICATE"))
        .transpose()?
        .map(CaSource::Inline);
    let mut sans = Vec::new();
    for (i, s) in v.match_typed_subject_alt_names.iter().enumerate() {
        let sat = at.field("match_typed_subject_alt_names").index(i);
        let san_type = match s.san_type.as_str() {
            "URI" => SanType::Uri,
            "DNS" => SanType::Dns,
            other => {
                return Err(sat
                    .field("san_type")
                    .err(format!("{other:?} is not supported (URI or DNS)")));
            }
        };
        let matcher = s
            .matcher
            .as_ref()
            .ok_or_else(|| sat.field("matcher").err("is required"))?;
        sans.push(SanMatcher {
            san_type,
            matcher: compile_string(&sat.field("matcher"), matcher)?,
        });
    }
    for (i, s) in v.match_subject_alt_names.iter().enumerate() {
        let sat = at.field("match_subject_alt_names").index(i);
        sans.push(SanMatcher {
            san_type: SanType::Any,
            matcher: compile_string(&sat, s)?,
        });
    }
    Ok(Validation { ca, sans })
}

fn sds_name(at: &At<'_>, s: &m::SdsSecretConfig) -> Result<SdsName> {
    if s.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    Ok(SdsName {
        name: s.name.clone(),
        source: sds_source(&at.field("sds_config"), s.sds_config.as_ref())?,
    })
}

fn sds_source(at: &At<'_>, c: Option<&ConfigSource>) -> Result<SdsSource> {
    let Some(c) = c else {
        return Ok(SdsSource::Static);
    };
    if c.ads.is_some() && c.api_config_source.is_none() {
        return Ok(SdsSource::Ads);
    }
    let agent = c.api_config_source.as_ref().is_some_and(|a| {
        a.api_type.as_deref().is_none_or(|t| t == "GRPC")
            && a.grpc_services.len() == 1
            && a.grpc_services[0]
                .envoy_grpc
                .as_ref()
                .is_some_and(|g| g.cluster_name == AGENT_SDS_CLUSTER)
    });
    if agent && c.ads.is_none() {
        return Ok(SdsSource::Agent);
    }
    Err(at.err(format!(
        "only ads {{}} or an api_config_source of api_type GRPC with one envoy_grpc service naming cluster {AGENT_SDS_CLUSTER:?} (the in-process identity agent) are supported"
    )))
}

fn versions(at: &At<'_>, p: Option<&m::TlsParameters>) -> Result<(TlsVersion, TlsVersion)> {
    let Some(p) = p else {
        return Ok((TlsVersion::Tls12, TlsVersion::Tls13));
    };
    let parse = |field: &str, v: Option<&str>, default: TlsVersion| {
        match v {
        None | Some("TLS_AUTO") => Ok(default),
        // rustls speaks TLS 1.2 and 1.3 only: a lower minimum is raised to 1.2.
        Some("TLSv1_0" | "TLSv1_1" | "TLSv1_2") if field.starts_with("tls_minimum") => {
            Ok(TlsVersion::Tls12)
        }
        Some("TLSv1_2") => Ok(TlsVersion::Tls12),
        Some("TLSv1_3") => Ok(TlsVersion::Tls13),
        Some(other) => Err(at.field(field).err(format!(
            "{other:?} is not supported (TLS_AUTO, TLSv1_2 or TLSv1_3; TLS 1.0 and 1.1 only as a minimum)"
        ))),
    }
    };
    let min = parse(
        "tls_minimum_protocol_version",
        p.tls_minimum_protocol_version.as_deref(),
        TlsVersion::Tls12,
    )?;
    let max = parse(
        "tls_maximum_protocol_version",
        p.tls_maximum_protocol_version.as_deref(),
        TlsVersion::Tls13,
    )?;
    if min > max {
        return Err(at.err("tls_minimum_protocol_version is above tls_maximum_protocol_version"));
    }
    Ok((min, max))
}

fn tls_certificate(at: &At<'_>, c: &m::TlsCertificate) -> Result<TlsCertificate> {
    let chain = c
        .certificate_chain
        .as_ref()
        .ok_or_else(|| at.field("certificate_chain").err("is required"))?;
    let key = c
        .private_key
        .as_ref()
        .ok_or_else(|| at.field("private_key").err("is required"))?;
    Ok(TlsCertificate {
        chain_pem: pem_text(&at.field("certificate_chain"), chain, "CERTIFICATE")?,
        key: PrivateKey::new(pem_text(&at.field("private_key"), key, "PRIVATE KEY")?),
    })
}

/// The PEM text of a data source (reading `filename` now), checked for a `label` block.
/// Errors never quote the content: it may be a private key.
fn pem_text(at: &At<'_>, d: &DataSource, label: &str) -> Result<String> {
    let text = match (&d.inline_string, &d.inline_bytes, &d.filename) {
        (Some(s), None, None) => s.clone(),
        (None, Some(b), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|_| at.field("inline_bytes").err("is not valid base64"))?;
            String::from_utf8(bytes).map_err(|_| at.field("inline_bytes").err("is not PEM text"))?
        }
        (None, None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| at.field("filename").err(format!("cannot read {f:?}: {e}")))?,
        (None, None, None) => {
            return Err(at.err("one of inline_string, inline_bytes, filename is required"));
        }
        _ => return Err(at.err("only one of inline_string, inline_bytes, filename may be set")),
    };
    if !text.contains("-----BEGIN ") || !text.contains(&format!("{label}-----")) {
        return Err(at.err(format!("no PEM {label} block found")));
    }
    Ok(text)
}

/// An SDS secret (bootstrap `static_resources.secrets` or a `Secret` from ADS).
pub fn build_secret(s: &m::Secret) -> Result<Secret> {
    let resource = format!("Secret {}", s.name);
    let at = At::new(&resource);
    if s.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    match (&s.tls_certificate, &s.validation_context) {
        (Some(c), None) => Ok(Secret::Certificate(tls_certificate(
            &at.field("tls_certificate"),
            c,
        )?)),
        (None, Some(v)) => {
            let vat = at.field("validation_context");
            if !v.match_typed_subject_alt_names.is_empty() || !v.match_subject_alt_names.is_empty()
            {
                return Err(vat.err(
                    "SAN matchers in an SDS validation context are not supported; put them in combined_validation_context.default_validation_context",
                ));
            }
            let ca = v
                .trusted_ca
                .as_ref()
                .ok_or_else(|| vat.field("trusted_ca").err("is required"))?;
            Ok(Secret::Validation(ValidationContext {
                trusted_ca_pem: pem_text(&vat.field("trusted_ca"), ca, "CERTIFICATE")?,
            }))
        }
        (None, None) => Err(at.err("one of tls_certificate, validation_context is required")),
        (Some(_), Some(_)) => {
            Err(at.err("only one of tls_certificate, validation_context may be set"))
        }
    }
}

/// SDS names a context refers to, with their sources (for the ADS subscription).
pub fn sds_names(c: &CommonTls) -> Vec<&SdsName> {
    let cert = match &c.certificate {
        Some(CertSource::Sds(n)) => Some(n),
        _ => None,
    };
    let ca = match &c.validation.ca {
        Some(CaSource::Sds(n)) => Some(n),
        _ => None,
    };
    cert.into_iter().chain(ca).collect()
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
