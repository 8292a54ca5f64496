//! ADS client (state of the world over one gRPC stream). Not implemented yet: a bootstrap with
//! `dynamic_resources` is accepted, the static resources are served and a warning is logged.

use weft_proxy_config::model::Bootstrap;

use crate::Control;

/// Where the ADS stream goes.
#[derive(Debug, Clone)]
pub struct AdsConfig {
    /// The static cluster named by `ads_config.grpc_services[0].envoy_grpc.cluster_name`.
    pub cluster: String,
}

impl AdsConfig {
    /// Reads `dynamic_resources.ads_config`; an error names the field that is wrong.
    pub fn from_bootstrap(b: &Bootstrap) -> Result<Option<AdsConfig>, String> {
        let Some(ads) = b
            .dynamic_resources
            .as_ref()
            .and_then(|d| d.ads_config.as_ref())
        else {
            return Ok(None);
        };
        let cluster = ads
            .grpc_services
            .first()
            .and_then(|g| g.envoy_grpc.as_ref())
            .map(|e| e.cluster_name.clone())
            .ok_or("dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: is required")?;
        if !b
            .static_resources
            .clusters
            .iter()
            .any(|c| c.name == cluster)
        {
            return Err(format!(
                "dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: no static cluster {cluster:?}"
            ));
        }
        Ok(Some(AdsConfig { cluster }))
    }
}

/// Follows the ADS server. Until the client exists this only reports that dynamic resources
/// are ignored and marks the proxy ready with its static configuration.
pub async fn run(control: Control, cfg: AdsConfig) {
    tracing::warn!(cluster = %cfg.cluster, "ADS is not implemented yet; serving static resources only");
    control
        .shared()
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
}
