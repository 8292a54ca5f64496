//! Rules for Telemetry.

use weft_config::model::telemetry::{
    CustomTag, MetricsOverrides, ProviderRef, TagOperation, Telemetry, Tracing,
};

use super::shared::{Attachment, check_attachment};
use crate::Checker;
use crate::common::{check_duration, check_percentage};

pub fn check(spec: &Telemetry, c: &mut Checker) {
    check_attachment(
        Attachment {
            selector: spec.selector.as_ref(),
            target_ref: spec.target_ref.as_ref(),
            target_refs: &spec.target_refs,
        },
        c,
    );
    for (i, t) in spec.tracing.iter().enumerate() {
        check_tracing(t, &format!("spec.tracing[{i}]"), c);
    }
    for (i, m) in spec.metrics.iter().enumerate() {
        let path = format!("spec.metrics[{i}]");
        check_providers(&m.providers, &path, c);
        for (j, o) in m.overrides.iter().enumerate() {
            check_override(o, &format!("{path}.overrides[{j}]"), c);
        }
        if let Some(d) = &m.reporting_interval
            && let Err(e) = check_duration(d, false)
        {
            c.error(format!("{path}.reportingInterval"), e);
        }
    }
    for (i, log) in spec.access_logging.iter().enumerate() {
        let path = format!("spec.accessLogging[{i}]");
        check_providers(&log.providers, &path, c);
        if log
            .filter
            .as_ref()
            .is_some_and(|f| f.expression.trim().is_empty())
        {
            c.error(
                format!("{path}.filter.expression"),
                "filter expression must not be empty (omit filter to log everything)",
            );
        }
    }
}

fn check_providers(providers: &[ProviderRef], path: &str, c: &mut Checker) {
    for (j, p) in providers.iter().enumerate() {
        c.require(
            !p.name.trim().is_empty(),
            format!("{path}.providers[{j}].name"),
        );
    }
}

fn check_tracing(t: &Tracing, path: &str, c: &mut Checker) {
    check_providers(&t.providers, path, c);
    if t.providers.len() > 1 {
        c.error(
            format!("{path}.providers"),
            "only one tracing provider per tracing entry is supported",
        );
    }
    if let Some(p) = t.random_sampling_percentage
        && let Err(e) = check_percentage(p)
    {
        c.error(format!("{path}.randomSamplingPercentage"), e);
    }
    for (name, tag) in &t.custom_tags {
        check_custom_tag(tag, &format!("{path}.customTags.{name}"), c);
    }
}

/// A custom tag takes its value from exactly one of a literal, an environment variable or a
/// request header.
fn check_custom_tag(tag: &CustomTag, path: &str, c: &mut Checker) {
    let set = [
        tag.literal.is_some(),
        tag.environment.is_some(),
        tag.header.is_some(),
    ];
    match set.iter().filter(|s| **s).count() {
        0 => c.error(
            path,
            "custom tag needs one of literal, environment or header",
        ),
        1 => {}
        _ => c.error(
            path,
            "custom tag must set only one of literal, environment or header",
        ),
    }
    if let Some(l) = &tag.literal {
        c.require(!l.value.is_empty(), format!("{path}.literal.value"));
    }
    if let Some(e) = &tag.environment {
        c.require(!e.name.is_empty(), format!("{path}.environment.name"));
    }
    if let Some(h) = &tag.header {
        c.require(!h.name.is_empty(), format!("{path}.header.name"));
    }
}

fn check_override(o: &MetricsOverrides, path: &str, c: &mut Checker) {
    if let Some(m) = &o.r#match {
        if m.metric.is_some() && m.custom_metric.is_some() {
            c.error(
                format!("{path}.match"),
                "metric and customMetric are mutually exclusive",
            );
        }
        if m.custom_metric.as_deref().is_some_and(str::is_empty) {
            c.error(
                format!("{path}.match.customMetric"),
                "customMetric must not be empty",
            );
        }
    }
    for (tag, t) in &o.tag_overrides {
        let p = format!("{path}.tagOverrides.{tag}");
        match (t.operation.unwrap_or_default(), t.value.as_deref()) {
            (TagOperation::Upsert, None | Some("")) => c.error(
                format!("{p}.value"),
                "value must be set when operation is UPSERT (the default)",
            ),
            (TagOperation::Remove, Some(_)) => c.error(
                format!("{p}.value"),
                "value must not be set when operation is REMOVE",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_clean, errors, only_error};

    fn tel(spec: &str) -> String {
        format!(
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n\
             metadata: {{name: t, namespace: foo}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn istio_examples_are_valid() {
        assert_clean(&tel("  selector:
    matchLabels: {app: reviews}
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 10
    customTags:
      cluster: {literal: {value: east}}
      pod: {environment: {name: POD_NAME, defaultValue: unknown}}
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 10s
    overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      tagOverrides:
        request_host: {value: request.host}
        response_code: {operation: REMOVE}
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: \"response.code >= 400\"}
"));
    }

    #[test]
    fn provider_names_must_not_be_empty() {
        let e = errors(&tel(
            "  tracing:\n  - providers: [{name: \"\"}]\n  metrics:\n  - providers: [{}]\n  accessLogging:\n  - providers: [{name: \" \"}]\n",
        ));
        let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.tracing[0].providers[0].name",
                "spec.metrics[0].providers[0].name",
                "spec.accessLogging[0].providers[0].name"
            ]
        );
        assert!(e.iter().all(|(_, m)| m == "required field is missing"));
    }

    #[test]
    fn selector_and_target_refs_are_exclusive() {
        let (field, msg) = only_error(&tel(
            "  selector:\n    matchLabels: {app: a}\n  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n",
        ));
        assert_eq!(field, "spec.targetRefs");
        assert_eq!(
            msg,
            "only one of selector, targetRef and targetRefs may be set (found selector and targetRefs)"
        );
        assert_clean(&tel(
            "  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n",
        ));
    }

    #[test]
    fn one_tracing_provider_per_entry() {
        let (field, msg) = only_error(&tel("  tracing:\n  - providers: [{name: a}, {name: b}]\n"));
        assert_eq!(field, "spec.tracing[0].providers");
        assert_eq!(
            msg,
            "only one tracing provider per tracing entry is supported"
        );
    }

    #[test]
    fn sampling_is_a_percentage() {
        let (field, msg) = only_error(&tel("  tracing:\n  - randomSamplingPercentage: 150\n"));
        assert_eq!(field, "spec.tracing[0].randomSamplingPercentage");
        assert_eq!(msg, "percentage 150 must be between 0 and 100");
    }

    #[test]
    fn custom_tags_take_exactly_one_source() {
        let e = errors(&tel(
            "  tracing:\n  - customTags:\n      a: {}\n      b: {literal: {value: x}, header: {name: h}}\n      c: {header: {name: \"\"}}\n",
        ));
        assert_eq!(
            e,
            [
                (
                    "spec.tracing[0].customTags.a".to_string(),
                    "custom tag needs one of literal, environment or header".to_string()
                ),
                (
                    "spec.tracing[0].customTags.b".to_string(),
                    "custom tag must set only one of literal, environment or header".to_string()
                ),
                (
                    "spec.tracing[0].customTags.c.header.name".to_string(),
                    "required field is missing".to_string()
                ),
            ]
        );
    }

    #[test]
    fn tag_overrides_follow_their_operation() {
        let e = errors(&tel(
            "  metrics:\n  - overrides:\n    - tagOverrides:\n        a: {operation: UPSERT}\n        b: {operation: REMOVE, value: x}\n",
        ));
        assert_eq!(
            e,
            [
                (
                    "spec.metrics[0].overrides[0].tagOverrides.a.value".to_string(),
                    "value must be set when operation is UPSERT (the default)".to_string()
                ),
                (
                    "spec.metrics[0].overrides[0].tagOverrides.b.value".to_string(),
                    "value must not be set when operation is REMOVE".to_string()
                ),
            ]
        );
    }

    #[test]
    fn metric_selector_is_a_oneof() {
        let (field, msg) = only_error(&tel(
            "  metrics:\n  - overrides:\n    - match: {metric: REQUEST_COUNT, customMetric: x}\n      disabled: true\n",
        ));
        assert_eq!(field, "spec.metrics[0].overrides[0].match");
        assert_eq!(msg, "metric and customMetric are mutually exclusive");
    }

    #[test]
    fn reporting_interval_and_filter_are_checked() {
        let e = errors(&tel(
            "  metrics:\n  - reportingInterval: 0s\n  accessLogging:\n  - filter: {expression: \"\"}\n",
        ));
        assert_eq!(
            e,
            [
                (
                    "spec.metrics[0].reportingInterval".to_string(),
                    "duration must be greater than zero".to_string()
                ),
                (
                    "spec.accessLogging[0].filter.expression".to_string(),
                    "filter expression must not be empty (omit filter to log everything)"
                        .to_string()
                ),
            ]
        );
    }
}
