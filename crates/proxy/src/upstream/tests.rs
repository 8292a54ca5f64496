//! Upstream state without the network: picks over priorities, ejection, permits, ORIGINAL_DST
//! host creation.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_proxy_config::runtime::Snapshot;

use super::*;

fn snapshot(yaml_cluster: &str) -> Snapshot {
    let yaml = format!("static_resources:\n  clusters:\n{yaml_cluster}");
    weft_proxy_config::bootstrap::load_str("t.yaml", &yaml)
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

fn cluster(yaml_cluster: &str) -> Arc<UpstreamCluster> {
    let stats = Stats::default();
    let snap = snapshot(yaml_cluster);
    let built = build_clusters(&snap, None, &stats, &Default::default());
    built.into_values().next().unwrap()
}

fn endpoints(eps: &[(&str, u32)]) -> String {
    eps.iter()
        .map(|(a, prio)| {
            let (ip, port) = a.split_once(':').unwrap();
            format!(
                "      - priority: {prio}\n        lb_endpoints:\n        - endpoint: {{ address: {{ socket_address: {{ address: {ip}, port_value: {port} }} }} }}\n"
            )
        })
        .collect()
}

fn static_cluster(extra: &str, eps: &[(&str, u32)]) -> String {
    format!(
        "  - name: c\n    type: STATIC\n{extra}    load_assignment:\n      cluster_name: c\n      endpoints:\n{}",
        endpoints(eps)
    )
}

fn picks(c: &UpstreamCluster, n: usize, ctx: &PickContext<'_>) -> Vec<SocketAddr> {
    (0..n).map(|_| c.pick(ctx).unwrap().addr).collect()
}

#[test]
fn ring_hash_sends_the_same_hash_to_the_same_host() {
    let c = cluster(&static_cluster(
        "    lb_policy: RING_HASH\n",
        &[("10.0.0.1:80", 0), ("10.0.0.2:80", 0), ("10.0.0.3:80", 0)],
    ));
    let mut seen = std::collections::BTreeSet::new();
    for h in 0..200u64 {
        let hash = weft_proxy_config::lb::xxhash::xxh64(&h.to_le_bytes(), 0);
        let ctx = PickContext {
            hash: Some(hash),
            ..Default::default()
        };
        let first = c.pick(&ctx).unwrap().addr;
        assert!(picks(&c, 5, &ctx).iter().all(|a| *a == first));
        seen.insert(first);
        // With the owner avoided, the next host on the ring answers.
        let avoid = [first];
        let other = c
            .pick(&PickContext {
                avoid: &avoid,
                ..ctx
            })
            .unwrap()
            .addr;
        assert_ne!(other, first);
    }
    assert_eq!(seen.len(), 3, "hashes spread over every host");
}

#[test]
fn maglev_is_consistent_per_hash() {
    let c = cluster(&static_cluster(
        "    lb_policy: MAGLEV\n    maglev_lb_config: { table_size: 251 }\n",
        &[("10.0.0.1:80", 0), ("10.0.0.2:80", 0)],
    ));
    let ctx = PickContext {
        hash: Some(42),
        ..Default::default()
    };
    let first = c.pick(&ctx).unwrap().addr;
    assert!(picks(&c, 20, &ctx).iter().all(|a| *a == first));
}

fn eject(c: &UpstreamCluster, addr: &str) {
    let h = c
        .hosts()
        .into_iter()
        .find(|h| h.addr.to_string() == addr)
        .unwrap();
    lock(&h.outlier).eject(Instant::now());
    h.ejected.store(true, Ordering::Relaxed);
}

#[test]
fn priorities_fail_over_and_panic_picks_among_all() {
    let c = cluster(&static_cluster(
        "",
        &[("10.0.0.1:80", 0), ("10.0.0.2:80", 0), ("10.0.1.1:80", 1)],
    ));
    let p0 = picks(&c, 50, &PickContext::default());
    assert!(p0.iter().all(|a| a.ip().to_string().starts_with("10.0.0.")));
    eject(&c, "10.0.0.1:80");
    eject(&c, "10.0.0.2:80");
    let p1 = picks(&c, 20, &PickContext::default());
    assert!(p1.iter().all(|a| a.to_string() == "10.0.1.1:80"), "{p1:?}");
    eject(&c, "10.0.1.1:80");
    // Nothing usable: panic on priority 0, all its hosts again.
    let all = picks(&c, 50, &PickContext::default());
    assert!(
        all.iter()
            .all(|a| a.ip().to_string().starts_with("10.0.0."))
    );
}

#[test]
fn consecutive_5xx_ejects_and_sweep_returns_the_host() {
    let c = cluster(&static_cluster(
        "    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 0.2s, max_ejection_percent: 50 }\n",
        &[("10.0.0.1:80", 0), ("10.0.0.2:80", 0)],
    ));
    let bad = c.hosts()[0].clone();
    for _ in 0..2 {
        c.report(&bad, AttemptOutcome::Status(503));
    }
    assert!(!bad.is_ejected());
    c.report(&bad, AttemptOutcome::Status(500));
    assert!(bad.is_ejected());
    assert_eq!(bad.health_flags(), "/failed_outlier_check");
    assert_eq!(c.limits.stats.ejections_enforced_consecutive_5xx.get(), 1);
    assert!(
        picks(&c, 30, &PickContext::default())
            .iter()
            .all(|a| *a != bad.addr)
    );
    // 50% of 2 hosts: the second one may not be ejected too.
    let other = c.hosts()[1].clone();
    for _ in 0..3 {
        c.report(&other, AttemptOutcome::ConnectFailure);
    }
    assert!(!other.is_ejected());
    assert_eq!(c.limits.stats.ejections_overflow.get(), 1);
    let cfg = c.cfg.outlier.unwrap();
    let later = Instant::now() + Duration::from_millis(250);
    assert!(lock(&bad.outlier).sweep(&cfg, later));
}

#[test]
fn request_permits_overflow_at_max_requests() {
    let c = cluster(&static_cluster(
        "    circuit_breakers: { thresholds: [ { max_requests: 1 } ] }\n",
        &[("10.0.0.1:80", 0)],
    ));
    let held = c.request_permit().unwrap();
    assert_eq!(c.request_permit().unwrap_err(), Overflow);
    assert_eq!(c.limits.stats.upstream_rq_pending_overflow.get(), 1);
    drop(held);
    assert!(c.request_permit().is_ok());
    // Default max_retries is 3.
    let r: Vec<_> = (0..3).map(|_| c.retry_permit().unwrap()).collect();
    assert!(c.retry_permit().is_none());
    drop(r);
}

#[test]
fn original_dst_hosts_are_made_per_destination() {
    let c = cluster(
        "  - name: c\n    type: ORIGINAL_DST\n    lb_policy: CLUSTER_PROVIDED\n    cleanup_interval: 0.05s\n",
    );
    assert!(c.pick(&PickContext::default()).is_none());
    let a: SocketAddr = "10.1.2.3:8080".parse().unwrap();
    let b: SocketAddr = "10.1.2.4:9090".parse().unwrap();
    let ctx = |d| PickContext {
        original_dst: Some(d),
        ..Default::default()
    };
    let ha = c.pick(&ctx(a)).unwrap();
    assert_eq!(ha.addr, a);
    assert!(Arc::ptr_eq(&ha, &c.pick(&ctx(a)).unwrap()));
    assert_eq!(c.pick(&ctx(b)).unwrap().addr, b);
    assert_eq!(c.hosts().len(), 2);
    let od = c.original_dst.clone().unwrap();
    od.purge(Instant::now() + Duration::from_secs(1));
    assert!(c.hosts().is_empty());
}

#[test]
fn original_dst_map_is_bounded() {
    let od = original_dst::OriginalDstHosts::new(Duration::from_secs(5));
    let limits = Arc::new(Limits::default());
    for i in 0..(original_dst::MAX_HOSTS + 10) {
        let port = u16::try_from(1000 + i).unwrap();
        od.host(SocketAddr::from(([10, 0, 0, 1], port)), &limits)
            .unwrap();
    }
    assert_eq!(od.snapshot().len(), original_dst::MAX_HOSTS);
}

#[test]
fn hosts_survive_updates_that_keep_their_endpoint() {
    let stats = Stats::default();
    let one_locality = |a: &str, b: &str| {
        format!(
            "  - name: c\n    load_assignment:\n      endpoints:\n      - lb_endpoints:\n        - endpoint: {{ address: {{ socket_address: {{ address: {a}, port_value: 80 }} }} }}\n        - endpoint: {{ address: {{ socket_address: {{ address: {b}, port_value: 80 }} }} }}\n"
        )
    };
    let one = snapshot(&one_locality("10.0.0.1", "10.0.0.2"));
    let first = build_clusters(&one, None, &stats, &Default::default());
    let two = snapshot(&one_locality("10.0.0.2", "10.0.0.3"));
    let second = build_clusters(&two, Some(&first), &stats, &Default::default());
    let old = first["c"].hosts()[1].clone();
    let new = second["c"].hosts()[0].clone();
    assert!(Arc::ptr_eq(&old, &new));
    assert_eq!(stats.cluster("c").membership_total.get(), 2);
}

#[test]
fn eds_unhealthy_hosts_are_flagged_and_never_picked() {
    let c = cluster(
        "  - name: c\n    load_assignment:\n      endpoints:\n      - lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } }\n        - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 80 } } }\n          health_status: UNHEALTHY\n        - endpoint: { address: { socket_address: { address: 10.0.0.3, port_value: 80 } } }\n",
    );
    let flags: Vec<String> = c.hosts().iter().map(|h| h.health_flags()).collect();
    assert_eq!(flags, vec!["healthy", "/failed_eds_health", "healthy"]);
    let got = picks(&c, 60, &PickContext::default());
    assert!(
        got.iter().all(|a| a.to_string() != "10.0.0.2:80"),
        "{got:?}"
    );
}

#[test]
fn locality_weights_steer_traffic() {
    let c = cluster(
        "  - name: c\n    common_lb_config: { locality_weighted_lb_config: {} }\n    load_assignment:\n      endpoints:\n      - load_balancing_weight: 1\n        lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } }\n      - load_balancing_weight: 3\n        lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 80 } } }\n",
    );
    let got = picks(&c, 4000, &PickContext::default());
    let heavy = got
        .iter()
        .filter(|a| a.to_string() == "10.0.0.2:80")
        .count();
    let share = heavy as f64 / 4000.0;
    assert!((share - 0.75).abs() < 0.06, "{share}");
}

#[test]
fn uniform_clusters_round_robin_over_every_host_and_skip_unusable_ones() {
    let eps = [("10.0.0.1:80", 0), ("10.0.0.2:80", 0), ("10.0.0.3:80", 0)];
    let c = cluster(&static_cluster("", &eps));
    let ctx = PickContext::default();
    let mut first: Vec<SocketAddr> = picks(&c, 6, &ctx);
    assert_eq!(first[..3], first[3..], "round robin repeats with period 3");
    first.truncate(3);
    first.sort();
    let all: Vec<SocketAddr> = eps.iter().map(|(a, _)| a.parse().unwrap()).collect();
    assert_eq!(first, all, "every host in one period");
    eject(&c, "10.0.0.2:80");
    let after = picks(&c, 30, &ctx);
    assert!(
        !after.contains(&"10.0.0.2:80".parse().unwrap()),
        "{after:?}"
    );
    assert!(after.contains(&"10.0.0.1:80".parse().unwrap()));
    assert!(after.contains(&"10.0.0.3:80".parse().unwrap()));
}

#[test]
fn uniform_least_request_prefers_the_idle_host_and_honours_avoid() {
    let eps = [("10.0.0.1:80", 0), ("10.0.0.2:80", 0)];
    let c = cluster(&static_cluster("    lb_policy: LEAST_REQUEST\n", &eps));
    let busy = c
        .hosts()
        .into_iter()
        .find(|h| h.addr.to_string() == "10.0.0.1:80")
        .unwrap();
    busy.active_rq.store(50, Ordering::Relaxed);
    let idle: SocketAddr = "10.0.0.2:80".parse().unwrap();
    assert!(
        picks(&c, 20, &PickContext::default())
            .iter()
            .all(|a| *a == idle)
    );
    let avoid = [idle];
    let ctx = PickContext {
        avoid: &avoid,
        ..Default::default()
    };
    assert_eq!(
        c.pick(&ctx).unwrap().addr,
        busy.addr,
        "the avoided host is skipped"
    );
}
