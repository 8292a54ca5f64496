//! Istio's known annotations (istio.io/api `annotation/annotations.yaml`): the kinds each may be
//! put on and whether it is deprecated.

/// `resources` entry meaning any kind.
pub const ANY: &str = "Any";

/// The annotation that suppresses analysis messages on the object carrying it.
pub const ANALYZE_SUPPRESS: &str = "galley.istio.io/analyze-suppress";

/// One known annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotation {
    pub name: &'static str,
    /// Kinds it belongs on, or [`ANY`].
    pub resources: &'static [&'static str],
    pub deprecated: bool,
    /// Said after "has been deprecated" (Istio's wording), or empty.
    pub deprecation_note: &'static str,
}

const fn pod(name: &'static str) -> Annotation {
    on(name, &["Pod"])
}

const fn on(name: &'static str, resources: &'static [&'static str]) -> Annotation {
    Annotation {
        name,
        resources,
        deprecated: false,
        deprecation_note: "",
    }
}

const fn deprecated(a: Annotation) -> Annotation {
    Annotation {
        deprecated: true,
        ..a
    }
}

/// Every annotation Istio documents, including the hidden and the deprecated ones.
pub static KNOWN: &[Annotation] = &[
    pod("prometheus.istio.io/merge-metrics"),
    deprecated(on(
        "alpha.istio.io/kubernetes-serviceaccounts",
        &["Service"],
    )),
    deprecated(on("alpha.istio.io/canonical-serviceaccounts", &["Service"])),
    deprecated(pod("alpha.istio.io/identity")),
    on("networking.istio.io/exportTo", &["Service"]),
    Annotation {
        deprecation_note: " in favor of the \"sidecar.istio.io/inject\" label",
        ..deprecated(pod("sidecar.istio.io/inject"))
    },
    pod("sidecar.istio.io/status"),
    pod("sidecar.istio.io/rewriteAppHTTPProbers"),
    deprecated(pod("sidecar.istio.io/controlPlaneAuthPolicy")),
    deprecated(pod("sidecar.istio.io/discoveryAddress")),
    pod("sidecar.istio.io/proxyImage"),
    pod("sidecar.istio.io/proxyImageType"),
    pod("sidecar.istio.io/proxyCPU"),
    pod("sidecar.istio.io/proxyCPULimit"),
    pod("sidecar.istio.io/proxyMemory"),
    pod("sidecar.istio.io/proxyMemoryLimit"),
    pod("sidecar.istio.io/interceptionMode"),
    pod("sidecar.istio.io/bootstrapOverride"),
    deprecated(pod("sidecar.istio.io/statsInclusionPrefixes")),
    deprecated(pod("sidecar.istio.io/statsInclusionSuffixes")),
    deprecated(pod("sidecar.istio.io/statsInclusionRegexps")),
    pod("sidecar.istio.io/statsHistogramBuckets"),
    pod("sidecar.istio.io/statsFlushInterval"),
    pod("sidecar.istio.io/statsEvictionInterval"),
    pod("sidecar.istio.io/statsCompression"),
    pod("sidecar.istio.io/userVolume"),
    pod("sidecar.istio.io/userVolumeMount"),
    pod("sidecar.istio.io/enableCoreDump"),
    pod("status.sidecar.istio.io/port"),
    pod("sidecar.istio.io/logLevel"),
    pod("sidecar.istio.io/componentLogLevel"),
    pod("sidecar.istio.io/agentLogLevel"),
    pod("sidecar.istio.io/nativeSidecar"),
    deprecated(pod("sidecar.istio.io/extraStatTags")),
    pod("readiness.status.sidecar.istio.io/initialDelaySeconds"),
    pod("readiness.status.sidecar.istio.io/periodSeconds"),
    pod("readiness.status.sidecar.istio.io/failureThreshold"),
    pod("readiness.status.sidecar.istio.io/applicationPorts"),
    on("traffic.istio.io/nodeSelector", &["Service"]),
    pod("traffic.sidecar.istio.io/includeOutboundIPRanges"),
    pod("traffic.sidecar.istio.io/excludeOutboundIPRanges"),
    pod("traffic.sidecar.istio.io/includeInboundPorts"),
    pod("traffic.sidecar.istio.io/excludeInboundPorts"),
    pod("traffic.sidecar.istio.io/excludeInterfaces"),
    pod("traffic.sidecar.istio.io/includeOutboundPorts"),
    pod("traffic.sidecar.istio.io/excludeOutboundPorts"),
    deprecated(pod("traffic.sidecar.istio.io/kubevirtInterfaces")),
    on("kubernetes.io/ingress.class", &["Ingress"]),
    on("install.operator.istio.io/chart-owner", &[ANY]),
    on("install.operator.istio.io/owner-generation", &[ANY]),
    on("install.operator.istio.io/version", &[ANY]),
    on(ANALYZE_SUPPRESS, &[ANY]),
    pod("proxy.istio.io/config"),
    on("istio.io/dry-run", &["AuthorizationPolicy"]),
    pod("istio.io/rev"),
    pod("proxy.istio.io/overrides"),
    pod("inject.istio.io/templates"),
    on("istio.io/autoRegistrationGroup", &["WorkloadEntry"]),
    on("istio.io/workloadController", &["WorkloadEntry"]),
    on("istio.io/connectedAt", &["WorkloadEntry"]),
    on("istio.io/disconnectedAt", &["WorkloadEntry"]),
    on("topology.istio.io/controlPlaneClusters", &["Namespace"]),
    on("gateway.istio.io/controller-version", &[ANY]),
    pod("ambient.istio.io/redirection"),
    on(
        "ambient.istio.io/waypoint-inbound-binding",
        &["GatewayClass", "Gateway"],
    ),
    on("gateway.istio.io/service-account", &["Gateway"]),
    on("gateway.istio.io/name-override", &["Gateway"]),
    on("networking.istio.io/service-type", &["Gateway"]),
    on(
        "networking.istio.io/traffic-distribution",
        &["Service", "ServiceEntry"],
    ),
    pod("ambient.istio.io/bypass-inbound-capture"),
    pod("istio.io/reroute-virtual-interfaces"),
    pod("ambient.istio.io/dns-capture"),
];

/// Whether an annotation is in Istio's namespace (its prefix ends in `istio.io`), or the one
/// Kubernetes annotation Istio documents.
pub fn is_istio(name: &str) -> bool {
    if name == "kubernetes.io/ingress.class" {
        return true;
    }
    let prefix = name.split('/').next().unwrap_or_default();
    prefix.ends_with("istio.io")
}

pub fn lookup(name: &str) -> Option<&'static Annotation> {
    KNOWN.iter().find(|a| a.name == name)
}

impl Annotation {
    /// Whether it may be put on `kind`.
    pub fn applies_to(&self, kind: &str) -> bool {
        self.resources.iter().any(|r| *r == ANY || *r == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = KNOWN.iter().map(|a| a.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn istio_namespace_is_recognised() {
        assert!(is_istio("sidecar.istio.io/inject"));
        assert!(is_istio("istio.io/rev"));
        assert!(is_istio("kubernetes.io/ingress.class"));
        assert!(!is_istio(
            "kubectl.kubernetes.io/last-applied-configuration"
        ));
        assert!(!is_istio("example.com/istio.io"));
    }

    #[test]
    fn lookup_finds_kinds_and_deprecation() {
        let inject = lookup("sidecar.istio.io/inject").expect("known");
        assert!(inject.deprecated && inject.applies_to("Pod") && !inject.applies_to("Service"));
        assert!(
            lookup(ANALYZE_SUPPRESS)
                .expect("known")
                .applies_to("Service")
        );
        assert!(lookup("sidecar.istio.io/nonsense").is_none());
    }
}
