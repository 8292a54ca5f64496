//! Data-plane resilience end to end on loopback: success-rate and failure-percentage
//! ejection, ejection time growing with repeated ejections, and the retry budget capping
//! retries during a total outage.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use weft_proxy::Proxy;

/// An HTTP listener whose only virtual host has `routes` (YAML list items, 14 spaces deep).
fn http_listener(port: u16, routes: &str) -> String {
    let filter = router_hcm("", routes.trim_end());
    listener("http", port, &filter)
}

fn route_to(cluster: &str) -> String {
    format!(
        "              - match: {{ prefix: \"/\" }}\n                route: {{ cluster: {cluster} }}\n"
    )
}

struct Pool {
    proxy: Proxy,
    addr: SocketAddr,
    /// The backends in endpoint order; the first is the misbehaving one.
    hits: Vec<Arc<Hits>>,
    addrs: Vec<SocketAddr>,
}

/// A round-robin cluster `pool` over one backend answering `bad(n)` and four answering 200,
/// with `outlier` as its `outlier_detection` (flow mapping body).
async fn pool(bad: fn(usize) -> u16, outlier: &str) -> Pool {
    let mut backends = vec![scripted_backend(bad, Duration::ZERO).await];
    for _ in 0..4 {
        backends.push(scripted_backend(|_| 200, Duration::ZERO).await);
    }
    pool_of(backends, outlier).await
}

async fn pool_of(backends: Vec<(SocketAddr, Arc<Hits>)>, outlier: &str) -> Pool {
    let (addrs, hits): (Vec<_>, Vec<_>) = backends.into_iter().unzip();
    let port = free_port();
    let extra = format!("    lb_policy: ROUND_ROBIN\n    outlier_detection: {{ {outlier} }}");
    let yaml = bootstrap(
        &[http_listener(port, &route_to("pool"))],
        &[cluster("pool", &addrs, &extra)],
    );
    Pool {
        proxy: proxy(&yaml).await,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        hits,
        addrs,
    }
}

impl Pool {
    async fn stat(&self, name: &str) -> i64 {
        admin_stat(&self.proxy, &format!("cluster.pool.{name}"))
            .await
            .unwrap_or(-1)
    }

    /// The `/clusters` health flags of backend `i`.
    async fn health(&self, i: usize) -> String {
        let prefix = format!("pool::{}::health_flags::", self.addrs[i]);
        admin(&self.proxy, "/clusters")
            .await
            .body
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .unwrap_or_default()
    }

    /// Drives load in batches until `stat` is at least 1 (at most 10 s); returns the batches
    /// sent.
    async fn load_until(&self, stat: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut batches = 0;
        while Instant::now() < deadline {
            burst(self.addr, "/", 60, 6).await;
            batches += 1;
            if self.stat(stat).await >= 1 {
                break;
            }
        }
        batches
    }

    /// While the first backend stays ejected, bounded traffic reaches only the others.
    async fn assert_bad_host_gets_nothing(&self) {
        let before: Vec<usize> = self.hits.iter().map(|h| h.count()).collect();
        let statuses = burst(self.addr, "/", 80, 4).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(self.hits[0].count(), before[0], "ejected host got requests");
        for (i, h) in self.hits.iter().enumerate().skip(1) {
            assert!(h.count() > before[i], "healthy backend {i} got none");
        }
        assert_eq!(self.health(0).await, "/failed_outlier_check");
    }
}

// Only the interval detectors may eject here: 5xx runs are never long on these hosts and
// consecutive-5xx enforcement is off. The long base ejection time keeps the host out for the
// rest of the test.
const RATE_ONLY: &str = "consecutive_5xx: 3, enforcing_consecutive_5xx: 0, interval: 0.5s, \
     base_ejection_time: 30s";

#[tokio::test]
async fn success_rate_ejects_the_host_failing_half_its_requests() {
    // Rates 50, 100, 100, 100, 100: mean 90, stdev 20, threshold 90 − 1.9 × 20 = 52.
    let p = pool(
        |n| if n % 2 == 1 { 503 } else { 200 },
        &format!("{RATE_ONLY}, success_rate_minimum_hosts: 5, success_rate_request_volume: 10"),
    )
    .await;
    let batches = p
        .load_until("outlier_detection.ejections_enforced_success_rate")
        .await;
    assert_eq!(
        p.stat("outlier_detection.ejections_enforced_success_rate")
            .await,
        1,
        "after {batches} batches"
    );
    assert_eq!(p.stat("outlier_detection.ejections_active").await, 1);
    assert_eq!(
        p.stat("outlier_detection.ejections_enforced_consecutive_5xx")
            .await,
        0
    );
    for i in 1..5 {
        assert_eq!(p.health(i).await, "healthy", "backend {i}");
    }
    p.assert_bad_host_gets_nothing().await;
}

#[tokio::test]
async fn failure_percentage_ejects_at_its_threshold_only() {
    // Backend 0 fails 40% of its requests, backend 1 fails 20%: with a 30% threshold and
    // every host ejectable, only backend 0 goes (in any window of 10 or more requests
    // backend 0 fails at least 33% and backend 1 at most 28%).
    let mut backends = vec![
        scripted_backend(|n| if n % 5 < 2 { 503 } else { 200 }, Duration::ZERO).await,
        scripted_backend(|n| if n % 5 == 0 { 503 } else { 200 }, Duration::ZERO).await,
    ];
    for _ in 0..3 {
        backends.push(scripted_backend(|_| 200, Duration::ZERO).await);
    }
    let p = pool_of(
        backends,
        &format!(
            "{RATE_ONLY}, enforcing_success_rate: 0, failure_percentage_threshold: 30, \
             enforcing_failure_percentage: 100, failure_percentage_request_volume: 10, \
             failure_percentage_minimum_hosts: 5, max_ejection_percent: 100"
        ),
    )
    .await;
    p.load_until("outlier_detection.ejections_enforced_failure_percentage")
        .await;
    // Two more intervals of load: backend 1 must still not qualify (and with backend 0 out,
    // fewer than the minimum hosts qualify at all).
    let until = Instant::now() + Duration::from_millis(1100);
    while Instant::now() < until {
        burst(p.addr, "/", 40, 4).await;
    }
    assert_eq!(
        p.stat("outlier_detection.ejections_enforced_failure_percentage")
            .await,
        1
    );
    assert_eq!(
        p.stat("outlier_detection.ejections_enforced_success_rate")
            .await,
        0
    );
    assert_eq!(p.health(0).await, "/failed_outlier_check");
    assert_eq!(p.health(1).await, "healthy");
    assert_eq!(p.stat("outlier_detection.ejections_active").await, 1);
}

/// The gaps between a host's consecutive requests while steady traffic flows (the first
/// `episodes` arrivals).
async fn arrival_gaps(p: &Pool, episodes: usize) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(8);
    while p.hits[0].count() < episodes && Instant::now() < deadline {
        let r = get(p.addr, "x", "/", &[]).await;
        assert!(r.status == 200 || r.status == 503, "{}", r.status);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let times = p.hits[0].times();
    assert!(times.len() >= episodes, "only {} arrivals", times.len());
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn a_host_ejected_again_stays_out_twice_as_long() {
    // Backend 0 always fails and one failure ejects it, so each of its requests starts an
    // ejection; under steady traffic the gap between its requests is the ejection time
    // (rounded up to the next sweep, plus the wait for the next request).
    let base = Duration::from_millis(500);
    let backends = vec![
        scripted_backend(|_| 503, Duration::ZERO).await,
        scripted_backend(|_| 200, Duration::ZERO).await,
    ];
    let p = pool_of(
        backends,
        "consecutive_5xx: 1, interval: 0.1s, base_ejection_time: 0.5s, max_ejection_time: 10s",
    )
    .await;
    let gaps = arrival_gaps(&p, 3).await;
    let (first, second) = (gaps[0], gaps[1]);
    // A sweep never returns a host early, so the lower bounds are exact; the upper ones
    // allow for the 100 ms sweep grid and a loaded machine.
    assert!(
        first >= base && first < base * 2,
        "first ejection {first:?}"
    );
    assert!(
        second >= base * 2 && second < base * 3,
        "second ejection {second:?}"
    );
    assert!(
        second.as_secs_f64() >= 1.5 * first.as_secs_f64(),
        "{first:?} then {second:?}"
    );
    assert_eq!(
        p.stat("outlier_detection.ejections_enforced_consecutive_5xx")
            .await,
        3
    );
}

/// A cluster of the single `backend` with one circuit-breaker threshold entry.
fn outage_cluster(name: &str, backend: SocketAddr, thresholds: &str) -> String {
    cluster(
        name,
        &[backend],
        &format!("    circuit_breakers: {{ thresholds: [ {{ {thresholds} }} ] }}"),
    )
}

/// A route retrying 5xx three times (four tries in all) with a 1 ms back-off.
fn retrying_route(prefix: &str, cluster: &str) -> String {
    format!(
        "              - match: {{ prefix: \"{prefix}\" }}\n                route:\n                  cluster: {cluster}\n                  retry_policy: {{ retry_on: 5xx, num_retries: 3, retry_back_off: {{ base_interval: 0.001s }} }}\n"
    )
}

#[tokio::test]
async fn retry_budget_keeps_a_total_outage_from_multiplying_load() {
    const REQUESTS: usize = 20;
    // Slow answers keep every first try in flight together, as in a real outage.
    let slow_503 = |_| 503;
    let (budgeted_addr, budgeted) = scripted_backend(slow_503, Duration::from_millis(100)).await;
    let (unbudgeted_addr, unbudgeted) =
        scripted_backend(slow_503, Duration::from_millis(100)).await;
    let port = free_port();
    // A max_retries this high never binds: without the budget every request is tried 4 times.
    let yaml = bootstrap(
        &[http_listener(
            port,
            &(retrying_route("/budget", "budgeted") + &retrying_route("/", "unbudgeted")),
        )],
        &[
            outage_cluster(
                "budgeted",
                budgeted_addr,
                "max_retries: 1000, retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 1 }",
            ),
            outage_cluster("unbudgeted", unbudgeted_addr, "max_retries: 1000"),
        ],
    );
    let p = proxy(&yaml).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let statuses = burst(addr, "/free", REQUESTS, REQUESTS).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert_eq!(
        unbudgeted.count(),
        REQUESTS * 4,
        "the control multiplies load"
    );

    let statuses = burst(addr, "/budget", REQUESTS, REQUESTS).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let upstream = budgeted.count();
    // 20 requests in flight allow 20% × 20 = 4 concurrent retries.
    assert!(
        (REQUESTS..REQUESTS * 2).contains(&upstream),
        "{upstream} upstream requests for {REQUESTS}"
    );
    let overflow = admin_stat(&p, "cluster.budgeted.upstream_rq_retry_overflow").await;
    let retries = admin_stat(&p, "cluster.budgeted.upstream_rq_retry").await;
    assert!(overflow.unwrap_or(0) > 0, "no retry overflow: {overflow:?}");
    assert_eq!(
        retries,
        Some((upstream - REQUESTS) as i64),
        "every granted retry reached the backend"
    );
    assert_eq!(
        admin_stat(&p, "cluster.unbudgeted.upstream_rq_retry_overflow").await,
        Some(0)
    );
}

#[tokio::test]
async fn a_lone_request_frees_its_retry_slot_before_the_next_retry() {
    // As in Envoy, a request's retry slot is given back when its retry fails, before the
    // next retry asks for one: max_retries 1 limits parallel retries, not a request's tries.
    let (backend, hits) = scripted_backend(|_| 503, Duration::ZERO).await;
    let port = free_port();
    let yaml = bootstrap(
        &[http_listener(port, &retrying_route("/", "single"))],
        &[outage_cluster("single", backend, "max_retries: 1")],
    );
    let p = proxy(&yaml).await;
    let r = get(SocketAddr::from(([127, 0, 0, 1], port)), "x", "/", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(hits.count(), 4, "1 try and 3 retries");
    let stat = |n: &'static str| admin_stat(&p, n);
    assert_eq!(stat("cluster.single.upstream_rq_retry").await, Some(3));
    assert_eq!(
        stat("cluster.single.upstream_rq_retry_overflow").await,
        Some(0)
    );
    assert_eq!(
        stat("cluster.single.upstream_rq_retry_limit_exceeded").await,
        Some(1)
    );
}

/// With `split_external_local_origin_errors`, connection failures are local-origin results:
/// the local-origin success-rate detector ejects a host that refuses every connection, while the
/// external detector (which never sees a response from it) and the consecutive local-origin
/// detector (enforcement off) do not.
#[tokio::test]
async fn local_origin_success_rate_ejects_a_host_that_refuses_connections() {
    let refusing: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut backends = vec![(refusing, Arc::new(Hits::default()))];
    for _ in 0..4 {
        backends.push(scripted_backend(|_| 200, Duration::ZERO).await);
    }
    // Local-origin rates 0, 100, 100, 100, 100: mean 80, stdev 40, threshold 80 − 1.9 × 40 = 4.
    let p = pool_of(
        backends,
        &format!(
            "{RATE_ONLY}, split_external_local_origin_errors: true, \
             enforcing_consecutive_local_origin_failure: 0, \
             success_rate_minimum_hosts: 5, success_rate_request_volume: 10"
        ),
    )
    .await;
    let batches = p
        .load_until("outlier_detection.ejections_enforced_local_origin_success_rate")
        .await;
    let stat = |name: &'static str| p.stat(name);
    assert_eq!(
        stat("outlier_detection.ejections_enforced_local_origin_success_rate").await,
        1,
        "after {batches} batches"
    );
    assert_eq!(
        stat("outlier_detection.ejections_enforced_success_rate").await,
        0
    );
    assert_eq!(
        stat("outlier_detection.ejections_enforced_consecutive_local_origin_failure").await,
        0
    );
    assert_eq!(stat("outlier_detection.ejections_active").await, 1);
    assert_eq!(p.health(0).await, "/failed_outlier_check");
    // Ejected, the refusing host is no longer chosen: every request now succeeds.
    let statuses = burst(p.addr, "/", 80, 4).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
