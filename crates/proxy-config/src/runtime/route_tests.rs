use super::*;
use http::HeaderMap;

fn table(json: serde_json::Value) -> RouteTable {
    let rc: m::RouteConfiguration = serde_json::from_value(json).expect("model");
    build_route_table("RouteConfiguration t", &rc).expect("compile")
}

fn vh_name<'a>(t: &'a RouteTable, host: &str) -> Option<&'a str> {
    t.find_virtual_host(host).map(|v| v.name.as_str())
}

fn route_for<'a>(vh: &'a VirtualHost, path: &str, headers: &HeaderMap) -> Option<&'a str> {
    vh.find_route(&RequestView {
        path,
        headers,
        method: "GET",
        authority: "a.com",
        scheme: "http",
    })
    .map(|r| r.name.as_str())
}

fn vhosts() -> RouteTable {
    let r = serde_json::json!([{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]);
    table(serde_json::json!({"virtual_hosts": [
        {"name": "exact", "domains": ["api.example.com", "api.example.com:8080"], "routes": r},
        {"name": "suffix", "domains": ["*.example.com"], "routes": r},
        {"name": "longsuffix", "domains": ["*.b.example.com"], "routes": r},
        {"name": "prefix", "domains": ["api.*"], "routes": r},
        {"name": "any", "domains": ["*"], "routes": r}
    ]}))
}

#[test]
fn domain_lookup_order() {
    let t = vhosts();
    assert_eq!(vh_name(&t, "api.example.com"), Some("exact"));
    assert_eq!(vh_name(&t, "API.example.com"), Some("exact"));
    assert_eq!(vh_name(&t, "api.example.com:8080"), Some("exact"));
    // Like Envoy, the full host (with port) is tried against every kind of domain first.
    assert_eq!(vh_name(&t, "api.example.com:9999"), Some("prefix"));
    assert_eq!(vh_name(&t, "x.example.com:9999"), Some("suffix"));
    assert_eq!(vh_name(&t, "x.example.com"), Some("suffix"));
    assert_eq!(vh_name(&t, "a.b.example.com"), Some("longsuffix"));
    assert_eq!(vh_name(&t, "api.other.org"), Some("prefix"));
    assert_eq!(vh_name(&t, "nothing.org:80"), Some("any"));
}

#[test]
fn domain_without_wildcard_misses() {
    let r = serde_json::json!([{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]);
    let t = table(
        serde_json::json!({"virtual_hosts": [{"name": "a", "domains": ["a.com"], "routes": r}]}),
    );
    assert_eq!(vh_name(&t, "b.com"), None);
}

#[test]
fn path_matchers() {
    let t = table(
        serde_json::json!({"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
            {"name": "exact", "match": {"path": "/exact"}, "direct_response": {"status": 200}},
            {"name": "sep", "match": {"path_separated_prefix": "/api"}, "direct_response": {"status": 200}},
            {"name": "regex", "match": {"safe_regex": {"regex": "/v[0-9]+/.*"}}, "direct_response": {"status": 200}},
            {"name": "ci", "match": {"prefix": "/CASE", "case_sensitive": false}, "direct_response": {"status": 200}},
            {"name": "root", "match": {"prefix": "/"}, "direct_response": {"status": 200}}
        ]}]}),
    );
    let vh = &t.virtual_hosts[0];
    let h = HeaderMap::new();
    assert_eq!(route_for(vh, "/exact", &h), Some("exact"));
    assert_eq!(route_for(vh, "/exact?x=1", &h), Some("exact"));
    assert_eq!(route_for(vh, "/exactly", &h), Some("root"));
    assert_eq!(route_for(vh, "/api", &h), Some("sep"));
    assert_eq!(route_for(vh, "/api/x", &h), Some("sep"));
    assert_eq!(route_for(vh, "/apix", &h), Some("root"));
    assert_eq!(route_for(vh, "/v2/a", &h), Some("regex"));
    assert_eq!(route_for(vh, "/vx/a", &h), Some("root"));
    assert_eq!(route_for(vh, "/case/x", &h), Some("ci"));
}

#[test]
fn header_and_query_conditions() {
    let t = table(
        serde_json::json!({"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
            {"name": "canary", "match": {"prefix": "/", "headers": [{"name": "x-canary", "exact_match": "1"}]},
             "route": {"cluster": "c2"}},
            {"name": "debug", "match": {"prefix": "/", "query_parameters": [{"name": "debug"}]},
             "route": {"cluster": "c3"}},
            {"name": "grpc", "match": {"prefix": "/", "grpc": {}}, "route": {"cluster": "g"}},
            {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": "c1", "timeout": "0s"}}
        ]}]}),
    );
    let vh = &t.virtual_hosts[0];
    let mut h = HeaderMap::new();
    assert_eq!(route_for(vh, "/", &h), Some("default"));
    assert_eq!(route_for(vh, "/?debug", &h), Some("debug"));
    h.insert("x-canary", "1".parse().expect("hv"));
    assert_eq!(route_for(vh, "/", &h), Some("canary"));
    let mut g = HeaderMap::new();
    g.insert(
        "content-type",
        "application/grpc+proto".parse().expect("hv"),
    );
    assert_eq!(route_for(vh, "/pkg.Svc/M", &g), Some("grpc"));
    match &vh.routes[3].action {
        Action::Forward(f) => assert_eq!(f.timeout, None),
        other => panic!("unexpected {other:?}"),
    }
    match &vh.routes[0].action {
        Action::Forward(f) => assert_eq!(f.timeout, Some(DEFAULT_ROUTE_TIMEOUT)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn errors_name_the_field() {
    let rc: m::RouteConfiguration = serde_json::from_value(serde_json::json!({"virtual_hosts": [
        {"name": "v", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "a", "weight": 0}]}}}
        ]}
    ]}))
    .expect("model");
    let err = build_route_table("RouteConfiguration r", &rc).expect_err("zero weights");
    assert_eq!(
        err.to_string(),
        "RouteConfiguration r: virtual_hosts[0].routes[0].route.weighted_clusters.clusters: the sum of weights must be greater than 0"
    );
    let rc: m::RouteConfiguration = serde_json::from_value(serde_json::json!({"virtual_hosts": [
        {"name": "a", "domains": ["x.com"], "routes": []},
        {"name": "b", "domains": ["X.com"], "routes": []}
    ]}))
    .expect("model");
    let err = build_route_table("RouteConfiguration r", &rc).expect_err("dup");
    assert!(
        err.to_string()
            .contains("virtual_hosts[1].domains[0]: domain \"x.com\" is already used"),
        "{err}"
    );
}

#[test]
fn pseudo_header_conditions() {
    let t = table(
        serde_json::json!({"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
            {"name": "get", "match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]}, "direct_response": {"status": 200}},
            {"name": "host", "match": {"prefix": "/", "headers": [{"name": ":authority", "string_match": {"prefix": "b."}}]}, "direct_response": {"status": 200}},
            {"name": "other", "match": {"prefix": "/"}, "direct_response": {"status": 200}}
        ]}]}),
    );
    let vh = &t.virtual_hosts[0];
    let h = HeaderMap::new();
    let view = |method, authority| RequestView {
        path: "/",
        headers: &h,
        method,
        authority,
        scheme: "http",
    };
    let name = |v: RequestView<'_>| vh.find_route(&v).map(|r| r.name.clone());
    assert_eq!(name(view("GET", "a.com")).as_deref(), Some("get"));
    assert_eq!(name(view("POST", "b.com")).as_deref(), Some("host"));
    assert_eq!(name(view("POST", "a.com")).as_deref(), Some("other"));
}
