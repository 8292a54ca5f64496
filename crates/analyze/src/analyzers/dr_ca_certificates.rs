//! IST0128 NoServerCertificateVerificationDestinationLevel and IST0129
//! NoServerCertificateVerificationPortLevel: DestinationRules originating TLS (SIMPLE or
//! MUTUAL) without a CA to verify the server with.

use weft_config::Object;
use weft_config::model::networking::{ClientTlsMode, ClientTlsSettings, DestinationRule};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct CaCertificates;

impl Analyzer for CaCertificates {
    fn name(&self) -> &'static str {
        "destinationrule.CaCertificateAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.destination_rules()
            .flat_map(|(obj, dr)| check(obj, dr))
            .collect()
    }
}

/// The mode name when `tls` originates TLS without any way to verify the server: no
/// `caCertificates`, no `credentialName` (whose Secret may carry the CA) and no explicit
/// `insecureSkipVerify`.
fn unverified(tls: Option<&ClientTlsSettings>) -> Option<&'static str> {
    let tls = tls?;
    let mode = match tls.mode? {
        ClientTlsMode::Simple => "SIMPLE",
        ClientTlsMode::Mutual => "MUTUAL",
        ClientTlsMode::Disable | ClientTlsMode::IstioMutual => return None,
    };
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let verified = set(&tls.ca_certificates)
        || set(&tls.credential_name)
        || tls.insecure_skip_verify == Some(true);
    (!verified).then_some(mode)
}

fn check(obj: &Object, dr: &DestinationRule) -> Vec<Message> {
    let Some(policy) = &dr.traffic_policy else {
        return Vec::new();
    };
    let name = format!("{}/{}", obj.namespace(), obj.name());
    let host = dr.host.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    if let Some(mode) = unverified(policy.tls.as_ref()) {
        out.push(
            catalogue::no_server_certificate_verification_destination_level(
                Anchor::at(obj, "spec.trafficPolicy.tls.mode"),
                &name,
                obj.namespace(),
                mode,
                host,
            ),
        );
    }
    for (i, p) in policy.port_level_settings.iter().enumerate() {
        let Some(mode) = unverified(p.tls.as_ref()) else {
            continue;
        };
        // Istio prints the port selector in protobuf text form.
        let port = p
            .port
            .as_ref()
            .and_then(|p| p.number)
            .map_or_else(String::new, |n| format!("number:{n}"));
        out.push(catalogue::no_server_certificate_verification_port_level(
            Anchor::at(
                obj,
                format!("spec.trafficPolicy.portLevelSettings[{i}].tls.mode"),
            ),
            &name,
            obj.namespace(),
            mode,
            host,
            &port,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn rule(policy: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: db\n\
             spec:\n  host: db.example.com\n  trafficPolicy:\n{policy}"
        )
    }

    #[test]
    fn simple_tls_without_ca_at_both_levels() {
        let yaml = rule(
            "    tls:\n      mode: SIMPLE\n    portLevelSettings:\n    - port:\n        number: \
             5432\n      tls:\n        mode: MUTUAL\n        clientCertificate: /c.pem\n        \
             privateKey: /k.pem\n",
        );
        assert_eq!(
            lines(&CaCertificates, &yaml),
            [
                "Warning [IST0128] (DestinationRule default/db test.yaml:9) DestinationRule \
                 default/db in namespace default has TLS mode set to SIMPLE but no caCertificates \
                 are set to validate server identity for host: db.example.com",
                "Warning [IST0129] (DestinationRule default/db test.yaml:14) DestinationRule \
                 default/db in namespace default has TLS mode set to MUTUAL but no \
                 caCertificates are set to validate server identity for host: db.example.com at \
                 port number:5432"
            ]
        );
    }

    #[test]
    fn ca_credential_istio_mutual_and_explicit_skip_are_fine() {
        for tls in [
            "      mode: SIMPLE\n      caCertificates: /ca.pem\n",
            "      mode: SIMPLE\n      credentialName: db-tls\n",
            "      mode: SIMPLE\n      insecureSkipVerify: true\n",
            "      mode: ISTIO_MUTUAL\n",
        ] {
            let yaml = rule(&format!("    tls:\n{tls}"));
            assert!(lines(&CaCertificates, &yaml).is_empty(), "{tls}");
        }
    }
}
