//! The TLS a cluster originates: DestinationRule `tls` (DISABLE, SIMPLE, MUTUAL,
//! ISTIO_MUTUAL) or, when the rule says nothing, Istio's auto mTLS. Auto mTLS is decided per
//! endpoint, as Istio does: the cluster carries `transport_socket_matches` (mesh mTLS for
//! endpoints whose metadata says `tlsMode: istio`, plaintext for the rest) and each endpoint
//! that runs a sidecar (`security.istio.io/tlsMode: istio`) and does not disable mTLS on its
//! port gets that metadata, so a service with some sidecar-ed and some plain endpoints works.

use weft_config::model::networking::{ClientTlsMode, ClientTlsSettings};
use weft_registry::{Endpoint, Service};
use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch;
use weft_xds::pb::envoy::config::core::v3::{Metadata, TransportSocket, transport_socket};
use weft_xds::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;

use super::mtls::{PeerMode, peer_mode};
use super::tls_context::{SYSTEM_ROOTS, file_outbound, istio_outbound, transport_socket};
use crate::context::Context;
use crate::pbutil::any;

/// The label an injected workload carries.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";

/// The endpoint metadata namespace Envoy matches `transport_socket_matches` against.
pub const SOCKET_MATCH_NAMESPACE: &str = "envoy.transport_socket_match";

/// Istio's SNI for mesh mTLS: `outbound_.PORT_.SUBSET_.HOST`.
pub fn istio_sni(port: u32, subset: &str, host: &str) -> String {
    format!("outbound_.{port}_.{subset}_.{host}")
}

/// Sets the TLS `cluster` originates: `transport_socket` for an explicit DestinationRule mode,
/// `transport_socket_matches` for auto mTLS when at least one of `endpoints` can take it
/// (`endpoint_takes_istio_mtls`), nothing for plaintext.
pub(crate) fn apply_cluster_tls(
    ctx: &Context,
    cluster: &mut Cluster,
    service: &Service,
    (port, subset): (u32, &str),
    tls: Option<&ClientTlsSettings>,
    endpoints: &[&Endpoint],
) {
    let mode = tls.and_then(|t| t.mode);
    let istio = |tls| {
        let sans = istio_sans(ctx, service, tls, endpoints);
        let sni = istio_sni(port, subset, &service.hostname);
        transport_socket(&istio_outbound(&sni, &sans))
    };
    match (mode, tls) {
        (Some(ClientTlsMode::Disable), _) => {}
        (Some(ClientTlsMode::IstioMutual), _) => cluster.transport_socket = Some(istio(tls)),
        (Some(ClientTlsMode::Simple | ClientTlsMode::Mutual), Some(t)) => {
            cluster.transport_socket =
                Some(transport_socket(&origination(t, mode, &service.hostname)));
        }
        (Some(_), None) => {}
        (None, _) if auto_mtls(ctx, service, endpoints) => {
            cluster.transport_socket_matches = auto_mtls_matches(istio(None));
        }
        (None, _) => {}
    }
}

/// Istio's pair: `tlsMode-istio` (mesh mTLS) for endpoints whose match metadata says
/// `tlsMode: istio`, then `tlsMode-disabled` (plaintext) for every other endpoint.
fn auto_mtls_matches(istio_mtls: TransportSocket) -> Vec<TransportSocketMatch> {
    let raw_buffer = TransportSocket {
        name: "envoy.transport_sockets.raw_buffer".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(
            &RawBuffer {},
        ))),
    };
    vec![
        TransportSocketMatch {
            name: "tlsMode-istio".into(),
            r#match: Some(tls_mode_istio()),
            transport_socket: Some(istio_mtls),
        },
        TransportSocketMatch {
            name: "tlsMode-disabled".into(),
            r#match: Some(Default::default()),
            transport_socket: Some(raw_buffer),
        },
    ]
}

fn tls_mode_istio() -> weft_xds::pb::google::protobuf::Struct {
    weft_xds::struct_from_json(&serde_json::json!({"tlsMode": "istio"}))
}

/// The metadata of an endpoint that takes mesh mTLS in an auto-mTLS cluster.
pub(crate) fn istio_mtls_endpoint_metadata() -> Metadata {
    Metadata {
        filter_metadata: [(SOCKET_MATCH_NAMESPACE.to_string(), tls_mode_istio())].into(),
        ..Default::default()
    }
}

/// Whether auto mTLS may reach `ep` of `service`: it runs a sidecar and its port does not
/// disable mTLS (Istio leaves such endpoints without `tlsMode` metadata).
pub(crate) fn endpoint_takes_istio_mtls(ctx: &Context, service: &Service, ep: &Endpoint) -> bool {
    ep.labels.get(TLS_MODE_LABEL).map(String::as_str) == Some("istio")
        && peer_mode(ctx, &service.namespace, &ep.labels, ep.port) != PeerMode::Disable
}

/// Auto mTLS applies when the mesh enables it, the service is inside the mesh and some
/// endpoint can take it (with none, every endpoint would be plaintext anyway).
fn auto_mtls(ctx: &Context, service: &Service, endpoints: &[&Endpoint]) -> bool {
    ctx.mesh.enable_auto_mtls()
        && !service.mesh_external
        && endpoints
            .iter()
            .any(|ep| endpoint_takes_istio_mtls(ctx, service, ep))
}

/// The identities the destination may present: the rule's `subjectAltNames`, else the service
/// accounts of its endpoints in the mesh trust domain (none known: any mesh identity).
fn istio_sans(
    ctx: &Context,
    service: &Service,
    tls: Option<&ClientTlsSettings>,
    endpoints: &[&Endpoint],
) -> Vec<String> {
    if let Some(t) = tls
        && !t.subject_alt_names.is_empty()
    {
        return t.subject_alt_names.clone();
    }
    let mut sans: Vec<String> = endpoints
        .iter()
        .filter_map(|ep| ep.service_account.as_deref())
        .map(|sa| {
            format!(
                "spiffe://{}/ns/{}/sa/{sa}",
                ctx.mesh.trust_domain(),
                service.namespace
            )
        })
        .collect();
    sans.sort();
    sans.dedup();
    sans
}

/// SIMPLE / MUTUAL with files. `credentialName` is a gateway feature in Istio; on a sidecar
/// the files are what counts.
fn origination(
    t: &ClientTlsSettings,
    mode: Option<ClientTlsMode>,
    host: &str,
) -> weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext {
    let sni = t.sni.clone().unwrap_or_else(|| host.to_string());
    let ca = if t.insecure_skip_verify == Some(true) {
        None
    } else {
        Some(t.ca_certificates.as_deref().unwrap_or(SYSTEM_ROOTS))
    };
    let client = match (mode, &t.client_certificate, &t.private_key) {
        (Some(ClientTlsMode::Mutual), Some(chain), Some(key)) => {
            Some((chain.as_str(), key.as_str()))
        }
        _ => None,
    };
    file_outbound(&sni, ca, client, &t.subject_alt_names)
}

#[cfg(test)]
mod tests;
