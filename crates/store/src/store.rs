//! The store: folds source events into snapshots, validating every object on the way in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use weft_config::{Object, Problem};

use crate::snapshot::{ConfigSnapshot, ObjectKey, Rejected};
use crate::source::{Batch, SourceEvent};

/// What the store keeps of one batch.
#[derive(Debug, Default, Clone)]
struct BatchState {
    accepted: Vec<Arc<Object>>,
    rejected: Vec<Rejected>,
    warnings: Vec<String>,
}

/// Accepted configuration, updated by [`SourceEvent`]s.
#[derive(Debug)]
pub struct Store {
    batches: BTreeMap<Arc<str>, BatchState>,
    sources: usize,
    synced_sources: usize,
    version: u64,
    tx: watch::Sender<Arc<ConfigSnapshot>>,
}

impl Store {
    /// A store fed by `sources` sources; it is synced once each has sent `Synced`.
    pub fn new(sources: usize) -> (Store, watch::Receiver<Arc<ConfigSnapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(ConfigSnapshot::default()));
        let store = Store {
            batches: BTreeMap::new(),
            sources,
            synced_sources: 0,
            version: 0,
            tx,
        };
        (store, rx)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<ConfigSnapshot> {
        self.tx.borrow().clone()
    }

    /// Applies events until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<SourceEvent>) {
        while let Some(event) = rx.recv().await {
            self.apply(event);
        }
    }

    /// Applies one event and publishes the new snapshot.
    pub fn apply(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Upsert(batch) => {
                let previous = self.batches.remove(&batch.key).unwrap_or_default();
                let key = batch.key.clone();
                let state = accept_batch(batch, &previous);
                for r in &state.rejected {
                    for p in &r.problems {
                        warn!(batch = %key, "rejected: {p}");
                    }
                }
                self.batches.insert(key, state);
            }
            SourceEvent::Remove(key) => {
                info!(batch = %key, "removed");
                self.batches.remove(&key);
            }
            SourceEvent::Synced => self.synced_sources += 1,
        }
        self.publish();
    }

    fn publish(&mut self) {
        self.version += 1;
        let mut objects: BTreeMap<ObjectKey, Arc<Object>> = BTreeMap::new();
        let mut owners: HashMap<ObjectKey, Arc<str>> = HashMap::new();
        let mut rejected = Vec::new();
        let mut warnings = Vec::new();
        for (batch, state) in &self.batches {
            rejected.extend(state.rejected.iter().cloned());
            warnings.extend(state.warnings.iter().cloned());
            for obj in &state.accepted {
                let key = ObjectKey::of(obj);
                if let Some(owner) = owners.get(&key) {
                    let problem =
                        obj.problem("metadata.name", format!("already defined in {owner}"));
                    rejected.push(Rejected {
                        batch: batch.clone(),
                        object: Some(key),
                        problems: vec![problem.to_string()],
                        serving_previous: true,
                    });
                    continue;
                }
                owners.insert(key.clone(), batch.clone());
                objects.insert(key, obj.clone());
            }
        }
        let synced = self.synced_sources >= self.sources;
        let snapshot = ConfigSnapshot::build(self.version, synced, objects, rejected, warnings);
        self.tx.send_replace(Arc::new(snapshot));
    }
}

/// Accepts the valid objects of `batch`; for each invalid one keeps its version from
/// `previous`, if any. A batch with problems that belong to no object (a syntax error) is not
/// trusted at all and `previous` stays in force whole.
fn accept_batch(batch: Batch, previous: &BatchState) -> BatchState {
    let (errors, warning_problems): (Vec<Problem>, Vec<Problem>) =
        batch.problems.into_iter().partition(Problem::is_error);
    let warnings = warning_problems.iter().map(ToString::to_string).collect();
    if errors.iter().any(|p| p.object.is_none()) {
        return BatchState {
            accepted: previous.accepted.clone(),
            rejected: vec![Rejected {
                batch: batch.key.clone(),
                object: None,
                problems: errors.iter().map(ToString::to_string).collect(),
                serving_previous: !previous.accepted.is_empty(),
            }],
            warnings,
        };
    }
    let old: HashMap<ObjectKey, &Arc<Object>> = previous
        .accepted
        .iter()
        .map(|o| (ObjectKey::of(o), o))
        .collect();
    let mut by_object: BTreeMap<ObjectKey, Vec<Problem>> = BTreeMap::new();
    for p in errors {
        if let Some(r) = &p.object {
            by_object.entry(ObjectKey::from_ref(r)).or_default().push(p);
        }
    }
    let mut state = BatchState {
        warnings,
        ..Default::default()
    };
    for obj in batch.objects {
        let key = ObjectKey::of(&obj);
        let (errs, warns): (Vec<Problem>, Vec<Problem>) = weft_validate::validate_object(&obj)
            .into_iter()
            .partition(Problem::is_error);
        state.warnings.extend(warns.iter().map(ToString::to_string));
        if errs.is_empty() && !by_object.contains_key(&key) {
            state.accepted.push(Arc::new(obj));
        } else {
            by_object.entry(key).or_default().extend(errs);
        }
    }
    for (key, problems) in by_object {
        let kept = old.get(&key).map(|o| (*o).clone());
        state.rejected.push(Rejected {
            batch: batch.key.clone(),
            object: Some(key),
            problems: problems.iter().map(ToString::to_string).collect(),
            serving_previous: kept.is_some(),
        });
        state.accepted.extend(kept);
    }
    state
}
