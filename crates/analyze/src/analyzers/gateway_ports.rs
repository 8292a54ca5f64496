//! IST0101 ReferencedResourceNotFound for Gateway selectors that select no workload, and
//! IST0104 GatewayPortNotOnWorkload for server ports that no Service of the selected workloads
//! exposes (as `port` or `targetPort`).

use std::collections::BTreeSet;

use weft_config::Object;
use weft_config::model::kube::Protocol;
use weft_config::model::networking::Gateway;

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::labels;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct GatewayPorts;

impl Analyzer for GatewayPorts {
    fn name(&self) -> &'static str {
        "gateway.IngressGatewayPortAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's ports against the gateway's Kubernetes service ports"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.gateway_specs()
            .flat_map(|(obj, gw)| check(ctx, obj, gw))
            .collect()
    }
}

/// IST0101 for a Gateway whose selector selects no workload in any namespace.
pub fn selector_not_found(obj: &Object, gw: &Gateway) -> Message {
    catalogue::referenced_resource_not_found(
        Anchor::at(obj, "spec.selector"),
        "selector",
        &labels::selector_string(&gw.selector),
    )
}

fn check(ctx: &Context, obj: &Object, gw: &Gateway) -> Vec<Message> {
    let selected: Vec<_> = ctx
        .workloads
        .iter()
        .filter(|w| labels::matches(&gw.selector, w.labels))
        .collect();
    if selected.is_empty() {
        return vec![selector_not_found(obj, gw)];
    }
    let mut exposed = BTreeSet::new();
    for w in &selected {
        for (_, svc) in ctx.services().filter(|(s, _)| s.namespace() == w.namespace) {
            let selects = svc
                .spec
                .selector
                .as_ref()
                .is_some_and(|sel| !sel.is_empty() && labels::matches(sel, w.labels));
            if !selects {
                continue;
            }
            for p in svc
                .spec
                .ports
                .iter()
                .filter(|p| p.protocol.unwrap_or_default() == Protocol::Tcp)
            {
                exposed.insert(p.port);
                if let Some(weft_config::IntOrString::Int(t)) = p.target_port {
                    exposed.insert(t);
                }
            }
        }
    }
    let selector = labels::selector_string(&gw.selector);
    gw.servers
        .iter()
        .enumerate()
        .filter_map(|(i, server)| {
            let number = server.port.as_ref()?.number?;
            (!exposed.contains(&i64::from(number))).then(|| {
                let at = Anchor::at(obj, format!("spec.servers[{i}].port.number"));
                catalogue::gateway_port_not_on_workload(at, &selector, number)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const INGRESS: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ingress-1\n  namespace: \
        istio-system\n  labels:\n    istio: ingressgateway\nspec:\n  containers:\n  - name: \
        istio-proxy\n    image: proxyv2\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: \
        istio-ingressgateway\n  namespace: istio-system\nspec:\n  selector:\n    istio: \
        ingressgateway\n  ports:\n  - name: http2\n    port: 80\n    targetPort: 8080\n  - name: \
        https\n    port: 443\n---\n";

    fn gateway(selector: &str, port: u32) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: web\nspec:\n  \
             selector:\n    istio: {selector}\n  servers:\n  - port:\n      number: {port}\n      \
             name: http\n      protocol: HTTP\n    hosts:\n    - \"*\"\n"
        )
    }

    #[test]
    fn port_not_exposed_by_the_workload_service() {
        let yaml = format!("{INGRESS}{}", gateway("ingressgateway", 8443));
        assert_eq!(
            lines(&GatewayPorts, &yaml),
            [
                "Warning [IST0104] (Gateway default/web test.yaml:37) The gateway refers to a port \
              that is not exposed on the workload (pod selector istio=ingressgateway; port 8443)"
            ]
        );
    }

    #[test]
    fn service_port_or_target_port_is_fine() {
        for port in [80, 8080, 443] {
            let yaml = format!("{INGRESS}{}", gateway("ingressgateway", port));
            assert!(lines(&GatewayPorts, &yaml).is_empty(), "port {port}");
        }
    }

    #[test]
    fn selector_matching_no_workload() {
        let yaml = format!("{INGRESS}{}", gateway("egressgateway", 80));
        assert_eq!(
            lines(&GatewayPorts, &yaml),
            [
                "Error [IST0101] (Gateway default/web test.yaml:34) Referenced selector not found: \
              \"istio=egressgateway\""
            ]
        );
    }
}
