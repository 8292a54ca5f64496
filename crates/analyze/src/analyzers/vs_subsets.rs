//! IST0101 ReferencedResourceNotFound for VirtualService destination subsets: a subset must be
//! defined by a DestinationRule for the destination's host.

use weft_config::Object;

use super::Analyzer;
use super::routes::{RouteDestination, mirror_destinations, route_destinations};
use crate::catalogue;
use crate::context::Context;
use crate::hosts;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct DestinationSubsets;

impl Analyzer for DestinationSubsets {
    fn name(&self) -> &'static str {
        "virtualservice.DestinationRuleAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the destination rules associated with each virtual service"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut out = Vec::new();
        for (obj, vs) in ctx.virtual_services() {
            for d in route_destinations(vs) {
                out.extend(check(ctx, obj, &d, "host"));
            }
            for d in mirror_destinations(vs) {
                out.extend(check(ctx, obj, &d, "mirror"));
            }
        }
        out
    }
}

fn check(ctx: &Context, obj: &Object, d: &RouteDestination, what: &str) -> Option<Message> {
    let host = d.host()?;
    let subset = d.destination.subset.as_deref().filter(|s| !s.is_empty())?;
    let fqdn = hosts::to_fqdn(obj.namespace(), host);
    let defined = ctx.subsets.iter().any(|(h, s)| {
        *s == subset
            && (*h == fqdn
                || h.strip_prefix('*')
                    .is_some_and(|suffix| fqdn.ends_with(suffix)))
    });
    if defined {
        return None;
    }
    Some(catalogue::referenced_resource_not_found(
        Anchor::at(obj, d.field("subset")),
        &format!("{what}+subset in destinationrule"),
        &format!("{host}+{subset}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const RULES: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  \
        name: reviews\nspec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels:\n      \
        version: v1\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  \
        name: ext\n  namespace: egress\nspec:\n  host: \"*.example.com\"\n  subsets:\n  - name: \
        eu\n    labels:\n      region: eu\n---\n";

    fn run(http: &str) -> Vec<String> {
        let yaml = format!(
            "{RULES}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
             name: reviews\nspec:\n  hosts:\n  - reviews\n  http:\n{http}"
        );
        lines(&DestinationSubsets, &yaml)
    }

    #[test]
    fn missing_subset_is_reported_at_its_line() {
        let got =
            run("  - route:\n    - destination:\n        host: reviews\n        subset: v2\n");
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/reviews test.yaml:35) Referenced \
              host+subset in destinationrule not found: \"reviews+v2\""
            ]
        );
    }

    #[test]
    fn defined_subsets_resolve_by_fqdn_and_wildcard() {
        let got = run(
            "  - route:\n    - destination:\n        host: reviews.default.svc.cluster.local\n        \
             subset: v1\n    - destination:\n        host: api.example.com\n        subset: eu\n    \
             - destination:\n        host: reviews\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn mirror_subset() {
        let got = run(
            "  - route:\n    - destination:\n        host: reviews\n    mirror:\n      host: \
             reviews\n      subset: v9\n",
        );
        assert_eq!(
            got,
            [
                "Error [IST0101] (VirtualService default/reviews test.yaml:37) Referenced \
              mirror+subset in destinationrule not found: \"reviews+v9\""
            ]
        );
    }
}
