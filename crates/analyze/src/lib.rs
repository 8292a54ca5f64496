//! Cross-resource analysis of Istio and Kubernetes configuration, reporting istioctl analyze's
//! message codes, levels and texts (IST0101 ReferencedResourceNotFound and the rest).
//!
//! This crate owns *how objects relate*: a VirtualService routing to a host no Service
//! defines, two Sidecars selecting one pod, a Gateway whose port no workload exposes. It reads
//! objects loaded by `weft-config` and the per-object problems of `weft-validate` (reported as
//! IST0106/IST0133); it does not load files, change objects or do any I/O, and it prints
//! nothing itself ([`output`] renders text for the binary to print).

pub mod analyzers;
mod annotation_values;
pub mod annotations;
pub mod catalogue;
pub mod context;
mod defaults;
pub mod hosts;
pub mod index;
pub mod labels;
pub mod message;
pub mod output;

use std::collections::BTreeMap;

use weft_config::{Loaded, Object, ObjectRef, Problem};

pub use analyzers::Analyzer;
pub use context::Context;
pub use message::{Level, Message, MessageType};
pub use output::Format;

/// Namespaces whose objects Istio's analysis ignores (its sidecar injector never touches them).
pub const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// What to analyze and which messages to keep.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep only messages about objects in this namespace (and cluster-scoped objects and
    /// messages without an object); `None` keeps every namespace.
    pub namespace: Option<String>,
    /// Add the stand-in `istio-ingressgateway` Pod and Service in `istio-system` that istioctl
    /// adds when analyzing files, so Gateways selecting `istio: ingressgateway` resolve.
    pub default_ingress: bool,
    /// `(code, resource pattern)` pairs: drop messages with that code on objects whose origin
    /// (`Kind namespace/name`) matches the pattern, where `*` matches any run of characters.
    pub suppress: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: Some("default".into()),
            default_ingress: true,
            suppress: Vec::new(),
        }
    }
}

/// Validates and analyzes `loaded`, returning the kept messages in Istio's order.
pub fn analyze(loaded: &Loaded, opts: &Options) -> Vec<Message> {
    let mut problems = loaded.problems.clone();
    // Per object only: the one rule weft-validate checks across objects (one default Sidecar
    // per namespace) is IST0111, reported by its analyzer with Istio's wording.
    problems.extend(
        loaded
            .objects
            .iter()
            .flat_map(weft_validate::validate_object),
    );
    let defaults = if opts.default_ingress {
        defaults::ingress_objects(&loaded.objects)
    } else {
        Vec::new()
    };
    let objects = loaded
        .objects
        .iter()
        .filter(|o| !in_system_namespace(o))
        .chain(&defaults);
    let ctx = Context::new(objects, &problems);
    let mut messages: Vec<Message> = analyzers::all().iter().flat_map(|a| a.run(&ctx)).collect();
    let suppressed = suppression_annotations(&loaded.objects);
    messages.retain(|m| keep(m, opts, &suppressed));
    message::sort_and_dedup(&mut messages);
    messages
}

fn in_system_namespace(obj: &Object) -> bool {
    let ns = if obj.kind == "Namespace" {
        obj.name()
    } else {
        obj.namespace()
    };
    SYSTEM_NAMESPACES.contains(&ns)
}

/// Codes each object suppresses with `galley.istio.io/analyze-suppress` (`*` for all).
fn suppression_annotations(objects: &[Object]) -> BTreeMap<ObjectRef, Vec<String>> {
    objects
        .iter()
        .filter_map(|o| {
            let codes = o.metadata.annotations.get(annotations::ANALYZE_SUPPRESS)?;
            let codes = codes.split(',').map(|c| c.trim().to_string()).collect();
            Some((o.object_ref(), codes))
        })
        .collect()
}

fn keep(m: &Message, opts: &Options, suppressed: &BTreeMap<ObjectRef, Vec<String>>) -> bool {
    if m.anchor.file.as_deref() == Some(defaults::FILE) {
        return false;
    }
    let Some(origin) = m.origin() else {
        return true;
    };
    if let (Some(want), Some(ns)) = (&opts.namespace, &origin.namespace)
        && want != ns
    {
        return false;
    }
    if suppressed
        .get(origin)
        .is_some_and(|codes| codes.iter().any(|c| c == "*" || c == m.code()))
    {
        return false;
    }
    let shown = origin.to_string();
    !opts
        .suppress
        .iter()
        .any(|(code, pattern)| code == m.code() && glob_match(pattern, &shown))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().unwrap_or((&"", &[]));
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// Whether any message is at `threshold` or more serious (istioctl's `--failure-threshold`).
pub fn fails(messages: &[Message], threshold: Level) -> bool {
    messages.iter().any(|m| m.level().at_least(threshold))
}

/// Problems that mean the input could not be read at all (missing file, unreadable directory).
pub fn io_problems(loaded: &Loaded) -> impl Iterator<Item = &Problem> {
    loaded
        .problems
        .iter()
        .filter(|p| p.line == 0 && p.object.is_none() && p.message.starts_with("cannot read"))
}

#[cfg(test)]
mod tests;
