//! A SotW `DiscoveryRequest` whose resource names are kept as they came off the wire.
//!
//! Envoy repeats its whole subscription in every request, ACKs included: a sidecar of a mesh
//! with a thousand clusters sends a thousand EDS names with each EDS ACK. Decoding them into a
//! thousand `String`s per ACK, only to find them equal to the subscription, is most of the
//! work of an endpoint push. [`SotwRequest`] keeps the names' bytes in one buffer (checked to
//! be UTF-8, as prost checks strings) and compares them with the subscription without
//! allocating; they are turned into strings only when they differ.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use weft_xds::pb::envoy::config::core::v3::Node;
use weft_xds::pb::google::rpc::Status as RpcStatus;

// Field numbers of envoy.service.discovery.v3.DiscoveryRequest.
const VERSION_INFO: u32 = 1;
const NODE: u32 = 2;
const RESOURCE_NAMES: u32 = 3;
const TYPE_URL: u32 = 4;
const RESPONSE_NONCE: u32 = 5;
const ERROR_DETAIL: u32 = 6;

/// The fields of a `DiscoveryRequest` the server reads (`resource_locators` is skipped).
#[derive(Debug, Clone, Default)]
pub struct SotwRequest {
    pub version_info: String,
    pub node: Option<Node>,
    pub type_url: String,
    pub response_nonce: String,
    pub error_detail: Option<RpcStatus>,
    /// Each resource name as its length (varint) and bytes, in request order.
    names: Vec<u8>,
    scratch: String,
}

impl SotwRequest {
    /// The resource names, in request order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.names.as_slice();
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let len = encoding::decode_varint(&mut rest).ok()? as usize;
            let (name, tail) = rest.split_at_checked(len)?;
            rest = tail;
            // Checked when decoded.
            std::str::from_utf8(name).ok()
        })
    }

    /// Whether the names are exactly `list`, in order (a sorted, duplicate-free list matches
    /// only a request that sends it sorted and without duplicates, as Envoy does).
    pub fn names_are(&self, list: &[String]) -> bool {
        let mut names = self.names();
        list.iter().all(|n| names.next() == Some(n.as_str())) && names.next().is_none()
    }

    /// The names sorted and without duplicates.
    pub fn sorted_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names().map(str::to_string).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Appends one name off the wire; prost's string decoding checks it (into a buffer kept
    /// for the next name).
    fn merge_name(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        encoding::string::merge(wire_type, &mut self.scratch, buf, ctx)?;
        encoding::encode_varint(self.scratch.len() as u64, &mut self.names);
        self.names.extend_from_slice(self.scratch.as_bytes());
        Ok(())
    }
}

impl prost::Message for SotwRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.version_info.is_empty() {
            encoding::string::encode(VERSION_INFO, &self.version_info, buf);
        }
        if let Some(node) = &self.node {
            encoding::message::encode(NODE, node, buf);
        }
        for name in self.names() {
            encoding::encode_key(RESOURCE_NAMES, WireType::LengthDelimited, buf);
            encoding::encode_varint(name.len() as u64, buf);
            buf.put_slice(name.as_bytes());
        }
        if !self.type_url.is_empty() {
            encoding::string::encode(TYPE_URL, &self.type_url, buf);
        }
        if !self.response_nonce.is_empty() {
            encoding::string::encode(RESPONSE_NONCE, &self.response_nonce, buf);
        }
        if let Some(error) = &self.error_detail {
            encoding::message::encode(ERROR_DETAIL, error, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match tag {
            VERSION_INFO => encoding::string::merge(wire_type, &mut self.version_info, buf, ctx),
            NODE => {
                let node = self.node.get_or_insert_with(Node::default);
                encoding::message::merge(wire_type, node, buf, ctx)
            }
            RESOURCE_NAMES => self.merge_name(wire_type, buf, ctx),
            TYPE_URL => encoding::string::merge(wire_type, &mut self.type_url, buf, ctx),
            RESPONSE_NONCE => {
                encoding::string::merge(wire_type, &mut self.response_nonce, buf, ctx)
            }
            ERROR_DETAIL => {
                let error = self.error_detail.get_or_insert_with(RpcStatus::default);
                encoding::message::merge(wire_type, error, buf, ctx)
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let string = |tag, s: &String| {
            if s.is_empty() {
                0
            } else {
                encoding::string::encoded_len(tag, s)
            }
        };
        let names: usize = self
            .names()
            .map(|n| {
                encoding::key_len(RESOURCE_NAMES)
                    + encoding::encoded_len_varint(n.len() as u64)
                    + n.len()
            })
            .sum();
        string(VERSION_INFO, &self.version_info)
            + self
                .node
                .as_ref()
                .map_or(0, |n| encoding::message::encoded_len(NODE, n))
            + names
            + string(TYPE_URL, &self.type_url)
            + string(RESPONSE_NONCE, &self.response_nonce)
            + self
                .error_detail
                .as_ref()
                .map_or(0, |e| encoding::message::encoded_len(ERROR_DETAIL, e))
    }

    fn clear(&mut self) {
        *self = SotwRequest::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use weft_xds::pb::envoy::service::discovery::v3::DiscoveryRequest;

    fn request(names: &[&str]) -> DiscoveryRequest {
        DiscoveryRequest {
            version_info: "v1".into(),
            node: Some(Node {
                id: "sidecar~10.0.0.1~a.default~default.svc.cluster.local".into(),
                ..Default::default()
            }),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
            type_url: weft_xds::type_url::CLUSTER_LOAD_ASSIGNMENT.into(),
            response_nonce: "2-3".into(),
            error_detail: Some(RpcStatus {
                code: 13,
                message: "bad".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_what_prost_decodes_and_encodes_it_back() {
        let wire = request(&["b", "a", "a", "ü"]).encode_to_vec();
        let lean = SotwRequest::decode(wire.as_slice()).expect("decodes");
        assert_eq!(lean.names().collect::<Vec<_>>(), ["b", "a", "a", "ü"]);
        assert_eq!(lean.sorted_names(), ["a", "b", "ü"]);
        assert_eq!(lean.response_nonce, "2-3");
        assert_eq!(lean.error_detail.as_ref().map(|e| e.code), Some(13));
        let node = lean.node.as_ref().map(|n| n.id.as_str());
        assert_eq!(
            node,
            Some("sidecar~10.0.0.1~a.default~default.svc.cluster.local")
        );
        assert_eq!(lean.encode_to_vec(), wire);
        assert_eq!(lean.encoded_len(), wire.len());
    }

    #[test]
    fn compares_names_without_decoding_them() {
        let sorted = ["a".to_string(), "b".to_string()];
        let same = SotwRequest::decode(request(&["a", "b"]).encode_to_vec().as_slice());
        assert!(same.expect("decodes").names_are(&sorted));
        for other in [&["a"][..], &["a", "b", "c"], &["b", "a"], &[]] {
            let req = SotwRequest::decode(request(other).encode_to_vec().as_slice());
            assert!(!req.expect("decodes").names_are(&sorted), "{other:?}");
        }
        assert!(SotwRequest::default().names_are(&[]));
    }

    #[test]
    fn rejects_names_that_are_not_utf8() {
        let mut wire = Vec::new();
        encoding::encode_key(RESOURCE_NAMES, WireType::LengthDelimited, &mut wire);
        encoding::encode_varint(2, &mut wire);
        wire.extend_from_slice(&[0xff, 0xfe]);
        assert!(SotwRequest::decode(wire.as_slice()).is_err());
    }
}
