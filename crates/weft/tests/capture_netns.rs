//! The sidecar's capture path for real: `weft iptables` (default flags) inside a network
//! namespace this test creates, and `weft proxy` as uid 1337 beside an app, with the static
//! listeners the control plane sends a sidecar (netns/sidecar.yaml). A veth pair joins the
//! app's namespace (10.78.0.1) to a "host" namespace (10.78.0.2) standing for everything
//! outside the pod. Checked: an app's HTTP call to a service VIP is captured to 15001 and
//! handed to the `0.0.0.0_8080` listener (SO_ORIGINAL_DST), other TCP falls through to
//! PassthroughCluster and reaches its real destination, and an inbound connection to 9080 is
//! captured to 15006 and reaches the app through `inbound|9080||`, one to an undeclared port
//! reaches the app through InboundPassthroughCluster from 127.0.0.6; the admin API's counters
//! confirm each path.
//!
//! Needs root, `ip`, `iptables`, `iptables-restore` and `setpriv`; otherwise prints
//! `SKIP: ...` (or fails when WEFT_REQUIRE_ALL_TESTS=1). The namespaces and every process are
//! removed when the test ends, pass or fail.

mod netns;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use netns::{APP_IP, HOST_IP, Lab, Running, WAIT, ok};

/// A service VIP: routable from the app, with nothing listening behind it.
const SERVICE_VIP: &str = "10.96.0.10:8080";
const BACKEND_PORT: u16 = 8000;
const ECHO_PORT: u16 = 7777;
/// A port the app serves that has no inbound chain (not declared in the Service).
const APP_EXTRA_PORT: u16 = 7070;
const ADMIN: &str = "127.0.0.1:15000";

/// Not a test: the program the lab runs inside a namespace (see netns/roles.rs).
#[test]
#[ignore = "run by capture_netns inside a network namespace"]
fn netns_role() {
    // Under a plain `--ignored` run there is no role: nothing to do.
    if let Ok(role) = std::env::var(netns::roles::ROLE_ENV) {
        netns::roles::run(&role);
    }
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
    // Default flags, as the injected init container runs it.
    lab.weft_in_app(&["iptables"]);
    let rules = ok(&["ip", "netns", "exec", &app, "iptables-save", "-t", "nat"]);
    assert!(rules.contains("-j ISTIO_REDIRECT"), "not applied:\n{rules}");

    let backend_addr = format!("{HOST_IP}:{BACKEND_PORT}");
    let echo_addr = format!("{HOST_IP}:{ECHO_PORT}");
    let backend = lab.serve(&host, &["http-server", "backend", &backend_addr]);
    let echo = lab.serve(&host, &["echo-server", &echo_addr]);
    let app_server = lab.serve(&app, &["http-server", "app", "127.0.0.1:9080"]);
    let app_echo_addr = format!("{APP_IP}:{APP_EXTRA_PORT}");
    let app_echo = lab.serve(&app, &["echo-server", &app_echo_addr]);
    start_proxy(&mut lab);

    outbound_http_is_handed_to_its_listener(&lab, &backend);
    other_tcp_goes_through_passthrough(&lab, &echo, &echo_addr);
    inbound_reaches_the_app(&lab, &app_server);
    inbound_without_a_chain_passes_through(&lab, &app_echo, &app_echo_addr);
    admin_counts_each_path(&lab, &backend_addr, &echo_addr);
}

/// (a) HTTP to a VIP: captured to 15001, handed to `0.0.0.0_8080` (SO_ORIGINAL_DST), routed
/// to the host's backend with the route's header.
fn outbound_http_is_handed_to_its_listener(lab: &Lab, backend: &Running) {
    let reply = lab.role(&lab.app, &["http-get", SERVICE_VIP, "/hello"]);
    assert_eq!(first(&reply), Some("status 200"), "{reply:?}");
    assert!(reply.contains(&"body backend".to_string()), "{reply:?}");
    let seen = backend.next("backend");
    let want = format!("request peer={APP_IP}:");
    assert!(seen.starts_with(&want), "{seen}");
    assert!(
        seen.ends_with("GET /hello HTTP/1.1 x-weft-route=outbound-8080"),
        "the backend must see the route's header: {seen}"
    );
}

/// (b) Other TCP: no listener for the echo port, so virtualOutbound's PassthroughCluster
/// connects to the original destination itself.
fn other_tcp_goes_through_passthrough(lab: &Lab, echo: &Running, echo_addr: &str) {
    let reply = lab.role(&lab.app, &["echo-client", echo_addr, "through-passthrough"]);
    assert_eq!(reply, ["echoed through-passthrough"]);
    let seen = echo.next("echo server");
    let want = format!("accepted peer={APP_IP}:");
    assert!(seen.starts_with(&want), "{seen}");
}

/// (c) Inbound: the host calls the pod's port 9080; captured to 15006, the `original_dst`
/// listener filter restores port 9080 for chain matching, `inbound|9080||` reaches the app.
fn inbound_reaches_the_app(lab: &Lab, app_server: &Running) {
    let to = format!("{APP_IP}:9080");
    let reply = lab.role(&lab.host, &["http-get", &to, "/inbound"]);
    assert_eq!(first(&reply), Some("status 200"), "{reply:?}");
    assert!(reply.contains(&"body app".to_string()), "{reply:?}");
    let route_header = "header x-weft-route: inbound-9080".to_string();
    assert!(
        reply.contains(&route_header),
        "not via the proxy: {reply:?}"
    );
    let seen = app_server.next("app");
    assert!(seen.starts_with("request peer=127.0.0.1:"), "{seen}");
    assert!(seen.contains("GET /inbound HTTP/1.1"), "{seen}");
}

/// (d) Inbound to a port without a chain: virtualInbound's default chain hands it to
/// InboundPassthroughCluster, which connects from 127.0.0.6 (`upstream_bind_config`) so the
/// capture rules let it reach the app instead of redirecting it to 15006 again.
fn inbound_without_a_chain_passes_through(lab: &Lab, app_echo: &Running, to: &str) {
    let reply = lab.role(&lab.host, &["echo-client", to, "inbound-passthrough"]);
    assert_eq!(reply, ["echoed inbound-passthrough"]);
    let seen = app_echo.next("app echo server");
    assert!(
        seen.starts_with("accepted peer=127.0.0.6:"),
        "not from the inbound passthrough source: {seen}"
    );
}

/// (e) The admin API accounts for each path exactly once.
fn admin_counts_each_path(lab: &Lab, backend_addr: &str, echo_addr: &str) {
    let stats = stats(lab);
    for (name, want) in [
        ("listener.0.0.0.0_8080.downstream_cx_total", 1),
        ("cluster.outbound|8080||backend.host.upstream_rq_total", 1),
        ("cluster.PassthroughCluster.upstream_cx_total", 1),
        ("listener.0.0.0.0_15006.downstream_cx_total", 2),
        ("listener.0.0.0.0_15006.no_filter_chain_match", 0),
        ("cluster.inbound|9080||.upstream_rq_total", 1),
        ("cluster.InboundPassthroughCluster.upstream_cx_total", 1),
    ] {
        assert_eq!(
            stats.get(name),
            Some(&want),
            "{name} in /stats:\n{stats:#?}"
        );
    }
    let clusters = admin_body(lab, "/clusters");
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

fn first(reply: &[String]) -> Option<&str> {
    reply.first().map(String::as_str)
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
        if started && first(&reply) == Some("status 200") {
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
    assert_eq!(first(&reply), Some("status 200"), "{path}: {reply:?}");
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
