//! IST0107 MisplacedAnnotation, IST0108 UnknownAnnotation, IST0125 InvalidAnnotation and
//! IST0135 DeprecatedAnnotation: the Istio annotations on Namespaces, Services, Pods and
//! Deployments, checked against Istio's table of annotations (`crate::annotations`) and, for
//! the ones the injector parses, their values. The pod template of a Deployment is checked as
//! a Pod, since that is where pod annotations are usually written.

use weft_config::{Kind, Object, ObjectMeta};

use super::Analyzer;
use crate::annotation_values;
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
        let own = [Kind::Namespace, Kind::Service, Kind::Pod, Kind::Deployment]
            .into_iter()
            .flat_map(|k| ctx.of_kind(k))
            .flat_map(|o| check(&Annotated::own(o)));
        let templates = ctx.deployments().flat_map(|(o, d)| {
            check(&Annotated {
                object: o,
                kind: "Pod",
                meta: &d.spec.template.metadata,
                path: "spec.template.metadata",
            })
        });
        own.chain(templates).collect()
    }
}

/// Metadata whose annotations are checked as those of a `kind`.
struct Annotated<'a> {
    object: &'a Object,
    kind: &'a str,
    meta: &'a ObjectMeta,
    /// Path of the metadata in the object.
    path: &'static str,
}

impl<'a> Annotated<'a> {
    fn own(object: &'a Object) -> Self {
        Annotated {
            object,
            kind: &object.kind,
            meta: &object.metadata,
            path: "metadata",
        }
    }
}

fn check(a: &Annotated) -> Vec<Message> {
    let mut out = Vec::new();
    let (obj, meta) = (a.object, a.meta);
    let parent = format!("{}.annotations", a.path);
    for (name, value) in &meta.annotations {
        if !annotations::is_istio(name) {
            continue;
        }
        let at = || Anchor::at_key(obj, &parent, name);
        let Some(def) = annotations::lookup(name) else {
            out.push(catalogue::unknown_annotation(at(), name));
            continue;
        };
        let has_replacement = name == SIDECAR_INJECT && meta.labels.contains_key(name);
        if def.deprecated && !has_replacement {
            out.push(catalogue::deprecated_annotation(
                at(),
                name,
                def.deprecation_note,
            ));
        }
        if !def.applies_to(a.kind) {
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
        } else if let Some(problem) = annotation_values::problem(name, value) {
            out.push(catalogue::invalid_annotation(at(), name, &problem));
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
    fn invalid_values_of_parsed_pod_annotations() {
        let got = run(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    \
                       traffic.sidecar.istio.io/excludeOutboundPorts: \"5432,db\"\n    \
                       sidecar.istio.io/interceptionMode: TPROXY\nspec:\n  containers:\n  - \
                       name: app\n    image: app\n",
        );
        assert_eq!(
            got,
            [
                "Warning [IST0125] (Pod default/p test.yaml:6) Invalid annotation \
              traffic.sidecar.istio.io/excludeOutboundPorts: \"db\" is not a port number (1 to \
              65535)"
            ]
        );
    }

    #[test]
    fn deployment_pod_templates_are_checked_as_pods() {
        let got = run(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  \
                       annotations:\n    sidecar.istio.io/proxyCPU: 100m\nspec:\n  selector:\n    \
                       matchLabels:\n      app: d\n  template:\n    metadata:\n      labels:\n        \
                       app: d\n      annotations:\n        sidecar.istio.io/proxyCPU: 100m\n        \
                       sidecar.istio.io/proxyCPUU: 100m\n    spec:\n      containers:\n      - \
                       name: app\n        image: app\n",
        );
        assert_eq!(
            got,
            [
                "Warning [IST0107] (Deployment default/d test.yaml:6) Misplaced annotation: \
                 sidecar.istio.io/proxyCPU can only be applied to Pod",
                "Warning [IST0108] (Deployment default/d test.yaml:17) Unknown annotation: \
                 sidecar.istio.io/proxyCPUU"
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
