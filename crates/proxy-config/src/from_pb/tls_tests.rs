//! Tests of the TLS protobuf conversion: Istio's shapes convert, unsupported fields are
//! rejected with their path.
#![allow(clippy::unwrap_used)]

use weft_xds::pack;

use super::*;
use crate::model::tls::TransportSocketConfig;

fn ads() -> Option<core::ConfigSource> {
    Some(core::ConfigSource {
        config_source_specifier: Some(core::config_source::ConfigSourceSpecifier::Ads(
            Default::default(),
        )),
        ..Default::default()
    })
}

fn socket(any: weft_xds::pb::google::protobuf::Any) -> core::TransportSocket {
    core::TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(core::transport_socket::ConfigType::TypedConfig(any)),
    }
}

fn convert(ts: &core::TransportSocket) -> Result<m::TransportSocket> {
    transport_socket(&At::new("Listener l").field("transport_socket"), ts)
}

#[test]
fn downstream_context_with_sds_and_sans_converts() {
    use pb::subject_alt_name_matcher::SanType;
    let ctx = pb::DownstreamTlsContext {
        common_tls_context: Some(pb::CommonTlsContext {
            tls_certificate_sds_secret_configs: vec![pb::SdsSecretConfig {
                name: "default".into(),
                sds_config: ads(),
            }],
            validation_context_type: Some(
                pb::common_tls_context::ValidationContextType::ValidationContext(
                    pb::CertificateValidationContext {
                        match_typed_subject_alt_names: vec![pb::SubjectAltNameMatcher {
                            san_type: SanType::Uri as i32,
                            matcher: Some(weft_xds::pb::envoy::r#type::matcher::v3::StringMatcher {
                                match_pattern: Some(weft_xds::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern::Prefix("spiffe://cluster.local/".into())),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        trusted_ca: Some(core::DataSource {
                            specifier: Some(core::data_source::Specifier::InlineBytes(b"PEM".to_vec())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ),
            ),
            alpn_protocols: vec!["h2".into()],
            ..Default::default()
        }),
        require_client_certificate: Some(weft_xds::pb::google::protobuf::BoolValue { value: true }),
        ..Default::default()
    };
    let got = convert(&socket(pack(&ctx))).unwrap();
    let Some(TransportSocketConfig::Downstream(d)) = got.typed_config else {
        panic!("{got:?}");
    };
    assert_eq!(d.require_client_certificate, Some(true));
    let c = d.common_tls_context.unwrap();
    assert_eq!(c.tls_certificate_sds_secret_configs[0].name, "default");
    assert!(
        c.tls_certificate_sds_secret_configs[0]
            .sds_config
            .as_ref()
            .unwrap()
            .ads
            .is_some()
    );
    let v = c.validation_context.unwrap();
    assert_eq!(v.match_typed_subject_alt_names[0].san_type, "URI");
    assert_eq!(v.trusted_ca.unwrap().inline_bytes.as_deref(), Some("UEVN"));
}

#[test]
fn unsupported_tls_fields_are_rejected_with_their_path() {
    let err = |ts: core::TransportSocket| convert(&ts).unwrap_err().to_string();
    let unknown = weft_xds::pb::google::protobuf::Any {
        type_url: "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts".into(),
        value: Vec::new(),
    };
    assert_eq!(
        err(socket(unknown)),
        "Listener l: transport_socket.typed_config: unknown transport socket type \"type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts\" (tls and raw_buffer are supported)"
    );
    let sni = pb::DownstreamTlsContext {
        require_sni: Some(weft_xds::pb::google::protobuf::BoolValue { value: true }),
        ..Default::default()
    };
    assert!(
        err(socket(pack(&sni)))
            .starts_with("Listener l: transport_socket.typed_config: field number ")
    );
    let env = pb::UpstreamTlsContext {
        common_tls_context: Some(pb::CommonTlsContext {
            tls_certificates: vec![pb::TlsCertificate {
                certificate_chain: Some(core::DataSource {
                    specifier: Some(core::data_source::Specifier::EnvironmentVariable(
                        "CERT".into(),
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        err(socket(pack(&env))),
        "Listener l: transport_socket.typed_config.common_tls_context.tls_certificates[0].certificate_chain.environment_variable: is not supported"
    );
    let path_source = pb::UpstreamTlsContext {
        common_tls_context: Some(pb::CommonTlsContext {
            tls_certificate_sds_secret_configs: vec![pb::SdsSecretConfig {
                name: "x".into(),
                sds_config: Some(core::ConfigSource {
                    config_source_specifier: Some(
                        core::config_source::ConfigSourceSpecifier::PathConfigSource(
                            Default::default(),
                        ),
                    ),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        err(socket(pack(&path_source))),
        "Listener l: transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config: only ads or api_config_source are supported"
    );
    let missing = core::TransportSocket {
        name: "tls".into(),
        config_type: None,
    };
    assert_eq!(
        err(missing),
        "Listener l: transport_socket.typed_config: is required"
    );
}

#[test]
fn secrets_convert_and_unsupported_kinds_are_rejected() {
    let s = pb::Secret {
        name: "ROOTCA".into(),
        r#type: Some(pb::secret::Type::ValidationContext(
            pb::CertificateValidationContext {
                trusted_ca: Some(core::DataSource {
                    specifier: Some(core::data_source::Specifier::InlineString("PEM".into())),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
    };
    assert_eq!(
        secret(&s)
            .unwrap()
            .validation_context
            .unwrap()
            .trusted_ca
            .unwrap()
            .inline_string
            .as_deref(),
        Some("PEM")
    );
    let generic = pb::Secret {
        name: "g".into(),
        r#type: Some(pb::secret::Type::GenericSecret(Default::default())),
    };
    assert_eq!(
        secret(&generic).unwrap_err().to_string(),
        "Secret g: generic_secret: is not supported"
    );
    let empty = pb::Secret {
        name: "e".into(),
        r#type: None,
    };
    assert_eq!(
        secret(&empty).unwrap_err().to_string(),
        "Secret e: one of tls_certificate, validation_context is required"
    );
}
