//! From accepted configuration to pushes: waits for a burst of store changes to end, rebuilds
//! the registry and translation context, and publishes a new [`Push`].

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::info;
use weft_config::model::mesh::MeshConfig;
use weft_registry::{Registry, RegistryOptions};
use weft_store::ConfigSnapshot;
use weft_translate::Context;

use crate::debounce::{DebounceOptions, next_burst};
use crate::generator::MeshGenerator;
use crate::metrics::{Metrics, TypeLabel};
use crate::push::{Push, PushReason};

/// Kinds whose changes can only move endpoints (when the services stay the same).
const ENDPOINT_KINDS: [&str; 3] = ["WorkloadEntry", "Pod", "EndpointSlice"];

/// One generation built from a snapshot.
#[derive(Debug, Clone)]
pub struct Generation {
    pub snapshot: Arc<ConfigSnapshot>,
    pub registry: Arc<Registry>,
    pub generator: Arc<MeshGenerator>,
}

impl Generation {
    pub fn build(snapshot: Arc<ConfigSnapshot>, mesh: &MeshConfig, opts: &RegistryOptions) -> Self {
        let objects: Vec<_> = snapshot.objects().map(|o| o.as_ref()).collect();
        let registry = Arc::new(Registry::build(objects.iter().copied(), opts));
        let ctx = Context::new(objects.iter().copied(), registry.clone(), mesh.clone());
        Generation {
            snapshot,
            registry,
            generator: Arc::new(MeshGenerator::new(Arc::new(ctx))),
        }
    }
}

/// Why `next` differs from `previous`, or `None` when nothing that matters changed.
pub fn push_reason(previous: &Generation, next: &Generation) -> Option<PushReason> {
    let changed: BTreeSet<String> = next.snapshot.changed_kinds(&previous.snapshot);
    if changed.is_empty() {
        return None;
    }
    let endpoints_only = changed.iter().all(|k| ENDPOINT_KINDS.contains(&k.as_str()))
        && previous.registry.same_services(&next.registry);
    Some(if endpoints_only {
        PushReason::Endpoints
    } else {
        PushReason::Config
    })
}

/// Publishes pushes for `config` until the store goes away.
#[derive(Debug)]
pub struct Pipeline {
    pub mesh: MeshConfig,
    pub registry_options: RegistryOptions,
    pub debounce: DebounceOptions,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    /// The first generation and the channel its pushes go to.
    pub fn start(&self, snapshot: Arc<ConfigSnapshot>) -> (Generation, watch::Sender<Arc<Push>>) {
        let generation = Generation::build(snapshot, &self.mesh, &self.registry_options);
        self.metrics
            .rejected_configs
            .set(generation.snapshot.rejected.len() as i64);
        let push = Push::new(1, PushReason::Initial, generation.generator.clone());
        let (tx, _) = watch::channel(Arc::new(push));
        (generation, tx)
    }

    pub async fn run(
        self,
        mut config: watch::Receiver<Arc<ConfigSnapshot>>,
        mut current: Generation,
        pushes: watch::Sender<Arc<Push>>,
        generations: watch::Sender<Generation>,
    ) {
        let mut version = pushes.borrow().version;
        while let Some(started) = next_burst(&mut config, self.debounce).await {
            let snapshot = config.borrow().clone();
            self.metrics
                .rejected_configs
                .set(snapshot.rejected.len() as i64);
            let next = Generation::build(snapshot, &self.mesh, &self.registry_options);
            let Some(reason) = push_reason(&current, &next) else {
                current = next;
                continue;
            };
            version += 1;
            let label = match reason {
                PushReason::Endpoints => "endpoint",
                _ => "config",
            };
            self.metrics
                .push_triggers
                .get_or_create(&TypeLabel::new(label))
                .inc();
            info!(version, ?reason, objects = next.snapshot.len(), "pushing");
            let mut push = Push::new(version, reason, next.generator.clone());
            push.triggered = started.into_std();
            pushes.send_replace(Arc::new(push));
            generations.send_replace(next.clone());
            current = next;
        }
    }
}
