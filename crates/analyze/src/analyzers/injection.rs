//! IST0102 NamespaceNotInjected, IST0123 NamespaceMultipleInjectionLabels and IST0103
//! PodMissingProxy: namespaces without an injection label, and pods of injected namespaces
//! that run without the `istio-proxy` container.

use std::collections::BTreeSet;

use weft_config::Object;
use weft_config::model::kube::Pod;

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

pub const INJECTION_LABEL: &str = "istio-injection";
pub const REVISION_LABEL: &str = "istio.io/rev";
pub const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
pub const PROXY_CONTAINER: &str = "istio-proxy";
const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
const ISTIO_SYSTEM: &str = "istio-system";

#[derive(Debug)]
pub struct Injection;

impl Analyzer for Injection {
    fn name(&self) -> &'static str {
        "injection.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks conditions related to Istio sidecar injection"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut out = Vec::new();
        let mut injected = BTreeSet::new();
        for ns in ctx.of_kind(weft_config::Kind::Namespace) {
            match check_namespace(ns) {
                Namespace::Injected => {
                    injected.insert(ns.name());
                }
                Namespace::NotInjected => {}
                Namespace::Unclear(m) => out.push(m),
            }
        }
        for (obj, pod) in ctx.pods() {
            if injected.contains(obj.namespace()) && missing_proxy(obj, pod) {
                let name = format!("{}/{}", obj.namespace(), obj.name());
                out.push(catalogue::pod_missing_proxy(Anchor::at(obj, ""), &name));
            }
        }
        out
    }
}

/// What a Namespace's labels say about sidecar injection.
enum Namespace {
    Injected,
    NotInjected,
    /// The labels do not say clearly; the message says why.
    Unclear(Message),
}

fn check_namespace(ns: &Object) -> Namespace {
    let name = ns.name();
    if name == ISTIO_SYSTEM {
        return Namespace::NotInjected;
    }
    let labels = &ns.metadata.labels;
    let legacy = labels.get(INJECTION_LABEL);
    let revision = labels.get(REVISION_LABEL);
    let at = || Anchor::at(ns, "metadata.name");
    match (legacy, revision) {
        (None, None) if labels.get(DATAPLANE_MODE_LABEL).map(String::as_str) == Some("ambient") => {
            Namespace::NotInjected
        }
        (None, None) => Namespace::Unclear(catalogue::namespace_not_injected(at(), name)),
        (Some(_), Some(_)) => Namespace::Unclear(catalogue::namespace_multiple_injection_labels(
            at(),
            &[INJECTION_LABEL, REVISION_LABEL],
        )),
        (Some(v), None) if v == "enabled" => Namespace::Injected,
        (Some(_), None) => Namespace::NotInjected,
        (None, Some(_)) => Namespace::Injected,
    }
}

fn missing_proxy(obj: &Object, pod: &Pod) -> bool {
    let inject = obj
        .metadata
        .labels
        .get(SIDECAR_INJECT)
        .or_else(|| obj.metadata.annotations.get(SIDECAR_INJECT));
    if inject.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return false;
    }
    if pod.spec.host_network == Some(true) {
        return false;
    }
    !has_proxy(&pod.spec)
}

/// Whether a pod spec runs `istio-proxy` (as a container or a native sidecar) with an image.
pub fn has_proxy(spec: &weft_config::model::kube::PodSpec) -> bool {
    spec.containers
        .iter()
        .chain(&spec.init_containers)
        .any(|c| c.name == PROXY_CONTAINER && c.image.as_deref().is_some_and(|i| !i.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn run(yaml: &str) -> Vec<String> {
        lines(&Injection, yaml)
    }

    fn namespace(name: &str, labels: &str) -> String {
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n{labels}---\n")
    }

    fn pod(name: &str, ns: &str, extra_meta: &str, containers: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n{extra_meta}\
             spec:\n  containers:\n{containers}---\n"
        )
    }

    const APP: &str = "  - name: app\n    image: app:1\n";
    const APP_AND_PROXY: &str = "  - name: app\n    image: app:1\n  - name: istio-proxy\n    \
                                 image: proxyv2\n";

    #[test]
    fn namespace_without_injection_label() {
        assert_eq!(
            run(&namespace("shop", "")),
            [
                "Info [IST0102] (Namespace shop test.yaml:4) The namespace is not enabled for Istio \
              injection. Run 'kubectl label namespace shop istio-injection=enabled' to enable it, \
              or 'kubectl label namespace shop istio-injection=disabled' to explicitly mark it as \
              not needing injection."
            ]
        );
    }

    #[test]
    fn labelled_ambient_and_system_namespaces_are_fine() {
        let yaml = namespace("a", "  labels:\n    istio-injection: enabled\n")
            + &namespace("b", "  labels:\n    istio-injection: disabled\n")
            + &namespace("c", "  labels:\n    istio.io/rev: canary\n")
            + &namespace("d", "  labels:\n    istio.io/dataplane-mode: ambient\n")
            + &namespace("istio-system", "");
        assert!(run(&yaml).is_empty(), "{:?}", run(&yaml));
    }

    #[test]
    fn both_injection_labels() {
        let yaml = namespace(
            "shop",
            "  labels:\n    istio-injection: enabled\n    istio.io/rev: canary\n",
        );
        assert_eq!(
            run(&yaml),
            [
                "Warning [IST0123] (Namespace shop test.yaml:4) The namespace has more than one type \
              of injection labels [istio-injection istio.io/rev], which may lead to undefined \
              behavior. Make sure only one injection label exists."
            ]
        );
    }

    #[test]
    fn pod_without_proxy_in_injected_namespace() {
        let injected = namespace("shop", "  labels:\n    istio-injection: enabled\n");
        let yaml = injected.clone()
            + &pod("bare", "shop", "", APP)
            + &pod("good", "shop", "", APP_AND_PROXY)
            + &pod(
                "optout",
                "shop",
                "  labels:\n    sidecar.istio.io/inject: \"false\"\n",
                APP,
            )
            + &pod("elsewhere", "other", "", APP);
        assert_eq!(
            run(&yaml),
            [
                "Warning [IST0103] (Pod shop/bare test.yaml:8) The pod shop/bare is missing the \
              Istio proxy. This can often be resolved by restarting or redeploying the workload."
            ]
        );
    }
}
