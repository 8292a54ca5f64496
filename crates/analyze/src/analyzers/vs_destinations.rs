//! IST0101 ReferencedResourceNotFound for VirtualService destination and mirror hosts (and
//! `host:port`), and IST0112 VirtualServiceDestinationPortSelectorRequired: every destination
//! must name a Service or ServiceEntry host visible from the VirtualService's namespace, and a
//! port when that service has several.

use weft_config::Object;

use super::Analyzer;
use super::routes::{RouteDestination, mirror_destinations, route_destinations};
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct DestinationHosts;

impl Analyzer for DestinationHosts {
    fn name(&self) -> &'static str {
        "virtualservice.DestinationHostAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the destination hosts associated with each virtual service"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut out = Vec::new();
        for (obj, vs) in ctx.virtual_services() {
            for d in route_destinations(vs) {
                out.extend(check(ctx, obj, &d, "host"));
            }
            for d in mirror_destinations(vs) {
                out.extend(check(ctx, obj, &d, "mirror host"));
            }
        }
        out
    }
}

fn check(ctx: &Context, obj: &Object, d: &RouteDestination, reftype: &str) -> Option<Message> {
    let host = d.host()?;
    let at = || Anchor::at(obj, d.field("host"));
    let Some(service) = ctx.registry.lookup(obj.namespace(), host) else {
        return Some(catalogue::referenced_resource_not_found(
            at(),
            reftype,
            host,
        ));
    };
    match d.destination.port.as_ref().and_then(|p| p.number) {
        None if service.ports.len() > 1 => {
            let ports: Vec<u32> = service.ports.iter().map(|p| p.number).collect();
            Some(catalogue::virtual_service_destination_port_selector_required(at(), host, &ports))
        }
        Some(n) if !service.ports.iter().any(|p| p.number == n) => Some(
            catalogue::referenced_resource_not_found(at(), "host:port", &format!("{host}:{n}")),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const SERVICES: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\nspec:\n  \
        ports:\n  - name: http\n    port: 9080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  \
        name: ratings\n  namespace: prod\nspec:\n  ports:\n  - name: http\n    port: 80\n  - \
        name: grpc\n    port: 90\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
        metadata:\n  name: ext\nspec:\n  hosts:\n  - \"*.example.com\"\n  ports:\n  - number: \
        443\n    name: tls\n    protocol: TLS\n  resolution: NONE\n---\n";

    fn vs(http: &str) -> String {
        format!(
            "{SERVICES}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
             name: reviews\nspec:\n  hosts:\n  - reviews\n  http:\n{http}"
        )
    }

    fn run(http: &str) -> Vec<String> {
        lines(&DestinationHosts, &vs(http))
    }

    #[test]
    fn unknown_host_is_reported_at_its_line() {
        let got = run("  - route:\n    - destination:\n        host: reviews2\n");
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/reviews test.yaml:45) Referenced host not \
              found: \"reviews2\""
            ]
        );
    }

    #[test]
    fn short_names_fqdns_cross_namespace_and_service_entries_resolve() {
        let got = run(
            "  - route:\n    - destination:\n        host: reviews\n    - destination:\n        \
             host: reviews.default.svc.cluster.local\n    - destination:\n        host: \
             ratings.prod.svc.cluster.local\n        port:\n          number: 80\n    - \
             destination:\n        host: api.example.com\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn short_name_in_another_namespace_is_not_found() {
        let got = run("  - route:\n    - destination:\n        host: ratings\n");
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/reviews test.yaml:45) Referenced host not \
              found: \"ratings\""
            ]
        );
    }

    #[test]
    fn mirror_and_port_problems() {
        let got = run(
            "  - route:\n    - destination:\n        host: ratings.prod.svc.cluster.local\n    - \
             destination:\n        host: reviews\n        port:\n          number: 8080\n    \
             mirror:\n      host: shadow\n",
        );
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/reviews test.yaml:47) Referenced host:port \
                 not found: \"reviews:8080\"",
                "Error [IST0101] (VirtualService default/reviews test.yaml:51) Referenced mirror \
                 host not found: \"shadow\"",
                "Error [IST0112] (VirtualService default/reviews test.yaml:45) This \
                 VirtualService routes to a service \"ratings.prod.svc.cluster.local\" that \
                 exposes multiple ports [80 90]. Specifying a port in the destination is required \
                 to disambiguate."
            ]
        );
    }

    #[test]
    fn tcp_routes_are_checked_too() {
        let yaml = format!(
            "{SERVICES}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
             name: db\nspec:\n  hosts:\n  - db\n  tcp:\n  - route:\n    - destination:\n        \
             host: db\n"
        );
        assert_eq!(
            lines(&DestinationHosts, &yaml),
            [
                "Error [IST0101] (VirtualService default/db test.yaml:45) Referenced host not found: \
              \"db\""
            ]
        );
    }
}
