//! The delta (incremental) ADS client against the in-process ADS server: wildcard CDS/LDS and
//! named EDS/RDS subscriptions, a bad cluster NACKed while the good one of the same response
//! is applied, a removal with its EDS unsubscription, and a reconnect that resumes from
//! `initial_resource_versions`.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use ads_server::AdsServer;
use ads_server::fixtures::{backend_of, bootstrap, eds_cluster, listener, route, wait_until};
use weft_xds::pack;
use weft_xds::pb::envoy::config::cluster::v3 as cl;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::service::discovery::v3::DeltaDiscoveryRequest;
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

type Resources = Vec<(String, String, Any)>;

/// A STRICT_DNS cluster without `load_assignment`: rejected by the proxy.
fn bad_cluster() -> (String, String, Any) {
    bad_cluster_named("bad")
}

fn bad_cluster_named(name: &str) -> (String, String, Any) {
    let c = cl::Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cl::cluster::ClusterDiscoveryType::Type(
            cl::cluster::DiscoveryType::StrictDns as i32,
        )),
        ..Default::default()
    };
    (type_url::CLUSTER.into(), name.into(), pack(&c))
}

fn config(port: u16, route_to: &str, clusters: &[(&str, SocketAddr)]) -> Resources {
    let mut v = vec![
        listener("l1", port, pack(&Router::default())),
        route(route_to),
    ];
    for (name, backend) in clusters {
        v.extend(eds_cluster(name, *backend));
    }
    v
}

async fn ads_status(proxy: &weft_proxy::Proxy) -> serde_json::Value {
    common::admin(proxy, "/debug/ads").await.json()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().into()).collect(),
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => panic!("not a list: {v}"),
    }
}

fn of_type(requests: &[DeltaDiscoveryRequest], url: &str) -> Vec<DeltaDiscoveryRequest> {
    requests
        .iter()
        .filter(|r| r.type_url == url)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_ads_subscribes_nacks_removes_and_resumes() {
    let one = common::backend("one").await;
    let two = common::backend("two").await;
    let port = common::free_port();
    let server = AdsServer::start(([127, 0, 0, 1], 0).into(), None).await;
    let ads_addr = server.addr;
    server.shared.set("1", config(port, "c1", &[("c1", one)]));
    let proxy = common::proxy(&bootstrap(ads_addr, "DELTA_GRPC")).await;

    check_initial(&server, &proxy, port).await;
    check_nack(&server, &proxy, port, one, two).await;
    check_removal(&server, &proxy, port, two).await;
    let good_c2 = check_bad_update_keeps_serving(&server, &proxy, port, two).await;
    check_resume(server, &proxy, ads_addr, port, good_c2).await;
}

/// Wildcard CDS first (with the node), EDS by name, no state-of-the-world stream.
async fn check_initial(server: &AdsServer, proxy: &weft_proxy::Proxy, port: u16) {
    wait_until("traffic to backend one", || async {
        backend_of(port).await.as_deref() == Ok("one")
    })
    .await;
    assert!(server.shared.requests().is_empty(), "no SotW requests");
    let reqs = server.shared.delta_requests();
    assert_eq!(reqs[0].type_url, type_url::CLUSTER);
    assert!(reqs[0].node.is_some(), "node on the first request");
    assert!(reqs[0].resource_names_subscribe.is_empty(), "CDS wildcard");
    let lds = &of_type(&reqs, type_url::LISTENER)[0];
    assert!(lds.resource_names_subscribe.is_empty(), "LDS wildcard");
    let eds = &of_type(&reqs, type_url::CLUSTER_LOAD_ASSIGNMENT)[0];
    assert_eq!(eds.resource_names_subscribe, vec!["c1.svc".to_string()]);
    let rds = &of_type(&reqs, type_url::ROUTE_CONFIGURATION)[0];
    assert_eq!(rds.resource_names_subscribe, vec!["r1".to_string()]);
    let status = ads_status(proxy).await;
    assert_eq!(status["mode"], "delta", "{status}");
    assert_eq!(status["connected"], true);
    let cds = &status["types"][type_url::CLUSTER];
    assert_eq!(names(&cds["resources"]), vec!["c1"], "{status}");
    assert_eq!(
        cds["resources"]["c1"].as_str(),
        server
            .shared
            .resource_version(type_url::CLUSTER, "c1")
            .as_deref()
    );
    assert_eq!(common::admin(proxy, "/ready").await.status, 200);
}

/// One response brings a good cluster c2 and a bad one: c2 serves, `bad` is NACKed by name.
async fn check_nack(
    server: &AdsServer,
    proxy: &weft_proxy::Proxy,
    port: u16,
    one: SocketAddr,
    two: SocketAddr,
) {
    let mut v2 = config(port, "c2", &[("c1", one), ("c2", two)]);
    v2.push(bad_cluster());
    server.shared.set("2", v2);
    let nack = || {
        of_type(&server.shared.delta_requests(), type_url::CLUSTER)
            .into_iter()
            .find(|r| r.error_detail.is_some())
    };
    wait_until("a CDS NACK", || async { nack().is_some() }).await;
    let nack = nack().unwrap();
    let detail = nack.error_detail.unwrap();
    assert_eq!(detail.code, 3);
    assert!(
        detail.message.starts_with("Cluster bad: load_assignment"),
        "{}",
        detail.message
    );
    assert!(!nack.response_nonce.is_empty(), "a NACK names its response");
    wait_until(
        "traffic to the good cluster of the NACKed response",
        || async { backend_of(port).await.as_deref() == Ok("two") },
    )
    .await;
    let status = ads_status(proxy).await;
    let cds = &status["types"][type_url::CLUSTER];
    assert_eq!(names(&cds["resources"]), vec!["c1", "c2"], "{status}");
    assert_eq!(
        names(&cds["last_resources"]),
        vec!["bad", "c2"],
        "only what changed is sent: {status}"
    );
    assert!(
        cds["last_nack"]["error"]
            .as_str()
            .unwrap()
            .contains("Cluster bad")
    );
    assert_eq!(cds["acked_version"], "1", "{status}");
    let eds = &status["types"][type_url::CLUSTER_LOAD_ASSIGNMENT];
    assert_eq!(names(&eds["resource_names"]), vec!["c1.svc", "c2.svc"]);
}

/// c1 goes away: the server removes it, the proxy unsubscribes its EDS name.
async fn check_removal(server: &AdsServer, proxy: &weft_proxy::Proxy, port: u16, two: SocketAddr) {
    let mut v3 = config(port, "c2", &[("c2", two)]);
    v3.push(bad_cluster());
    server.shared.set("3", v3);
    let unsubscribed = || {
        of_type(
            &server.shared.delta_requests(),
            type_url::CLUSTER_LOAD_ASSIGNMENT,
        )
        .into_iter()
        .any(|r| r.resource_names_unsubscribe == vec!["c1.svc".to_string()])
    };
    wait_until("the EDS unsubscription of c1.svc", || async {
        unsubscribed()
    })
    .await;
    wait_until("c1 removed", || async {
        let s = ads_status(proxy).await;
        names(&s["types"][type_url::CLUSTER]["resources"]) == vec!["c2"]
    })
    .await;
    let status = ads_status(proxy).await;
    let cds = &status["types"][type_url::CLUSTER];
    assert_eq!(names(&cds["last_removed"]), vec!["c1"], "{status}");
    assert!(
        names(&cds["last_resources"]).is_empty(),
        "unchanged resources are not resent: {status}"
    );
    let eds = &status["types"][type_url::CLUSTER_LOAD_ASSIGNMENT];
    assert_eq!(names(&eds["resource_names"]), vec!["c2.svc"]);
    assert_eq!(names(&eds["resources"]), vec!["c2.svc"], "{status}");
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
}

/// c2, which serves, is replaced by a bad version: NACKed, the accepted version keeps serving.
/// Returns that version.
async fn check_bad_update_keeps_serving(
    server: &AdsServer,
    proxy: &weft_proxy::Proxy,
    port: u16,
    two: SocketAddr,
) -> String {
    let good = server
        .shared
        .resource_version(type_url::CLUSTER, "c2")
        .unwrap();
    let nacks = || {
        of_type(&server.shared.delta_requests(), type_url::CLUSTER)
            .into_iter()
            .filter_map(|r| r.error_detail.map(|e| e.message))
            .collect::<Vec<_>>()
    };
    let before = nacks().len();
    let mut v4: Resources = config(port, "c2", &[])
        .into_iter()
        .chain(eds_cluster("c2", two).into_iter().skip(1))
        .collect();
    v4.push(bad_cluster_named("c2"));
    v4.push(bad_cluster());
    server.shared.set("4", v4);
    wait_until("the NACK of the bad c2", || async {
        nacks().len() > before
    })
    .await;
    let detail = nacks().pop().unwrap();
    assert!(
        detail.starts_with("Cluster c2: load_assignment"),
        "{detail}"
    );
    let status = ads_status(proxy).await;
    let cds = &status["types"][type_url::CLUSTER];
    assert_eq!(
        cds["resources"]["c2"].as_str(),
        Some(good.as_str()),
        "{status}"
    );
    assert_eq!(names(&cds["last_resources"]), vec!["c2"], "{status}");
    for _ in 0..3 {
        assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    }
    good
}

/// The server goes away and comes back: the proxy serves meanwhile, then resumes with the
/// versions it has accepted, so only what it lacks (`bad`, the new `c2`) is sent again.
async fn check_resume(
    server: AdsServer,
    proxy: &weft_proxy::Proxy,
    ads_addr: SocketAddr,
    port: u16,
    good_c2: String,
) {
    let shared = server.kill().await;
    wait_until("the proxy to notice the disconnect", || async {
        ads_status(proxy).await["connected"] == false
    })
    .await;
    for _ in 0..5 {
        assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    }
    let before = shared.delta_requests().len();
    let cds_responses = ads_status(proxy).await["types"][type_url::CLUSTER]["responses"]
        .as_u64()
        .unwrap();
    let server = AdsServer::start(ads_addr, Some(shared)).await;
    wait_until("a resumed CDS response", || async {
        let s = ads_status(proxy).await;
        let cds = &s["types"][type_url::CLUSTER];
        s["connected"] == true && cds["responses"].as_u64().unwrap() > cds_responses
    })
    .await;
    let reqs = server.shared.delta_requests()[before..].to_vec();
    let cds = &of_type(&reqs, type_url::CLUSTER)[0];
    assert!(
        cds.node.is_some(),
        "node on the first request of the stream"
    );
    let expect: HashMap<String, String> = [("c2".to_string(), good_c2)].into();
    assert_eq!(
        cds.initial_resource_versions, expect,
        "the accepted versions, not the rejected ones"
    );
    let eds = &of_type(&reqs, type_url::CLUSTER_LOAD_ASSIGNMENT)[0];
    assert_eq!(eds.resource_names_subscribe, vec!["c2.svc".to_string()]);
    assert!(eds.initial_resource_versions.contains_key("c2.svc"));
    let status = ads_status(proxy).await;
    let cds_status = &status["types"][type_url::CLUSTER];
    assert_eq!(
        names(&cds_status["last_resources"]),
        vec!["bad", "c2"],
        "{status}"
    );
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
}
