//! IST0138 GatewayDuplicateCertificate: two Gateways on the same workloads using the same
//! certificate; HTTP/2 clients reusing a connection across their hosts get 404s.

use weft_config::Object;
use weft_config::model::networking::{Gateway, ServerTlsSettings};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::labels;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct GatewayCertificates;

impl Analyzer for GatewayCertificates {
    fn name(&self) -> &'static str {
        "gateway.CertificateAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway certificate"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let gateways: Vec<(&Object, &Gateway)> = ctx.gateway_specs().collect();
        let mut out = Vec::new();
        for (obj, gw) in &gateways {
            // Gateways whose selector includes this one's select (at least) the same pods.
            let others = gateways.iter().filter(|(o, g)| {
                !std::ptr::eq(*o, *obj) && labels::is_subset(&gw.selector, &g.selector)
            });
            for (other, other_gw) in others {
                if shares_certificate(gw, other_gw) {
                    let names = [full_name(obj), full_name(other)];
                    let at = Anchor::at(obj, "metadata.name");
                    out.push(catalogue::gateway_duplicate_certificate(at, &names));
                }
            }
        }
        out
    }
}

fn full_name(obj: &Object) -> String {
    format!("{}/{}", obj.namespace(), obj.name())
}

fn shares_certificate(a: &Gateway, b: &Gateway) -> bool {
    let theirs = tls_settings(b);
    tls_settings(a)
        .iter()
        .any(|x| theirs.iter().any(|y| same_certificate(x, y)))
}

fn tls_settings(g: &Gateway) -> Vec<&ServerTlsSettings> {
    g.servers.iter().filter_map(|s| s.tls.as_ref()).collect()
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Istio's rule: the same `credentialName`, or (both without one) the same certificate and
/// private key files.
fn same_certificate(a: &ServerTlsSettings, b: &ServerTlsSettings) -> bool {
    let set = non_empty;
    match (set(&a.credential_name), set(&b.credential_name)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => {
            let certs = (set(&a.server_certificate), set(&b.server_certificate));
            let keys = (set(&a.private_key), set(&b.private_key));
            matches!(certs, (Some(x), Some(y)) if x == y)
                && matches!(keys, (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn gateway(name: &str, host: &str, tls: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\nspec:\n  \
             selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: 443\n      \
             name: https\n      protocol: HTTPS\n    hosts:\n    - {host}\n    tls:\n      mode: \
             SIMPLE\n{tls}---\n"
        )
    }

    const SHARED: &str = "      credentialName: shop-cert\n";

    #[test]
    fn two_gateways_with_one_credential() {
        let yaml = gateway("a", "a.shop.com", SHARED) + &gateway("b", "b.shop.com", SHARED);
        assert_eq!(
            lines(&GatewayCertificates, &yaml),
            [
                "Warning [IST0138] (Gateway default/a test.yaml:4) Duplicate certificate in \
                 multiple gateways [default/a default/b] may cause 404s if clients re-use HTTP2 \
                 connections.",
                "Warning [IST0138] (Gateway default/b test.yaml:22) Duplicate certificate in \
                 multiple gateways [default/b default/a] may cause 404s if clients re-use HTTP2 \
                 connections."
            ]
        );
    }

    #[test]
    fn files_count_when_certificate_and_key_match() {
        let files = "      serverCertificate: /etc/cert.pem\n      privateKey: /etc/key.pem\n";
        let other = "      serverCertificate: /etc/cert.pem\n      privateKey: /etc/other.pem\n";
        let same = gateway("a", "a.shop.com", files) + &gateway("b", "b.shop.com", files);
        assert_eq!(lines(&GatewayCertificates, &same).len(), 2);
        let different = gateway("a", "a.shop.com", files) + &gateway("b", "b.shop.com", other);
        assert!(lines(&GatewayCertificates, &different).is_empty());
        let distinct = gateway("a", "a.shop.com", SHARED)
            + &gateway("b", "b.shop.com", "      credentialName: other\n");
        assert!(lines(&GatewayCertificates, &distinct).is_empty());
    }
}
