//! TLS transport sockets (`DownstreamTlsContext`, `UpstreamTlsContext`) and SDS `Secret`
//! protobufs into the model.

use base64::Engine;
use serde_json::json;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3 as pb;

use super::route::string_matcher;
use super::{dur, rest, unpack};
use crate::error::{At, Result};
use crate::model::core as mc;
use crate::model::tls as m;

pub(crate) fn transport_socket(
    at: &At<'_>,
    ts: &core::TransportSocket,
) -> Result<m::TransportSocket> {
    let tat = at.field("typed_config");
    let Some(core::transport_socket::ConfigType::TypedConfig(any)) = &ts.config_type else {
        return Err(tat.err("is required"));
    };
    let typed_config = if weft_xds::same_type(&any.type_url, m::DOWNSTREAM_TLS_CONTEXT) {
        m::TransportSocketConfig::Downstream(downstream(&tat, &unpack(&tat, any)?)?)
    } else if weft_xds::same_type(&any.type_url, m::UPSTREAM_TLS_CONTEXT) {
        m::TransportSocketConfig::Upstream(upstream(&tat, &unpack(&tat, any)?)?)
    } else if weft_xds::same_type(&any.type_url, m::RAW_BUFFER) {
        m::TransportSocketConfig::RawBuffer {}
    } else {
        return Err(tat.err(format!(
            "unknown transport socket type {:?} (tls and raw_buffer are supported)",
            any.type_url
        )));
    };
    Ok(m::TransportSocket {
        name: ts.name.clone(),
        typed_config: Some(typed_config),
    })
}

fn downstream(at: &At<'_>, d: &pb::DownstreamTlsContext) -> Result<m::DownstreamTlsContext> {
    let mut left = d.clone();
    left.common_tls_context = None;
    left.require_client_certificate = None;
    rest(at, &left)?;
    Ok(m::DownstreamTlsContext {
        common_tls_context: d
            .common_tls_context
            .as_ref()
            .map(|c| common(&at.field("common_tls_context"), c))
            .transpose()?,
        require_client_certificate: d.require_client_certificate.map(|b| b.value),
    })
}

fn upstream(at: &At<'_>, u: &pb::UpstreamTlsContext) -> Result<m::UpstreamTlsContext> {
    let mut left = u.clone();
    left.common_tls_context = None;
    left.sni.clear();
    rest(at, &left)?;
    Ok(m::UpstreamTlsContext {
        common_tls_context: u
            .common_tls_context
            .as_ref()
            .map(|c| common(&at.field("common_tls_context"), c))
            .transpose()?,
        sni: u.sni.clone(),
    })
}

fn common(at: &At<'_>, c: &pb::CommonTlsContext) -> Result<m::CommonTlsContext> {
    use pb::common_tls_context::ValidationContextType as V;
    let mut left = c.clone();
    left.tls_params = None;
    left.tls_certificates.clear();
    left.tls_certificate_sds_secret_configs.clear();
    left.alpn_protocols.clear();
    left.validation_context_type = None;
    rest(at, &left)?;
    let mut out = m::CommonTlsContext {
        tls_params: c
            .tls_params
            .as_ref()
            .map(|p| tls_params(&at.field("tls_params"), p))
            .transpose()?,
        tls_certificates: list(at, "tls_certificates", &c.tls_certificates, tls_certificate)?,
        tls_certificate_sds_secret_configs: list(
            at,
            "tls_certificate_sds_secret_configs",
            &c.tls_certificate_sds_secret_configs,
            sds_secret_config,
        )?,
        alpn_protocols: c.alpn_protocols.clone(),
        ..Default::default()
    };
    match &c.validation_context_type {
        None => {}
        Some(V::ValidationContext(v)) => {
            out.validation_context = Some(validation_context(&at.field("validation_context"), v)?);
        }
        Some(V::ValidationContextSdsSecretConfig(s)) => {
            out.validation_context_sds_secret_config = Some(sds_secret_config(
                &at.field("validation_context_sds_secret_config"),
                s,
            )?);
        }
        Some(V::CombinedValidationContext(cv)) => {
            out.combined_validation_context =
                Some(combined(&at.field("combined_validation_context"), cv)?);
        }
        #[allow(deprecated)]
        Some(V::ValidationContextCertificateProvider(_))
        | Some(V::ValidationContextCertificateProviderInstance(_)) => {
            return Err(at
                .field("validation_context_certificate_provider")
                .err("certificate providers are not supported"));
        }
    }
    Ok(out)
}

fn list<P, M>(
    at: &At<'_>,
    field: &str,
    items: &[P],
    f: impl Fn(&At<'_>, &P) -> Result<M>,
) -> Result<Vec<M>> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| f(&at.field(field).index(i), p))
        .collect()
}

fn combined(
    at: &At<'_>,
    cv: &pb::common_tls_context::CombinedCertificateValidationContext,
) -> Result<m::CombinedValidationContext> {
    let mut left = cv.clone();
    left.default_validation_context = None;
    left.validation_context_sds_secret_config = None;
    rest(at, &left)?;
    Ok(m::CombinedValidationContext {
        default_validation_context: cv
            .default_validation_context
            .as_ref()
            .map(|v| validation_context(&at.field("default_validation_context"), v))
            .transpose()?,
        validation_context_sds_secret_config: cv
            .validation_context_sds_secret_config
            .as_ref()
            .map(|s| sds_secret_config(&at.field("validation_context_sds_secret_config"), s))
            .transpose()?,
    })
}

fn tls_params(at: &At<'_>, p: &pb::TlsParameters) -> Result<m::TlsParameters> {
    use pb::tls_parameters::TlsProtocol;
    let mut left = p.clone();
    left.tls_minimum_protocol_version = 0;
    left.tls_maximum_protocol_version = 0;
    left.cipher_suites.clear();
    rest(at, &left)?;
    let name = |field: &str, v: i32| -> Result<Option<String>> {
        match TlsProtocol::try_from(v) {
            Ok(TlsProtocol::TlsAuto) => Ok(None),
            Ok(p) => Ok(Some(p.as_str_name().to_string())),
            Err(_) => Err(at.field(field).err("unknown TLS version")),
        }
    };
    Ok(m::TlsParameters {
        tls_minimum_protocol_version: name(
            "tls_minimum_protocol_version",
            p.tls_minimum_protocol_version,
        )?,
        tls_maximum_protocol_version: name(
            "tls_maximum_protocol_version",
            p.tls_maximum_protocol_version,
        )?,
        cipher_suites: p.cipher_suites.clone(),
    })
}

fn tls_certificate(at: &At<'_>, c: &pb::TlsCertificate) -> Result<m::TlsCertificate> {
    let mut left = c.clone();
    left.certificate_chain = None;
    left.private_key = None;
    rest(at, &left)?;
    Ok(m::TlsCertificate {
        certificate_chain: c
            .certificate_chain
            .as_ref()
            .map(|d| data_source(&at.field("certificate_chain"), d))
            .transpose()?,
        private_key: c
            .private_key
            .as_ref()
            .map(|d| data_source(&at.field("private_key"), d))
            .transpose()?,
    })
}

fn validation_context(
    at: &At<'_>,
    v: &pb::CertificateValidationContext,
) -> Result<m::CertificateValidationContext> {
    use pb::subject_alt_name_matcher::SanType;
    let mut left = v.clone();
    left.trusted_ca = None;
    left.match_typed_subject_alt_names.clear();
    #[allow(deprecated)]
    left.match_subject_alt_names.clear();
    rest(at, &left)?;
    let typed = list(
        at,
        "match_typed_subject_alt_names",
        &v.match_typed_subject_alt_names,
        |at, s| {
            let san_type = SanType::try_from(s.san_type)
                .map_err(|_| at.field("san_type").err("unknown SAN type"))?;
            if !s.oid.is_empty() {
                return Err(at.field("oid").err("is not supported"));
            }
            Ok(m::SubjectAltNameMatcher {
                san_type: san_type.as_str_name().to_string(),
                matcher: s
                    .matcher
                    .as_ref()
                    .map(|mm| string_matcher(&at.field("matcher"), mm))
                    .transpose()?,
            })
        },
    )?;
    #[allow(deprecated)]
    let legacy = list(
        at,
        "match_subject_alt_names",
        &v.match_subject_alt_names,
        string_matcher,
    )?;
    Ok(m::CertificateValidationContext {
        trusted_ca: v
            .trusted_ca
            .as_ref()
            .map(|d| data_source(&at.field("trusted_ca"), d))
            .transpose()?,
        match_typed_subject_alt_names: typed,
        match_subject_alt_names: legacy,
    })
}

fn sds_secret_config(at: &At<'_>, s: &pb::SdsSecretConfig) -> Result<m::SdsSecretConfig> {
    Ok(m::SdsSecretConfig {
        name: s.name.clone(),
        sds_config: s
            .sds_config
            .as_ref()
            .map(|c| config_source(&at.field("sds_config"), c))
            .transpose()?,
    })
}

/// `ads {}` or an `api_config_source` of gRPC services; the runtime decides which it serves.
fn config_source(at: &At<'_>, c: &core::ConfigSource) -> Result<mc::ConfigSource> {
    use core::config_source::ConfigSourceSpecifier as S;
    use core::grpc_service::TargetSpecifier as T;
    let mut out = mc::ConfigSource {
        initial_fetch_timeout: dur(
            &at.field("initial_fetch_timeout"),
            c.initial_fetch_timeout.as_ref(),
        )?,
        ..Default::default()
    };
    match &c.config_source_specifier {
        Some(S::Ads(_)) => out.ads = Some(json!({})),
        Some(S::ApiConfigSource(a)) => {
            let aat = at.field("api_config_source");
            let api_type = core::api_config_source::ApiType::try_from(a.api_type)
                .map_err(|_| aat.field("api_type").err("unknown"))?;
            let services = list(&aat, "grpc_services", &a.grpc_services, |gat, g| {
                match &g.target_specifier {
                    Some(T::EnvoyGrpc(e)) => Ok(mc::GrpcService {
                        envoy_grpc: Some(mc::EnvoyGrpc {
                            cluster_name: e.cluster_name.clone(),
                        }),
                        timeout: None,
                    }),
                    _ => Err(gat.field("envoy_grpc").err("is required")),
                }
            })?;
            out.api_config_source = Some(mc::ApiConfigSource {
                api_type: Some(api_type.as_str_name().to_string()),
                grpc_services: services,
                ..Default::default()
            });
        }
        _ => return Err(at.err("only ads or api_config_source are supported")),
    }
    Ok(out)
}

fn data_source(at: &At<'_>, d: &core::DataSource) -> Result<mc::DataSource> {
    use core::data_source::Specifier as S;
    let mut out = mc::DataSource::default();
    match &d.specifier {
        Some(S::InlineString(s)) => out.inline_string = Some(s.clone()),
        Some(S::InlineBytes(b)) => {
            out.inline_bytes = Some(base64::engine::general_purpose::STANDARD.encode(b));
        }
        Some(S::Filename(f)) => out.filename = Some(f.clone()),
        Some(S::EnvironmentVariable(_)) => {
            return Err(at.field("environment_variable").err("is not supported"));
        }
        None => return Err(at.err("one of inline_string, inline_bytes, filename is required")),
    }
    if d.watched_directory.is_some() {
        return Err(at.field("watched_directory").err("is not supported"));
    }
    Ok(out)
}

/// An SDS `Secret` resource into the model.
pub fn secret(s: &pb::Secret) -> Result<m::Secret> {
    use pb::secret::Type;
    let resource = format!("Secret {}", s.name);
    let at = At::new(&resource);
    let mut out = m::Secret {
        name: s.name.clone(),
        ..Default::default()
    };
    match &s.r#type {
        Some(Type::TlsCertificate(c)) => {
            out.tls_certificate = Some(tls_certificate(&at.field("tls_certificate"), c)?);
        }
        Some(Type::ValidationContext(v)) => {
            out.validation_context = Some(validation_context(&at.field("validation_context"), v)?);
        }
        Some(Type::SessionTicketKeys(_)) => {
            return Err(at.field("session_ticket_keys").err("is not supported"));
        }
        Some(Type::GenericSecret(_)) => {
            return Err(at.field("generic_secret").err("is not supported"));
        }
        None => return Err(at.err("one of tls_certificate, validation_context is required")),
    }
    Ok(out)
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
