//! Shared by the Sidecar and Telemetry analyzers: objects that select workloads by labels, the
//! workloads two of them both select, and namespaces with several selector-less ones.

use std::collections::BTreeMap;

use weft_config::Object;

use crate::catalogue;
use crate::context::Context;
use crate::labels::{self, Labels};
use crate::message::{Anchor, Message};

/// An object with a non-empty workload selector at `field`.
#[derive(Debug, Clone, Copy)]
pub struct Selecting<'a> {
    pub object: &'a Object,
    pub selector: &'a Labels,
    pub field: &'static str,
}

/// Builds a "these objects select the same workload" message: names, namespace, workload.
pub type ConflictMessage = fn(Anchor, &[String], &str, &str) -> Message;
/// Builds a "these objects have no selector" message: names, namespace.
pub type DefaultsMessage = fn(Anchor, &[String], &str) -> Message;

/// IST0101 for each selector that selects no workload of its namespace (when the input has
/// workloads there at all), and `conflict` for each object sharing a workload with another.
pub fn check_selectors(
    ctx: &Context,
    items: &[Selecting],
    conflict: ConflictMessage,
) -> Vec<Message> {
    let mut out = Vec::new();
    let mut by_workload: BTreeMap<(&str, &str), Vec<&Object>> = BTreeMap::new();
    for item in items {
        let ns = item.object.namespace();
        let mut found = false;
        for w in ctx.selected_in(ns, item.selector) {
            found = true;
            by_workload
                .entry((w.namespace, w.name))
                .or_default()
                .push(item.object);
        }
        if !found && ctx.has_workloads_in(ns) {
            out.push(catalogue::referenced_resource_not_found(
                Anchor::at(item.object, item.field),
                "selector",
                &labels::selector_string(item.selector),
            ));
        }
    }
    for ((ns, workload), objects) in by_workload.iter().filter(|(_, o)| o.len() > 1) {
        let names: Vec<String> = objects.iter().map(|o| o.name().to_string()).collect();
        for obj in objects {
            out.push(conflict(
                Anchor::at(obj, "metadata.name"),
                &names,
                ns,
                workload,
            ));
        }
    }
    out
}

/// `message` for each object of a namespace that has more than one without a selector.
pub fn check_defaults<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    message: DefaultsMessage,
) -> Vec<Message> {
    let mut by_namespace: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for o in objects {
        by_namespace.entry(o.namespace()).or_default().push(o);
    }
    let mut out = Vec::new();
    for (ns, list) in by_namespace.iter().filter(|(_, l)| l.len() > 1) {
        let names: Vec<String> = list.iter().map(|o| o.name().to_string()).collect();
        out.extend(list.iter().map(|o| message(Anchor::at(o, ""), &names, ns)));
    }
    out
}

/// Keeps the `catalogue` constructors' signatures checked against the aliases.
const _: ConflictMessage = catalogue::conflicting_sidecar_workload_selectors;
const _: DefaultsMessage = catalogue::multiple_sidecars_without_workload_selectors;
