//! Per-route pieces of a VirtualService: headers, redirect, direct response, retries, fault,
//! mirror, CORS and consistent-hash policy.

use weft_config::model::mesh::MeshConfig;
use weft_config::model::networking::{
    CorsPolicy, Destination, HeaderOperations, Headers, HttpDirectResponse, HttpFaultInjection,
    HttpRedirect, HttpRetry, HttpRoute, Percent,
};
use weft_xds::pb::envoy::config::core::v3::{
    DataSource, HeaderValue, HeaderValueOption, RuntimeFractionalPercent, data_source,
    header_value_option::HeaderAppendAction,
};
use weft_xds::pb::envoy::config::route::v3::retry_policy::{
    RetryHostPredicate, retry_host_predicate,
};
use weft_xds::pb::envoy::config::route::v3::route_action::{
    HashPolicy, RequestMirrorPolicy, hash_policy,
};
use weft_xds::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, RetryPolicy, redirect_action,
};
use weft_xds::pb::envoy::extensions::filters::common::fault::v3::{FaultDelay, fault_delay};
use weft_xds::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as EnvoyCors;
use weft_xds::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort,
};
use weft_xds::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use weft_xds::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use weft_xds::pb::google::protobuf::Any;

use crate::http_route::RouteScope;
use crate::matching::string_matcher;
use crate::pbutil::{any, boolv, duration_of, u32v};

/// Header operations in Envoy's shape.
#[derive(Debug, Default)]
pub struct HeaderOps {
    pub request_add: Vec<HeaderValueOption>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<HeaderValueOption>,
    pub response_remove: Vec<String>,
}

fn header_options(ops: &HeaderOperations) -> Vec<HeaderValueOption> {
    let option = |(k, v): (&String, &String), action: HeaderAppendAction| HeaderValueOption {
        header: Some(HeaderValue {
            key: k.clone(),
            value: v.clone(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    };
    let mut out: Vec<HeaderValueOption> = ops
        .set
        .iter()
        .map(|kv| option(kv, HeaderAppendAction::OverwriteIfExistsOrAdd))
        .collect();
    out.extend(
        ops.add
            .iter()
            .map(|kv| option(kv, HeaderAppendAction::AppendIfExistsOrAdd)),
    );
    out
}

pub fn headers(h: &Headers) -> HeaderOps {
    let mut out = HeaderOps::default();
    if let Some(r) = &h.request {
        out.request_add = header_options(r);
        out.request_remove = r.remove.clone();
    }
    if let Some(r) = &h.response {
        out.response_add = header_options(r);
        out.response_remove = r.remove.clone();
    }
    out
}

pub fn redirect(r: &HttpRedirect) -> RedirectAction {
    use redirect_action::RedirectResponseCode as Code;
    let code = match r.redirect_code.unwrap_or(301) {
        302 => Code::Found,
        303 => Code::SeeOther,
        307 => Code::TemporaryRedirect,
        308 => Code::PermanentRedirect,
        _ => Code::MovedPermanently,
    };
    RedirectAction {
        host_redirect: r.authority.clone().unwrap_or_default(),
        port_redirect: r.port.unwrap_or(0),
        path_rewrite_specifier: r
            .uri
            .clone()
            .map(redirect_action::PathRewriteSpecifier::PathRedirect),
        scheme_rewrite_specifier: r
            .scheme
            .clone()
            .map(redirect_action::SchemeRewriteSpecifier::SchemeRedirect),
        response_code: code as i32,
        ..Default::default()
    }
}

pub fn direct_response(d: &HttpDirectResponse) -> DirectResponseAction {
    let body = d.body.as_ref().and_then(|b| {
        let specifier = match (&b.string, &b.bytes) {
            (Some(s), _) => data_source::Specifier::InlineString(s.clone()),
            (None, Some(bytes)) => data_source::Specifier::InlineString(bytes.clone()),
            (None, None) => return None,
        };
        Some(DataSource {
            specifier: Some(specifier),
            ..Default::default()
        })
    });
    DirectResponseAction {
        status: d.status.unwrap_or(200),
        body,
        ..Default::default()
    }
}

/// Istio's mesh-wide default: 2 attempts on connect-failure, refused-stream, unavailable,
/// cancelled and 503; `attempts: 0` turns retries off.
pub fn retry_policy(_mesh: &MeshConfig, retry: Option<&HttpRetry>) -> Option<RetryPolicy> {
    const DEFAULT_ON: &str =
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
    let attempts = retry.and_then(|r| r.attempts).unwrap_or(2);
    if attempts <= 0 {
        return None;
    }
    let mut on: Vec<String> = Vec::new();
    let mut codes: Vec<u32> = Vec::new();
    for part in retry
        .and_then(|r| r.retry_on.as_deref())
        .unwrap_or(DEFAULT_ON)
        .split(',')
    {
        let part = part.trim();
        match part.parse::<u32>() {
            Ok(code) => codes.push(code),
            Err(_) if !part.is_empty() => on.push(part.to_string()),
            Err(_) => {}
        }
    }
    if !codes.is_empty() && !on.iter().any(|o| o == "retriable-status-codes") {
        on.push("retriable-status-codes".into());
    }
    if codes.is_empty() && on.iter().any(|o| o == "retriable-status-codes") {
        codes.push(503);
    }
    let predicate = RetryHostPredicate {
        name: "envoy.retry_host_predicates.previous_hosts".into(),
        config_type: Some(retry_host_predicate::ConfigType::TypedConfig(any(
            &PreviousHostsPredicate::default(),
        ))),
    };
    Some(RetryPolicy {
        retry_on: on.join(","),
        num_retries: Some(u32v(u32::try_from(attempts).unwrap_or(2))),
        per_try_timeout: retry
            .and_then(|r| r.per_try_timeout.as_ref())
            .map(duration_of),
        retry_host_predicate: vec![predicate],
        host_selection_retry_max_attempts: 5,
        retriable_status_codes: codes,
        ..Default::default()
    })
}

/// Istio's percentages are sent with a denominator of a million.
fn fraction(p: Option<&Percent>, legacy: Option<i32>) -> FractionalPercent {
    let percent = p
        .map(|p| p.value)
        .or(legacy.map(f64::from))
        .unwrap_or(100.0);
    FractionalPercent {
        numerator: (percent * 10_000.0).round().clamp(0.0, 1_000_000.0) as u32,
        denominator: DenominatorType::Million as i32,
    }
}

pub fn fault_filter(f: &HttpFaultInjection) -> Any {
    let delay = f.delay.as_ref().and_then(|d| {
        let fixed = d.fixed_delay.as_ref().or(d.exponential_delay.as_ref())?;
        Some(FaultDelay {
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(duration_of(
                fixed,
            ))),
            percentage: Some(fraction(d.percentage.as_ref(), d.percent)),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let error = if let Some(s) = a.http_status {
            fault_abort::ErrorType::HttpStatus(u32::try_from(s).ok()?)
        } else {
            let grpc = a.grpc_status.as_deref()?;
            fault_abort::ErrorType::GrpcStatus(grpc_code(grpc))
        };
        Some(FaultAbort {
            error_type: Some(error),
            percentage: Some(fraction(a.percentage.as_ref(), None)),
            ..Default::default()
        })
    });
    any(&HttpFault {
        delay,
        abort,
        ..Default::default()
    })
}

fn grpc_code(name: &str) -> u32 {
    name.parse()
        .ok()
        .or_else(|| {
            weft_config::model::networking::GRPC_STATUS_NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| u32::try_from(i).ok())
        })
        .unwrap_or(2)
}

pub fn mirror_policies(scope: &RouteScope<'_>, h: &HttpRoute) -> Vec<RequestMirrorPolicy> {
    let mut out = Vec::new();
    let mut push = |d: &Destination, p: FractionalPercent| {
        out.push(RequestMirrorPolicy {
            cluster: scope.cluster_for(d),
            runtime_fraction: Some(RuntimeFractionalPercent {
                default_value: Some(p),
                runtime_key: String::new(),
            }),
            trace_sampled: Some(boolv(false)),
            ..Default::default()
        });
    };
    if let Some(d) = &h.mirror {
        let legacy = h.mirror_percent.and_then(|v| i32::try_from(v).ok());
        push(d, fraction(h.mirror_percentage.as_ref(), legacy));
    }
    for m in &h.mirrors {
        if let Some(d) = &m.destination {
            push(d, fraction(m.percentage.as_ref(), None));
        }
    }
    out
}

pub fn cors_policy(c: &CorsPolicy) -> Any {
    let mut origins: Vec<_> = c.allow_origins.iter().map(string_matcher).collect();
    origins.extend(c.allow_origin.iter().map(|o| {
        string_matcher(&weft_config::model::networking::StringMatch {
            exact: Some(o.clone()),
            ..Default::default()
        })
    }));
    any(&EnvoyCors {
        allow_origin_string_match: origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c
            .max_age
            .as_ref()
            .map(|d| d.to_std().as_secs().to_string())
            .unwrap_or_default(),
        allow_credentials: c.allow_credentials.map(boolv),
        ..Default::default()
    })
}

/// The route's hash policy for a DestinationRule with `consistentHash`.
pub fn hash_policy(scope: &RouteScope<'_>, d: &Destination) -> Vec<HashPolicy> {
    let host = scope
        .ctx
        .resolve(d.host.as_deref().unwrap_or_default(), scope.vs_namespace);
    let service_ns = scope
        .ctx
        .registry
        .lookup(&host, scope.proxy_namespace)
        .map(|s| s.namespace.clone())
        .unwrap_or_default();
    let Some(dr) = scope
        .ctx
        .destination_rule(&host, scope.proxy_namespace, &service_ns)
    else {
        return Vec::new();
    };
    let subset = d.subset.as_deref().and_then(|n| {
        dr.spec
            .subsets
            .iter()
            .find(|s| s.name.as_deref() == Some(n))
    });
    let port = d.port.as_ref().and_then(|p| p.number).unwrap_or(scope.port);
    let policy = crate::policy::EffectivePolicy::resolve(
        dr.spec.traffic_policy.as_ref(),
        subset.and_then(|s| s.traffic_policy.as_ref()),
        port,
    );
    let Some(ch) = policy.load_balancer.and_then(|lb| lb.consistent_hash) else {
        return Vec::new();
    };
    let spec = if let Some(h) = ch.http_header_name {
        hash_policy::PolicySpecifier::Header(hash_policy::Header {
            header_name: h,
            ..Default::default()
        })
    } else if let Some(c) = ch.http_cookie {
        hash_policy::PolicySpecifier::Cookie(hash_policy::Cookie {
            name: c.name.unwrap_or_default(),
            path: c.path.unwrap_or_default(),
            ttl: c.ttl.as_ref().map(duration_of),
            ..Default::default()
        })
    } else if ch.use_source_ip == Some(true) {
        hash_policy::PolicySpecifier::ConnectionProperties(hash_policy::ConnectionProperties {
            source_ip: true,
        })
    } else if let Some(q) = ch.http_query_parameter_name {
        hash_policy::PolicySpecifier::QueryParameter(hash_policy::QueryParameter { name: q })
    } else {
        return Vec::new();
    };
    vec![HashPolicy {
        policy_specifier: Some(spec),
        terminal: false,
    }]
}
