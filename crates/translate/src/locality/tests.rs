use weft_config::model::networking::traffic_policy::LocalityFailover;
use weft_xds::pb::envoy::config::endpoint::v3::LocalityLbEndpoints;

use super::*;

/// An assignment with one group per locality, each of `weight`.
fn assignment(localities: &[(&str, u32)]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: "c".into(),
        endpoints: localities
            .iter()
            .map(|(l, w)| LocalityLbEndpoints {
                locality: Some(parse(l)),
                load_balancing_weight: Some(u32v(*w)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn priorities(la: &ClusterLoadAssignment) -> Vec<u32> {
    la.endpoints.iter().map(|e| e.priority).collect()
}

fn weights(la: &ClusterLoadAssignment) -> Vec<(String, u32)> {
    la.endpoints
        .iter()
        .map(|e| {
            let l = e.locality.clone().unwrap_or_default();
            let w = e.load_balancing_weight.as_ref().map_or(0, |w| w.value);
            (format!("{}/{}/{}", l.region, l.zone, l.sub_zone), w)
        })
        .collect()
}

const LOCALITIES: [(&str, u32); 5] = [
    ("r1/z1/s1", 1),
    ("r1/z1/s2", 1),
    ("r1/z2/s1", 1),
    ("r2/z3/s1", 1),
    ("r3/z4/s1", 1),
];

#[test]
fn failover_orders_localities_by_closeness_and_named_regions() {
    let setting = LocalityLbSetting {
        failover: vec![LocalityFailover {
            from: Some("r1".into()),
            to: Some("r2".into()),
        }],
        ..Default::default()
    };
    let mut la = assignment(&LOCALITIES);
    assert!(!apply(&setting, &parse("r1/z1/s1"), true, &mut la));
    assert_eq!(priorities(&la), [0, 1, 2, 3, 4]);
}

#[test]
fn failover_priorities_have_no_gaps() {
    // No sub-zone peer and no failover rule: raw priorities 0, 2, 4 become 0, 1, 2.
    let mut la = assignment(&[("r1/z1/s1", 1), ("r1/z2/s1", 1), ("r3/z4/s1", 1)]);
    apply(
        &LocalityLbSetting::default(),
        &parse("r1/z1/s1"),
        true,
        &mut la,
    );
    assert_eq!(priorities(&la), [0, 1, 2]);
}

#[test]
fn failover_needs_outlier_detection() {
    let mut la = assignment(&LOCALITIES);
    apply(
        &LocalityLbSetting::default(),
        &parse("r1/z1/s1"),
        false,
        &mut la,
    );
    assert_eq!(priorities(&la), [0, 0, 0, 0, 0]);
}

#[test]
fn failover_priority_replaces_locality_failover() {
    let setting = LocalityLbSetting {
        failover_priority: vec!["topology.istio.io/network".into()],
        ..Default::default()
    };
    let mut la = assignment(&LOCALITIES);
    apply(&setting, &parse("r1/z1/s1"), true, &mut la);
    assert_eq!(priorities(&la), [0, 0, 0, 0, 0]);
}

#[test]
fn disabled_setting_is_no_setting_and_the_mesh_default_is_failover() {
    let off = LocalityLbSetting {
        enabled: Some(false),
        ..Default::default()
    };
    assert_eq!(effective(Some(&off), None), None);
    assert_eq!(effective(None, None), Some(LocalityLbSetting::default()));
    let mesh_off = serde_json::json!({"enabled": false});
    assert_eq!(effective(None, Some(&mesh_off)), None);
    let rule = LocalityLbSetting {
        enabled: Some(true),
        ..Default::default()
    };
    assert_eq!(effective(Some(&rule), Some(&mesh_off)), Some(rule.clone()));
}

fn distribution(from: &str, to: &[(&str, u32)]) -> LocalityLbSetting {
    LocalityLbSetting {
        distribute: vec![LocalityDistribute {
            from: Some(from.into()),
            to: to.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }],
        ..Default::default()
    }
}

#[test]
fn distribute_sets_weights_and_drops_unnamed_localities() {
    let setting = distribution("r1/z1/*", &[("r1/z1/*", 80), ("r2/*", 20)]);
    let mut la = assignment(&[
        ("r1/z1/s1", 1),
        ("r1/z1/s2", 3),
        ("r2/z3/s1", 2),
        ("r3/z4/s1", 1),
    ]);
    // Without outlier detection: weights do not need it.
    assert!(apply(&setting, &parse("r1/z1/s9"), false, &mut la));
    assert_eq!(
        weights(&la),
        [
            ("r1/z1/s1".to_string(), 20),
            ("r1/z1/s2".to_string(), 60),
            ("r2/z3/s1".to_string(), 20),
        ]
    );
    assert_eq!(priorities(&la), [0, 0, 0]);
}

#[test]
fn distribute_applies_only_to_clients_its_from_matches() {
    let setting = distribution("r2/*", &[("r2/*", 100)]);
    let mut la = assignment(&LOCALITIES);
    assert!(!apply(&setting, &parse("r1/z1/s1"), true, &mut la));
    assert_eq!(la.endpoints.len(), 5);
    assert_eq!(priorities(&la), [0, 0, 0, 0, 0]);
}

#[test]
fn rule_localities_match_with_wildcards_and_missing_parts() {
    let l = parse("r1/z1/s1");
    assert!(matches(&l, "r1"));
    assert!(matches(&l, "r1/*"));
    assert!(matches(&l, "*/z1/s1"));
    assert!(matches(&l, "r1/z1/s1"));
    assert!(!matches(&l, "r1/z2"));
    assert!(!matches(&l, "r2/*"));
}

fn endpoint(labels: &[(&str, &str)], locality: &str, network: Option<&str>) -> Endpoint {
    Endpoint {
        address: "10.0.0.1".into(),
        service_port: 80,
        port: 80,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        service_account: None,
        locality: Some(locality.into()),
        network: network.map(str::to_string),
        weight: None,
        healthy: true,
    }
}

fn client() -> ProxyView {
    ProxyView {
        kind: crate::ProxyKind::Sidecar,
        namespace: "default".into(),
        labels: [("rack".to_string(), "a".to_string())].into(),
        proxyless: false,
        inbound: Vec::new(),
        capture: crate::Capture::Redirect,
        locality: Some("r1/z1/s1".into()),
    }
}

#[test]
fn failover_priority_counts_the_labels_left_after_the_first_mismatch() {
    let keys: Vec<String> = ["topology.kubernetes.io/region", "rack", "tier=gold"]
        .map(String::from)
        .to_vec();
    let view = client();
    let all = endpoint(&[("rack", "a"), ("tier", "gold")], "r1/z9", None);
    let two = endpoint(&[("rack", "a"), ("tier", "silver")], "r1/z9", None);
    let one = endpoint(&[("rack", "b"), ("tier", "gold")], "r1/z9", None);
    let none = endpoint(&[("rack", "a"), ("tier", "gold")], "r2/z1", None);
    assert_eq!(label_priority(&keys, &view, &all), 0);
    assert_eq!(label_priority(&keys, &view, &two), 1);
    // A mismatch on `rack` ends the count even though `tier` matches.
    assert_eq!(label_priority(&keys, &view, &one), 2);
    assert_eq!(label_priority(&keys, &view, &none), 3);
}

#[test]
fn failover_priority_reads_the_network_of_endpoints_and_the_label_of_the_proxy() {
    let keys = vec!["topology.istio.io/network".to_string()];
    let mut view = client();
    let net1 = endpoint(&[], "r1/z1", Some("net1"));
    // The proxy names no network: nothing matches.
    assert_eq!(label_priority(&keys, &view, &net1), 1);
    view.labels
        .insert("topology.istio.io/network".into(), "net1".into());
    assert_eq!(label_priority(&keys, &view, &net1), 0);
    assert_eq!(
        label_priority(&keys, &view, &endpoint(&[], "r1/z1", Some("net2"))),
        1
    );
}
