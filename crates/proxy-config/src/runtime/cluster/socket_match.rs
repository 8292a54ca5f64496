//! `transport_socket_matches`: per-endpoint transport sockets chosen by endpoint metadata, the
//! way Istio's auto mTLS sends TLS to endpoints labelled `tlsMode: istio` and plaintext to the
//! rest. An endpoint takes the first match whose `match` fields all equal its
//! `metadata.filter_metadata["envoy.transport_socket_match"]` fields; with none it takes the
//! cluster's `transport_socket`.

use std::sync::Arc;

use serde_json::Value;

use super::super::tls::{UpstreamTls, build_upstream};
use super::{Endpoint, walk_endpoints};
use crate::error::{At, Result};
use crate::model::cluster as m;

/// The metadata namespace the criteria are matched against.
pub const MATCH_NAMESPACE: &str = "envoy.transport_socket_match";

#[derive(Debug, PartialEq)]
pub struct SocketMatch {
    pub name: String,
    /// Fields the endpoint's match metadata must have, with these values.
    pub criteria: serde_json::Map<String, Value>,
    /// `None`: plaintext (`raw_buffer` or no socket).
    pub tls: Option<Arc<UpstreamTls>>,
}

/// At most this many matches (an endpoint stores its choice in a `u8`).
const MAX_MATCHES: usize = 32;

pub fn build_matches(at: &At<'_>, c: &m::Cluster) -> Result<Vec<SocketMatch>> {
    let mat = at.field("transport_socket_matches");
    if c.transport_socket_matches.len() > MAX_MATCHES {
        return Err(mat.err(format!("at most {MAX_MATCHES} matches are supported")));
    }
    c.transport_socket_matches
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let iat = mat.index(i);
            let criteria = match &t.match_ {
                None => serde_json::Map::new(),
                Some(Value::Object(o)) => o.clone(),
                Some(_) => return Err(iat.field("match").err("must be a struct")),
            };
            let tls = build_upstream(&iat.field("transport_socket"), t.transport_socket.as_ref())?;
            Ok(SocketMatch {
                name: t.name.clone(),
                criteria,
                tls: tls.map(Arc::new),
            })
        })
        .collect()
}

/// The index of the first match for an endpoint's metadata (`{"filter_metadata": {...}}`).
pub fn choose(matches: &[SocketMatch], metadata: Option<&Value>) -> Option<u8> {
    let fields = metadata
        .and_then(|m| m.get("filter_metadata"))
        .and_then(|f| f.get(MATCH_NAMESPACE))
        .and_then(Value::as_object);
    let found = matches.iter().position(|sm| {
        sm.criteria
            .iter()
            .all(|(k, v)| fields.and_then(|f| f.get(k)) == Some(v))
    })?;
    u8::try_from(found).ok()
}

/// Sets `socket_match` of `endpoints`, built from `la` in its order, for `matches`.
pub fn assign(matches: &[SocketMatch], la: &m::ClusterLoadAssignment, endpoints: &mut [Endpoint]) {
    if matches.is_empty() {
        return;
    }
    let mut metadata = Vec::with_capacity(endpoints.len());
    let at_root = format!("ClusterLoadAssignment {}", la.cluster_name);
    let _ = walk_endpoints(&At::new(&at_root), la, |_, ep, _| {
        metadata.push(choose(matches, ep.metadata.as_ref()));
        Ok(())
    });
    for (ep, chosen) in endpoints.iter_mut().zip(metadata) {
        ep.socket_match = chosen;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_match_whose_criteria_the_metadata_has_wins() {
        let sm = |name: &str, criteria: Value| SocketMatch {
            name: name.into(),
            criteria: criteria.as_object().unwrap().clone(),
            tls: None,
        };
        let matches = [
            sm("tlsMode-istio", json!({"tlsMode": "istio"})),
            sm("tlsMode-disabled", json!({})),
        ];
        let istio = json!({"filter_metadata": {MATCH_NAMESPACE: {"tlsMode": "istio"}}});
        let other = json!({"filter_metadata": {"istio": {"workload": "x"}}});
        assert_eq!(choose(&matches, Some(&istio)), Some(0));
        assert_eq!(choose(&matches, Some(&other)), Some(1));
        assert_eq!(choose(&matches, None), Some(1));
        assert_eq!(choose(&matches[..1], None), None);
    }

    #[test]
    fn eds_endpoints_get_their_match_from_protobuf_metadata() {
        use weft_xds::pb::envoy::config::cluster::v3 as cl;
        use weft_xds::pb::envoy::config::endpoint::v3 as ep;
        let c = cl::Cluster {
            name: "auto".into(),
            transport_socket_matches: vec![cl::cluster::TransportSocketMatch {
                name: "tlsMode-istio".into(),
                r#match: Some(weft_xds::struct_from_json(&json!({"tlsMode": "istio"}))),
                transport_socket: None,
            }],
            ..Default::default()
        };
        let built = super::super::build_cluster(&crate::from_pb::cluster(&c).unwrap()).unwrap();
        assert_eq!(built.tls_matches.len(), 1);
        let lb = |md: Option<Value>| {
            ep::LbEndpoint {
            metadata: md.map(|v| weft_xds::pb::envoy::config::core::v3::Metadata {
                filter_metadata: [(MATCH_NAMESPACE.to_string(), weft_xds::struct_from_json(&v))].into(),
                ..Default::default()
            }),
            host_identifier: Some(ep::lb_endpoint::HostIdentifier::Endpoint(ep::Endpoint {
                address: Some(weft_xds::pb::envoy::config::core::v3::Address {
                    address: Some(weft_xds::pb::envoy::config::core::v3::address::Address::SocketAddress(
                        weft_xds::pb::envoy::config::core::v3::SocketAddress {
                            address: "127.0.0.1".into(),
                            port_specifier: Some(weft_xds::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(80)),
                            ..Default::default()
                        },
                    )),
                }),
                ..Default::default()
            })),
            ..Default::default()
        }
        };
        let la = ep::ClusterLoadAssignment {
            cluster_name: "auto".into(),
            endpoints: vec![ep::LocalityLbEndpoints {
                lb_endpoints: vec![lb(Some(json!({"tlsMode": "istio"}))), lb(None)],
                ..Default::default()
            }],
            ..Default::default()
        };
        let model = crate::from_pb::load_assignment(&la).unwrap();
        let mut eps = super::super::build_endpoints(&At::new("t"), &model).unwrap();
        assign(&built.tls_matches, &model, &mut eps);
        assert_eq!(
            eps.iter().map(|e| e.socket_match).collect::<Vec<_>>(),
            [Some(0), None]
        );
    }
}
