//! Control-plane metrics with Istio's names (`pilot_xds_pushes`, `pilot_xds`, ...).

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// `cds`, `eds`, `lds`, `rds`; pushes that could not be sent add `_senderr`.
    pub r#type: String,
}

impl TypeLabel {
    pub fn new(t: impl Into<String>) -> Self {
        TypeLabel { r#type: t.into() }
    }
}

/// Every metric the control plane exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pub pushes: Family<TypeLabel, Counter>,
    pub rejects: Family<TypeLabel, Counter>,
    pub connected: Gauge,
    pub convergence: Histogram,
    pub push_triggers: Family<TypeLabel, Counter>,
    pub rejected_configs: Gauge,
    pub write_timeouts: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            pushes: Family::default(),
            rejects: Family::default(),
            connected: Gauge::default(),
            convergence: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            push_triggers: Family::default(),
            rejected_configs: Gauge::default(),
            write_timeouts: Counter::default(),
        };
        {
            let mut r = m.lock();
            r.register("pilot_xds_pushes", "xDS pushes by type", m.pushes.clone());
            r.register(
                "pilot_total_xds_rejects",
                "xDS responses rejected (NACKed) by proxies",
                m.rejects.clone(),
            );
            r.register("pilot_xds", "Connected xDS clients", m.connected.clone());
            r.register(
                "pilot_proxy_convergence_time",
                "Seconds from a configuration change to a proxy being sent it",
                m.convergence.clone(),
            );
            r.register(
                "pilot_push_triggers",
                "Debounced pushes by reason",
                m.push_triggers.clone(),
            );
            r.register(
                "weft_rejected_configs",
                "Configuration objects currently rejected by validation",
                m.rejected_configs.clone(),
            );
            r.register(
                "pilot_xds_write_timeout",
                "Connections closed because a proxy stopped reading",
                m.write_timeouts.clone(),
            );
        }
        m
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.lock());
        out
    }
}
