//! The seeds' traffic-management scenarios on a real local mesh (`weft up`, capture mode
//! `none`): the control plane, the ingress gateway, Bookinfo's six workloads and their
//! sidecars as real processes. Requests go in through the gateway or, as an app would send
//! them, through a workload's sidecar HTTP proxy listener; assertions are on what comes back
//! (which reviews version answered, status codes, timing). The mesh is started once; the
//! scenarios of examples/traffic are applied one after another by adding files to its config
//! directory, which the control plane watches (circuit breaking and sticky sessions among
//! them, each adding a DestinationRule merged with Bookinfo's). Then the security scenarios: auto mTLS between
//! sidecars, STRICT refusing plaintext, and an AuthorizationPolicy on the caller's identity.
//! At the end SIGTERM must stop every process.

mod mesh;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mesh::{Mesh, Reply, get, leftovers};

/// productpage-v1-0's sidecar (instances are numbered in a stable order; see docs/local-mode.md).
const PRODUCTPAGE_PROXY: &str = "127.10.0.2:15080";
/// reviews-v2-0's sidecar.
const REVIEWS_V2_PROXY: &str = "127.10.0.5:15080";
const GATEWAY: &str = "127.0.0.1:8080";
/// reviews-v2-0's inbound port (its sidecar, bound on the pod IP) and admin API.
const REVIEWS_V2_INBOUND: &str = "127.10.0.5:9080";
const REVIEWS_V2_ADMIN: &str = "127.10.0.5:15000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// GET through a sidecar's HTTP proxy listener.
fn via(proxy: &str, authority: &str, path: &str, headers: &[(&str, &str)]) -> Option<Reply> {
    get(addr(proxy), Some(authority), path, headers)
}

/// The version of reviews that answered, from productpage's point of view.
fn reviews_version(headers: &[(&str, &str)], path: &str) -> String {
    let r = via(PRODUCTPAGE_PROXY, "reviews:9080", path, headers).expect("reviews answered");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("reviews JSON");
    v["version"].as_str().unwrap_or_default().to_string()
}

/// Shares of each reviews version over `n` requests.
fn distribution(n: usize) -> std::collections::BTreeMap<String, f64> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        *counts
            .entry(reviews_version(&[], "/reviews/0"))
            .or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .map(|(k, c)| (k, c as f64 / n as f64))
        .collect()
}

/// Polls `check` (config takes a moment to reach the proxies) for up to 20 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not observed within 20 s");
}

fn assert_share(shares: &std::collections::BTreeMap<String, f64>, version: &str, want: f64) {
    let got = shares.get(version).copied().unwrap_or(0.0);
    assert!(
        (got - want).abs() <= 0.05,
        "reviews {version}: {got:.3} of requests, want {want} ± 0.05 ({shares:?})"
    );
}

fn product_page(mesh: &Mesh) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get(addr(GATEWAY), None, "/productpage", &[]) {
            Some(r) if r.status == 200 && !r.body.contains("Error fetching") => {
                assert!(r.body.contains("The Comedy of Errors"), "{}", r.body);
                assert!(r.body.contains("Reviewer1"), "{}", r.body);
                return;
            }
            other if Instant::now() > deadline => {
                panic!(
                    "product page not served: {other:?}\n{}",
                    mesh.seen.join("\n")
                )
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn routing_scenarios(mesh: &Mesh) {
    mesh.apply_scenarios(&["route-all-v1"]);
    eventually("route-all-v1", || {
        (0..20).all(|_| reviews_version(&[], "/reviews/0") == "v1")
    });
    assert!((0..100).all(|_| reviews_version(&[], "/reviews/0") == "v1"));

    mesh.apply_scenarios(&["route-jason-v2"]);
    let jason = [("end-user", "jason")];
    eventually("route-jason-v2", || {
        reviews_version(&jason, "/reviews/0") == "v2"
    });
    assert!((0..50).all(|_| reviews_version(&jason, "/reviews/0") == "v2"));
    assert!((0..50).all(|_| reviews_version(&[("end-user", "kim")], "/reviews/0") == "v1"));

    mesh.apply_scenarios(&["route-query-test-v2"]);
    eventually("route-query-test-v2", || {
        reviews_version(&[], "/reviews/0?test-v2=true") == "v2"
    });
    assert!((0..50).all(|_| reviews_version(&[], "/reviews/0?test-v2=true") == "v2"));
    assert!((0..50).all(|_| reviews_version(&[], "/reviews/0") == "v1"));
}

fn canary_scenarios(mesh: &Mesh) {
    mesh.apply_scenarios(&["canary-10-10-80"]);
    eventually("canary-10-10-80", || {
        (0..30).any(|_| reviews_version(&[], "/reviews/0") == "v3")
    });
    let shares = distribution(1000);
    assert_share(&shares, "v1", 0.10);
    assert_share(&shares, "v2", 0.10);
    assert_share(&shares, "v3", 0.80);

    mesh.apply_scenarios(&["canary-50-v3"]);
    eventually("canary-50-v3", || {
        (0..30).all(|_| reviews_version(&[], "/reviews/0") != "v2")
    });
    let shares = distribution(1000);
    assert_share(&shares, "v1", 0.50);
    assert_share(&shares, "v3", 0.50);
}

/// 1,000 calls to ratings from reviews-v2's sidecar, 200 at a time (10% are delayed 5 s).
fn ratings_statuses() -> Vec<u16> {
    ratings_statuses_burst(200, 5)
}

fn fault_scenarios(mesh: &Mesh) {
    mesh.apply_scenarios(&["ratings-abort-30"]);
    eventually("ratings-abort-30", || {
        (0..40).any(|_| {
            via(REVIEWS_V2_PROXY, "ratings:9080", "/ratings/0", &[])
                .is_some_and(|r| r.status == 400)
        })
    });
    let statuses = ratings_statuses();
    let aborted = statuses.iter().filter(|s| **s == 400).count() as f64 / statuses.len() as f64;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (aborted - 0.30).abs() <= 0.05,
        "aborted {aborted:.3}, want 0.30 ± 0.05"
    );
    assert_eq!(
        ok + statuses.iter().filter(|s| **s == 400).count(),
        statuses.len(),
        "{statuses:?}"
    );

    // 7 s delay for jason only; reviews' 0.5 s timeout then turns that into a 504 quickly.
    mesh.apply_scenarios(&["ratings-delay-jason", "reviews-timeout"]);
    let jason = [("end-user", "jason")];
    eventually("reviews-timeout", || {
        let started = Instant::now();
        let r = via(PRODUCTPAGE_PROXY, "reviews:9080", "/reviews/0", &jason);
        r.is_some_and(|r| r.status == 504) && started.elapsed() < Duration::from_millis(1500)
    });
    let started = Instant::now();
    let r = via(REVIEWS_V2_PROXY, "ratings:9080", "/ratings/0", &jason).expect("ratings");
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(12),
        "took {took:?}"
    );
    let started = Instant::now();
    let r = via(REVIEWS_V2_PROXY, "ratings:9080", "/ratings/0", &[]).expect("ratings");
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "others are not delayed"
    );
}

/// Circuit breaking (the excess of one connection and one pending request gets 503 at once)
/// and sticky sessions by a consistent hash of `end-user`.
fn resilience_scenarios(mesh: &Mesh) {
    mesh.apply_scenarios(&["ratings-circuit-breaker"]);
    eventually("ratings-circuit-breaker", || {
        stat_sum(
            REVIEWS_V2_ADMIN,
            "ratings.default.svc.cluster.local.upstream_rq_pending_overflow",
        ) > 0
            || ratings_statuses_burst(40, 5).contains(&503)
    });
    let statuses = ratings_statuses_burst(40, 5);
    let (ok, shed) = (
        statuses.iter().filter(|s| **s == 200).count(),
        statuses.iter().filter(|s| **s == 503).count(),
    );
    assert!(
        ok > 0 && shed > 0,
        "some served, some shed: {ok} ok, {shed} 503"
    );
    assert_eq!(ok + shed, statuses.len(), "{statuses:?}");
    assert!(stat_sum(REVIEWS_V2_ADMIN, "upstream_rq_pending_overflow") > 0);

    mesh.apply_scenarios(&["reviews-sticky-user"]);
    let users: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    let version_of = |user: &str| reviews_version(&[("end-user", user)], "/reviews/0");
    eventually("reviews-sticky-user", || {
        users.iter().all(|u| {
            (0..4)
                .map(|_| version_of(u))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                == 1
        })
    });
    let mut seen = std::collections::BTreeSet::new();
    for user in &users {
        let versions: std::collections::BTreeSet<String> =
            (0..8).map(|_| version_of(user)).collect();
        assert_eq!(
            versions.len(),
            1,
            "{user} stays on one version: {versions:?}"
        );
        seen.extend(versions);
    }
    assert!(seen.len() >= 2, "users spread over versions: {seen:?}");
}

/// `threads` concurrent callers, `each` calls of ratings from reviews-v2's sidecar.
fn ratings_statuses_burst(threads: usize, each: usize) -> Vec<u16> {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                (0..each)
                    .map(|_| {
                        via(REVIEWS_V2_PROXY, "ratings:9080", "/ratings/0", &[])
                            .map_or(0, |r| r.status)
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect()
}

/// REGISTRY_ONLY with a ServiceEntry: the registered external host answers, others get 502.
fn egress_scenario(mesh: &Mesh) {
    mesh.apply_scenarios(&["egress-registry-only"]);
    eventually("egress-registry-only", || {
        via(PRODUCTPAGE_PROXY, "books.example.com", "/details/0", &[])
            .is_some_and(|r| r.status == 200)
    });
    let r = via(PRODUCTPAGE_PROXY, "books.example.com", "/details/0", &[]).expect("answer");
    assert!(
        r.body.contains("ISBN") || r.body.contains("isbn"),
        "{}",
        r.body
    );
    let r = via(PRODUCTPAGE_PROXY, "example.org", "/", &[]).expect("answer");
    assert_eq!(r.status, 502, "an unregistered host is refused: {}", r.body);
}

/// The sum of every counter of a sidecar's `/stats` whose name ends with `suffix`.
fn stat_sum(admin: &str, suffix: &str) -> u64 {
    let r = get(addr(admin), None, "/stats", &[]).expect("admin /stats");
    r.body
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(name, _)| name.ends_with(suffix))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// Auto mTLS between sidecars by default; STRICT refuses plaintext from outside the mesh
/// while mesh traffic keeps working; AuthorizationPolicy on the caller's mTLS identity.
fn security_scenarios(mesh: &Mesh) {
    // PERMISSIVE (the default): a plaintext client outside the mesh still gets an answer...
    let direct = get(addr(REVIEWS_V2_INBOUND), None, "/reviews/0", &[]).expect("plaintext");
    assert_eq!(direct.status, 200, "{}", direct.body);
    // ...and sidecars talk mTLS to each other (auto mTLS): reviews-v2's sidecar terminated
    // TLS handshakes from its callers.
    for _ in 0..5 {
        let _ = via(PRODUCTPAGE_PROXY, "reviews:9080", "/reviews/0", &[]);
    }
    let handshakes = stat_sum(REVIEWS_V2_ADMIN, "ssl.handshake");
    assert!(handshakes > 0, "no TLS handshakes on reviews-v2's sidecar");

    mesh.apply_scenarios(&["mtls-strict"]);
    eventually("STRICT refuses plaintext", || {
        get(addr(REVIEWS_V2_INBOUND), None, "/reviews/0", &[]).is_none()
    });
    product_page(mesh);

    // A policy added while the mesh runs reaches connections the sidecars already pool (they
    // are drained once their listener is replaced).
    mesh.apply_scenarios(&["mtls-strict", "ratings-allow-reviews-only"]);
    eventually("productpage's identity is denied by ratings", || {
        via(PRODUCTPAGE_PROXY, "ratings:9080", "/ratings/0", &[]).is_some_and(|r| r.status == 403)
    });
    let denied = via(PRODUCTPAGE_PROXY, "ratings:9080", "/ratings/0", &[]).expect("403");
    assert!(
        denied.body.contains("RBAC: access denied"),
        "{}",
        denied.body
    );
    let allowed = via(REVIEWS_V2_PROXY, "ratings:9080", "/ratings/0", &[]).expect("ratings");
    assert_eq!(
        allowed.status, 200,
        "reviews may call ratings: {}",
        allowed.body
    );
}

#[test]
fn bookinfo_scenarios_in_a_local_mesh() {
    let mesh = Mesh::start("scenarios");
    product_page(&mesh);
    routing_scenarios(&mesh);
    canary_scenarios(&mesh);
    fault_scenarios(&mesh);
    resilience_scenarios(&mesh);
    egress_scenario(&mesh);
    security_scenarios(&mesh);
    mesh.apply_scenarios(&[]);
    product_page(&mesh);
    mesh.stop();
    let left = leftovers();
    assert!(left.is_empty(), "processes left behind: {left:#?}");
}
