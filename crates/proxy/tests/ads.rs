//! The ADS client against an in-process ADS server: initial config, an update that moves
//! traffic, a NACKed bad resource next to an accepted good one, and a server restart.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;

use std::net::SocketAddr;

use ads_server::AdsServer;
use ads_server::fixtures::{backend_of, bootstrap, eds_cluster, listener, route, wait_until};
use weft_xds::pack;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ads_applies_updates_nacks_bad_resources_and_reconnects() {
    let one = common::backend("one").await;
    let two = common::backend("two").await;
    let (port, port2) = (common::free_port(), common::free_port());
    let server = AdsServer::start(([127, 0, 0, 1], 0).into(), None).await;
    let ads_addr = server.addr;
    let mut v1 = vec![listener("l1", port, pack(&Router::default())), route("c1")];
    v1.extend(eds_cluster("c1", one));
    server.shared.set("1", v1);
    let proxy = common::proxy(&bootstrap(ads_addr, "GRPC")).await;

    check_initial(&server, &proxy, port).await;
    let v2 = move_route(&server, port, one, two).await;
    check_nack(&server, &proxy, v2, port, port2).await;
    restart(server, &proxy, ads_addr, port).await;
}

/// Traffic flows, the node identity and the EDS subscription are as expected.
async fn check_initial(server: &AdsServer, proxy: &weft_proxy::Proxy, port: u16) {
    wait_until("traffic to backend one", || async {
        backend_of(port).await.as_deref() == Ok("one")
    })
    .await;
    let first = server.shared.requests();
    let node = first[0].node.as_ref().expect("node on the first request");
    assert_eq!(
        node.id,
        "sidecar~127.0.0.1~t.default~default.svc.cluster.local"
    );
    let md = weft_xds::struct_to_json(node.metadata.as_ref().unwrap());
    assert_eq!(md["NAMESPACE"], "default");
    let eds_req = first
        .iter()
        .find(|r| r.type_url == type_url::CLUSTER_LOAD_ASSIGNMENT)
        .unwrap();
    assert_eq!(eds_req.resource_names, vec!["c1.svc".to_string()]);
    assert!(common::admin(proxy, "/ready").await.status == 200);
}

/// An update moves the route to a second EDS cluster; returns the resources pushed.
async fn move_route(
    server: &AdsServer,
    port: u16,
    one: SocketAddr,
    two: SocketAddr,
) -> Vec<(String, String, Any)> {
    let mut v2 = vec![listener("l1", port, pack(&Router::default())), route("c2")];
    v2.extend(eds_cluster("c1", one));
    v2.extend(eds_cluster("c2", two));
    server.shared.set("2", v2.clone());
    wait_until("traffic to backend two", || async {
        backend_of(port).await.as_deref() == Ok("two")
    })
    .await;

    v2
}

/// A bad listener is NACKed by name; the good new listener of the same response is applied.
async fn check_nack(
    server: &AdsServer,
    proxy: &weft_proxy::Proxy,
    v2: Vec<(String, String, Any)>,
    port: u16,
    port2: u16,
) {
    let cors = Any {
        type_url: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors".into(),
        value: vec![],
    };
    let mut v3 = v2;
    v3.push(listener("bad", common::free_port(), cors));
    v3.push(listener("l2", port2, pack(&Router::default())));
    server.shared.set("3", v3);
    let nack = || {
        server
            .shared
            .requests()
            .into_iter()
            .find(|r| r.type_url == type_url::LISTENER && r.error_detail.is_some())
    };
    wait_until("a listener NACK", || async { nack().is_some() }).await;
    let nack = nack().unwrap();
    let detail = nack.error_detail.unwrap().message;
    assert!(
        detail.contains("Listener bad: filter_chains[0]"),
        "{detail}"
    );
    assert_eq!(
        nack.version_info, "2",
        "a NACK carries the last ACKed version"
    );
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    wait_until("the good listener of the NACKed response", || async {
        backend_of(port2).await.as_deref() == Ok("two")
    })
    .await;
    let status = common::admin(proxy, "/debug/ads").await.json();
    assert_eq!(status["mode"], "sotw", "{status}");
    let lds = &status["types"][type_url::LISTENER];
    assert!(lds["resources"]["l2"].as_str() == Some("3"), "{status}");
    assert!(lds["resources"].get("bad").is_none(), "{status}");
    assert_eq!(lds["acked_version"], "2", "{status}");
    assert!(
        lds["last_nack"]["error"]
            .as_str()
            .unwrap()
            .contains("Listener bad")
    );
    assert_eq!(
        status["types"][type_url::CLUSTER]["acked_version"],
        "3",
        "{status}"
    );
}

/// The control plane goes away: the proxy keeps serving, then reconnects.
async fn restart(server: AdsServer, proxy: &weft_proxy::Proxy, ads_addr: SocketAddr, port: u16) {
    let shared = server.kill().await;
    wait_until("the proxy to notice the disconnect", || async {
        common::admin(proxy, "/debug/ads").await.json()["connected"] == false
    })
    .await;
    for _ in 0..5 {
        assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
    }
    let streams_before = shared.streams();
    let server = AdsServer::start(ads_addr, Some(shared)).await;
    wait_until("a reconnect", || async {
        server.shared.streams() > streams_before
            && common::admin(proxy, "/debug/ads").await.json()["connected"] == true
    })
    .await;
    let last_cds = server
        .shared
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.type_url == type_url::CLUSTER && r.response_nonce.is_empty())
        .unwrap();
    assert_eq!(
        last_cds.version_info, "3",
        "resubscribes with the last ACKed version"
    );
    assert!(
        last_cds.node.is_some(),
        "node on the first request of the new stream"
    );
    assert_eq!(backend_of(port).await.as_deref(), Ok("two"));
}
