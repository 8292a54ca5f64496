//! IST0145 ConflictingGateways: two Gateways with the same selector and port whose servers
//! share a host; which one a request meets is undefined.

use std::collections::BTreeMap;

use weft_config::Object;
use weft_config::model::networking::Gateway;

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::hosts;
use crate::labels;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct ConflictingGateways;

/// `(selector, port)` -> Gateway `ns/name` -> hosts of its servers on that port.
type ServerMap = BTreeMap<(String, u32), BTreeMap<String, Vec<String>>>;

impl Analyzer for ConflictingGateways {
    fn name(&self) -> &'static str {
        "gateway.ConflictingGatewayAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's selector, port number and hosts"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut servers = ServerMap::new();
        for (obj, gw) in ctx.gateway_specs() {
            let selector = labels::selector_string(&gw.selector);
            for server in &gw.servers {
                let Some(port) = server.port.as_ref().and_then(|p| p.number) else {
                    continue;
                };
                servers
                    .entry((selector.clone(), port))
                    .or_default()
                    .entry(full_name(obj))
                    .or_default()
                    .extend(server.hosts.iter().map(|h| bare(h).to_string()));
            }
        }
        ctx.gateway_specs()
            .flat_map(|(obj, gw)| check(obj, gw, &servers))
            .collect()
    }
}

fn full_name(obj: &Object) -> String {
    format!("{}/{}", obj.namespace(), obj.name())
}

/// A server host without its `namespace/` prefix.
fn bare(host: &str) -> &str {
    host.split_once('/').map_or(host, |(_, h)| h)
}

fn check(obj: &Object, gw: &Gateway, servers: &ServerMap) -> Vec<Message> {
    let me = full_name(obj);
    let selector = labels::selector_string(&gw.selector);
    let mut out = Vec::new();
    for (i, server) in gw.servers.iter().enumerate() {
        let Some(port) = server.port.as_ref().and_then(|p| p.number) else {
            continue;
        };
        let Some(others) = servers.get(&(selector.clone(), port)) else {
            continue;
        };
        let conflicting: Vec<&str> = others
            .iter()
            .filter(|(name, _)| **name != me)
            .filter(|(_, their)| {
                server
                    .hosts
                    .iter()
                    .any(|h| their.iter().any(|t| hosts::matches(bare(h), t)))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if !conflicting.is_empty() {
            out.push(catalogue::conflicting_gateways(
                Anchor::at(obj, format!("spec.servers[{i}]")),
                &conflicting.join(","),
                &selector,
                &port.to_string(),
                &server.hosts.join(","),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn gateway(name: &str, selector: &str, port: u32, host: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\nspec:\n  \
             selector:\n    istio: {selector}\n  servers:\n  - port:\n      number: {port}\n      \
             name: http\n      protocol: HTTP\n    hosts:\n    - \"{host}\"\n---\n"
        )
    }

    #[test]
    fn same_selector_port_and_overlapping_host() {
        let yaml = gateway("a", "ingressgateway", 80, "*.shop.com")
            + &gateway("b", "ingressgateway", 80, "www.shop.com");
        assert_eq!(
            lines(&ConflictingGateways, &yaml),
            [
                "Error [IST0145] (Gateway default/a test.yaml:9) Conflict with gateways \
                 default/b (workload selector istio=ingressgateway, port 80, hosts *.shop.com).",
                "Error [IST0145] (Gateway default/b test.yaml:24) Conflict with gateways \
                 default/a (workload selector istio=ingressgateway, port 80, hosts www.shop.com)."
            ]
        );
    }

    #[test]
    fn different_port_selector_or_hosts_do_not_conflict() {
        let yaml = gateway("a", "ingressgateway", 80, "www.shop.com")
            + &gateway("b", "ingressgateway", 8080, "www.shop.com")
            + &gateway("c", "egressgateway", 80, "www.shop.com")
            + &gateway("d", "ingressgateway", 80, "api.shop.com");
        assert!(lines(&ConflictingGateways, &yaml).is_empty());
    }
}
