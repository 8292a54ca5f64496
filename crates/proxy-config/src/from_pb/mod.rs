//! Conversion of xDS protobufs (envoy-types prost messages) into the serde model, so that xDS
//! resources go through the same model→runtime compilation as the bootstrap.
//!
//! Only the subset the bootstrap accepts is converted. Every other field that is set is an
//! error naming the resource and field path: each converter takes the fields it understands
//! out of a copy of the message and rejects whatever is left (`rest`).
#![allow(deprecated)] // legacy `append` on header options is part of the accepted subset

mod cluster;
mod filters;
mod jwt;
mod listener;
mod rbac;
mod route;
mod route_policy;
mod tls;

pub use cluster::{cluster, load_assignment};
pub use listener::listener;
pub use route::route_configuration;
pub use tls::secret;

use prost::{Message, Name};
use serde::de::DeserializeOwned;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::google::protobuf as wkt;

use crate::error::{At, Result};
use crate::model::core as m;

/// Rejects a message that still has a field set after the supported ones were taken out.
pub(crate) fn rest<T: Message + Default + PartialEq + Name>(at: &At<'_>, left: &T) -> Result<()> {
    if *left == T::default() {
        return Ok(());
    }
    let bytes = left.encode_to_vec();
    let tag = prost::encoding::decode_key(&mut bytes.as_slice()).map_or(0, |(tag, _)| tag);
    Err(at.err(format!(
        "field number {tag} of {} is not supported",
        T::full_name()
    )))
}

/// Unpacks a typed config, naming the field on a wrong type URL or a decode error.
pub(crate) fn unpack<T: Message + Default + Name>(at: &At<'_>, any: &wkt::Any) -> Result<T> {
    weft_xds::unpack(any).map_err(|e| at.err(e.to_string()))
}

/// Maps a protobuf enum name onto the model enum with the same (SCREAMING_SNAKE_CASE) name.
pub(crate) fn enum_named<E: DeserializeOwned>(at: &At<'_>, name: Option<&str>) -> Result<E> {
    let name = name.ok_or_else(|| at.err("unknown enum value"))?;
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| at.err(format!("{name} is not supported")))
}

pub(crate) fn dur(at: &At<'_>, d: Option<&wkt::Duration>) -> Result<Option<m::Dur>> {
    let Some(d) = d else { return Ok(None) };
    let secs = u64::try_from(d.seconds).map_err(|_| at.err("must not be negative"))?;
    let nanos = u32::try_from(d.nanos).map_err(|_| at.err("must not be negative"))?;
    Ok(Some(m::Dur(std::time::Duration::new(secs, nanos))))
}

pub(crate) fn address(at: &At<'_>, a: Option<&core::Address>) -> Result<Option<m::Address>> {
    use core::address::Address as A;
    use core::socket_address::{PortSpecifier, Protocol};
    let Some(a) = a else { return Ok(None) };
    let Some(A::SocketAddress(sa)) = &a.address else {
        return Err(at
            .field("socket_address")
            .err("is required (pipes and internal addresses are not supported)"));
    };
    let at = at.field("socket_address");
    let port_value = match sa.port_specifier {
        Some(PortSpecifier::PortValue(p)) => p,
        Some(PortSpecifier::NamedPort(_)) => {
            return Err(at.field("named_port").err("is not supported"));
        }
        None => 0,
    };
    let mut left = sa.clone();
    left.address.clear();
    left.port_specifier = None;
    left.ipv4_compat = false;
    left.protocol = 0;
    rest(&at, &left)?;
    let protocol =
        Protocol::try_from(sa.protocol).map_err(|_| at.field("protocol").err("unknown"))?;
    Ok(Some(m::Address {
        socket_address: Some(m::SocketAddress {
            protocol: Some(protocol.as_str_name().to_string()),
            address: sa.address.clone(),
            port_value,
            ipv4_compat: sa.ipv4_compat,
        }),
    }))
}

pub(crate) fn cidr(r: &core::CidrRange) -> m::CidrRange {
    m::CidrRange {
        address_prefix: r.address_prefix.clone(),
        prefix_len: r.prefix_len.map(|v| v.value),
    }
}

pub(crate) fn header_options(
    at: &At<'_>,
    opts: &[core::HeaderValueOption],
) -> Result<Vec<m::HeaderValueOption>> {
    opts.iter()
        .enumerate()
        .map(|(i, o)| {
            let at = at.index(i);
            let h = o
                .header
                .as_ref()
                .ok_or_else(|| at.field("header").err("is required"))?;
            if !h.raw_value.is_empty() {
                return Err(at
                    .field("header.raw_value")
                    .err("is not supported; use value"));
            }
            let append_action = match o.append_action {
                0 => None,
                _ => Some(enum_named(
                    &at.field("append_action"),
                    core::header_value_option::HeaderAppendAction::try_from(o.append_action)
                        .ok()
                        .map(|a| a.as_str_name()),
                )?),
            };
            Ok(m::HeaderValueOption {
                header: m::HeaderValue {
                    key: h.key.clone(),
                    value: h.value.clone(),
                },
                append: o.append.map(|b| b.value),
                append_action,
                keep_empty_value: o.keep_empty_value,
            })
        })
        .collect()
}

/// `metadata` as JSON (`{"filter_metadata": {...}}`), kept for dumps.
pub(crate) fn metadata(md: Option<&core::Metadata>) -> Option<serde_json::Value> {
    let md = md?;
    let mut keys: Vec<&String> = md.filter_metadata.keys().collect();
    keys.sort();
    let fm: serde_json::Map<String, serde_json::Value> = keys
        .into_iter()
        .map(|k| (k.clone(), weft_xds::struct_to_json(&md.filter_metadata[k])))
        .collect();
    Some(serde_json::json!({ "filter_metadata": fm }))
}

#[cfg(test)]
mod tests;
