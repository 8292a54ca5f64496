//! Rules for EnvoyFilter. weft does not apply EnvoyFilters, so each one is reported as having
//! no effect; the checks below still catch what Istio would refuse.

use weft_config::model::networking::{
    ApplyTo, EnvoyConfigObjectPatch, EnvoyFilter, PatchOperation,
};

use super::{check_labels, one_of, report};
use crate::Checker;
use crate::common::check_regex;

pub fn check(spec: &EnvoyFilter, c: &mut Checker) {
    c.warn(
        "spec",
        "EnvoyFilter is parsed but not supported by weft and has no effect",
    );
    if spec.workload_selector.is_some() && !spec.target_refs.is_empty() {
        c.error(
            "spec.targetRefs",
            "only one of workloadSelector or targetRefs may be set",
        );
    }
    if let Some(sel) = &spec.workload_selector {
        check_labels(c, "spec.workloadSelector.labels", &sel.labels);
    }
    for (i, r) in spec.target_refs.iter().enumerate() {
        let path = format!("spec.targetRefs[{i}]");
        c.require(r.kind.is_some(), format!("{path}.kind"));
        c.require(r.name.is_some(), format!("{path}.name"));
    }
    for (i, p) in spec.config_patches.iter().enumerate() {
        check_patch(p, &format!("spec.configPatches[{i}]"), c);
    }
}

fn check_patch(p: &EnvoyConfigObjectPatch, path: &str, c: &mut Checker) {
    match p.apply_to {
        None | Some(ApplyTo::Invalid) => c.require(false, format!("{path}.applyTo")),
        Some(_) => {}
    }
    if let Some(m) = &p.r#match {
        let at = format!("{path}.match");
        let kinds = [
            ("listener", m.listener.is_some()),
            ("routeConfiguration", m.route_configuration.is_some()),
            ("cluster", m.cluster.is_some()),
            ("waypoint", m.waypoint.is_some()),
        ];
        one_of(c, &at, &kinds, false);
        if let Some(v) = m.proxy.as_ref().and_then(|p| p.proxy_version.as_deref()) {
            report(c, format!("{at}.proxy.proxyVersion"), check_regex(v));
        }
    }
    let Some(patch) = &p.patch else {
        c.require(false, format!("{path}.patch"));
        return;
    };
    match patch.operation {
        None | Some(PatchOperation::Invalid) => c.require(false, format!("{path}.patch.operation")),
        Some(PatchOperation::Remove) => {}
        Some(_) => c.require(patch.value.is_some(), format!("{path}.patch.value")),
    }
}
