//! One generation of the mesh that connections push from.
//!
//! The push pipeline publishes a new [`Push`] through a `tokio::sync::watch` channel after each
//! debounced change. Every connection task reads the latest one at its own pace, so a slow
//! proxy never holds up the others and skipped generations are simply never sent to it.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use weft_translate::Proxy;

use crate::resources::ProxyResources;

/// Turns a proxy into its resources for one generation of configuration.
pub trait Generator: Send + Sync + fmt::Debug {
    /// Resources for `proxy`. Proxies with the same view get the same `Arc`.
    fn generate(&self, proxy: &Proxy) -> Arc<ProxyResources>;
}

/// Why a push happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushReason {
    Initial,
    /// Configuration other than endpoints changed: every type may change.
    Config,
    /// Only endpoints changed: only EDS can differ.
    Endpoints,
}

/// A generation of configuration, ready to be turned into resources.
#[derive(Debug, Clone)]
pub struct Push {
    /// Increases by one per published generation.
    pub version: u64,
    pub reason: PushReason,
    pub generator: Arc<dyn Generator>,
    /// When the first change of this generation arrived (for convergence time).
    pub triggered: Instant,
}

impl Push {
    pub fn new(version: u64, reason: PushReason, generator: Arc<dyn Generator>) -> Self {
        Push {
            version,
            reason,
            generator,
            triggered: Instant::now(),
        }
    }
}

/// A generator that gives every proxy the same resources (tests, and an empty mesh).
#[derive(Debug, Default)]
pub struct StaticGenerator(pub Arc<ProxyResources>);

impl Generator for StaticGenerator {
    fn generate(&self, _proxy: &Proxy) -> Arc<ProxyResources> {
        self.0.clone()
    }
}
