//! PeerAuthentication → the inbound side of mutual TLS.
//!
//! The mode of a workload port is resolved as Istio does: the mesh-wide policy (root
//! namespace, no selector), overridden by the namespace's policy (no selector), by the
//! workload's policy (selector matching its labels), and by that policy's `portLevelMtls`;
//! `UNSET` inherits, and nothing at all means PERMISSIVE. At one level the oldest policy wins.

use std::collections::BTreeMap;

use weft_config::model::security::{MtlsMode, PeerAuthentication};
use weft_xds::pb::envoy::config::listener::v3::{Filter, FilterChain, FilterChainMatch};

use super::tls_context::{ISTIO_INBOUND_ALPN, istio_inbound, transport_socket};
use crate::context::{Config, Context};
use crate::names;
use crate::pbutil::u32v;

/// What a workload port accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMode {
    /// Plaintext only.
    Disable,
    /// Mesh mTLS and plaintext on the same port, told apart by inspection.
    Permissive,
    /// Mesh mTLS only.
    Strict,
}

fn mode_of(policy: &PeerAuthentication) -> MtlsMode {
    policy
        .mtls
        .as_ref()
        .and_then(|m| m.mode)
        .unwrap_or_default()
}

fn selects(policy: &PeerAuthentication, labels: &BTreeMap<String, String>) -> Option<bool> {
    let selector = policy.selector.as_ref()?;
    if selector.match_labels.is_empty() {
        return None;
    }
    Some(
        selector
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v)),
    )
}

/// The mode of `port` on a workload of `namespace` with `labels`.
pub fn peer_mode(
    ctx: &Context,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    port: u32,
) -> PeerMode {
    let policies = &ctx.peer_authentications;
    let unselected = |ns: &str| {
        policies
            .iter()
            .find(|c| c.namespace == ns && selects(&c.spec, labels).is_none())
    };
    let mesh = unselected(ctx.root_namespace());
    let namespace_level = unselected(namespace);
    let workload: Option<&Config<PeerAuthentication>> = policies
        .iter()
        .find(|c| c.namespace == namespace && selects(&c.spec, labels) == Some(true));
    let mut mode = MtlsMode::Permissive;
    for policy in [mesh, namespace_level, workload].into_iter().flatten() {
        mode = inherit(mode, mode_of(&policy.spec));
    }
    if let Some(w) = workload {
        let port_level = w
            .spec
            .port_level_mtls
            .as_ref()
            .and_then(|ports| ports.get(&i64::from(port)))
            .and_then(|m| m.mode);
        mode = inherit(mode, port_level.unwrap_or_default());
    }
    match mode {
        MtlsMode::Disable => PeerMode::Disable,
        MtlsMode::Strict => PeerMode::Strict,
        MtlsMode::Permissive | MtlsMode::Unset => PeerMode::Permissive,
    }
}

fn inherit(parent: MtlsMode, own: MtlsMode) -> MtlsMode {
    if own == MtlsMode::Unset { parent } else { own }
}

fn chain(name: String, m: FilterChainMatch, filters: Vec<Filter>, tls: bool) -> FilterChain {
    FilterChain {
        name,
        filter_chain_match: Some(m),
        filters,
        transport_socket: tls.then(|| transport_socket(&istio_inbound())),
        ..Default::default()
    }
}

/// The inbound filter chains of `port` for `mode`. STRICT is one chain that requires a
/// handshake, so plaintext fails; PERMISSIVE terminates mesh mTLS (Istio's ALPN), passes other
/// TLS (the application's own) through to the workload untouched with `passthrough` (network
/// RBAC, then tcp_proxy: authorization applies there too) and serves plaintext, as Istio's
/// three chains do.
pub fn inbound_chains(
    mode: PeerMode,
    port: u32,
    filters: Vec<Filter>,
    passthrough: Vec<Filter>,
) -> Vec<FilterChain> {
    let name = names::listener(names::WILDCARD, port);
    let on_port = FilterChainMatch {
        destination_port: Some(u32v(port)),
        ..Default::default()
    };
    match mode {
        PeerMode::Disable => vec![chain(name, on_port, filters, false)],
        PeerMode::Strict => vec![chain(name, on_port, filters, true)],
        PeerMode::Permissive => {
            let mtls = FilterChainMatch {
                transport_protocol: "tls".into(),
                application_protocols: ISTIO_INBOUND_ALPN.iter().map(|s| s.to_string()).collect(),
                ..on_port.clone()
            };
            let other_tls = FilterChainMatch {
                transport_protocol: "tls".into(),
                ..on_port.clone()
            };
            let plain = FilterChainMatch {
                transport_protocol: "raw_buffer".into(),
                ..on_port
            };
            vec![
                chain(format!("{name}-mtls"), mtls, filters.clone(), true),
                chain(format!("{name}-tls"), other_tls, passthrough, false),
                chain(name, plain, filters, false),
            ]
        }
    }
}

#[cfg(test)]
mod tests;
