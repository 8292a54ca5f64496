//! IST0107 MisplacedAnnotation, IST0108 UnknownAnnotation and IST0135 DeprecatedAnnotation: the
//! Istio annotations on Namespaces, Services, Pods and Deployments, checked against Istio's
//! table of annotations (`crate::annotations`).

use weft_config::{Kind, Object};

use super::Analyzer;
use crate::annotations::{self, ANY};
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

/// The label that replaces the deprecated `sidecar.istio.io/inject` annotation.
const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";

#[derive(Debug)]
pub struct K8sAnnotations;

impl Analyzer for K8sAnnotations {
    fn name(&self) -> &'static str {
        "annotations.K8sAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for misplaced and invalid Istio annotations in Kubernetes resources"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        [Kind::Namespace, Kind::Service, Kind::Pod, Kind::Deployment]
            .into_iter()
            .flat_map(|k| ctx.of_kind(k))
            .flat_map(check_object)
            .collect()
    }
}

fn check_object(obj: &Object) -> Vec<Message> {
    let mut out = Vec::new();
    for name in obj.metadata.annotations.keys() {
        if !annotations::is_istio(name) {
            continue;
        }
        let at = || Anchor::at_key(obj, "metadata.annotations", name);
        let Some(def) = annotations::lookup(name) else {
            out.push(catalogue::unknown_annotation(at(), name));
            continue;
        };
        let has_replacement = name == SIDECAR_INJECT && obj.metadata.labels.contains_key(name);
        if def.deprecated && !has_replacement {
            out.push(catalogue::deprecated_annotation(
                at(),
                name,
                def.deprecation_note,
            ));
        }
        if !def.applies_to(&obj.kind) {
            let kinds: Vec<&str> = def
                .resources
                .iter()
                .copied()
                .filter(|r| *r != ANY)
                .collect();
            out.push(catalogue::misplaced_annotation(
                at(),
                name,
                &kinds.join(", "),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn run(yaml: &str) -> Vec<String> {
        lines(&K8sAnnotations, yaml)
    }

    #[test]
    fn unknown_istio_annotation_is_reported_at_its_line() {
        let got = run(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    \
                       networking.istio.io/exportToo: \".\"\nspec:\n  ports:\n  - port: 80\n",
        );
        assert_eq!(
            got,
            [
                "Warning [IST0108] (Service default/web test.yaml:6) Unknown annotation: \
              networking.istio.io/exportToo"
            ]
        );
    }

    #[test]
    fn pod_annotation_on_a_service_is_misplaced() {
        let got = run(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    \
                       sidecar.istio.io/proxyCPU: 100m\nspec:\n  ports:\n  - port: 80\n",
        );
        assert_eq!(
            got,
            [
                "Warning [IST0107] (Service default/web test.yaml:6) Misplaced annotation: \
              sidecar.istio.io/proxyCPU can only be applied to Pod"
            ]
        );
    }

    #[test]
    fn deprecated_inject_annotation_is_reported_unless_the_label_is_there_too() {
        let pod = |labels: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: prod\n{labels}  \
                 annotations:\n    sidecar.istio.io/inject: \"false\"\nspec:\n  containers:\n  \
                 - name: app\n    image: app\n"
            )
        };
        assert_eq!(
            run(&pod("")),
            [
                "Info [IST0135] (Pod prod/p test.yaml:7) Annotation \"sidecar.istio.io/inject\" has \
              been deprecated in favor of the \"sidecar.istio.io/inject\" label and may not work \
              in future Istio versions."
            ]
        );
        let with_label = pod("  labels:\n    sidecar.istio.io/inject: \"false\"\n");
        assert!(run(&with_label).is_empty());
    }

    #[test]
    fn deprecated_and_misplaced_are_both_reported() {
        let got = run(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  \
                       annotations:\n    sidecar.istio.io/statsInclusionPrefixes: x\n",
        );
        assert_eq!(
            got,
            [
                "Warning [IST0107] (Namespace prod test.yaml:6) Misplaced annotation: \
                 sidecar.istio.io/statsInclusionPrefixes can only be applied to Pod",
                "Info [IST0135] (Namespace prod test.yaml:6) Annotation \
                 \"sidecar.istio.io/statsInclusionPrefixes\" has been deprecated and may not \
                 work in future Istio versions."
            ]
        );
    }

    #[test]
    fn other_and_any_annotations_are_fine() {
        let got = run(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  \
                       annotations:\n    example.com/owner: me\n    \
                       galley.istio.io/analyze-suppress: IST0102\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }
}
