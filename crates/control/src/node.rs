//! Reading a proxy's identity out of the xDS `Node`.

use weft_translate::{NodeError, NodeMetadata, Proxy};
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::google::protobuf::value::Kind;
use weft_xds::pb::google::protobuf::{Struct, Value};

/// The proxy described by `node`.
pub fn proxy_from_node(node: &Node) -> Result<Proxy, NodeError> {
    let mut proxy = Proxy::parse(&node.id, &metadata(node.metadata.as_ref()))?;
    if let Some(l) = node.locality.as_ref().filter(|l| !l.region.is_empty()) {
        proxy.locality = Some(format!("{}/{}/{}", l.region, l.zone, l.sub_zone));
    }
    Ok(proxy)
}

/// String fields of the metadata, and `LABELS` as a map.
pub fn metadata(meta: Option<&Struct>) -> NodeMetadata {
    let mut out = NodeMetadata::default();
    let Some(meta) = meta else {
        return out;
    };
    for (key, value) in &meta.fields {
        match (&value.kind, key.as_str()) {
            (Some(Kind::StructValue(labels)), "LABELS") => {
                out.labels = labels
                    .fields
                    .iter()
                    .filter_map(|(k, v)| scalar(v).map(|s| (k.clone(), s)))
                    .collect();
            }
            _ => {
                if let Some(s) = scalar(value) {
                    out.strings.insert(key.clone(), s);
                }
            }
        }
    }
    out
}

fn scalar(value: &Value) -> Option<String> {
    match &value.kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        Some(Kind::BoolValue(b)) => Some(b.to_string()),
        Some(Kind::NumberValue(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    #[test]
    fn reads_labels_and_strings() {
        let labels = Struct {
            fields: [("app".to_string(), string("reviews"))]
                .into_iter()
                .collect(),
        };
        let meta = Struct {
            fields: [
                ("NAMESPACE".to_string(), string("bookinfo")),
                (
                    "LABELS".to_string(),
                    Value {
                        kind: Some(Kind::StructValue(labels)),
                    },
                ),
            ]
            .into_iter()
            .collect(),
        };
        let node = Node {
            id: "sidecar~10.0.0.2~reviews-1.bookinfo~bookinfo.svc.cluster.local".into(),
            metadata: Some(meta),
            ..Default::default()
        };
        let proxy = proxy_from_node(&node).expect("proxy");
        assert_eq!(proxy.namespace, "bookinfo");
        assert_eq!(proxy.labels["app"], "reviews");
    }

    #[test]
    fn the_node_locality_wins_over_the_locality_label() {
        use weft_xds::pb::envoy::config::core::v3::Locality;
        let labels = Struct {
            fields: [("istio-locality".to_string(), string("r9.z9"))]
                .into_iter()
                .collect(),
        };
        let meta = Struct {
            fields: [(
                "LABELS".to_string(),
                Value {
                    kind: Some(Kind::StructValue(labels)),
                },
            )]
            .into_iter()
            .collect(),
        };
        let mut node = Node {
            id: "sidecar~10.0.0.2~a.default~default.svc.cluster.local".into(),
            metadata: Some(meta),
            ..Default::default()
        };
        let from_label = proxy_from_node(&node).expect("proxy");
        assert_eq!(from_label.locality.as_deref(), Some("r9/z9"));
        node.locality = Some(Locality {
            region: "r1".into(),
            zone: "z1".into(),
            sub_zone: "s1".into(),
        });
        let from_node = proxy_from_node(&node).expect("proxy");
        assert_eq!(from_node.locality.as_deref(), Some("r1/z1/s1"));
    }
}
