//! IST0101 ReferencedResourceNotFound for the Gateways a VirtualService binds to, and IST0132
//! VirtualServiceHostNotFoundInGateway when none of its hosts is served by such a Gateway.

use weft_config::Object;
use weft_config::model::networking::{Gateway, VirtualService};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::hosts;
use crate::message::{Anchor, Message};

/// The reserved gateway name meaning every sidecar.
pub const MESH_GATEWAY: &str = "mesh";

#[derive(Debug)]
pub struct VsGateways;

impl Analyzer for VsGateways {
    fn name(&self) -> &'static str {
        "virtualservice.GatewayAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the gateways associated with each virtual service"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.virtual_services()
            .flat_map(|(obj, vs)| check(ctx, obj, vs))
            .collect()
    }
}

fn check(ctx: &Context, obj: &Object, vs: &VirtualService) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, reference) in vs.gateways.iter().enumerate() {
        if reference == MESH_GATEWAY {
            continue;
        }
        let at = || Anchor::at(obj, format!("spec.gateways[{i}]"));
        let Some(gw_obj) = ctx.gateway(obj.namespace(), reference) else {
            out.push(catalogue::referenced_resource_not_found(
                at(),
                "gateway",
                reference,
            ));
            continue;
        };
        let Some(gw) = gateway_spec(gw_obj) else {
            continue;
        };
        if !serves_any(gw, gw_obj.namespace(), obj.namespace(), &vs.hosts) {
            out.push(catalogue::virtual_service_host_not_found_in_gateway(
                at(),
                &vs.hosts,
                &format!("{}/{}", obj.namespace(), obj.name()),
                &format!("{}/{}", gw_obj.namespace(), gw_obj.name()),
            ));
        }
    }
    out
}

fn gateway_spec(obj: &Object) -> Option<&Gateway> {
    match &obj.body {
        weft_config::Body::Gateway(b) => Some(&b.spec),
        _ => None,
    }
}

/// Whether a server of `gw` serves one of `vs_hosts` to VirtualServices in `vs_namespace`.
fn serves_any(gw: &Gateway, gw_namespace: &str, vs_namespace: &str, vs_hosts: &[String]) -> bool {
    let server_hosts = gw
        .servers
        .iter()
        .flat_map(|s| s.hosts.iter().map(String::as_str));
    let visible = hosts::gateway_hosts_for_namespace(server_hosts, gw_namespace, vs_namespace);
    visible
        .iter()
        .any(|gh| vs_hosts.iter().any(|vh| hosts::matches(gh, vh)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const GATEWAY: &str = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: \
        web\n  namespace: ingress\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - \
        port:\n      number: 80\n      name: http\n      protocol: HTTP\n    hosts:\n    - \
        \"*.shop.com\"\n    - \"prod/api.internal\"\n---\n";

    fn run(gateways: &str, hosts: &str) -> Vec<String> {
        let yaml = format!(
            "{GATEWAY}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
             name: shop\nspec:\n  hosts:\n{hosts}  gateways:\n{gateways}  http:\n  - route:\n    \
             - destination:\n        host: shop\n"
        );
        lines(&VsGateways, &yaml)
    }

    #[test]
    fn missing_gateway_is_reported_at_the_reference() {
        let got = run("  - mesh\n  - ingress/missing\n", "  - www.shop.com\n");
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/shop test.yaml:27) Referenced gateway not \
              found: \"ingress/missing\""
            ]
        );
    }

    #[test]
    fn host_not_served_by_the_gateway() {
        let got = run("  - ingress/web\n", "  - www.other.com\n  - api.internal\n");
        assert_eq!(
            got,
            [
                "Warning [IST0132] (VirtualService default/shop test.yaml:27) one or more host \
              [www.other.com api.internal] defined in VirtualService default/shop not found in \
              Gateway ingress/web."
            ]
        );
    }

    #[test]
    fn wildcard_gateway_host_serves_the_virtual_service() {
        assert!(run("  - ingress/web\n", "  - www.shop.com\n").is_empty());
    }
}
