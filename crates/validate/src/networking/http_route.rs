//! Rules for one HTTP route of a VirtualService: which actions may be combined, matches,
//! destinations, redirects, direct responses, rewrites, retries, fault injection, mirroring,
//! CORS and header manipulation.

use weft_config::model::networking::{
    CorsPolicy, Delegate, FaultAbort, FaultDelay, HeaderOperations, Headers, HttpDirectResponse,
    HttpFaultInjection, HttpMatchRequest, HttpMirrorPolicy, HttpRedirect, HttpRetry, HttpRewrite,
    HttpRoute, HttpRouteDestination, Percent,
};

use super::virtual_service::{check_destination, check_weights};
use super::{
    check_duration, check_gateway_ref, check_header_name, check_labels, check_namespace,
    check_optional_duration, check_port, check_string_match, key_path, one_of, report,
};
use crate::Checker;
use crate::common::{check_percentage, check_regex, is_dns1123_subdomain};

/// `in_delegate` is true for the routes of a delegate VirtualService (one without hosts).
pub(super) fn check(route: &HttpRoute, path: &str, in_delegate: bool, c: &mut Checker) {
    check_actions(route, path, in_delegate, c);
    for (i, m) in route.r#match.iter().enumerate() {
        check_match(m, &format!("{path}.match[{i}]"), c);
    }
    check_route_destinations(&route.route, &format!("{path}.route"), c);
    if let Some(r) = &route.redirect {
        check_redirect(r, &format!("{path}.redirect"), c);
    }
    if let Some(d) = &route.direct_response {
        check_direct_response(d, &format!("{path}.directResponse"), c);
    }
    if let Some(d) = &route.delegate {
        check_delegate(d, &format!("{path}.delegate"), c);
    }
    if let Some(r) = &route.rewrite {
        check_rewrite(r, &format!("{path}.rewrite"), c);
    }
    check_optional_duration(c, &format!("{path}.timeout"), route.timeout.as_ref(), true);
    if let Some(r) = &route.retries {
        check_retries(r, &format!("{path}.retries"), c);
    }
    if let Some(f) = &route.fault {
        check_fault(f, &format!("{path}.fault"), c);
    }
    check_mirroring(route, path, c);
    if let Some(cors) = &route.cors_policy {
        check_cors(cors, &format!("{path}.corsPolicy"), c);
    }
    if let Some(h) = &route.headers {
        check_headers(h, &format!("{path}.headers"), c);
    }
    check_authority_rewrite(route, path, c);
}

/// A route forwards (`route`), redirects, responds directly or delegates: exactly one.
fn check_actions(route: &HttpRoute, path: &str, in_delegate: bool, c: &mut Checker) {
    let actions = [
        ("route", !route.route.is_empty()),
        ("redirect", route.redirect.is_some()),
        ("directResponse", route.direct_response.is_some()),
        ("delegate", route.delegate.is_some()),
    ];
    one_of(c, path, &actions, true);
    if route.delegate.is_some() && in_delegate {
        c.error(
            format!("{path}.delegate"),
            "a delegate VirtualService (one without hosts) cannot delegate again; only one \
             level of delegation is supported",
        );
    }
    let terminal = [
        ("redirect", route.redirect.is_some()),
        ("directResponse", route.direct_response.is_some()),
    ];
    for (name, set) in terminal {
        for (field, other) in [
            ("rewrite", route.rewrite.is_some()),
            ("fault", route.fault.is_some()),
        ] {
            if set && other {
                c.error(
                    format!("{path}.{field}"),
                    format!("{field} cannot be combined with {name}"),
                );
            }
        }
    }
}

fn check_match(m: &HttpMatchRequest, path: &str, c: &mut Checker) {
    let required = [
        ("uri", &m.uri),
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ];
    for (name, sm) in required {
        if let Some(sm) = sm {
            check_string_match(c, &format!("{path}.{name}"), sm, true);
        }
    }
    for (field, map) in [
        ("headers", &m.headers),
        ("withoutHeaders", &m.without_headers),
    ] {
        for (name, sm) in map {
            let at = key_path(&format!("{path}.{field}"), name);
            check_header_name(c, &at, name, true);
            check_string_match(c, &at, sm, false);
        }
    }
    for (name, sm) in &m.query_params {
        let at = key_path(&format!("{path}.queryParams"), name);
        if name.is_empty() {
            c.error(&at, "query parameter name must not be empty");
        }
        check_string_match(c, &at, sm, false);
    }
    if let Some(p) = m.port {
        check_port(c, &format!("{path}.port"), p);
    }
    check_labels(c, &format!("{path}.sourceLabels"), &m.source_labels);
    for (i, gw) in m.gateways.iter().enumerate() {
        check_gateway_ref(c, &format!("{path}.gateways[{i}]"), gw);
    }
    if let Some(ns) = &m.source_namespace {
        check_namespace(c, &format!("{path}.sourceNamespace"), ns);
    }
}

fn check_route_destinations(routes: &[HttpRouteDestination], path: &str, c: &mut Checker) {
    for (i, r) in routes.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match &r.destination {
            Some(d) => check_destination(c, &format!("{at}.destination"), d),
            None => c.require(false, format!("{at}.destination")),
        }
        if let Some(h) = &r.headers {
            check_headers(h, &format!("{at}.headers"), c);
        }
    }
    let weights: Vec<Option<i32>> = routes.iter().map(|r| r.weight).collect();
    check_weights(c, path, &weights);
}

fn check_redirect(r: &HttpRedirect, path: &str, c: &mut Checker) {
    let changes = r.uri.is_some()
        || r.authority.is_some()
        || r.port.is_some()
        || r.derive_port.is_some()
        || r.scheme.is_some();
    if !changes {
        c.error(
            path,
            "a redirect must set at least one of uri, authority, port, derivePort or scheme",
        );
    }
    one_of(
        c,
        path,
        &[
            ("port", r.port.is_some()),
            ("derivePort", r.derive_port.is_some()),
        ],
        false,
    );
    if let Some(p) = r.port {
        check_port(c, &format!("{path}.port"), p);
    }
    if let Some(code) = r.redirect_code
        && !(300..=399).contains(&code)
    {
        c.error(
            format!("{path}.redirectCode"),
            format!("redirect code {code} is not a 3xx status"),
        );
    }
    if let Some(s) = r.scheme.as_deref()
        && s != "http"
        && s != "https"
    {
        c.error(
            format!("{path}.scheme"),
            format!("redirect scheme {s:?} must be \"http\" or \"https\""),
        );
    }
}

/// Envoy keeps direct response bodies in memory in every proxy.
const MAX_DIRECT_RESPONSE_BODY: usize = 1 << 20;

fn check_direct_response(d: &HttpDirectResponse, path: &str, c: &mut Checker) {
    match d.status {
        None => c.require(false, format!("{path}.status")),
        Some(s) if !(200..=599).contains(&s) => c.error(
            format!("{path}.status"),
            format!("status {s} must be between 200 and 599"),
        ),
        Some(_) => {}
    }
    let Some(body) = &d.body else { return };
    let at = format!("{path}.body");
    one_of(
        c,
        &at,
        &[
            ("string", body.string.is_some()),
            ("bytes", body.bytes.is_some()),
        ],
        true,
    );
    let size = match (&body.string, &body.bytes) {
        (Some(s), _) => s.len(),
        (None, Some(b)) => match base64_len(b) {
            Some(n) => n,
            None => {
                c.error(format!("{at}.bytes"), "bytes must be valid base64");
                return;
            }
        },
        (None, None) => 0,
    };
    if size > MAX_DIRECT_RESPONSE_BODY {
        c.error(
            &at,
            format!("a direct response body of {size} bytes is larger than 1MiB"),
        );
    }
}

/// The decoded length of base64, standard or URL-safe (padding optional, whitespace
/// ignored), or `None` when it is not base64.
fn base64_len(s: &str) -> Option<usize> {
    let chars: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let data = chars
        .strip_suffix(b"==")
        .or_else(|| chars.strip_suffix(b"="));
    let data = data.unwrap_or(&chars);
    let valid = data
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"+/-_".contains(b));
    if !valid
        || data.len() % 4 == 1
        || (data.len() != chars.len() && !chars.len().is_multiple_of(4))
    {
        return None;
    }
    Some(data.len() * 3 / 4)
}

fn check_delegate(d: &Delegate, path: &str, c: &mut Checker) {
    match d.name.as_deref() {
        None => c.require(false, format!("{path}.name")),
        Some(n) if !is_dns1123_subdomain(n) => c.error(
            format!("{path}.name"),
            format!("{n:?} is not a valid VirtualService name"),
        ),
        Some(_) => {}
    }
    if let Some(ns) = &d.namespace {
        check_namespace(c, &format!("{path}.namespace"), ns);
    }
}

fn check_rewrite(r: &HttpRewrite, path: &str, c: &mut Checker) {
    if r.uri.is_none() && r.authority.is_none() && r.uri_regex_rewrite.is_none() {
        c.error(path, "a rewrite must set uri, uriRegexRewrite or authority");
    }
    one_of(
        c,
        path,
        &[
            ("uri", r.uri.is_some()),
            ("uriRegexRewrite", r.uri_regex_rewrite.is_some()),
        ],
        false,
    );
    if let Some(rr) = &r.uri_regex_rewrite {
        let at = format!("{path}.uriRegexRewrite");
        match rr.r#match.as_deref() {
            None | Some("") => c.require(false, format!("{at}.match")),
            Some(re) => report(c, format!("{at}.match"), check_regex(re)),
        }
        c.require(rr.rewrite.is_some(), format!("{at}.rewrite"));
    }
}

/// Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` policies.
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

fn check_retries(r: &HttpRetry, path: &str, c: &mut Checker) {
    let attempts = r.attempts.unwrap_or(0);
    if attempts < 0 {
        c.error(format!("{path}.attempts"), "attempts must not be negative");
    }
    let tuned = r.per_try_timeout.is_some()
        || r.retry_on.is_some()
        || r.retry_remote_localities.is_some()
        || r.retry_ignore_previous_hosts.is_some()
        || r.backoff.is_some();
    if attempts == 0 && tuned {
        c.warn(
            format!("{path}.attempts"),
            "attempts is 0 or unset, which disables retries; the other retry settings have no effect",
        );
    }
    check_optional_duration(
        c,
        &format!("{path}.perTryTimeout"),
        r.per_try_timeout.as_ref(),
        false,
    );
    check_optional_duration(c, &format!("{path}.backoff"), r.backoff.as_ref(), false);
    let Some(retry_on) = &r.retry_on else { return };
    for policy in retry_on.split(',') {
        let is_status = policy
            .parse::<u16>()
            .is_ok_and(|s| (100..=599).contains(&s));
        if is_status || RETRY_ON.contains(&policy) {
            continue;
        }
        let names: Vec<String> = RETRY_ON.iter().map(|s| s.to_string()).collect();
        let hint = weft_config::closest(policy, &names)
            .map(|b| format!(" (did you mean {b:?}?)"))
            .unwrap_or_default();
        c.error(
            format!("{path}.retryOn"),
            format!("unknown retryOn policy {policy:?}{hint}"),
        );
    }
}

fn check_fault(f: &HttpFaultInjection, path: &str, c: &mut Checker) {
    if f.delay.is_none() && f.abort.is_none() {
        c.error(path, "fault injection needs a delay, an abort or both");
    }
    if let Some(d) = &f.delay {
        check_delay(d, &format!("{path}.delay"), c);
    }
    if let Some(a) = &f.abort {
        check_abort(a, &format!("{path}.abort"), c);
    }
}

fn check_delay(d: &FaultDelay, path: &str, c: &mut Checker) {
    let kinds = [
        ("fixedDelay", d.fixed_delay.is_some()),
        ("exponentialDelay", d.exponential_delay.is_some()),
    ];
    one_of(c, path, &kinds, true);
    check_optional_duration(
        c,
        &format!("{path}.fixedDelay"),
        d.fixed_delay.as_ref(),
        false,
    );
    if d.exponential_delay.is_some() {
        c.error(
            format!("{path}.exponentialDelay"),
            "exponentialDelay is not supported by Istio",
        );
    }
    one_of(
        c,
        path,
        &[
            ("percentage", d.percentage.is_some()),
            ("percent", d.percent.is_some()),
        ],
        false,
    );
    check_percent(c, &format!("{path}.percentage"), d.percentage.as_ref());
    if let Some(p) = d.percent {
        c.warn(
            format!("{path}.percent"),
            "percent is deprecated; use percentage",
        );
        report(c, format!("{path}.percent"), check_percentage(f64::from(p)));
    }
}

fn check_abort(a: &FaultAbort, path: &str, c: &mut Checker) {
    let kinds = [
        ("httpStatus", a.http_status.is_some()),
        ("grpcStatus", a.grpc_status.is_some()),
        ("http2Error", a.http2_error.is_some()),
    ];
    one_of(c, path, &kinds, true);
    if let Some(s) = a.http_status
        && !(200..=599).contains(&s)
    {
        c.error(
            format!("{path}.httpStatus"),
            format!("HTTP status {s} must be between 200 and 599"),
        );
    }
    if let Some(code) = a.grpc_status.as_deref()
        && !weft_config::model::networking::GRPC_STATUS_NAMES.contains(&code)
    {
        c.error(
            format!("{path}.grpcStatus"),
            format!("{code:?} is not a gRPC status code name (such as UNAVAILABLE)"),
        );
    }
    if a.http2_error.is_some() {
        c.error(
            format!("{path}.http2Error"),
            "http2Error is not supported by Istio",
        );
    }
    check_percent(c, &format!("{path}.percentage"), a.percentage.as_ref());
}

fn check_percent(c: &mut Checker, path: &str, p: Option<&Percent>) {
    if let Some(p) = p {
        report(c, format!("{path}.value"), check_percentage(p.value));
    }
}

fn check_mirroring(route: &HttpRoute, path: &str, c: &mut Checker) {
    one_of(
        c,
        path,
        &[
            ("mirror", route.mirror.is_some()),
            ("mirrors", !route.mirrors.is_empty()),
        ],
        false,
    );
    if let Some(m) = &route.mirror {
        check_destination(c, &format!("{path}.mirror"), m);
    }
    if let Some(p) = route.mirror_percent {
        let at = format!("{path}.mirrorPercent");
        c.warn(&at, "mirrorPercent is deprecated; use mirrorPercentage");
        report(c, &at, check_percentage(f64::from(p)));
    }
    check_percent(
        c,
        &format!("{path}.mirrorPercentage"),
        route.mirror_percentage.as_ref(),
    );
    if route.mirror.is_none() {
        for (field, set) in [
            ("mirrorPercent", route.mirror_percent.is_some()),
            ("mirrorPercentage", route.mirror_percentage.is_some()),
        ] {
            if set {
                c.warn(
                    format!("{path}.{field}"),
                    format!("{field} applies to mirror, which is not set"),
                );
            }
        }
    }
    for (i, m) in route.mirrors.iter().enumerate() {
        check_mirror_policy(m, &format!("{path}.mirrors[{i}]"), c);
    }
}

fn check_mirror_policy(m: &HttpMirrorPolicy, path: &str, c: &mut Checker) {
    match &m.destination {
        Some(d) => check_destination(c, &format!("{path}.destination"), d),
        None => c.require(false, format!("{path}.destination")),
    }
    check_percent(c, &format!("{path}.percentage"), m.percentage.as_ref());
}

const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

fn check_cors(cors: &CorsPolicy, path: &str, c: &mut Checker) {
    for (i, o) in cors.allow_origins.iter().enumerate() {
        check_string_match(c, &format!("{path}.allowOrigins[{i}]"), o, true);
    }
    if !cors.allow_origin.is_empty() {
        c.warn(
            format!("{path}.allowOrigin"),
            "allowOrigin is deprecated; use allowOrigins",
        );
    }
    for (i, m) in cors.allow_methods.iter().enumerate() {
        if m != "*" && !HTTP_METHODS.contains(&m.as_str()) {
            c.error(
                format!("{path}.allowMethods[{i}]"),
                format!("{m:?} is not an HTTP method (GET, POST, ...; upper case)"),
            );
        }
    }
    for (field, names) in [
        ("allowHeaders", &cors.allow_headers),
        ("exposeHeaders", &cors.expose_headers),
    ] {
        for (i, name) in names.iter().enumerate() {
            if name != "*" {
                check_header_name(c, &format!("{path}.{field}[{i}]"), name, false);
            }
        }
    }
    if let Some(age) = &cors.max_age {
        let at = format!("{path}.maxAge");
        check_duration(c, &at, age, true);
        if age.nanos % 1_000_000_000 != 0 {
            c.error(
                &at,
                format!("maxAge {age} must be a whole number of seconds"),
            );
        }
    }
}

fn check_headers(h: &Headers, path: &str, c: &mut Checker) {
    if let Some(ops) = &h.request {
        check_header_operations(ops, &format!("{path}.request"), c);
    }
    if let Some(ops) = &h.response {
        check_header_operations(ops, &format!("{path}.response"), c);
    }
}

fn check_header_operations(ops: &HeaderOperations, path: &str, c: &mut Checker) {
    let set = ops.set.keys().map(|k| ("set", k));
    let add = ops.add.keys().map(|k| ("add", k));
    for (field, name) in set.chain(add) {
        check_changeable_header(c, &key_path(&format!("{path}.{field}"), name), name);
    }
    for (i, name) in ops.remove.iter().enumerate() {
        check_changeable_header(c, &format!("{path}.remove[{i}]"), name);
    }
}

fn check_changeable_header(c: &mut Checker, path: &str, name: &str) {
    if name.starts_with(':') {
        c.error(path, format!("pseudo-header {name:?} cannot be changed"));
    } else {
        check_header_name(c, path, name, false);
    }
}

/// The Host header has one owner: `rewrite.authority` or `headers.request`, not both.
fn check_authority_rewrite(route: &HttpRoute, path: &str, c: &mut Checker) {
    let rewrites = route
        .rewrite
        .as_ref()
        .is_some_and(|r| r.authority.is_some());
    let Some(request) = route.headers.as_ref().and_then(|h| h.request.as_ref()) else {
        return;
    };
    if !rewrites {
        return;
    }
    for (field, map) in [("set", &request.set), ("add", &request.add)] {
        for name in map.keys().filter(|k| k.eq_ignore_ascii_case("host")) {
            c.error(
                key_path(&format!("{path}.headers.request.{field}"), name),
                "the Host header is also set by rewrite.authority; set it in one place",
            );
        }
    }
}
