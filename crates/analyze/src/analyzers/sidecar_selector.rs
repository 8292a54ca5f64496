//! IST0101 ReferencedResourceNotFound for Sidecar workload selectors that select nothing, and
//! IST0110 ConflictingSidecarWorkloadSelectors for workloads two Sidecars select.

use super::Analyzer;
use super::selectors::{Selecting, check_selectors};
use crate::catalogue;
use crate::context::Context;
use crate::message::Message;

#[derive(Debug)]
pub struct SidecarSelector;

impl Analyzer for SidecarSelector {
    fn name(&self) -> &'static str {
        "sidecar.SelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that sidecars that define a workload selector match at least one pod, and \
         that there aren't multiple sidecar resources that select overlapping pods"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let items: Vec<Selecting> = ctx
            .sidecars()
            .filter_map(|(obj, sc)| {
                let selector = &sc.workload_selector.as_ref()?.labels;
                (!selector.is_empty()).then_some(Selecting {
                    object: obj,
                    selector,
                    field: "spec.workloadSelector.labels",
                })
            })
            .collect();
        check_selectors(
            ctx,
            &items,
            catalogue::conflicting_sidecar_workload_selectors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn sidecar(name: &str, app: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: {name}\nspec:\n  \
             workloadSelector:\n    labels:\n      app: {app}\n  egress:\n  - hosts:\n    - \
             \"./*\"\n---\n"
        )
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-1\n  labels:\n    \
                       app: reviews\nspec:\n  containers:\n  - name: app\n    image: reviews\n---\n";

    #[test]
    fn two_sidecars_selecting_one_pod() {
        let yaml = format!(
            "{POD}{}{}",
            sidecar("a", "reviews"),
            sidecar("b", "reviews")
        );
        let text = "The Sidecars [a b] in namespace \"default\" select the same workload pod \
                    \"reviews-1\", which can lead to undefined behavior.";
        assert_eq!(
            lines(&SidecarSelector, &yaml),
            [
                format!("Error [IST0110] (Sidecar default/a test.yaml:15) {text}"),
                format!("Error [IST0110] (Sidecar default/b test.yaml:27) {text}"),
            ]
        );
    }

    #[test]
    fn selector_matching_no_pod() {
        let yaml = format!("{POD}{}", sidecar("a", "ratings"));
        assert_eq!(
            lines(&SidecarSelector, &yaml),
            [
                "Error [IST0101] (Sidecar default/a test.yaml:19) Referenced selector not found: \
              \"app=ratings\""
            ]
        );
    }

    #[test]
    fn no_report_without_workloads_in_the_input_or_with_one_sidecar() {
        assert!(lines(&SidecarSelector, &sidecar("a", "ratings")).is_empty());
        let one = format!("{POD}{}", sidecar("a", "reviews"));
        assert!(lines(&SidecarSelector, &one).is_empty());
    }
}
