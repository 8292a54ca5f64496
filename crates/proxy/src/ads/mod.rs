//! ADS client over one gRPC stream: state of the world (`StreamAggregatedResources`, bootstrap
//! `api_type: GRPC`) or incremental (`DeltaAggregatedResources`, `api_type: DELTA_GRPC`).
//!
//! CDS and LDS are wildcard subscriptions; EDS follows the service names of the EDS clusters
//! and RDS the `rds.route_config_name`s of the listeners, each requested after the response
//! that named it. Every response is ACKed (its nonce, in SotW also its version) or, when a
//! resource in it was rejected, NACKed with an `error_detail` naming each bad resource and
//! field; the good resources of the same response are applied either way. Accepted resources
//! survive disconnects: the proxy keeps serving while it reconnects with exponential backoff
//! and resubscribes with its last versions (delta: `initial_resource_versions`).

mod delta;
mod resources;
mod session;
mod status;

use std::sync::atomic::Ordering;
use std::time::Duration;

use weft_proxy_config::model::Bootstrap;
use weft_proxy_config::model::bootstrap::AdsApiType;
use weft_xds::pb::envoy::config::core::v3 as core;

use crate::Control;
pub use resources::Kind;
pub use status::{AdsStatus, Nack, TypeStatus};

/// Where the ADS stream goes.
#[derive(Debug, Clone)]
pub struct AdsConfig {
    /// The static cluster named by `ads_config.grpc_services[0].envoy_grpc.cluster_name`.
    pub cluster: String,
    /// `ads_config.api_type`: state of the world or delta.
    pub api: AdsApiType,
}

impl AdsConfig {
    /// Reads `dynamic_resources.ads_config`; an error names the field that is wrong.
    pub fn from_bootstrap(b: &Bootstrap) -> Result<Option<AdsConfig>, String> {
        let Some(dynamic) = b.dynamic_resources.as_ref() else {
            return Ok(None);
        };
        let Some(ads) = dynamic.ads_config.as_ref() else {
            return Ok(None);
        };
        let api = dynamic
            .ads_api_type()
            .map_err(|e| format!("dynamic_resources.ads_config.api_type: {e}"))?
            .unwrap_or(AdsApiType::Grpc);
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
        Ok(Some(AdsConfig { cluster, api }))
    }
}

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Follows the ADS server for the life of the proxy.
pub async fn run(control: Control, cfg: AdsConfig) {
    let base = control.shared().live.load().snap.clone();
    let node = node(&control.shared().bootstrap);
    crate::lock(&control.shared().ads).mode = cfg.api.mode().to_string();
    let mut client = session::Client::new(control, cfg, node, resources::Resources::new(base));
    let mut backoff = BACKOFF_START;
    for attempt in 0u64.. {
        let end = client.session(attempt).await;
        client.set_connected(false);
        if end.got_response {
            backoff = BACKOFF_START;
        }
        tracing::warn!(error = %end.error, retry_in = ?backoff, "ADS stream ended; serving the last accepted config");
        let jitter = backoff.mul_f64(fastrand::f64() * 0.2);
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(BACKOFF_CAP);
    }
}

/// The node identity from the bootstrap, sent on the first request of each type.
pub fn node(b: &Bootstrap) -> core::Node {
    let Some(n) = &b.node else {
        return core::Node {
            user_agent_name: "weft".into(),
            ..Default::default()
        };
    };
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    core::Node {
        id: n.id.clone(),
        cluster: n.cluster.clone(),
        metadata: n.metadata.as_ref().map(weft_xds::struct_from_json),
        locality: n.locality.as_ref().map(|l| core::Locality {
            region: text(l, "region"),
            zone: text(l, "zone"),
            sub_zone: text(l, "sub_zone"),
        }),
        user_agent_name: "weft".into(),
        ..Default::default()
    }
}

fn mark_ready(control: &Control) {
    if !control.shared().ready.swap(true, Ordering::Relaxed) {
        tracing::info!("ADS: initial configuration received");
    }
}
