//! IST0134 ServiceEntryAddressesRequired: a ServiceEntry without addresses cannot be told apart
//! from other TCP traffic on its ports, so TCP (or unset) protocol ports need addresses.

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct ServiceEntryAddresses;

impl Analyzer for ServiceEntryAddresses {
    fn name(&self) -> &'static str {
        "serviceentry.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of ServiceEntry"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let mut out = Vec::new();
        for (obj, se) in ctx
            .service_entries()
            .filter(|(_, se)| se.addresses.is_empty())
        {
            for (i, port) in se.ports.iter().enumerate() {
                let protocol = port.protocol.as_deref().unwrap_or_default();
                if protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP") {
                    let at = Anchor::at(obj, format!("spec.ports[{i}]"));
                    out.push(catalogue::service_entry_addresses_required(at));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn entry(addresses: &str, ports: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: db\nspec:\n  \
             hosts:\n  - db.example.com\n{addresses}  ports:\n{ports}  resolution: DNS\n"
        )
    }

    #[test]
    fn tcp_and_unset_protocols_need_addresses() {
        let yaml = entry(
            "",
            "  - number: 5432\n    name: tcp\n    protocol: TCP\n  - number: 6379\n    name: \
             redis\n  - number: 443\n    name: tls\n    protocol: TLS\n",
        );
        let text = "ServiceEntry addresses are required for this protocol.";
        assert_eq!(
            lines(&ServiceEntryAddresses, &yaml),
            [
                format!("Warning [IST0134] (ServiceEntry default/db test.yaml:9) {text}"),
                format!("Warning [IST0134] (ServiceEntry default/db test.yaml:12) {text}"),
            ]
        );
    }

    #[test]
    fn addresses_or_other_protocols_are_fine() {
        let tcp = "  - number: 5432\n    name: tcp\n    protocol: TCP\n";
        assert!(
            lines(
                &ServiceEntryAddresses,
                &entry("  addresses:\n  - 10.0.0.5\n", tcp)
            )
            .is_empty()
        );
        let http = "  - number: 80\n    name: http\n    protocol: HTTP\n";
        assert!(lines(&ServiceEntryAddresses, &entry("", http)).is_empty());
    }
}
