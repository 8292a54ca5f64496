//! IST0116 DeploymentAssociatedToMultipleServices and IST0137 DeploymentConflictingPorts: the
//! Services selecting one in-mesh Deployment must agree on each port's protocol and on which
//! port a target port is.

use std::collections::{BTreeMap, BTreeSet};

use weft_config::Object;
use weft_config::model::kube::{Deployment, Service};

use super::Analyzer;
use super::injection::{INJECTION_LABEL, REVISION_LABEL, SIDECAR_INJECT, has_proxy};
use crate::catalogue;
use crate::context::Context;
use crate::index::kube_protocol;
use crate::labels;
use crate::message::{Anchor, Message};

/// Label value marking a waypoint proxy Deployment, which Istio skips.
const WAYPOINT_CONTROLLER: &str = "istio.io-mesh-controller";

#[derive(Debug)]
pub struct DeploymentServices;

impl Analyzer for DeploymentServices {
    fn name(&self) -> &'static str {
        "deployment.MultiServiceAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks association between services and pods"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut out = Vec::new();
        for (obj, d) in ctx.deployments() {
            let waypoint = obj.metadata.labels.get("gateway.istio.io/managed")
                == Some(&WAYPOINT_CONTROLLER.to_string());
            if waypoint || !in_mesh(ctx, obj, d) {
                continue;
            }
            let services = selecting_services(ctx, obj, d);
            out.extend(protocol_conflicts(obj, &services));
            out.extend(target_port_conflicts(obj, &services));
        }
        out
    }
}

/// Whether the Deployment's pods get a sidecar: a proxy in the template, the inject label or
/// annotation, or an injection label on its Namespace.
pub fn in_mesh(ctx: &Context, obj: &Object, d: &Deployment) -> bool {
    let template = &d.spec.template;
    if has_proxy(&template.spec) {
        return true;
    }
    let meta = &template.metadata;
    if let Some(v) = meta
        .labels
        .get(SIDECAR_INJECT)
        .or_else(|| meta.annotations.get(SIDECAR_INJECT))
    {
        return v == "true";
    }
    ctx.namespace(obj.namespace()).is_some_and(|ns| {
        let labels = &ns.metadata.labels;
        labels.get(INJECTION_LABEL).map(String::as_str) == Some("enabled")
            || labels.contains_key(REVISION_LABEL)
    })
}

/// `(ns/name, spec)` of the Services in the Deployment's namespace selecting its pods.
fn selecting_services<'a>(
    ctx: &Context<'a>,
    obj: &Object,
    d: &Deployment,
) -> Vec<(String, &'a Service)> {
    ctx.services()
        .filter(|(s, svc)| {
            s.namespace() == obj.namespace()
                && svc.spec.selector.as_ref().is_some_and(|sel| {
                    !sel.is_empty() && labels::matches(sel, &d.spec.template.metadata.labels)
                })
        })
        .map(|(s, svc)| (format!("{}/{}", s.namespace(), s.name()), svc))
        .collect()
}

fn protocol_conflicts(obj: &Object, services: &[(String, &Service)]) -> Vec<Message> {
    let mut by_port: BTreeMap<i64, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for (name, svc) in services {
        for p in &svc.spec.ports {
            by_port
                .entry(p.port)
                .or_default()
                .entry(kube_protocol(p.protocol))
                .or_default()
                .push(name);
        }
    }
    by_port
        .into_iter()
        .filter(|(_, protocols)| protocols.len() > 1)
        .map(|(port, protocols)| {
            let mut names: Vec<String> = protocols
                .into_values()
                .flatten()
                .map(str::to_string)
                .collect();
            names.sort();
            let at = Anchor::at(obj, "metadata.name");
            catalogue::deployment_associated_to_multiple_services(at, obj.name(), port, &names)
        })
        .collect()
}

fn target_port_conflicts(obj: &Object, services: &[(String, &Service)]) -> Vec<Message> {
    let mut by_target: BTreeMap<String, BTreeMap<i64, &str>> = BTreeMap::new();
    for (name, svc) in services {
        for p in &svc.spec.ports {
            let target = match p.target_port.as_ref().map(ToString::to_string) {
                Some(t) if t != "0" && !t.is_empty() => t,
                _ => p.port.to_string(),
            };
            by_target.entry(target).or_default().insert(p.port, name);
        }
    }
    by_target
        .into_iter()
        .filter(|(_, ports)| ports.len() > 1)
        .map(|(target, ports)| {
            let names: BTreeSet<String> = ports.values().map(|n| n.to_string()).collect();
            let names: Vec<String> = names.into_iter().collect();
            let numbers: Vec<i64> = ports.keys().copied().collect();
            let at = Anchor::at(obj, "metadata.name");
            catalogue::deployment_conflicting_ports(at, obj.name(), &names, &target, &numbers)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn deployment(inject: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: reviews\nspec:\n  \
             selector:\n    matchLabels:\n      app: reviews\n  template:\n    metadata:\n      \
             labels:\n        app: reviews\n{inject}    spec:\n      containers:\n      - name: \
             app\n        image: reviews\n---\n"
        )
    }

    fn service(name: &str, ports: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    \
             app: reviews\n  ports:\n{ports}---\n"
        )
    }

    const INJECTED: &str = "        sidecar.istio.io/inject: \"true\"\n";

    #[test]
    fn same_port_with_two_protocols() {
        let yaml = deployment(INJECTED)
            + &service("b-tcp", "  - name: tcp\n    port: 9080\n")
            + &service(
                "a-udp",
                "  - name: udp\n    port: 9080\n    protocol: UDP\n",
            );
        assert_eq!(
            lines(&DeploymentServices, &yaml),
            [
                "Warning [IST0116] (Deployment default/reviews test.yaml:4) This deployment reviews \
              is associated with multiple services using port 9080 but different protocols: \
              [default/a-udp default/b-tcp]"
            ]
        );
    }

    #[test]
    fn same_target_port_behind_two_ports() {
        let yaml = deployment(INJECTED)
            + &service("a", "  - name: http\n    port: 80\n    targetPort: 9080\n")
            + &service(
                "b",
                "  - name: http\n    port: 8080\n    targetPort: 9080\n",
            );
        assert_eq!(
            lines(&DeploymentServices, &yaml),
            [
                "Warning [IST0137] (Deployment default/reviews test.yaml:4) This deployment reviews \
              is associated with multiple services [default/a default/b] using targetPort \
              \"9080\" but different ports: [80 8080]."
            ]
        );
    }

    #[test]
    fn consistent_services_and_deployments_outside_the_mesh_are_fine() {
        let agreeing = deployment(INJECTED)
            + &service("a", "  - name: http\n    port: 80\n")
            + &service("b", "  - name: http\n    port: 80\n");
        assert!(lines(&DeploymentServices, &agreeing).is_empty());
        let outside = deployment("")
            + &service("b-tcp", "  - name: tcp\n    port: 9080\n")
            + &service(
                "a-udp",
                "  - name: udp\n    port: 9080\n    protocol: UDP\n",
            );
        assert!(lines(&DeploymentServices, &outside).is_empty());
    }
}
