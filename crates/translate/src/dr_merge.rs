//! DestinationRule merging, as Istio does it: rules for the same host in the same namespace,
//! without a workload selector and with the same `exportTo`, act as one. Subsets are joined
//! (a later subset of an existing name is ignored) and the top-level traffic policy is the
//! oldest one that sets any. This lets a scenario add a circuit breaker to a host whose
//! subsets another file already declares.

use weft_config::model::networking::destination_rule::DestinationRule;

use crate::context::Config;

/// Merges `rules` (oldest first); the merged rule keeps the oldest rule's name and place.
pub fn merge_destination_rules(
    rules: Vec<Config<DestinationRule>>,
) -> Vec<Config<DestinationRule>> {
    let mut out: Vec<Config<DestinationRule>> = Vec::with_capacity(rules.len());
    for rule in rules {
        let target = out.iter_mut().find(|kept| mergeable(kept, &rule));
        match target {
            Some(kept) => absorb(&mut kept.spec, rule.spec),
            None => out.push(rule),
        }
    }
    out
}

fn mergeable(a: &Config<DestinationRule>, b: &Config<DestinationRule>) -> bool {
    a.namespace == b.namespace
        && a.spec.host == b.spec.host
        && a.spec.workload_selector.is_none()
        && b.spec.workload_selector.is_none()
        && a.export_to == b.export_to
}

fn absorb(kept: &mut DestinationRule, newer: DestinationRule) {
    if kept.traffic_policy.is_none() {
        kept.traffic_policy = newer.traffic_policy;
    }
    for subset in newer.subsets {
        if !kept.subsets.iter().any(|s| s.name == subset.name) {
            kept.subsets.push(subset);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use weft_registry::ExportTo;

    fn rule(name: &str, ns: &str, spec: serde_json::Value) -> Config<DestinationRule> {
        Config {
            namespace: ns.into(),
            name: name.into(),
            created: None,
            export_to: ExportTo::Public,
            spec: serde_json::from_value(spec).unwrap(),
        }
    }

    #[test]
    fn same_host_rules_join_subsets_and_take_the_oldest_policy() {
        let merged = merge_destination_rules(vec![
            rule(
                "subsets",
                "default",
                json!({"host": "r", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
            ),
            rule(
                "breaker",
                "default",
                json!({
                    "host": "r",
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}},
                    "subsets": [
                        {"name": "v1", "labels": {"version": "other"}},
                        {"name": "v2", "labels": {"version": "v2"}}
                    ]
                }),
            ),
            rule(
                "later",
                "default",
                json!({"host": "r", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 9}}}}),
            ),
        ]);
        assert_eq!(merged.len(), 1);
        let dr = &merged[0];
        assert_eq!(dr.name, "subsets");
        let names: Vec<_> = dr.subsets_names();
        assert_eq!(names, ["v1", "v2"]);
        assert_eq!(
            dr.spec.subsets[0].labels["version"], "v1",
            "the first v1 stays"
        );
        let tp = serde_json::to_value(&dr.spec.traffic_policy).unwrap();
        assert_eq!(tp["connectionPool"]["tcp"]["maxConnections"], 1);
    }

    #[test]
    fn other_namespaces_hosts_and_selectors_stay_apart() {
        let merged = merge_destination_rules(vec![
            rule("a", "default", json!({"host": "r"})),
            rule("b", "other", json!({"host": "r"})),
            rule("c", "default", json!({"host": "s"})),
            rule(
                "d",
                "default",
                json!({"host": "r", "workloadSelector": {"matchLabels": {"app": "x"}}}),
            ),
        ]);
        assert_eq!(merged.len(), 4);
    }

    impl Config<DestinationRule> {
        fn subsets_names(&self) -> Vec<&str> {
            self.spec
                .subsets
                .iter()
                .filter_map(|s| s.name.as_deref())
                .collect()
        }
    }
}
