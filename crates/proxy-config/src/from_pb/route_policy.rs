//! Route-action policies (retry, hash, mirror, max stream duration, regex rewrite) from
//! protobufs into the model.

use weft_xds::pb::envoy::config::route::v3 as pb;
use weft_xds::pb::envoy::r#type::matcher::v3 as mt;

use super::filters::fractional;
use super::route::{header_matcher, regex};
use super::{dur, rest};
use crate::error::{At, Result};
use crate::model::filters::RuntimeFractionalPercent;
use crate::model::route as m;

pub(crate) fn retry_policy(at: &At<'_>, r: &pb::RetryPolicy) -> Result<m::RetryPolicy> {
    let mut left = r.clone();
    left.retry_on.clear();
    left.num_retries = None;
    left.per_try_timeout = None;
    left.retry_host_predicate.clear();
    left.host_selection_retry_max_attempts = 0;
    left.retriable_status_codes.clear();
    left.retriable_headers.clear();
    left.retry_back_off = None;
    rest(at, &left)?;
    let mut predicates = Vec::new();
    for p in &r.retry_host_predicate {
        use pb::retry_policy::retry_host_predicate::ConfigType;
        let typed_config = p
            .config_type
            .as_ref()
            .map(|ConfigType::TypedConfig(any)| serde_json::json!({"@type": any.type_url}));
        predicates.push(m::RetryHostPredicate {
            name: p.name.clone(),
            typed_config,
        });
    }
    let retry_back_off = match &r.retry_back_off {
        Some(b) => Some(m::RetryBackOff {
            base_interval: dur(
                &at.field("retry_back_off.base_interval"),
                b.base_interval.as_ref(),
            )?,
            max_interval: dur(
                &at.field("retry_back_off.max_interval"),
                b.max_interval.as_ref(),
            )?,
        }),
        None => None,
    };
    Ok(m::RetryPolicy {
        retry_on: r.retry_on.clone(),
        num_retries: r.num_retries.map(|v| v.value),
        per_try_timeout: dur(&at.field("per_try_timeout"), r.per_try_timeout.as_ref())?,
        retry_host_predicate: predicates,
        host_selection_retry_max_attempts: (r.host_selection_retry_max_attempts != 0)
            .then_some(r.host_selection_retry_max_attempts),
        retriable_status_codes: r.retriable_status_codes.clone(),
        retriable_headers: r
            .retriable_headers
            .iter()
            .enumerate()
            .map(|(i, h)| header_matcher(&at.field("retriable_headers").index(i), h))
            .collect::<Result<_>>()?,
        retry_back_off,
    })
}

pub(crate) fn hash_policy(at: &At<'_>, h: &pb::route_action::HashPolicy) -> Result<m::HashPolicy> {
    use pb::route_action::hash_policy::PolicySpecifier as P;
    let mut out = m::HashPolicy {
        terminal: h.terminal,
        ..Default::default()
    };
    match &h.policy_specifier {
        Some(P::Header(x)) => {
            if x.regex_rewrite.is_some() {
                return Err(at.field("header.regex_rewrite").err("is not supported"));
            }
            out.header = Some(m::HashHeader {
                header_name: x.header_name.clone(),
            });
        }
        Some(P::Cookie(c)) => {
            if !c.attributes.is_empty() {
                return Err(at.field("cookie.attributes").err("is not supported"));
            }
            out.cookie = Some(m::HashCookie {
                name: c.name.clone(),
                ttl: dur(&at.field("cookie.ttl"), c.ttl.as_ref())?,
                path: c.path.clone(),
            });
        }
        Some(P::ConnectionProperties(c)) => {
            out.connection_properties = Some(m::HashConnectionProperties {
                source_ip: c.source_ip,
            });
        }
        Some(P::QueryParameter(q)) => {
            out.query_parameter = Some(m::HashQueryParameter {
                name: q.name.clone(),
            });
        }
        Some(P::FilterState(f)) => out.filter_state = Some(serde_json::json!({"key": f.key})),
        None => return Err(at.err("a policy (header, cookie, ...) is required")),
    }
    Ok(out)
}

pub(crate) fn mirror_policy(
    at: &At<'_>,
    p: &pb::route_action::RequestMirrorPolicy,
) -> Result<m::RequestMirrorPolicy> {
    let mut left = p.clone();
    left.cluster.clear();
    left.runtime_fraction = None;
    left.trace_sampled = None;
    rest(at, &left)?;
    let runtime_fraction = match &p.runtime_fraction {
        Some(f) => Some(RuntimeFractionalPercent {
            default_value: fractional(
                &at.field("runtime_fraction.default_value"),
                f.default_value.as_ref(),
            )?,
            runtime_key: f.runtime_key.clone(),
        }),
        None => None,
    };
    Ok(m::RequestMirrorPolicy {
        cluster: p.cluster.clone(),
        runtime_fraction,
        trace_sampled: p.trace_sampled.map(|b| b.value),
    })
}

pub(crate) fn max_stream_duration(
    at: &At<'_>,
    d: &pb::route_action::MaxStreamDuration,
) -> Result<m::MaxStreamDuration> {
    Ok(m::MaxStreamDuration {
        max_stream_duration: dur(
            &at.field("max_stream_duration"),
            d.max_stream_duration.as_ref(),
        )?,
        grpc_timeout_header_max: dur(
            &at.field("grpc_timeout_header_max"),
            d.grpc_timeout_header_max.as_ref(),
        )?,
        grpc_timeout_header_offset: dur(
            &at.field("grpc_timeout_header_offset"),
            d.grpc_timeout_header_offset.as_ref(),
        )?,
    })
}

pub(crate) fn regex_rewrite(
    at: &At<'_>,
    r: &mt::RegexMatchAndSubstitute,
) -> Result<m::RegexRewrite> {
    let pattern = r
        .pattern
        .as_ref()
        .ok_or_else(|| at.field("pattern").err("is required"))?;
    Ok(m::RegexRewrite {
        pattern: regex(pattern),
        substitution: r.substitution.clone(),
    })
}
