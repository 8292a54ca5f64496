//! The TLS a cluster originates: DestinationRule `tls` (DISABLE, SIMPLE, MUTUAL,
//! ISTIO_MUTUAL) or, when the rule says nothing, Istio's auto mTLS: mesh mTLS to destinations
//! whose every endpoint runs a sidecar (`security.istio.io/tlsMode: istio`) and does not
//! disable mTLS on that port.

use weft_config::model::networking::{ClientTlsMode, ClientTlsSettings};
use weft_registry::{Endpoint, Service};
use weft_xds::pb::envoy::config::core::v3::TransportSocket;

use super::mtls::{PeerMode, peer_mode};
use super::tls_context::{SYSTEM_ROOTS, file_outbound, istio_outbound, transport_socket};
use crate::context::Context;

/// The label an injected workload carries.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";

/// Istio's SNI for mesh mTLS: `outbound_.PORT_.SUBSET_.HOST`.
pub fn istio_sni(port: u32, subset: &str, host: &str) -> String {
    format!("outbound_.{port}_.{subset}_.{host}")
}

/// What a cluster is sent as `transport_socket`, if anything.
pub(crate) fn cluster_transport_socket(
    ctx: &Context,
    service: &Service,
    port: u32,
    subset: &str,
    tls: Option<&ClientTlsSettings>,
    endpoints: &[&Endpoint],
) -> Option<TransportSocket> {
    let mode = tls.and_then(|t| t.mode);
    match mode {
        Some(ClientTlsMode::Disable) => None,
        Some(ClientTlsMode::IstioMutual) => {
            let sans = istio_sans(ctx, service, tls, endpoints);
            let sni = istio_sni(port, subset, &service.hostname);
            Some(transport_socket(&istio_outbound(&sni, &sans)))
        }
        Some(ClientTlsMode::Simple | ClientTlsMode::Mutual) => {
            let t = tls?;
            Some(transport_socket(&origination(t, mode, &service.hostname)))
        }
        None if auto_mtls(ctx, service, endpoints) => {
            let sans = istio_sans(ctx, service, None, endpoints);
            let sni = istio_sni(port, subset, &service.hostname);
            Some(transport_socket(&istio_outbound(&sni, &sans)))
        }
        None => None,
    }
}

fn auto_mtls(ctx: &Context, service: &Service, endpoints: &[&Endpoint]) -> bool {
    ctx.mesh.enable_auto_mtls()
        && !endpoints.is_empty()
        && endpoints.iter().all(|ep| {
            ep.labels.get(TLS_MODE_LABEL).map(String::as_str) == Some("istio")
                && peer_mode(ctx, &service.namespace, &ep.labels, ep.port) != PeerMode::Disable
        })
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
