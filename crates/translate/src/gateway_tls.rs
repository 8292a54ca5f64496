//! A gateway's TLS servers: HTTPS servers that terminate TLS (SIMPLE, MUTUAL,
//! OPTIONAL_MUTUAL, ISTIO_MUTUAL) into an HTTP connection manager per server, chosen by SNI,
//! and PASSTHROUGH servers whose VirtualService `tls` routes forward by SNI untouched.
//! Certificates come from files or from a `credentialName` in the gateway's own namespace.
//!
//! Not yet: AUTO_PASSTHROUGH, and TLS-protocol servers that terminate into TCP routes.

use std::collections::BTreeMap;

use weft_config::model::networking::{Server, ServerTlsMode, ServerTlsSettings, TlsProtocol};
use weft_registry::Protocol;
use weft_xds::pb::envoy::config::core::v3::TrafficDirection;
use weft_xds::pb::envoy::config::listener::v3::{Filter, FilterChain, FilterChainMatch};
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::common_tls_context::{
    CombinedCertificateValidationContext, ValidationContextType,
};
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    TlsCertificate, TlsParameters, tls_parameters::TlsProtocol as EnvoyTls,
};

use crate::context::Context;
use crate::http_route::RouteScope;
use crate::listener::{self, Routes};
use crate::pbutil::{ads, boolv};
use crate::security::credentials;
use crate::security::tls_context::{self, file, transport_socket};
use crate::view::ProxyView;
use crate::{Resources, names};

/// Whether a server is served here rather than as plain HTTP.
pub fn is_tls_server(server: &Server) -> bool {
    let protocol = server.port.as_ref().and_then(|p| p.protocol.as_deref());
    matches!(
        Protocol::parse(protocol.unwrap_or("")),
        Protocol::Https | Protocol::Tls
    )
}

/// Listeners, routes and secrets for the TLS servers, by port.
pub fn generate(
    ctx: &Context,
    view: &ProxyView,
    ports: &BTreeMap<u32, Vec<(String, &Server)>>,
    out: &mut Resources,
) {
    for (&port, servers) in ports {
        let mut chains = Vec::new();
        for (gateway, server) in servers {
            let mode = server.tls.as_ref().and_then(|t| t.mode);
            match mode {
                Some(ServerTlsMode::Passthrough) => {
                    chains.extend(passthrough_chains(ctx, view, gateway, server, port));
                }
                Some(
                    ServerTlsMode::Simple
                    | ServerTlsMode::Mutual
                    | ServerTlsMode::OptionalMutual
                    | ServerTlsMode::IstioMutual,
                ) if Protocol::parse(protocol(server)) == Protocol::Https => {
                    chains.extend(https_chain(ctx, view, gateway, server, port, out));
                }
                _ => {}
            }
        }
        if chains.is_empty() {
            continue;
        }
        out.listeners.push(listener::bound_with_chains(
            names::WILDCARD,
            port,
            TrafficDirection::Outbound,
            chains,
        ));
    }
}

fn protocol(server: &Server) -> &str {
    server
        .port
        .as_ref()
        .and_then(|p| p.protocol.as_deref())
        .unwrap_or("")
}

/// SNI names for a server's hosts (`ns/host` → `host`); `*` matches any name.
fn server_names(hosts: &[String]) -> Vec<String> {
    let names: Vec<String> = hosts
        .iter()
        .map(|h| h.split_once('/').map_or(h.as_str(), |(_, host)| host))
        .map(str::to_string)
        .collect();
    if names.iter().any(|h| h == "*") {
        Vec::new()
    } else {
        names
    }
}

/// Istio's route name for an HTTPS server: `https.443.PORT_NAME.GATEWAY.NAMESPACE`.
fn https_route_name(port: u32, server: &Server, gateway: &str) -> String {
    let port_name = server
        .port
        .as_ref()
        .and_then(|p| p.name.as_deref())
        .unwrap_or("https");
    let (ns, name) = gateway.split_once('/').unwrap_or(("", gateway));
    format!("https.{port}.{port_name}.{name}.{ns}")
}

fn https_chain(
    ctx: &Context,
    view: &ProxyView,
    gateway: &str,
    server: &Server,
    port: u32,
    out: &mut Resources,
) -> Option<FilterChain> {
    let tls = server.tls.as_ref()?;
    let context = server_tls_context(ctx, view, tls, out)?;
    let rds = https_route_name(port, server, gateway);
    let hcm = listener::http_connection_manager(
        ctx,
        &rds,
        Routes::Rds(rds.clone()),
        true,
        crate::security::http_filters(ctx, view, Some(port)),
    );
    out.routes.push(crate::gateway::route_config(
        ctx,
        view,
        port,
        rds.clone(),
        &[(gateway.to_string(), server)],
    ));
    Some(FilterChain {
        name: rds,
        filter_chain_match: Some(FilterChainMatch {
            server_names: server_names(&server.hosts),
            ..Default::default()
        }),
        filters: vec![hcm],
        transport_socket: Some(transport_socket(&context)),
        ..Default::default()
    })
}

fn sds_over_ads(name: String) -> SdsSecretConfig {
    SdsSecretConfig {
        name,
        sds_config: Some(ads()),
    }
}

fn envoy_version(v: Option<TlsProtocol>, default: EnvoyTls) -> i32 {
    match v {
        Some(TlsProtocol::TlsV10) => EnvoyTls::TlSv10 as i32,
        Some(TlsProtocol::TlsV11) => EnvoyTls::TlSv11 as i32,
        Some(TlsProtocol::TlsV12) => EnvoyTls::TlSv12 as i32,
        Some(TlsProtocol::TlsV13) => EnvoyTls::TlSv13 as i32,
        Some(TlsProtocol::TlsAuto) | None => default as i32,
    }
}

/// The server's DownstreamTlsContext; `None` when its credential is missing or belongs to
/// another namespace (the server is then not served at all).
fn server_tls_context(
    ctx: &Context,
    view: &ProxyView,
    tls: &ServerTlsSettings,
    out: &mut Resources,
) -> Option<DownstreamTlsContext> {
    let mode = tls.mode?;
    if mode == ServerTlsMode::IstioMutual {
        let mut c = tls_context::istio_inbound();
        if let Some(common) = c.common_tls_context.as_mut() {
            common.alpn_protocols = vec!["h2".into(), "http/1.1".into()];
        }
        return Some(c);
    }
    let mutual = matches!(mode, ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual);
    let mut common = CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: envoy_version(tls.min_protocol_version, EnvoyTls::TlSv12),
            tls_maximum_protocol_version: envoy_version(tls.max_protocol_version, EnvoyTls::TlSv13),
            ..Default::default()
        }),
        alpn_protocols: vec!["h2".into(), "http/1.1".into()],
        ..Default::default()
    };
    let sans = tls_context_sans(&tls.subject_alt_names);
    if let Some(credential) = tls.credential_name.as_deref() {
        out.secrets
            .push(credentials::certificate(ctx, &view.namespace, credential)?);
        common.tls_certificate_sds_secret_configs =
            vec![sds_over_ads(credentials::certificate_name(credential))];
        if mutual {
            out.secrets
                .push(credentials::ca_bundle(ctx, &view.namespace, credential)?);
            common.validation_context_type =
                Some(ValidationContextType::CombinedValidationContext(
                    CombinedCertificateValidationContext {
                        default_validation_context: Some(sans),
                        validation_context_sds_secret_config: Some(sds_over_ads(
                            credentials::ca_name(credential),
                        )),
                        ..Default::default()
                    },
                ));
        }
    } else {
        common.tls_certificates = vec![TlsCertificate {
            certificate_chain: Some(file(tls.server_certificate.as_deref()?)),
            private_key: Some(file(tls.private_key.as_deref()?)),
            ..Default::default()
        }];
        if mutual {
            let ca = tls.ca_certificates.as_deref()?;
            common.validation_context_type = Some(ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    trusted_ca: Some(file(ca)),
                    ..sans
                },
            ));
        }
    }
    Some(DownstreamTlsContext {
        common_tls_context: Some(common),
        require_client_certificate: Some(boolv(mode == ServerTlsMode::Mutual)),
        ..Default::default()
    })
}

fn tls_context_sans(sans: &[String]) -> CertificateValidationContext {
    use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::{
        SubjectAltNameMatcher, subject_alt_name_matcher::SanType,
    };
    CertificateValidationContext {
        match_typed_subject_alt_names: sans
            .iter()
            .map(|s| SubjectAltNameMatcher {
                san_type: SanType::Dns as i32,
                matcher: Some(tls_context::exact(s)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// PASSTHROUGH: per VirtualService `tls` route bound to the gateway, a chain on the route's
/// SNI hosts (within the server's hosts) to its destination, TLS untouched.
fn passthrough_chains(
    ctx: &Context,
    view: &ProxyView,
    gateway: &str,
    server: &Server,
    port: u32,
) -> Vec<FilterChain> {
    let allowed = server_names(&server.hosts);
    let mut chains = Vec::new();
    for vs in ctx.gateway_virtual_services(gateway) {
        let scope = RouteScope {
            ctx,
            vs_namespace: &vs.namespace,
            proxy_namespace: &view.namespace,
            proxy_labels: &view.labels,
            gateway,
            port,
        };
        for (i, route) in vs.spec.tls.iter().enumerate() {
            let Some(dest) = route.route.first().and_then(|d| d.destination.as_ref()) else {
                continue;
            };
            let mut sni: Vec<String> = route
                .r#match
                .iter()
                .filter(|m| m.port.is_none_or(|p| p == port))
                .flat_map(|m| m.sni_hosts.iter().cloned())
                .filter(|h| allowed.is_empty() || allowed.iter().any(|a| sni_covers(a, h)))
                .collect();
            sni.sort();
            sni.dedup();
            if sni.is_empty() {
                continue;
            }
            let cluster = scope.cluster_for(dest);
            let filter: Filter = listener::tcp_proxy_filter(&cluster, &cluster);
            chains.push(FilterChain {
                name: format!("{}/{}-tls-{i}", vs.namespace, vs.name),
                filter_chain_match: Some(FilterChainMatch {
                    server_names: sni,
                    ..Default::default()
                }),
                filters: vec![filter],
                ..Default::default()
            });
        }
    }
    chains
}

/// Whether a server host (`*.example.com`, `a.example.com`) covers an SNI host.
fn sni_covers(server_host: &str, sni: &str) -> bool {
    match server_host.strip_prefix('*') {
        Some(suffix) => sni.ends_with(suffix),
        None => server_host == sni,
    }
}
