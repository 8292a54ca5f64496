//! An immutable set of accepted objects, and the rejected ones with their problems.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use weft_config::{Kind, Object, ObjectRef};

/// Identifies an object across versions: kind, namespace (`""` when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn of(obj: &Object) -> Self {
        ObjectKey {
            kind: obj.kind.clone(),
            namespace: obj.namespace().to_string(),
            name: obj.name().to_string(),
        }
    }

    pub fn from_ref(r: &ObjectRef) -> Self {
        ObjectKey {
            kind: r.kind.clone(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone(),
        }
    }
}

/// A rejected object (or a whole batch, when `object` is `None`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub batch: Arc<str>,
    pub object: Option<ObjectKey>,
    /// `FILE:LINE: Kind namespace/name: field: message` lines.
    pub problems: Vec<String>,
    /// Whether an earlier accepted version is still served in its place.
    pub serving_previous: bool,
}

/// The accepted configuration at one moment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSnapshot {
    /// Increases with every change.
    pub version: u64,
    /// Whether every source has reported its initial state.
    pub synced: bool,
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    pub rejected: Vec<Rejected>,
    /// Warnings about accepted objects.
    pub warnings: Vec<String>,
}

impl ConfigSnapshot {
    /// A snapshot of `objects` as given, without validation (tests, translation tools).
    pub fn from_objects(objects: impl IntoIterator<Item = Object>) -> Self {
        let objects = objects
            .into_iter()
            .map(|o| (ObjectKey::of(&o), Arc::new(o)))
            .collect();
        ConfigSnapshot {
            version: 1,
            synced: true,
            objects,
            ..Default::default()
        }
    }

    pub(crate) fn build(
        version: u64,
        synced: bool,
        objects: BTreeMap<ObjectKey, Arc<Object>>,
        rejected: Vec<Rejected>,
        warnings: Vec<String>,
    ) -> Self {
        ConfigSnapshot {
            version,
            synced,
            objects,
            rejected,
            warnings,
        }
    }

    /// Every accepted object, ordered by kind, namespace and name.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<Object>> {
        self.objects.values()
    }

    /// Accepted objects of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Arc<Object>> {
        self.objects
            .values()
            .filter(move |o| o.known_kind() == Some(kind))
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Object>> {
        self.objects.get(key)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Kinds whose accepted objects differ between `self` and `other` (by metadata and body;
    /// moving an object within its file is not a change).
    pub fn changed_kinds(&self, other: &ConfigSnapshot) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        for (key, obj) in &self.objects {
            match other.objects.get(key) {
                Some(o) if Arc::ptr_eq(o, obj) || same_content(o, obj) => {}
                _ => {
                    changed.insert(key.kind.clone());
                }
            }
        }
        for key in other.objects.keys() {
            if !self.objects.contains_key(key) {
                changed.insert(key.kind.clone());
            }
        }
        changed
    }

    /// The `/debug/configz` view.
    pub fn configz(&self) -> Value {
        let accepted: Vec<Value> = self
            .objects
            .values()
            .map(|o| {
                json!({
                    "kind": o.kind,
                    "apiVersion": o.api_version,
                    "namespace": o.namespace(),
                    "name": o.name(),
                    "file": &*o.origin.file,
                    "line": o.origin.line,
                })
            })
            .collect();
        json!({
            "version": self.version,
            "synced": self.synced,
            "accepted": accepted,
            "rejected": self.rejected,
            "warnings": self.warnings,
        })
    }
}

fn same_content(a: &Object, b: &Object) -> bool {
    a.api_version == b.api_version && a.metadata == b.metadata && a.body == b.body
}
