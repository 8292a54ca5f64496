//! What the policy kinds share: how a policy says where it applies (a workload selector, a
//! `targetRef` or `targetRefs`) and HTTP header names.

use weft_config::model::security::{PolicyTargetReference, WorkloadSelector};

use crate::Checker;
use crate::common::{check_label_key, check_label_value};

/// Kinds a policy may be attached to, as `(group, kind)`; Istio's webhook allows these for
/// AuthorizationPolicy, RequestAuthentication and Telemetry alike.
const TARGET_KINDS: &[(&str, &str)] = &[
    ("", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

/// How a policy selects what it applies to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attachment<'a> {
    pub selector: Option<&'a WorkloadSelector>,
    pub target_ref: Option<&'a PolicyTargetReference>,
    pub target_refs: &'a [PolicyTargetReference],
}

impl Attachment<'_> {
    /// A selector with no labels selects every workload of the namespace, like no selector.
    pub fn has_selector_labels(&self) -> bool {
        self.selector.is_some_and(|s| !s.match_labels.is_empty())
    }
}

/// At most one of selector, targetRef and targetRefs; each well-formed.
pub(crate) fn check_attachment(a: Attachment<'_>, c: &mut Checker) {
    let set: Vec<&str> = [
        ("selector", a.selector.is_some()),
        ("targetRef", a.target_ref.is_some()),
        ("targetRefs", !a.target_refs.is_empty()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    if set.len() > 1 {
        c.error(
            format!("spec.{}", set[1]),
            format!(
                "only one of selector, targetRef and targetRefs may be set (found {})",
                set.join(" and ")
            ),
        );
    }
    if let Some(sel) = a.selector {
        check_selector(sel, c);
    }
    if let Some(r) = a.target_ref {
        check_target_ref(r, "spec.targetRef", c);
    }
    for (i, r) in a.target_refs.iter().enumerate() {
        check_target_ref(r, &format!("spec.targetRefs[{i}]"), c);
    }
}

fn check_selector(sel: &WorkloadSelector, c: &mut Checker) {
    let path = "spec.selector.matchLabels";
    if sel.match_labels.is_empty() {
        c.warn(
            path,
            "selector has no labels, so it selects every workload in the namespace",
        );
        return;
    }
    for (k, v) in &sel.match_labels {
        let result = if k.contains('*') || v.contains('*') {
            Err(format!(
                "wildcards are not supported in selectors (found {k}={v})"
            ))
        } else {
            check_label_key(k)
                .and_then(|()| check_label_value(v).map_err(|e| format!("label {k:?}: {e}")))
        };
        if let Err(e) = result {
            c.error(path, e);
        }
    }
}

fn check_target_ref(r: &PolicyTargetReference, path: &str, c: &mut Checker) {
    if r.name.is_empty() {
        c.require(false, format!("{path}.name"));
    }
    if r.namespace.as_deref().is_some_and(|ns| !ns.is_empty()) {
        c.error(
            format!("{path}.namespace"),
            "cross-namespace references are not supported; the target must be in the policy's namespace",
        );
    }
    let group = if r.group == "core" { "" } else { &r.group };
    if !TARGET_KINDS.contains(&(group, r.kind.as_str())) {
        let field = if r.kind.is_empty() { "kind" } else { "group" };
        let shown = if r.group.is_empty() { "core" } else { &r.group };
        c.error(
            format!("{path}.{field}"),
            format!(
                "target must be a Service (core), ServiceEntry (networking.istio.io), Gateway or \
                 GatewayClass (gateway.networking.k8s.io), not {:?} in group {shown:?}",
                r.kind
            ),
        );
    }
}

/// An HTTP header name: a non-empty RFC 7230 token.
pub(crate) fn check_header_name(name: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() {
        Err("header name must not be empty".into())
    } else if !name.bytes().all(token) {
        Err(format!(
            "{name:?} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    } else {
        Ok(())
    }
}
