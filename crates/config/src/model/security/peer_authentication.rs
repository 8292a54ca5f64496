//! PeerAuthentication: which mutual-TLS mode a workload's inbound traffic accepts.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::WorkloadSelector;

/// Spec of a PeerAuthentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthentication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MutualTls>,
    /// Per-port overrides keyed by the workload's (target) port number. `None` and an empty
    /// map are told apart because Istio rejects `portLevelMtls: {}`. Keys are signed so that an
    /// out-of-range port decodes and validation can name it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "port_keys"
    )]
    pub port_level_mtls: Option<BTreeMap<i64, MutualTls>>,
}

/// Map keys arrive as strings (`"8080"`); a key that is not a number is named in the error.
fn port_keys<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<i64, MutualTls>>, D::Error> {
    let Some(raw) = Option::<BTreeMap<String, MutualTls>>::deserialize(d)? else {
        return Ok(None);
    };
    raw.into_iter()
        .map(|(k, v)| match k.trim().parse::<i64>() {
            Ok(port) => Ok((port, v)),
            Err(_) => Err(D::Error::custom(format!("port {k:?} must be a number"))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MutualTls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MtlsMode>,
}

/// `PeerAuthentication.MutualTLS.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent (namespace, then mesh); PERMISSIVE when nothing is set.
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}
