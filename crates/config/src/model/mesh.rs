//! Istio's MeshConfig (`istio.mesh.v1alpha1.MeshConfig`), the mesh-wide settings held in the
//! `mesh` key of the `istio` ConfigMap in the root namespace.
//!
//! Every top-level field and every ProxyConfig field is listed so real configurations load and
//! a misspelt name is an error. Fields whose message types belong to the networking model
//! (`localityLbSetting`, `tcpKeepalive`, `defaultHttpRetryPolicy`, TLS settings) or that are
//! deprecated or hidden in Istio's docs are kept as opaque JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kube::LabelSelector;
use crate::diag::Problem;
use crate::object::Object;
use crate::types::Duration;
use crate::yaml;

/// Declares a string enum with Istio's upper-case value names; other values fail decoding.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
    };
}

mod providers;
mod proxy;

pub use providers::*;
pub use proxy::*;

/// A sub-tree kept as written (see the module documentation for which and why).
type Opaque = Option<Value>;

/// Mesh-wide settings. Unset fields take Istio's defaults: read them through the accessors
/// (`root_namespace()`, `trust_domain()`, ...) or fill them in with `with_defaults()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_listen_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_inbound_listen_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_http_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_detection_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Opaque,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_controller_mode: Option<IngressControllerMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_tracing: Option<bool>,
    /// Empty disables access logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_encoding: Option<AccessLogEncoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_envoy_access_log_service: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_envoy_listener_log: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_config: Option<ProxyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_traffic_policy: Option<InboundTrafficPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_sources: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_auto_mtls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domain_aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<CertificateData>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_service_export_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_virtual_service_export_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_destination_rule_export_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Opaque,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_refresh_rate: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_cluster_stat_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_cluster_stat_name: Option<String>,
    /// Deprecated DNS certificate provisioning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_settings: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_scope_configs: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_prometheus_merge: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_certificate_at_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Opaque,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_providers: Vec<ExtensionProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_providers: Option<DefaultProviders>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_normalization: Option<PathNormalization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_http_retry_policy: Opaque,
    #[serde(rename = "meshMTLS", default, skip_serializing_if = "Option::is_none")]
    pub mesh_mtls: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_defaults: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_policy: Option<String>,
}

string_enum!(IngressControllerMode {
    Unspecified = "UNSPECIFIED", Off = "OFF", Default = "DEFAULT", Strict = "STRICT",
});
string_enum!(AccessLogEncoding { Text = "TEXT", Json = "JSON" });
string_enum!(H2UpgradePolicy { DoNotUpgrade = "DO_NOT_UPGRADE", Upgrade = "UPGRADE" });
string_enum!(OutboundTrafficMode { RegistryOnly = "REGISTRY_ONLY", AllowAny = "ALLOW_ANY" });
string_enum!(InboundTrafficMode { Passthrough = "PASSTHROUGH", Localhost = "LOCALHOST" });
string_enum!(TlsProtocol { Auto = "TLS_AUTO", V1_2 = "TLSV1_2", V1_3 = "TLSV1_3" });
string_enum!(PathNormalizationType {
    Default = "DEFAULT", None = "NONE", Base = "BASE", MergeSlashes = "MERGE_SLASHES",
    DecodeAndMergeSlashes = "DECODE_AND_MERGE_SLASHES",
});

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundTrafficPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutboundTrafficMode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundTrafficPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<InboundTrafficMode>,
}

/// An extra root certificate: PEM data or a SPIFFE bundle endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe_bundle_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cert_signers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domains: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultProviders {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathNormalization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<PathNormalizationType>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<TlsProtocol>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecdh_curves: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
}

// Problems are returned by value like everywhere else in weft; mesh config is read once, so the
// size of the error does not matter.
#[allow(clippy::result_large_err)]
impl MeshConfig {
    /// Istio's default root namespace, where mesh-wide policies live.
    pub const DEFAULT_ROOT_NAMESPACE: &'static str = "istio-system";
    pub const DEFAULT_TRUST_DOMAIN: &'static str = "cluster.local";

    /// Reads mesh config YAML (the text of the `mesh` ConfigMap key, or a file given to
    /// istiod with `--meshConfig`). Empty text is the default configuration.
    pub fn from_yaml(file: &str, text: &str) -> Result<MeshConfig, Problem> {
        parse_mesh_text(file, text, 0, "")
    }

    /// Reads the `mesh` key of an `istio` ConfigMap; problems point into the ConfigMap's file.
    pub fn from_config_map(obj: &Object) -> Result<MeshConfig, Problem> {
        let crate::Body::ConfigMap(cm) = &obj.body else {
            let msg = format!("mesh config must come from a ConfigMap, not a {}", obj.kind);
            return Err(obj.problem("", msg));
        };
        let Some(text) = cm.data.get("mesh") else {
            return Err(obj.problem("data.mesh", "required field is missing"));
        };
        // The YAML reader places a block scalar (`mesh: |`) at its first content line, which
        // is line 1 of the mesh text.
        let base = obj.origin.line_of("data.mesh").saturating_sub(1);
        parse_mesh_text(&obj.origin.file, text, base, "data.mesh").map_err(|mut p| {
            p.object = Some(obj.object_ref());
            p
        })
    }

    pub fn root_namespace(&self) -> &str {
        self.root_namespace
            .as_deref()
            .unwrap_or(Self::DEFAULT_ROOT_NAMESPACE)
    }

    pub fn trust_domain(&self) -> &str {
        self.trust_domain
            .as_deref()
            .unwrap_or(Self::DEFAULT_TRUST_DOMAIN)
    }

    /// ALLOW_ANY unless set.
    pub fn outbound_traffic_mode(&self) -> OutboundTrafficMode {
        self.outbound_traffic_policy
            .as_ref()
            .and_then(|p| p.mode)
            .unwrap_or(OutboundTrafficMode::AllowAny)
    }

    pub fn enable_auto_mtls(&self) -> bool {
        self.enable_auto_mtls.unwrap_or(true)
    }

    pub fn enable_prometheus_merge(&self) -> bool {
        self.enable_prometheus_merge.unwrap_or(true)
    }

    /// 10s unless set.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(10))
    }

    /// The extension provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ExtensionProvider> {
        self.extension_providers.iter().find(|p| p.name == name)
    }

    /// This configuration with every unset field that has an Istio default filled in, the way
    /// istiod merges a user's mesh config over its defaults.
    pub fn with_defaults(mut self) -> MeshConfig {
        let d = |s: &str| Some(s.to_string());
        self.root_namespace = self.root_namespace.or(d(Self::DEFAULT_ROOT_NAMESPACE));
        self.trust_domain = self.trust_domain.or(d(Self::DEFAULT_TRUST_DOMAIN));
        let mode = self.outbound_traffic_mode();
        self.outbound_traffic_policy = Some(OutboundTrafficPolicy { mode: Some(mode) });
        self.enable_auto_mtls = Some(self.enable_auto_mtls());
        self.enable_prometheus_merge = Some(self.enable_prometheus_merge());
        self.enable_tracing = self.enable_tracing.or(Some(true));
        self.connect_timeout = Some(self.connect_timeout());
        self.protocol_detection_timeout = self
            .protocol_detection_timeout
            .or(Some(Duration::default()));
        self.dns_refresh_rate = self.dns_refresh_rate.or(Some(Duration::from_secs(60)));
        self.ingress_class = self.ingress_class.or(d("istio"));
        self.ingress_service = self.ingress_service.or(d("istio-ingressgateway"));
        self.ingress_controller_mode = self
            .ingress_controller_mode
            .or(Some(IngressControllerMode::Strict));
        self.access_log_encoding = self.access_log_encoding.or(Some(AccessLogEncoding::Text));
        self.default_config = Some(self.default_config.unwrap_or_default().with_defaults());
        self
    }
}

impl ProxyConfig {
    /// This proxy configuration with Istio's defaults for unset common fields.
    pub fn with_defaults(mut self) -> ProxyConfig {
        let d = |s: &str| Some(s.to_string());
        self.discovery_address = self
            .discovery_address
            .or(d("istiod.istio-system.svc:15012"));
        self.config_path = self.config_path.or(d("./etc/istio/proxy"));
        self.drain_duration = self.drain_duration.or(Some(Duration::from_secs(45)));
        self.termination_drain_duration = self
            .termination_drain_duration
            .or(Some(Duration::from_secs(5)));
        self.proxy_admin_port = self.proxy_admin_port.or(Some(15000));
        self.status_port = self.status_port.or(Some(15020));
        self.stat_name_length = self.stat_name_length.or(Some(189));
        self.control_plane_auth_policy = self
            .control_plane_auth_policy
            .or(Some(AuthenticationPolicy::MutualTls));
        self
    }
}

/// Decodes mesh config text. `line_offset` and `prefix` place problems inside an enclosing
/// document (the ConfigMap the text was read from).
#[allow(clippy::result_large_err)]
pub(crate) fn parse_mesh_text(
    file: &str,
    text: &str,
    line_offset: u32,
    prefix: &str,
) -> Result<MeshConfig, Problem> {
    let at = |line: u32, path: &str, msg: String| {
        let mut p = Problem::error(file.into(), line_offset + line, msg);
        p.field = match (prefix.is_empty(), path.is_empty()) {
            (_, true) => prefix.to_string(),
            (true, false) => path.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        p
    };
    let (docs, syntax) = yaml::parse_documents(text);
    if let Some(e) = syntax {
        return Err(at(e.line, "", format!("YAML syntax error: {}", e.message)));
    }
    let mut docs = docs.into_iter();
    let Some(doc) = docs.next() else {
        return Ok(MeshConfig::default());
    };
    if let Some(extra) = docs.next() {
        return Err(at(
            extra.line,
            "",
            "mesh config must be a single document".into(),
        ));
    }
    let value = yaml::to_json(&doc.root);
    if !value.is_object() {
        return Err(at(
            doc.line,
            "",
            "mesh config must be a map of fields".into(),
        ));
    }
    super::decode::<MeshConfig>(&value).map_err(|e| {
        let line = yaml::line_at(&doc.root, &yaml::parse_path(&e.path));
        at(line, &e.path, e.message)
    })
}

#[cfg(test)]
mod tests;
