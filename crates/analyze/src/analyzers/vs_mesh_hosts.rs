//! IST0109 ConflictingMeshGatewayVirtualServiceHosts: two VirtualServices bound to the mesh
//! gateway that define the same host for the same namespaces; which one sidecars use is
//! undefined.

use std::collections::BTreeMap;

use weft_config::Object;
use weft_config::model::networking::VirtualService;

use super::Analyzer;
use super::vs_gateways::MESH_GATEWAY;
use crate::catalogue;
use crate::context::Context;
use crate::hosts;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct MeshGatewayHosts;

impl Analyzer for MeshGatewayHosts {
    fn name(&self) -> &'static str {
        "virtualservice.ConflictingMeshGatewayHostsAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if multiple virtual services associated with the mesh gateway have conflicting \
         hosts"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        // `scope/fqdn` -> the VirtualServices defining it, in load order.
        let mut by_host: BTreeMap<String, Vec<&Object>> = BTreeMap::new();
        for (obj, vs) in ctx.virtual_services().filter(|(_, vs)| on_mesh(vs)) {
            let scopes = hosts::export_scopes(&vs.export_to, obj.namespace())
                .unwrap_or_else(|| vec![hosts::EXPORT_TO_ALL.to_string()]);
            for scope in &scopes {
                for host in &vs.hosts {
                    let key = format!("{scope}/{}", hosts::to_fqdn(obj.namespace(), host));
                    let list = by_host.entry(key).or_default();
                    if !list.iter().any(|o| std::ptr::eq(*o, obj)) {
                        list.push(obj);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (host, list) in by_host.iter().filter(|(_, l)| l.len() > 1) {
            let names: Vec<String> = list
                .iter()
                .map(|o| format!("{}/{}", o.namespace(), o.name()))
                .collect();
            for obj in list {
                out.push(catalogue::conflicting_mesh_gateway_virtual_service_hosts(
                    Anchor::at(obj, "metadata.name"),
                    &names.join(","),
                    host,
                ));
            }
        }
        out
    }
}

/// Bound to the mesh gateway: no gateways (the default) or `mesh` among them.
fn on_mesh(vs: &VirtualService) -> bool {
    vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == MESH_GATEWAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn vs(name: &str, ns: &str, extra: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n  \
             namespace: {ns}\nspec:\n  hosts:\n  - reviews.default.svc.cluster.local\n{extra}  \
             http:\n  - route:\n    - destination:\n        host: reviews.default.svc.cluster.local\n\
             ---\n"
        )
    }

    #[test]
    fn two_mesh_virtual_services_for_one_host() {
        let yaml = vs("a", "default", "") + &vs("b", "other", "  gateways:\n  - mesh\n");
        let text = "The VirtualServices default/a,other/b associated with mesh gateway define the \
                    same host */reviews.default.svc.cluster.local which can lead to undefined \
                    behavior. This can be fixed by merging the conflicting VirtualServices into \
                    a single resource.";
        assert_eq!(
            lines(&MeshGatewayHosts, &yaml),
            [
                format!("Error [IST0109] (VirtualService default/a test.yaml:4) {text}"),
                format!("Error [IST0109] (VirtualService other/b test.yaml:17) {text}"),
            ]
        );
    }

    #[test]
    fn gateway_bound_or_differently_exported_virtual_services_do_not_conflict() {
        let yaml = vs("a", "default", "  exportTo:\n  - \".\"\n")
            + &vs("b", "other", "  exportTo:\n  - \".\"\n")
            + &vs("c", "default", "  gateways:\n  - ingress\n");
        assert!(lines(&MeshGatewayHosts, &yaml).is_empty());
    }
}
