//! IST0118 PortNameIsNotUnderNamingConvention and IST0150
//! ExternalNameServiceTypeInvalidPortName: Service ports whose name (or `appProtocol`) does not
//! tell Istio the protocol.

use weft_config::Object;
use weft_config::model::kube::{Protocol, Service, ServicePort, ServiceType};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

/// Ports Istio treats as TCP whatever their name (SMTP, DNS, MySQL, MongoDB).
const WELL_KNOWN_PORTS: &[i64] = &[25, 53, 3306, 27017];

/// Protocol names Istio recognises as a port name prefix, lower-case.
const PROTOCOLS: &[&str] = &[
    "tcp",
    "udp",
    "grpc",
    "grpc-web",
    "http",
    "http_proxy",
    "http2",
    "https",
    "tls",
    "mongo",
    "redis",
    "mysql",
];

#[derive(Debug)]
pub struct PortNames;

impl Analyzer for PortNames {
    fn name(&self) -> &'static str {
        "service.PortNameAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the port names associated with each service"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.services()
            .filter(|(obj, _)| !is_control_plane(obj))
            .flat_map(|(obj, svc)| check_service(obj, svc))
            .collect()
    }
}

/// Istio's own components, recognised by their `istio` or `release: istio` labels.
pub fn is_control_plane(obj: &Object) -> bool {
    let labels = &obj.metadata.labels;
    labels.contains_key("istio") || labels.get("release").map(String::as_str) == Some("istio")
}

fn check_service(obj: &Object, svc: &Service) -> Vec<Message> {
    let external_name = svc.spec.type_ == Some(ServiceType::ExternalName);
    let mut out = Vec::new();
    for (i, port) in svc.spec.ports.iter().enumerate() {
        let name = port.name.as_deref().unwrap_or_default();
        if !(protocol_unknown(port) || external_name && name == "tcp") {
            continue;
        }
        let at = Anchor::at(obj, format!("spec.ports[{i}].name"));
        out.push(if external_name {
            catalogue::external_name_service_type_invalid_port_name(at)
        } else {
            let target = port
                .target_port
                .as_ref()
                .map_or_else(|| port.port.to_string(), ToString::to_string);
            catalogue::port_name_is_not_under_naming_convention(at, name, port.port, &target)
        });
    }
    out
}

/// Whether Istio cannot tell the port's protocol and falls back to protocol detection.
fn protocol_unknown(port: &ServicePort) -> bool {
    if port.protocol == Some(Protocol::Udp) {
        return false;
    }
    let name = port
        .app_protocol
        .as_deref()
        .or(port.name.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(
        name.as_str(),
        "kubernetes.io/h2c" | "kubernetes.io/ws" | "kubernetes.io/wss"
    ) || name.starts_with("grpc-web")
    {
        return false;
    }
    let prefix = name.split('-').next().unwrap_or_default();
    !PROTOCOLS.contains(&prefix) && !WELL_KNOWN_PORTS.contains(&port.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn service(meta: &str, spec: &str) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n{meta}spec:\n{spec}")
    }

    #[test]
    fn unprefixed_port_name_is_reported_at_the_port() {
        let yaml = service(
            "",
            "  ports:\n  - name: http-web\n    port: 80\n  - name: web\n    port: 8080\n    \
             targetPort: 9080\n  - port: 9090\n  - name: db\n    port: 3306\n  - name: dns\n    \
             port: 5353\n    protocol: UDP\n  - name: x\n    port: 81\n    appProtocol: http\n",
        );
        assert_eq!(
            lines(&PortNames, &yaml),
            [
                "Info [IST0118] (Service default/web test.yaml:9) Port name web (port: 8080, \
                 targetPort: 9080) doesn't follow the naming convention of Istio port.",
                "Info [IST0118] (Service default/web test.yaml:12) Port name  (port: 9090, \
                 targetPort: 9090) doesn't follow the naming convention of Istio port."
            ]
        );
    }

    #[test]
    fn external_name_services_get_their_own_message() {
        let yaml = service(
            "",
            "  type: ExternalName\n  externalName: db.example.com\n  ports:\n  - name: tcp\n    \
             port: 5432\n  - name: http\n    port: 80\n",
        );
        assert_eq!(
            lines(&PortNames, &yaml),
            [
                "Warning [IST0150] (Service default/web test.yaml:9) Port name for ExternalName \
              service is invalid. Proxy may prevent tcp named ports and unmatched traffic for \
              ports serving TCP protocol from being forwarded correctly"
            ]
        );
    }

    #[test]
    fn control_plane_services_are_skipped() {
        let yaml = service(
            "  labels:\n    istio: pilot\n",
            "  ports:\n  - name: web\n    port: 80\n",
        );
        assert!(lines(&PortNames, &yaml).is_empty());
    }
}
