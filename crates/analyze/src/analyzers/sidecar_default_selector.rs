//! IST0111 MultipleSidecarsWithoutWorkloadSelectors: a namespace may have one Sidecar without
//! a workload selector (its default); with several, which applies is undefined.

use super::Analyzer;
use super::selectors::check_defaults;
use crate::catalogue;
use crate::context::Context;
use crate::message::Message;

#[derive(Debug)]
pub struct SidecarDefaultSelector;

impl Analyzer for SidecarDefaultSelector {
    fn name(&self) -> &'static str {
        "sidecar.DefaultSelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that there aren't multiple sidecar resources that have no selector"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let defaults = ctx
            .sidecars()
            .filter(|(_, sc)| sc.workload_selector.is_none())
            .map(|(obj, _)| obj);
        check_defaults(
            defaults,
            catalogue::multiple_sidecars_without_workload_selectors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn sidecar(name: &str, ns: &str, selector: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: {name}\n  \
             namespace: {ns}\nspec:\n{selector}  egress:\n  - hosts:\n    - \"./*\"\n---\n"
        )
    }

    #[test]
    fn two_selectorless_sidecars_in_one_namespace() {
        let yaml = sidecar("a", "prod", "") + &sidecar("b", "prod", "") + &sidecar("c", "dev", "");
        let text = "The Sidecars [a b] in namespace \"prod\" have no workload selector, which can \
                    lead to undefined behavior.";
        assert_eq!(
            lines(&SidecarDefaultSelector, &yaml),
            [
                format!("Error [IST0111] (Sidecar prod/a test.yaml:1) {text}"),
                format!("Error [IST0111] (Sidecar prod/b test.yaml:11) {text}"),
            ]
        );
    }

    #[test]
    fn one_default_and_selecting_sidecars_are_fine() {
        let selector = "  workloadSelector:\n    labels:\n      app: x\n";
        let yaml = sidecar("a", "prod", "") + &sidecar("b", "prod", selector);
        assert!(lines(&SidecarDefaultSelector, &yaml).is_empty());
    }
}
