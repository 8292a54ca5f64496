//! Envoy TLS transport sockets as Istio writes them: the workload certificate (`default`) and
//! trust bundle (`ROOTCA`) from the agent over SDS (`sds-grpc`), Istio's ALPN values, and
//! file-based certificates for DestinationRule SIMPLE/MUTUAL origination.

use weft_xds::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, ConfigSource, DataSource, GrpcService, TransportSocket,
    api_config_source::ApiType, config_source, data_source, grpc_service, transport_socket,
};
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::common_tls_context::{
    CombinedCertificateValidationContext, ValidationContextType,
};
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    SubjectAltNameMatcher, TlsCertificate, TlsParameters, UpstreamTlsContext,
    subject_alt_name_matcher::SanType, tls_parameters::TlsProtocol,
};
use weft_xds::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};

use crate::pbutil::{any, boolv, duration};

/// The agent's SDS cluster in Istio's bootstrap (a Unix socket there; in-process in weft).
pub const SDS_CLUSTER: &str = "sds-grpc";
/// The workload's key and certificate chain.
pub const WORKLOAD_SECRET: &str = "default";
/// The mesh trust bundle.
pub const ROOT_SECRET: &str = "ROOTCA";
/// ALPN a sidecar offers for Istio mTLS; the inbound chain for mesh mTLS matches them.
pub const ISTIO_CLIENT_ALPN: [&str; 2] = ["istio-peer-exchange", "istio"];
pub const ISTIO_INBOUND_ALPN: [&str; 5] = [
    "istio-peer-exchange",
    "istio",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];
/// Where SIMPLE origination without `caCertificates` finds the system's roots.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `envoy.transport_sockets.tls` wrapping a TLS context.
pub fn transport_socket<T: prost::Message + prost::Name>(ctx: &T) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(ctx))),
    }
}

/// A secret from the agent (`sds-grpc`), as Istio's sidecars fetch `default` and `ROOTCA`.
pub fn agent_secret(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: ApiType::Grpc as i32,
                    transport_api_version: ApiVersion::V3 as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: SDS_CLUSTER.into(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                    set_node_on_first_message_only: true,
                    ..Default::default()
                },
            )),
            initial_fetch_timeout: Some(duration(std::time::Duration::ZERO)),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

fn tls_params() -> Option<TlsParameters> {
    Some(TlsParameters {
        tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
        tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
        ..Default::default()
    })
}

pub fn exact(value: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::Exact(value.into())),
        ..Default::default()
    }
}

fn san_matchers(kind: SanType, sans: &[String]) -> Vec<SubjectAltNameMatcher> {
    sans.iter()
        .map(|s| SubjectAltNameMatcher {
            san_type: kind as i32,
            matcher: Some(exact(s)),
            ..Default::default()
        })
        .collect()
}

/// Mesh identity on both sides: `default` as our certificate, `ROOTCA` (and `sans`, when
/// given) to verify the peer.
fn istio_common(alpn: &[&str], sans: &[String]) -> CommonTlsContext {
    CommonTlsContext {
        tls_params: tls_params(),
        alpn_protocols: alpn.iter().map(|s| s.to_string()).collect(),
        tls_certificate_sds_secret_configs: vec![agent_secret(WORKLOAD_SECRET)],
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_typed_subject_alt_names: san_matchers(SanType::Uri, sans),
                    ..Default::default()
                }),
                validation_context_sds_secret_config: Some(agent_secret(ROOT_SECRET)),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// Inbound mesh mTLS: the client must present a certificate from the mesh CA. No ALPN is
/// selected by the server, so any client ALPN (Istio's or h2) is accepted.
pub fn istio_inbound() -> DownstreamTlsContext {
    DownstreamTlsContext {
        common_tls_context: Some(istio_common(&[], &[])),
        require_client_certificate: Some(boolv(true)),
        ..Default::default()
    }
}

/// `ISTIO_MUTUAL` origination: Istio's SNI and ALPN, peer verified against `sans`
/// (`spiffe://` identities of the destination; none means any mesh identity).
pub fn istio_outbound(sni: &str, sans: &[String]) -> UpstreamTlsContext {
    UpstreamTlsContext {
        common_tls_context: Some(istio_common(&ISTIO_CLIENT_ALPN, sans)),
        sni: sni.into(),
        ..Default::default()
    }
}

pub fn file(path: &str) -> DataSource {
    DataSource {
        specifier: Some(data_source::Specifier::Filename(path.into())),
        ..Default::default()
    }
}

/// SIMPLE / MUTUAL origination from files (DestinationRule `caCertificates`,
/// `clientCertificate`, `privateKey`). `ca: None` skips verification (`insecureSkipVerify`).
pub fn file_outbound(
    sni: &str,
    ca: Option<&str>,
    client: Option<(&str, &str)>,
    sans: &[String],
) -> UpstreamTlsContext {
    let validation = ca.map(|ca| {
        ValidationContextType::ValidationContext(CertificateValidationContext {
            trusted_ca: Some(file(ca)),
            match_typed_subject_alt_names: san_matchers(SanType::Dns, sans),
            ..Default::default()
        })
    });
    let certificates = client
        .map(|(chain, key)| TlsCertificate {
            certificate_chain: Some(file(chain)),
            private_key: Some(file(key)),
            ..Default::default()
        })
        .into_iter()
        .collect();
    UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_params: tls_params(),
            tls_certificates: certificates,
            validation_context_type: validation,
            ..Default::default()
        }),
        sni: sni.into(),
        ..Default::default()
    }
}
