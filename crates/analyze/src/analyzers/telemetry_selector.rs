//! IST0159 ConflictingTelemetryWorkloadSelectors and IST0160
//! MultipleTelemetriesWithoutWorkloadSelectors: Telemetry resources follow the Sidecar rules,
//! one selector-less default per namespace and no workload selected twice.

use super::Analyzer;
use super::selectors::{Selecting, check_defaults, check_selectors};
use crate::catalogue;
use crate::context::Context;
use crate::message::Message;

#[derive(Debug)]
pub struct TelemetrySelector;

impl Analyzer for TelemetrySelector {
    fn name(&self) -> &'static str {
        "telemetry.SelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that telemetries that define a selector match at least one pod, that there \
         aren't multiple telemetry resources that select overlapping pods, and that a namespace \
         has at most one telemetry without a selector"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let items: Vec<Selecting> = ctx
            .telemetries()
            .filter_map(|(obj, t)| {
                let selector = &t.selector.as_ref()?.match_labels;
                (!selector.is_empty()).then_some(Selecting {
                    object: obj,
                    selector,
                    field: "spec.selector.matchLabels",
                })
            })
            .collect();
        let mut out = check_selectors(
            ctx,
            &items,
            catalogue::conflicting_telemetry_workload_selectors,
        );
        let defaults = ctx
            .telemetries()
            .filter(|(_, t)| {
                t.selector.is_none() && t.target_ref.is_none() && t.target_refs.is_empty()
            })
            .map(|(obj, _)| obj);
        out.extend(check_defaults(
            defaults,
            catalogue::multiple_telemetries_without_workload_selectors,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn telemetry(name: &str, selector: &str) -> String {
        format!(
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: {name}\n\
             spec:\n{selector}  tracing:\n  - randomSamplingPercentage: 10\n---\n"
        )
    }

    const SELECT_REVIEWS: &str = "  selector:\n    matchLabels:\n      app: reviews\n";
    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-1\n  labels:\n    \
                       app: reviews\nspec:\n  containers:\n  - name: app\n    image: reviews\n---\n";

    #[test]
    fn conflicting_and_default_telemetries() {
        let yaml = format!(
            "{POD}{}{}{}{}",
            telemetry("a", SELECT_REVIEWS),
            telemetry("b", SELECT_REVIEWS),
            telemetry("c", ""),
            telemetry("d", "")
        );
        let conflict = "The Telemetries [a b] in namespace \"default\" select the same workload \
                        pod \"reviews-1\", which can lead to undefined behavior.";
        let defaults = "The Telemetries [c d] in namespace \"default\" have no workload \
                        selector, which can lead to undefined behavior.";
        assert_eq!(
            lines(&TelemetrySelector, &yaml),
            [
                format!("Error [IST0159] (Telemetry default/a test.yaml:15) {conflict}"),
                format!("Error [IST0159] (Telemetry default/b test.yaml:26) {conflict}"),
                format!("Error [IST0160] (Telemetry default/c test.yaml:34) {defaults}"),
                format!("Error [IST0160] (Telemetry default/d test.yaml:42) {defaults}"),
            ]
        );
    }

    #[test]
    fn single_telemetries_are_fine() {
        let yaml = format!(
            "{POD}{}{}",
            telemetry("a", SELECT_REVIEWS),
            telemetry("c", "")
        );
        assert!(lines(&TelemetrySelector, &yaml).is_empty());
    }
}
