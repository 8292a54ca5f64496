//! HTTP route rules: actions and their conflicts, matches, redirects, direct responses,
//! delegation, rewrites, timeouts, retries, fault injection, mirroring, CORS and headers.

use super::test_util::{assert_clean, assert_error, assert_warning, pass_fail};

const VS: &str = "VirtualService";
const ROUTE: &str = "route: [{destination: {host: reviews}}]";

/// A VirtualService for `reviews` with one HTTP route whose first field is `first`.
fn http(first: &str) -> String {
    format!("\n  hosts: [reviews]\n  http:\n  - {first}")
}

/// The route to `reviews` with `extra` (one YAML line per field) added.
fn with(extra: &str) -> String {
    http(&format!("{ROUTE}\n    {extra}"))
}

#[test]
fn a_route_has_exactly_one_action() {
    for action in [
        ROUTE,
        "redirect: {uri: /new}",
        "directResponse: {status: 503}",
        "delegate: {name: other}",
    ] {
        assert_clean(VS, &http(action));
    }
    assert_error(
        VS,
        &with("redirect: {uri: /new}"),
        "spec.http[0]",
        "only one of route, redirect, directResponse or delegate may be set (found route and redirect)",
    );
    assert_error(
        VS,
        &http("name: nothing"),
        "spec.http[0]",
        "one of route, redirect, directResponse or delegate is required",
    );
}

#[test]
fn rewrite_and_fault_do_not_combine_with_redirect_or_direct_response() {
    pass_fail(
        VS,
        &with("rewrite: {uri: /v2}\n    fault: {abort: {httpStatus: 503}}"),
        &http("redirect: {uri: /new}\n    rewrite: {uri: /v2}"),
        "spec.http[0].rewrite",
        "rewrite cannot be combined with redirect",
    );
    assert_error(
        VS,
        &http("directResponse: {status: 200}\n    fault: {abort: {httpStatus: 503}}"),
        "spec.http[0].fault",
        "fault cannot be combined with directResponse",
    );
}

fn matching(m: &str) -> String {
    http(&format!("match: [{m}]\n    {ROUTE}"))
}

#[test]
fn uri_scheme_method_and_authority_match_one_way() {
    assert_clean(
        VS,
        &matching(
            "{uri: {prefix: /api}, scheme: {exact: https}, method: {regex: \"GET|HEAD\"}, authority: {exact: a.example.com}}",
        ),
    );
    assert_error(
        VS,
        &matching("{uri: {}}"),
        "spec.http[0].match[0].uri",
        "one of exact, prefix or regex is required",
    );
    assert_error(
        VS,
        &matching("{method: {exact: GET, prefix: G}}"),
        "spec.http[0].match[0].method",
        "only one of exact, prefix or regex may be set (found exact and prefix)",
    );
    assert_error(
        VS,
        &matching("{uri: {prefix: \"\"}}"),
        "spec.http[0].match[0].uri.prefix",
        "an empty prefix matches everything; remove the match instead",
    );
    assert_error(
        VS,
        &matching("{uri: {regex: \"(a\"}}"),
        "spec.http[0].match[0].uri.regex",
        "invalid regular expression \"(a\": error: unclosed group",
    );
}

#[test]
fn header_and_query_matches_may_test_presence() {
    assert_clean(
        VS,
        &matching(
            "{headers: {x-debug: {}, end-user: {exact: jason}}, withoutHeaders: {x-skip: {}}, queryParams: {page: {regex: \"[0-9]+\"}}}",
        ),
    );
    assert_error(
        VS,
        &matching("{headers: {\"bad header\": {}}}"),
        "spec.http[0].match[0].headers.bad header",
        "\"bad header\" is not a valid HTTP header name",
    );
    assert_error(
        VS,
        &matching("{withoutHeaders: {x-a: {exact: a, regex: b}}}"),
        "spec.http[0].match[0].withoutHeaders.x-a",
        "only one of exact, prefix or regex may be set (found exact and regex)",
    );
    assert_error(
        VS,
        &matching("{queryParams: {page: {regex: \"[\"}}}"),
        "spec.http[0].match[0].queryParams.page.regex",
        "invalid regular expression \"[\": error: unclosed character class",
    );
}

#[test]
fn match_sources_and_ports_are_checked() {
    assert_clean(
        VS,
        &matching(
            "{port: 9080, sourceLabels: {app.kubernetes.io/name: web}, gateways: [mesh], sourceNamespace: web}",
        ),
    );
    assert_error(
        VS,
        &matching("{port: 0}"),
        "spec.http[0].match[0].port",
        "port 0 is out of range 1-65535",
    );
    assert_error(
        VS,
        &matching("{sourceLabels: {\"-bad\": web}}"),
        "spec.http[0].match[0].sourceLabels.-bad",
        "label key \"-bad\": name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    );
    assert_error(
        VS,
        &matching("{gateways: [\"ns/\"]}"),
        "spec.http[0].match[0].gateways[0]",
        "gateway \"ns/\" must be namespace/name",
    );
}

#[test]
fn redirects_change_something_valid() {
    assert_clean(
        VS,
        &http("redirect: {authority: b.example.com, port: 8443, scheme: https, redirectCode: 308}"),
    );
    assert_clean(VS, &http("redirect: {derivePort: FROM_PROTOCOL_DEFAULT}"));
    let cases = [
        (
            "{redirectCode: 301}",
            "spec.http[0].redirect",
            "a redirect must set at least one of uri, authority, port, derivePort or scheme",
        ),
        (
            "{port: 80, derivePort: FROM_REQUEST_PORT}",
            "spec.http[0].redirect",
            "only one of port or derivePort may be set (found port and derivePort)",
        ),
        (
            "{uri: /a, redirectCode: 200}",
            "spec.http[0].redirect.redirectCode",
            "redirect code 200 is not a 3xx status",
        ),
        (
            "{scheme: ftp}",
            "spec.http[0].redirect.scheme",
            "redirect scheme \"ftp\" must be \"http\" or \"https\"",
        ),
        (
            "{port: 70000}",
            "spec.http[0].redirect.port",
            "port 70000 is out of range 1-65535",
        ),
    ];
    for (redirect, field, message) in cases {
        assert_error(VS, &http(&format!("redirect: {redirect}")), field, message);
    }
}

#[test]
fn direct_responses_have_a_status_and_one_body() {
    assert_clean(
        VS,
        &http("directResponse: {status: 200, body: {bytes: aGVsbG8=}}"),
    );
    let cases = [
        (
            "{body: {string: hi}}",
            "spec.http[0].directResponse.status",
            "required field is missing",
        ),
        (
            "{status: 100}",
            "spec.http[0].directResponse.status",
            "status 100 must be between 200 and 599",
        ),
        (
            "{status: 200, body: {string: a, bytes: YQ==}}",
            "spec.http[0].directResponse.body",
            "only one of string or bytes may be set (found string and bytes)",
        ),
        (
            "{status: 200, body: {}}",
            "spec.http[0].directResponse.body",
            "one of string or bytes is required",
        ),
        (
            "{status: 200, body: {bytes: \"not base64!\"}}",
            "spec.http[0].directResponse.body.bytes",
            "bytes must be valid base64",
        ),
    ];
    for (response, field, message) in cases {
        assert_error(
            VS,
            &http(&format!("directResponse: {response}")),
            field,
            message,
        );
    }
    let large = format!(
        "directResponse: {{status: 200, body: {{string: \"{}\"}}}}",
        "a".repeat((1 << 20) + 1)
    );
    assert_error(
        VS,
        &http(&large),
        "spec.http[0].directResponse.body",
        "a direct response body of 1048577 bytes is larger than 1MiB",
    );
}

#[test]
fn delegates_name_a_virtual_service() {
    assert_clean(
        VS,
        &http("delegate: {name: reviews-v2, namespace: reviews}"),
    );
    assert_error(
        VS,
        &http("delegate: {namespace: reviews}"),
        "spec.http[0].delegate.name",
        "required field is missing",
    );
    assert_error(
        VS,
        &http("delegate: {name: Reviews_V2}"),
        "spec.http[0].delegate.name",
        "\"Reviews_V2\" is not a valid VirtualService name",
    );
    assert_error(
        VS,
        &http("delegate: {name: a, namespace: \"a.b\"}"),
        "spec.http[0].delegate.namespace",
        "\"a.b\" is not a valid namespace name (a DNS label)",
    );
}

#[test]
fn rewrites_set_one_kind_of_uri_rewrite() {
    assert_clean(
        VS,
        &with(
            "rewrite: {uriRegexRewrite: {match: \"^/v1/(.*)\", rewrite: \"/v2/\\\\1\"}, authority: b}",
        ),
    );
    let cases = [
        (
            "{}",
            "spec.http[0].rewrite",
            "a rewrite must set uri, uriRegexRewrite or authority",
        ),
        (
            "{uri: /a, uriRegexRewrite: {match: a, rewrite: b}}",
            "spec.http[0].rewrite",
            "only one of uri or uriRegexRewrite may be set (found uri and uriRegexRewrite)",
        ),
        (
            "{uriRegexRewrite: {rewrite: b}}",
            "spec.http[0].rewrite.uriRegexRewrite.match",
            "required field is missing",
        ),
        (
            "{uriRegexRewrite: {match: a}}",
            "spec.http[0].rewrite.uriRegexRewrite.rewrite",
            "required field is missing",
        ),
        (
            "{uriRegexRewrite: {match: \"(\", rewrite: b}}",
            "spec.http[0].rewrite.uriRegexRewrite.match",
            "invalid regular expression \"(\": error: unclosed group",
        ),
    ];
    for (rewrite, field, message) in cases {
        assert_error(VS, &with(&format!("rewrite: {rewrite}")), field, message);
    }
}

#[test]
fn timeouts_are_whole_milliseconds_and_zero_disables() {
    assert_clean(VS, &with("timeout: 0s"));
    assert_clean(VS, &with("timeout: 1.5s"));
    assert_error(
        VS,
        &with("timeout: -1s"),
        "spec.http[0].timeout",
        "duration -1s must not be negative",
    );
    assert_error(
        VS,
        &with("timeout: 1500us"),
        "spec.http[0].timeout",
        "duration 1500us is not a whole number of milliseconds (Istio's precision)",
    );
}

#[test]
fn retries_are_checked() {
    assert_clean(
        VS,
        &with(
            "retries: {attempts: 3, perTryTimeout: 2s, retryOn: \"5xx,connect-failure,503,unavailable\", backoff: 25ms}",
        ),
    );
    assert_clean(VS, &with("retries: {attempts: 0}"));
    assert_error(
        VS,
        &with("retries: {attempts: -1}"),
        "spec.http[0].retries.attempts",
        "attempts must not be negative",
    );
    assert_warning(
        VS,
        &with("retries: {retryOn: 5xx}"),
        "spec.http[0].retries.attempts",
        "attempts is 0 or unset, which disables retries; the other retry settings have no effect",
    );
    assert_error(
        VS,
        &with("retries: {attempts: 2, perTryTimeout: 0s}"),
        "spec.http[0].retries.perTryTimeout",
        "duration must be greater than zero",
    );
    assert_error(
        VS,
        &with("retries: {attempts: 2, retryOn: \"5xx,gateway-eror\"}"),
        "spec.http[0].retries.retryOn",
        "unknown retryOn policy \"gateway-eror\" (did you mean \"gateway-error\"?)",
    );
}

const FAULT_CASES: &[(&str, &str, &str)] = &[
    (
        "{}",
        "spec.http[0].fault",
        "fault injection needs a delay, an abort or both",
    ),
    (
        "{delay: {percentage: {value: 10}}}",
        "spec.http[0].fault.delay",
        "one of fixedDelay or exponentialDelay is required",
    ),
    (
        "{delay: {exponentialDelay: 1s}}",
        "spec.http[0].fault.delay.exponentialDelay",
        "exponentialDelay is not supported by Istio",
    ),
    (
        "{delay: {fixedDelay: 1s, percentage: {value: 120}}}",
        "spec.http[0].fault.delay.percentage.value",
        "percentage 120 must be between 0 and 100",
    ),
    (
        "{delay: {fixedDelay: 1s, percentage: {value: 1}, percent: 1}}",
        "spec.http[0].fault.delay",
        "only one of percentage or percent may be set (found percentage and percent)",
    ),
    (
        "{abort: {percentage: {value: 1}}}",
        "spec.http[0].fault.abort",
        "one of httpStatus, grpcStatus or http2Error is required",
    ),
    (
        "{abort: {httpStatus: 700}}",
        "spec.http[0].fault.abort.httpStatus",
        "HTTP status 700 must be between 200 and 599",
    ),
    (
        "{abort: {grpcStatus: \"14\"}}",
        "spec.http[0].fault.abort.grpcStatus",
        "\"14\" is not a gRPC status code name (such as UNAVAILABLE)",
    ),
    (
        "{abort: {http2Error: CANCEL}}",
        "spec.http[0].fault.abort.http2Error",
        "http2Error is not supported by Istio",
    ),
];

#[test]
fn fault_injection_needs_a_supported_delay_or_abort() {
    assert_clean(
        VS,
        &with(
            "fault: {delay: {fixedDelay: 7s, percentage: {value: 10}}, abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}}",
        ),
    );
    for (fault, field, message) in FAULT_CASES {
        assert_error(VS, &with(&format!("fault: {fault}")), field, message);
    }
    assert_warning(
        VS,
        &with("fault: {delay: {fixedDelay: 1s, percent: 5}}"),
        "spec.http[0].fault.delay.percent",
        "percent is deprecated; use percentage",
    );
}

#[test]
fn mirroring_uses_mirror_or_mirrors() {
    assert_clean(
        VS,
        &with("mirror: {host: shadow}\n    mirrorPercentage: {value: 5}"),
    );
    assert_clean(
        VS,
        &with("mirrors: [{destination: {host: shadow}, percentage: {value: 50}}]"),
    );
    assert_error(
        VS,
        &with("mirror: {host: a}\n    mirrors: [{destination: {host: b}}]"),
        "spec.http[0]",
        "only one of mirror or mirrors may be set (found mirror and mirrors)",
    );
    assert_error(
        VS,
        &with("mirror: {subset: v1}"),
        "spec.http[0].mirror.host",
        "required field is missing",
    );
    assert_error(
        VS,
        &with("mirrors: [{percentage: {value: 5}}]"),
        "spec.http[0].mirrors[0].destination",
        "required field is missing",
    );
    assert_error(
        VS,
        &with("mirrors: [{destination: {host: b}, percentage: {value: 101}}]"),
        "spec.http[0].mirrors[0].percentage.value",
        "percentage 101 must be between 0 and 100",
    );
    assert_error(
        VS,
        &with("mirror: {host: a}\n    mirrorPercent: 150"),
        "spec.http[0].mirrorPercent",
        "percentage 150 must be between 0 and 100",
    );
    assert_warning(
        VS,
        &with("mirror: {host: a}\n    mirrorPercent: 50"),
        "spec.http[0].mirrorPercent",
        "mirrorPercent is deprecated; use mirrorPercentage",
    );
    assert_warning(
        VS,
        &with("mirrorPercentage: {value: 5}"),
        "spec.http[0].mirrorPercentage",
        "mirrorPercentage applies to mirror, which is not set",
    );
}

#[test]
fn cors_policies_are_checked() {
    assert_clean(
        VS,
        &with(
            "corsPolicy: {allowOrigins: [{regex: \"https://.*[.]example[.]com\"}], allowMethods: [GET, POST], allowHeaders: [\"*\"], exposeHeaders: [x-trace], maxAge: 24h, allowCredentials: true}",
        ),
    );
    let cases = [
        (
            "{allowOrigins: [{}]}",
            "spec.http[0].corsPolicy.allowOrigins[0]",
            "one of exact, prefix or regex is required",
        ),
        (
            "{allowMethods: [get]}",
            "spec.http[0].corsPolicy.allowMethods[0]",
            "\"get\" is not an HTTP method (GET, POST, ...; upper case)",
        ),
        (
            "{allowHeaders: [\"x y\"]}",
            "spec.http[0].corsPolicy.allowHeaders[0]",
            "\"x y\" is not a valid HTTP header name",
        ),
        (
            "{maxAge: 1500ms}",
            "spec.http[0].corsPolicy.maxAge",
            "maxAge 1500ms must be a whole number of seconds",
        ),
    ];
    for (cors, field, message) in cases {
        assert_error(VS, &with(&format!("corsPolicy: {cors}")), field, message);
    }
    assert_warning(
        VS,
        &with("corsPolicy: {allowOrigin: [\"*\"]}"),
        "spec.http[0].corsPolicy.allowOrigin",
        "allowOrigin is deprecated; use allowOrigins",
    );
}

#[test]
fn header_operations_change_real_headers() {
    assert_clean(
        VS,
        &with(
            "headers: {request: {set: {x-a: \"1\"}, add: {x-b: \"2\"}, remove: [x-c]}, response: {remove: [server]}}",
        ),
    );
    assert_clean(
        VS,
        &http("route: [{destination: {host: reviews}, headers: {request: {set: {host: b}}}}]"),
    );
    assert_error(
        VS,
        &with("headers: {request: {set: {\":path\": /x}}}"),
        "spec.http[0].headers.request.set.:path",
        "pseudo-header \":path\" cannot be changed",
    );
    assert_error(
        VS,
        &http("route: [{destination: {host: reviews}, headers: {response: {remove: [\"a b\"]}}}]"),
        "spec.http[0].route[0].headers.response.remove[0]",
        "\"a b\" is not a valid HTTP header name",
    );
    assert_error(
        VS,
        &with("rewrite: {authority: b}\n    headers: {request: {set: {Host: c}}}"),
        "spec.http[0].headers.request.set.Host",
        "the Host header is also set by rewrite.authority; set it in one place",
    );
}
