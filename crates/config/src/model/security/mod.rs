//! security.istio.io: PeerAuthentication, RequestAuthentication and AuthorizationPolicy
//! (the `security/v1beta1` protos, also served as `v1`), plus the workload selector and policy
//! target reference of `type/v1beta1` that they, and Telemetry, share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod authorization_policy;
mod peer_authentication;
mod request_authentication;

pub use authorization_policy::*;
pub use peer_authentication::*;
pub use request_authentication::*;

/// `istio.type.v1beta1.WorkloadSelector`: the workloads (pods, VMs) a policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// `istio.type.v1beta1.PolicyTargetReference`: the resource (Gateway, Service, ServiceEntry,
/// GatewayClass) a policy is attached to instead of a workload selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group; `""` is Kubernetes' core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Cross-namespace references are not supported by Istio; kept so validation can say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[cfg(test)]
mod tests;
