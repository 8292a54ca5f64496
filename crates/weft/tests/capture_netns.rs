//! The sidecar's capture path for real: `weft iptables` (default flags) inside a network
//! namespace this test creates, and `weft proxy` as uid 1337 beside an app, with the static
//! listeners the control plane sends a sidecar (netns/sidecar.yaml). A veth pair joins the
//! app's namespace (10.78.0.1) to a "host" namespace (10.78.0.2) standing for everything
//! outside the pod. Checked: an app's HTTP call to a service VIP is captured to 15001 and
//! handed to the `0.0.0.0_8080` listener (SO_ORIGINAL_DST), other TCP falls through to
//! PassthroughCluster and reaches its real destination, and an inbound connection to 9080 is
//! captured to 15006 and reaches the app through `inbound|9080||`; the admin API's counters
//! confirm each path.
//!
//! Needs root, `ip`, `iptables`, `iptables-restore` and `setpriv`; otherwise prints
//! `SKIP: ...` (or fails when WEFT_REQUIRE_ALL_TESTS=1). The namespaces and every process are
//! removed when the test ends, pass or fail.

mod netns;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use netns::{APP_IP, HOST_IP, Lab, WAIT, ok};

/// A service VIP: routable from the app, with nothing listening behind it.
const SERVICE_VIP: &str = "10.96.0.10:8080";
const BACKEND_PORT: u16 = 8000;
const ECHO_PORT: u16 = 7777;
const ADMIN: &str = "127.0.0.1:15000";

/// Not a test: the program the lab runs inside a namespace (see netns/roles.rs).
#[test]
#[ignore = "run by capture_netns inside a network namespace"]
fn netns_role() {
    let role = std::env::var(netns::roles::ROLE_ENV).expect("run by capture_netns with a role");
    netns::roles::run(&role);
}

#[test]
fn sidecar_capture_through_iptables_redirect_in_a_network_namespace() {
    if let Some(reason) = netns::missing_prerequisite() {
        return netns::skip(&reason);
    }
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(reason) => return netns::skip(&reason),
    };
    let (app, host) = (lab.app.clone(), lab.host.clone());
    lab.weft_in_app(&["iptables"]);
    let rules = ok(&["ip", "netns", "exec", &app, "iptables-save", "-t", "nat"]);
    assert!(rules.contains("-j ISTIO_REDIRECT"), "not applied:\n{rules}");

    let backend_addr = format!("{HOST_IP}:{BACKEND_PORT}");
    let echo_addr = format!("{HOST_IP}:{ECHO_PORT}");
    let backend = lab.serve(&host, &["http-server", "backend", &backend_addr]);
    let echo = lab.serve(&host, &["echo-server", &echo_addr]);
    let app_server = lab.serve(&app, &["http-server", "app", "127.0.0.1:9080"]);
    start_proxy(&mut lab);

    // (a) HTTP to a VIP: 15001, handed to 0.0.0.0_8080, routed to the host's backend.
    let reply = lab.role(&app, &["http-get", SERVICE_VIP, "/hello"]);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("status 200"),
        "{reply:?}"
    );
    assert!(reply.contains(&"body backend".to_string()), "{reply:?}");
    let seen = backend.next("backend");
    let want = format!("request peer={APP_IP}:");
    assert!(seen.starts_with(&want), "{seen}");
    assert!(
        seen.ends_with("GET /hello HTTP/1.1 x-weft-route=outbound-8080"),
        "the backend must see the route's header: {seen}"
    );

    // (b) Other TCP: no listener for 7777, so virtualOutbound's PassthroughCluster connects to
    // the original destination itself.
    let reply = lab.role(&app, &["echo-client", &echo_addr, "through-passthrough"]);
    assert_eq!(reply, ["echoed through-passthrough"]);
    let seen = echo.next("echo server");
    assert!(
        seen.starts_with(&format!("accepted peer={APP_IP}:")),
        "{seen}"
    );

    // (c) Inbound: the host calls the app's port 9080; captured to 15006, `inbound|9080||`.
    let reply = lab.role(&host, &["http-get", &format!("{APP_IP}:9080"), "/inbound"]);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("status 200"),
        "{reply:?}"
    );
    assert!(reply.contains(&"body app".to_string()), "{reply:?}");
    let route_header = "header x-weft-route: inbound-9080".to_string();
    assert!(
        reply.contains(&route_header),
        "not via the proxy: {reply:?}"
    );
    let seen = app_server.next("app");
    assert!(seen.starts_with("request peer=127.0.0.1:"), "{seen}");
    assert!(seen.contains("GET /inbound HTTP/1.1"), "{seen}");

    // (d) The admin API accounts for each path.
    let stats = stats(&lab);
    for (name, want) in [
        ("listener.0.0.0.0_8080.downstream_cx_total", 1),
        ("cluster.outbound|8080||backend.host.upstream_rq_total", 1),
        ("cluster.PassthroughCluster.upstream_cx_total", 1),
        ("listener.0.0.0.0_15006.downstream_cx_total", 1),
        ("cluster.inbound|9080||.upstream_rq_total", 1),
    ] {
        assert_eq!(
            stats.get(name),
            Some(&want),
            "{name} in /stats:\n{stats:#?}"
        );
    }
    let clusters = admin_body(&lab, "/clusters");
    for line in [
        format!("PassthroughCluster::{echo_addr}::cx_total::1"),
        format!("outbound|8080||backend.host::{backend_addr}::rq_total::1"),
        "inbound|9080||::127.0.0.1:9080::rq_total::1".to_string(),
    ] {
        assert!(
            clusters.contains(&line),
            "{line} not in /clusters:\n{clusters}"
        );
    }
}

/// Writes the bootstrap and starts the proxy; returns once its admin API says it is ready.
fn start_proxy(lab: &mut Lab) {
    let template = include_str!("netns/sidecar.yaml");
    let bootstrap = template
        .replace("BACKEND_IP", HOST_IP)
        .replace("BACKEND_PORT", &BACKEND_PORT.to_string());
    let (file, log) = (lab.dir.join("sidecar.yaml"), lab.dir.join("proxy.log"));
    std::fs::write(&file, bootstrap).expect("write bootstrap");
    lab.start_proxy(&file, &log);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = lab.proxy_exited() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("weft proxy exited ({status}):\n{text}");
        }
        let reply = lab.role(&lab.app, &["http-get", ADMIN, "/ready"]);
        let started = std::fs::read_to_string(&log).is_ok_and(|t| t.contains("proxy started"));
        if started && reply.first().map(String::as_str) == Some("status 200") {
            return;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "proxy not ready: {reply:?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An admin endpoint's body, read from inside the app namespace.
fn admin_body(lab: &Lab, path: &str) -> String {
    let reply = lab.role(&lab.app, &["http-get", ADMIN, path]);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("status 200"),
        "{path}: {reply:?}"
    );
    let body: Vec<&str> = reply
        .iter()
        .filter_map(|l| l.strip_prefix("body "))
        .collect();
    body.join("\n")
}

/// `/stats` as name → value.
fn stats(lab: &Lab) -> BTreeMap<String, i64> {
    admin_body(lab, "/stats")
        .lines()
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(": ")?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}
