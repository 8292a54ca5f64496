//! telemetry.istio.io Telemetry (the `telemetry/v1` proto, also served as `v1alpha1`):
//! tracing, metrics and access-logging overrides per mesh, namespace or workload.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::security::{PolicyTargetReference, WorkloadSelector};
use crate::types::Duration;

/// Spec of a Telemetry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Telemetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<Tracing>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metrics>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<AccessLogging>,
}

/// A reference to an extension provider declared in MeshConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Traffic direction relative to the workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    #[default]
    ClientAndServer,
    Client,
    Server,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModeSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WorkloadMode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<ModeSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_sampling_percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_span_reporting: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, CustomTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_request_id_for_trace_sampling: Option<bool>,
}

/// A span tag from a literal, an environment variable or a request header (exactly one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomTag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<LiteralTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<NamedTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<NamedTag>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiteralTag {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// An environment variable or header name with a fallback value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedTag {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<MetricsOverrides>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<MetricSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Keyed by tag (label) name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tag_overrides: BTreeMap<String, TagOverride>,
}

/// Selects metrics by standard name (`metric`) or free-form name (`customMetric`), and mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<IstioMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WorkloadMode>,
}

/// `MetricSelector.IstioMetric`: Istio's standard metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IstioMetric {
    #[default]
    AllMetrics,
    RequestCount,
    RequestDuration,
    RequestSize,
    ResponseSize,
    TcpOpenedConnections,
    TcpClosedConnections,
    TcpSentBytes,
    TcpReceivedBytes,
    GrpcRequestMessages,
    GrpcResponseMessages,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<TagOperation>,
    /// A CEL expression; only used with UPSERT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagOperation {
    #[default]
    Upsert,
    Remove,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLogging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<ModeSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AccessLogFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLogFilter {
    /// A CEL expression selecting the requests or connections to log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expression: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, load_str};

    const TELEMETRY_EXAMPLE: &str = "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers:
    - name: zipkin
    randomSamplingPercentage: 10.00
    customTags:
      my_tag_header:
        header:
          name: host
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
        mode: CLIENT
      tagOverrides:
        request_host:
          value: \"request.host\"
        response_code:
          operation: REMOVE
    - match:
        customMetric: my_metric
      disabled: true
  accessLogging:
  - providers:
    - name: envoy
    filter:
      expression: response.code >= 400
    match:
      mode: SERVER
";

    #[test]
    fn decodes_telemetry_examples() {
        let loaded = load_str("test.yaml", TELEMETRY_EXAMPLE, &Default::default());
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let Body::Telemetry(b) = &loaded.objects[0].body else {
            panic!("not a Telemetry")
        };
        let t = &b.spec;
        assert_eq!(t.tracing[0].random_sampling_percentage, Some(10.0));
        let tag = &t.tracing[0].custom_tags["my_tag_header"];
        assert_eq!(tag.header.as_ref().unwrap().name, "host");
        let o = &t.metrics[0].overrides[0];
        assert_eq!(
            o.r#match.as_ref().unwrap().metric,
            Some(IstioMetric::RequestCount)
        );
        assert_eq!(
            o.tag_overrides["response_code"].operation,
            Some(TagOperation::Remove)
        );
        let log = &t.access_logging[0];
        assert_eq!(
            log.filter.as_ref().unwrap().expression,
            "response.code >= 400"
        );
        assert_eq!(
            log.r#match.as_ref().unwrap().mode,
            Some(WorkloadMode::Server)
        );
    }

    #[test]
    fn misspelt_field_and_unknown_metric_are_refused() {
        let yaml = "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t}
spec:
  accessLogging:
  - provider:
    - name: envoy
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: u}
spec:
  metrics:
  - overrides:
    - match:
        metric: REQUEST_COUNTS
";
        let loaded = load_str("test.yaml", yaml, &Default::default());
        let p: Vec<_> = loaded
            .problems
            .iter()
            .map(|p| (&p.field, &p.message))
            .collect();
        assert_eq!(
            p,
            [
                (
                    &"spec.accessLogging[0].provider".to_string(),
                    &"unknown field \"provider\" (did you mean \"providers\"?)".to_string()
                ),
                (
                    &"spec.metrics[0].overrides[0].match.metric".to_string(),
                    &"unknown value \"REQUEST_COUNTS\" (did you mean \"REQUEST_COUNT\"?)"
                        .to_string()
                ),
            ]
        );
    }
}
