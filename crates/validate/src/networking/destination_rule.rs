//! Rules for DestinationRule: host, subsets, export and workload selection. The traffic
//! policy rules, shared by the rule, its ports and its subsets, are in `traffic_policy`.

use std::collections::BTreeMap;

use weft_config::model::networking::{DestinationRule, Subset};

use super::{check_export_to, check_host_at, check_labels, check_selector, traffic_policy};
use crate::Checker;
use crate::common::{HostRules, is_dns1123_label};

pub fn check(spec: &DestinationRule, c: &mut Checker) {
    match spec.host.as_deref() {
        None => c.require(false, "spec.host"),
        Some(host) => check_host_at(c, "spec.host", host, HostRules::SERVICE),
    }
    if let Some(policy) = &spec.traffic_policy {
        traffic_policy::check(policy, "spec.trafficPolicy", c);
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, subset) in spec.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        if let Some(name) = subset.name.as_deref() {
            if let Some(&first) = names.get(name) {
                c.error(
                    format!("{path}.name"),
                    format!("subset name {name:?} is already used by spec.subsets[{first}]"),
                );
            } else {
                names.insert(name, i);
            }
        }
        check_subset(subset, &path, c);
    }
    check_export_to(c, "spec.exportTo", &spec.export_to);
    if let Some(sel) = &spec.workload_selector {
        check_selector(c, "spec.workloadSelector.matchLabels", &sel.match_labels);
    }
}

fn check_subset(subset: &Subset, path: &str, c: &mut Checker) {
    match subset.name.as_deref() {
        None => c.require(false, format!("{path}.name")),
        Some(name) if !is_dns1123_label(name) => c.error(
            format!("{path}.name"),
            format!("subset name {name:?} must be a DNS label (lowercase letters, digits and '-')"),
        ),
        Some(_) => {}
    }
    check_labels(c, &format!("{path}.labels"), &subset.labels);
    if let Some(policy) = &subset.traffic_policy {
        traffic_policy::check(policy, &format!("{path}.trafficPolicy"), c);
    }
}
