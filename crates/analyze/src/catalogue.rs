//! The message catalogue: the codes, names, levels and templates of istioctl analyze (Istio's
//! `pkg/config/analysis/msg/messages.yaml`), one constructor per code. The texts are the
//! user-facing contract and are worded exactly as Istio words them.

use crate::message::{Anchor, Level, Message, MessageType, go_list, quote};

macro_rules! catalogue {
    ($( $id:ident = $code:literal, $name:literal, $level:ident; )+) => {
        $(
            #[doc = concat!("`", $code, "` ", $name, ".")]
            pub static $id: MessageType = MessageType {
                code: $code,
                name: $name,
                level: Level::$level,
            };
        )+

        /// Every message type weft can report, in code order.
        pub static ALL: &[&MessageType] = &[$(&$id),+];
    };
}

catalogue! {
    REFERENCED_RESOURCE_NOT_FOUND = "IST0101", "ReferencedResourceNotFound", Error;
    NAMESPACE_NOT_INJECTED = "IST0102", "NamespaceNotInjected", Info;
    POD_MISSING_PROXY = "IST0103", "PodMissingProxy", Warning;
    GATEWAY_PORT_NOT_ON_WORKLOAD = "IST0104", "GatewayPortNotOnWorkload", Warning;
    SCHEMA_VALIDATION_ERROR = "IST0106", "SchemaValidationError", Error;
    MISPLACED_ANNOTATION = "IST0107", "MisplacedAnnotation", Warning;
    UNKNOWN_ANNOTATION = "IST0108", "UnknownAnnotation", Warning;
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS = "IST0109", "ConflictingMeshGatewayVirtualServiceHosts", Error;
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS = "IST0110", "ConflictingSidecarWorkloadSelectors", Error;
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS = "IST0111", "MultipleSidecarsWithoutWorkloadSelectors", Error;
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED = "IST0112", "VirtualServiceDestinationPortSelectorRequired", Error;
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES = "IST0116", "DeploymentAssociatedToMultipleServices", Warning;
    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION = "IST0118", "PortNameIsNotUnderNamingConvention", Info;
    INVALID_REGEXP = "IST0122", "InvalidRegexp", Warning;
    NAMESPACE_MULTIPLE_INJECTION_LABELS = "IST0123", "NamespaceMultipleInjectionLabels", Warning;
    INVALID_ANNOTATION = "IST0125", "InvalidAnnotation", Warning;
    NO_MATCHING_WORKLOADS_FOUND = "IST0127", "NoMatchingWorkloadsFound", Warning;
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL = "IST0128", "NoServerCertificateVerificationDestinationLevel", Warning;
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL = "IST0129", "NoServerCertificateVerificationPortLevel", Warning;
    VIRTUAL_SERVICE_UNREACHABLE_RULE = "IST0130", "VirtualServiceUnreachableRule", Warning;
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH = "IST0131", "VirtualServiceIneffectiveMatch", Info;
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY = "IST0132", "VirtualServiceHostNotFoundInGateway", Warning;
    SCHEMA_WARNING = "IST0133", "SchemaWarning", Warning;
    SERVICE_ENTRY_ADDRESSES_REQUIRED = "IST0134", "ServiceEntryAddressesRequired", Warning;
    DEPRECATED_ANNOTATION = "IST0135", "DeprecatedAnnotation", Info;
    DEPLOYMENT_CONFLICTING_PORTS = "IST0137", "DeploymentConflictingPorts", Warning;
    GATEWAY_DUPLICATE_CERTIFICATE = "IST0138", "GatewayDuplicateCertificate", Warning;
    INVALID_APPLICATION_UID = "IST0144", "InvalidApplicationUID", Warning;
    CONFLICTING_GATEWAYS = "IST0145", "ConflictingGateways", Error;
    EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME = "IST0150", "ExternalNameServiceTypeInvalidPortName", Warning;
    CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS = "IST0159", "ConflictingTelemetryWorkloadSelectors", Error;
    MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS = "IST0160", "MultipleTelemetriesWithoutWorkloadSelectors", Error;
}

/// Looks a message type up by code (`IST0101`).
pub fn by_code(code: &str) -> Option<&'static MessageType> {
    ALL.iter().copied().find(|t| t.code == code)
}

fn msg(t: &'static MessageType, at: Anchor, text: String) -> Message {
    Message::new(t, at, text)
}

/// IST0101: `reftype` is what was looked for (`host`, `gateway`, `selector`, `credentialName`,
/// `subset`…), `refval` the value as written.
pub fn referenced_resource_not_found(at: Anchor, reftype: &str, refval: &str) -> Message {
    let text = format!("Referenced {reftype} not found: {}", quote(refval));
    msg(&REFERENCED_RESOURCE_NOT_FOUND, at, text)
}

/// IST0102.
pub fn namespace_not_injected(at: Anchor, namespace: &str) -> Message {
    let text = format!(
        "The namespace is not enabled for Istio injection. Run 'kubectl label namespace {namespace} \
         istio-injection=enabled' to enable it, or 'kubectl label namespace {namespace} \
         istio-injection=disabled' to explicitly mark it as not needing injection."
    );
    msg(&NAMESPACE_NOT_INJECTED, at, text)
}

/// IST0103: `pod` is `namespace/name`.
pub fn pod_missing_proxy(at: Anchor, pod: &str) -> Message {
    let text = format!(
        "The pod {pod} is missing the Istio proxy. This can often be resolved by restarting or \
         redeploying the workload."
    );
    msg(&POD_MISSING_PROXY, at, text)
}

/// IST0104.
pub fn gateway_port_not_on_workload(at: Anchor, selector: &str, port: u32) -> Message {
    let text = format!(
        "The gateway refers to a port that is not exposed on the workload (pod selector \
         {selector}; port {port})"
    );
    msg(&GATEWAY_PORT_NOT_ON_WORKLOAD, at, text)
}

/// IST0106.
pub fn schema_validation_error(at: Anchor, err: &str) -> Message {
    let text = format!("Schema validation error: {err}");
    msg(&SCHEMA_VALIDATION_ERROR, at, text)
}

/// IST0107: `kinds` is the comma-separated list of kinds the annotation belongs on.
pub fn misplaced_annotation(at: Anchor, annotation: &str, kinds: &str) -> Message {
    let text = format!("Misplaced annotation: {annotation} can only be applied to {kinds}");
    msg(&MISPLACED_ANNOTATION, at, text)
}

/// IST0108.
pub fn unknown_annotation(at: Anchor, annotation: &str) -> Message {
    let text = format!("Unknown annotation: {annotation}");
    msg(&UNKNOWN_ANNOTATION, at, text)
}

/// IST0109: `virtual_services` is the comma-separated `ns/name` list, `host` the scoped host.
pub fn conflicting_mesh_gateway_virtual_service_hosts(
    at: Anchor,
    virtual_services: &str,
    host: &str,
) -> Message {
    let text = format!(
        "The VirtualServices {virtual_services} associated with mesh gateway define the same host \
         {host} which can lead to undefined behavior. This can be fixed by merging the \
         conflicting VirtualServices into a single resource."
    );
    msg(&CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS, at, text)
}

/// IST0110.
pub fn conflicting_sidecar_workload_selectors(
    at: Anchor,
    sidecars: &[String],
    namespace: &str,
    pod: &str,
) -> Message {
    let text = format!(
        "The Sidecars {} in namespace {} select the same workload pod {}, which can lead to \
         undefined behavior.",
        go_list(sidecars),
        quote(namespace),
        quote(pod)
    );
    msg(&CONFLICTING_SIDECAR_WORKLOAD_SELECTORS, at, text)
}

/// IST0111.
pub fn multiple_sidecars_without_workload_selectors(
    at: Anchor,
    sidecars: &[String],
    namespace: &str,
) -> Message {
    let text = format!(
        "The Sidecars {} in namespace {} have no workload selector, which can lead to undefined \
         behavior.",
        go_list(sidecars),
        quote(namespace)
    );
    msg(&MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS, at, text)
}

/// IST0112.
pub fn virtual_service_destination_port_selector_required(
    at: Anchor,
    host: &str,
    ports: &[u32],
) -> Message {
    let text = format!(
        "This VirtualService routes to a service {} that exposes multiple ports {}. Specifying \
         a port in the destination is required to disambiguate.",
        quote(host),
        go_list(ports)
    );
    msg(
        &VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
        at,
        text,
    )
}

/// IST0116: `services` are `ns/name`.
pub fn deployment_associated_to_multiple_services(
    at: Anchor,
    deployment: &str,
    port: i64,
    services: &[String],
) -> Message {
    let text = format!(
        "This deployment {deployment} is associated with multiple services using port {port} but \
         different protocols: {}",
        go_list(services)
    );
    msg(&DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES, at, text)
}

/// IST0118.
pub fn port_name_is_not_under_naming_convention(
    at: Anchor,
    port_name: &str,
    port: i64,
    target_port: &str,
) -> Message {
    let text = format!(
        "Port name {port_name} (port: {port}, targetPort: {target_port}) doesn't follow the \
         naming convention of Istio port."
    );
    msg(&PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION, at, text)
}

/// IST0122: `place` names the field kind (`uri`, `headers`, `corsPolicy.allowOrigins`).
pub fn invalid_regexp(at: Anchor, place: &str, re: &str, problem: &str) -> Message {
    let text = format!(
        "Field {} regular expression invalid: {} ({problem})",
        quote(place),
        quote(re)
    );
    msg(&INVALID_REGEXP, at, text)
}

/// IST0123.
pub fn namespace_multiple_injection_labels(at: Anchor, labels: &[&str]) -> Message {
    let text = format!(
        "The namespace has more than one type of injection labels {}, which may lead to \
         undefined behavior. Make sure only one injection label exists.",
        go_list(labels)
    );
    msg(&NAMESPACE_MULTIPLE_INJECTION_LABELS, at, text)
}

/// IST0125.
pub fn invalid_annotation(at: Anchor, annotation: &str, problem: &str) -> Message {
    let text = format!("Invalid annotation {annotation}: {problem}");
    msg(&INVALID_ANNOTATION, at, text)
}

/// IST0127: `labels` is the selector string (empty for a selector-less policy).
pub fn no_matching_workloads_found(at: Anchor, labels: &str) -> Message {
    let text =
        format!("No matching workloads for this resource with the following labels: {labels}");
    msg(&NO_MATCHING_WORKLOADS_FOUND, at, text)
}

/// IST0128.
pub fn no_server_certificate_verification_destination_level(
    at: Anchor,
    destination_rule: &str,
    namespace: &str,
    mode: &str,
    host: &str,
) -> Message {
    let text = format!(
        "DestinationRule {destination_rule} in namespace {namespace} has TLS mode set to {mode} \
         but no caCertificates are set to validate server identity for host: {host}"
    );
    msg(
        &NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
        at,
        text,
    )
}

/// IST0129.
pub fn no_server_certificate_verification_port_level(
    at: Anchor,
    destination_rule: &str,
    namespace: &str,
    mode: &str,
    host: &str,
    port: &str,
) -> Message {
    let text = format!(
        "DestinationRule {destination_rule} in namespace {namespace} has TLS mode set to {mode} \
         but no caCertificates are set to validate server identity for host: {host} at port \
         {port}"
    );
    msg(&NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL, at, text)
}

/// IST0130: `rule` is `#N` or the quoted route name.
pub fn virtual_service_unreachable_rule(at: Anchor, rule: &str, reason: &str) -> Message {
    let text = format!("VirtualService rule {rule} not used ({reason}).");
    msg(&VIRTUAL_SERVICE_UNREACHABLE_RULE, at, text)
}

/// IST0131.
pub fn virtual_service_ineffective_match(
    at: Anchor,
    rule: &str,
    matchno: &str,
    dupno: &str,
) -> Message {
    let text = format!(
        "VirtualService rule {rule} match {matchno} is not used (duplicate/overlapping match in \
         rule {dupno})."
    );
    msg(&VIRTUAL_SERVICE_INEFFECTIVE_MATCH, at, text)
}

/// IST0132: `virtual_service` and `gateway` are `ns/name`.
pub fn virtual_service_host_not_found_in_gateway(
    at: Anchor,
    hosts: &[String],
    virtual_service: &str,
    gateway: &str,
) -> Message {
    let text = format!(
        "one or more host {} defined in VirtualService {virtual_service} not found in Gateway \
         {gateway}.",
        go_list(hosts)
    );
    msg(&VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY, at, text)
}

/// IST0133.
pub fn schema_warning(at: Anchor, err: &str) -> Message {
    let text = format!("Schema validation warning: {err}");
    msg(&SCHEMA_WARNING, at, text)
}

/// IST0134.
pub fn service_entry_addresses_required(at: Anchor) -> Message {
    let text = "ServiceEntry addresses are required for this protocol.".to_string();
    msg(&SERVICE_ENTRY_ADDRESSES_REQUIRED, at, text)
}

/// IST0135: `extra` is empty or starts with a space (` in favor of …`).
pub fn deprecated_annotation(at: Anchor, annotation: &str, extra: &str) -> Message {
    let text = format!(
        "Annotation {} has been deprecated{extra} and may not work in future Istio versions.",
        quote(annotation)
    );
    msg(&DEPRECATED_ANNOTATION, at, text)
}

/// IST0137.
pub fn deployment_conflicting_ports(
    at: Anchor,
    deployment: &str,
    services: &[String],
    target_port: &str,
    ports: &[i64],
) -> Message {
    let text = format!(
        "This deployment {deployment} is associated with multiple services {} using targetPort \
         {} but different ports: {}.",
        go_list(services),
        quote(target_port),
        go_list(ports)
    );
    msg(&DEPLOYMENT_CONFLICTING_PORTS, at, text)
}

/// IST0138: `gateways` are `ns/name`.
pub fn gateway_duplicate_certificate(at: Anchor, gateways: &[String]) -> Message {
    let text = format!(
        "Duplicate certificate in multiple gateways {} may cause 404s if clients re-use HTTP2 \
         connections.",
        go_list(gateways)
    );
    msg(&GATEWAY_DUPLICATE_CERTIFICATE, at, text)
}

/// IST0144.
pub fn invalid_application_uid(at: Anchor) -> Message {
    let text = "User ID (UID) 1337 is reserved for the sidecar proxy.".to_string();
    msg(&INVALID_APPLICATION_UID, at, text)
}

/// IST0145: `gateways` is the comma-separated `ns/name` list, `hosts` comma-separated too.
pub fn conflicting_gateways(
    at: Anchor,
    gateways: &str,
    selector: &str,
    port: &str,
    hosts: &str,
) -> Message {
    let text = format!(
        "Conflict with gateways {gateways} (workload selector {selector}, port {port}, hosts \
         {hosts})."
    );
    msg(&CONFLICTING_GATEWAYS, at, text)
}

/// IST0150.
pub fn external_name_service_type_invalid_port_name(at: Anchor) -> Message {
    let text = "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports \
                and unmatched traffic for ports serving TCP protocol from being forwarded \
                correctly"
        .to_string();
    msg(&EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME, at, text)
}

/// IST0159.
pub fn conflicting_telemetry_workload_selectors(
    at: Anchor,
    telemetries: &[String],
    namespace: &str,
    pod: &str,
) -> Message {
    let text = format!(
        "The Telemetries {} in namespace {} select the same workload pod {}, which can lead to \
         undefined behavior.",
        go_list(telemetries),
        quote(namespace),
        quote(pod)
    );
    msg(&CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS, at, text)
}

/// IST0160.
pub fn multiple_telemetries_without_workload_selectors(
    at: Anchor,
    telemetries: &[String],
    namespace: &str,
) -> Message {
    let text = format!(
        "The Telemetries {} in namespace {} have no workload selector, which can lead to \
         undefined behavior.",
        go_list(telemetries),
        quote(namespace)
    );
    msg(&MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS, at, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_ordered() {
        let codes: Vec<_> = ALL.iter().map(|t| t.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert_eq!(by_code("IST0101"), Some(&REFERENCED_RESOURCE_NOT_FOUND));
        assert_eq!(by_code("IST9999"), None);
    }

    #[test]
    fn templates_read_as_istio_words_them() {
        let at = Anchor::default;
        assert_eq!(
            referenced_resource_not_found(at(), "host", "reviews2").text,
            "Referenced host not found: \"reviews2\""
        );
        assert_eq!(
            namespace_not_injected(at(), "bookinfo").text,
            "The namespace is not enabled for Istio injection. Run 'kubectl label namespace \
             bookinfo istio-injection=enabled' to enable it, or 'kubectl label namespace bookinfo \
             istio-injection=disabled' to explicitly mark it as not needing injection."
        );
        assert_eq!(
            conflicting_sidecar_workload_selectors(
                at(),
                &["a".into(), "b".into()],
                "default",
                "pod1"
            )
            .text,
            "The Sidecars [a b] in namespace \"default\" select the same workload pod \"pod1\", \
             which can lead to undefined behavior."
        );
        assert_eq!(
            virtual_service_destination_port_selector_required(at(), "reviews", &[80, 8080]).text,
            "This VirtualService routes to a service \"reviews\" that exposes multiple ports \
             [80 8080]. Specifying a port in the destination is required to disambiguate."
        );
        assert_eq!(
            deprecated_annotation(at(), "sidecar.istio.io/inject", "").text,
            "Annotation \"sidecar.istio.io/inject\" has been deprecated and may not work in \
             future Istio versions."
        );
        assert_eq!(
            external_name_service_type_invalid_port_name(at()).text,
            "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and \
             unmatched traffic for ports serving TCP protocol from being forwarded correctly"
        );
    }
}
