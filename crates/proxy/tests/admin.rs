//! The admin API.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;

async fn post(addr: SocketAddr, path: &str) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", "admin")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    send.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn admin_endpoints() {
    let b = backend("a").await;
    let port = free_port();
    let filter = "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          stat_prefix: t\n          cluster: a\n";
    let yaml = bootstrap(
        &[listener("tcp", port, filter)],
        &[cluster("a", &[b], "    lb_policy: RANDOM")],
    )
    .replacen(
        "static_resources:",
        "node: { id: sidecar~1.2.3.4~p.ns~ns.svc.cluster.local, cluster: c }\nstatic_resources:",
        1,
    );
    let p = proxy(&yaml).await;
    let r = admin(&p, "/ready").await;
    assert_eq!((r.status, r.body.as_str()), (200, "LIVE\n"));
    let info = admin(&p, "/server_info").await.json();
    assert_eq!(info["state"], "LIVE");
    assert_eq!(
        info["node"]["id"],
        "sidecar~1.2.3.4~p.ns~ns.svc.cluster.local"
    );
    let clusters = admin(&p, "/clusters").await.body;
    assert!(
        clusters.contains(&format!("a::{b}::cx_active::0")),
        "{clusters}"
    );
    assert!(
        clusters.contains(&format!("a::{b}::health_flags::healthy")),
        "{clusters}"
    );
    let listeners = admin(&p, "/listeners").await.body;
    assert_eq!(listeners, format!("tcp::127.0.0.1:{port}\n"));
    let dump = admin(&p, "/config_dump").await.json();
    let configs = dump["configs"].as_array().unwrap();
    assert_eq!(
        configs[0]["@type"],
        "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"
    );
    assert_eq!(configs[1]["static_clusters"][0]["cluster"]["name"], "a");
    assert_eq!(
        configs[1]["static_clusters"][0]["cluster"]["lb_policy"],
        "RANDOM"
    );
    assert_eq!(
        configs[2]["static_listeners"][0]["listener"]["filter_chains"][0]["filters"][0]["typed_config"]
            ["@type"],
        "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    );
    let prom = admin(&p, "/stats/prometheus").await.body;
    assert!(
        prom.contains("envoy_cluster_membership_total{envoy_cluster_name=\"a\"} 1"),
        "{prom}"
    );
    assert!(admin(&p, "/help").await.body.contains("/config_dump"));
    assert_eq!(admin(&p, "/quitquitquit").await.status, 405);
    assert_eq!(post(p.admin_addr(), "/healthcheck/fail").await, 200);
    let r = admin(&p, "/ready").await;
    assert_eq!((r.status, r.body.as_str()), (503, "DRAINING\n"));
    assert_eq!(post(p.admin_addr(), "/healthcheck/ok").await, 200);
    assert_eq!(admin(&p, "/ready").await.status, 200);
    assert_eq!(post(p.admin_addr(), "/quitquitquit").await, 200);
    tokio::time::timeout(std::time::Duration::from_secs(2), p.quit_requested())
        .await
        .expect("quit signalled");
}
