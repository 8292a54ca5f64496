//! IST0101 ReferencedResourceNotFound for DestinationRule hosts: a rule for a host that no
//! Service or ServiceEntry defines never applies. Wildcard hosts are not checked.

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct DestinationRuleHosts;

impl Analyzer for DestinationRuleHosts {
    fn name(&self) -> &'static str {
        "destinationrule.HostAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks that the host of each destination rule is a known service"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.destination_rules()
            .filter_map(|(obj, dr)| {
                let host = dr
                    .host
                    .as_deref()
                    .filter(|h| !h.is_empty() && !h.starts_with('*'))?;
                ctx.registry
                    .lookup(obj.namespace(), host)
                    .is_none()
                    .then(|| {
                        let at = Anchor::at(obj, "spec.host");
                        catalogue::referenced_resource_not_found(at, "host", host)
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn rule(host: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\nspec:\n  ports:\n  - name: \
             http\n    port: 80\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata:\n  name: r\nspec:\n  host: {host}\n"
        )
    }

    #[test]
    fn unknown_host() {
        assert_eq!(
            lines(&DestinationRuleHosts, &rule("reviews2")),
            [
                "Error [IST0101] (DestinationRule default/r test.yaml:15) Referenced host not found: \
              \"reviews2\""
            ]
        );
    }

    #[test]
    fn known_and_wildcard_hosts() {
        assert!(lines(&DestinationRuleHosts, &rule("reviews")).is_empty());
        assert!(
            lines(
                &DestinationRuleHosts,
                &rule("reviews.default.svc.cluster.local")
            )
            .is_empty()
        );
        assert!(lines(&DestinationRuleHosts, &rule("\"*.example.com\"")).is_empty());
    }
}
