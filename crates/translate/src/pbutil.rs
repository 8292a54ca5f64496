//! Small constructors for protobuf well-known types and common Envoy messages.

use weft_xds::pb::envoy::config::core::v3::{
    self as core, AggregatedConfigSource, ApiVersion, ConfigSource, SocketAddress, address,
    config_source, socket_address,
};
use weft_xds::pb::google::protobuf::{Any, BoolValue, Duration, UInt32Value};

pub fn duration(d: std::time::Duration) -> Duration {
    Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

pub fn duration_of(d: &weft_config::Duration) -> Duration {
    duration(d.to_std())
}

pub fn u32v(value: u32) -> UInt32Value {
    UInt32Value { value }
}

pub fn boolv(value: bool) -> BoolValue {
    BoolValue { value }
}

/// `ads: {}` with the v3 resource API.
pub fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        resource_api_version: ApiVersion::V3 as i32,
        ..Default::default()
    }
}

pub fn socket_address(ip: &str, port: u32) -> core::Address {
    core::Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// A typed Any whose type URL is `url`.
pub fn any<T: prost::Message + prost::Name>(msg: &T) -> Any {
    weft_xds::pack(msg)
}
