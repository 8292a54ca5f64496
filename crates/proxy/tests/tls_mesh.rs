//! Two weft proxies doing Istio-style mTLS (SDS names `default` and `ROOTCA` from the
//! in-process secret store, SAN checks, Istio's ALPN) for HTTP and TCP; upstream verification
//! failures; rotation; a PERMISSIVE-style listener; `/certs` and redaction in `/config_dump`.
#![allow(clippy::unwrap_used)]

mod common;
mod tls_pki;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tls_pki::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_proxy::Proxy;

const ISTIO_ALPN: [&str; 2] = ["istio-peer-exchange", "istio"];
const SERVER_ID: &str = "spiffe://cluster.local/ns/default/sa/server";
const CLIENT_ID: &str = "spiffe://cluster.local/ns/default/sa/client";

async fn stat(p: &Proxy, name: &str) -> i64 {
    let text = common::admin(p, "/stats").await.body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map_or(-1, |v| v.trim().parse().unwrap())
}

async fn echo_server() -> SocketAddr {
    let sock = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = sock.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The server-side sidecar: mTLS for HTTP on `http_port` and TCP on `tcp_port`.
async fn server_proxy(ca: &Ca, files: &Files, http_port: u16, tcp_port: u16) -> Proxy {
    let (app, echo) = (common::backend("app").await, echo_server().await);
    let log = file_log(
        &files.path("server.log"),
        "peer=%DOWNSTREAM_PEER_URI_SAN%\n",
    );
    let tls = || {
        Some(downstream(
            istio_common(
                &[CLIENT_ID],
                &["h2", "http/1.1", "istio-peer-exchange", "istio"],
            ),
            true,
        ))
    };
    let listeners = vec![
        listener(
            "inbound_http",
            http_port,
            vec![chain(hcm_to("app", log), tls(), "")],
            false,
        ),
        listener(
            "inbound_tcp",
            tcp_port,
            vec![chain(tcp_to("echo"), tls(), "")],
            false,
        ),
    ];
    let clusters = vec![cluster("app", app, None), cluster("echo", echo, None)];
    let p = common::proxy(&bootstrap(listeners, clusters, vec![])).await;
    p.shared()
        .secrets
        .set("default", ca.leaf("server", 10).secret());
    p.shared().secrets.set("ROOTCA", ca.root_secret());
    p
}

/// The client-side sidecar: plaintext in, mTLS out to `server` with the SAN it must present.
async fn client_proxy(ca: &Ca, server: (u16, u16), expected_san: &str) -> (Proxy, u16, u16) {
    let (http_port, tcp_port) = (common::free_port(), common::free_port());
    let up = || {
        Some(upstream(
            istio_common(&[expected_san], &ISTIO_ALPN),
            "outbound_.9080_._.server.default.svc.cluster.local",
        ))
    };
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let listeners = vec![
        listener(
            "outbound_http",
            http_port,
            vec![chain(hcm_to("to_http", json!([])), None, "")],
            false,
        ),
        listener(
            "outbound_tcp",
            tcp_port,
            vec![chain(tcp_to("to_tcp"), None, "")],
            false,
        ),
    ];
    let clusters = vec![
        cluster("to_http", at(server.0), up()),
        cluster("to_tcp", at(server.1), up()),
    ];
    let p = common::proxy(&bootstrap(listeners, clusters, vec![])).await;
    p.shared()
        .secrets
        .set("default", ca.leaf("client", 20).secret());
    p.shared().secrets.set("ROOTCA", ca.root_secret());
    (p, http_port, tcp_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_do_mtls_for_http_and_tcp() {
    let (ca, files) = (Ca::new("mesh CA"), Files::new("mesh"));
    let server_ports = (common::free_port(), common::free_port());
    let server = server_proxy(&ca, &files, server_ports.0, server_ports.1).await;
    let (client, http_port, tcp_port) = client_proxy(&ca, server_ports, SERVER_ID).await;
    let at = SocketAddr::from(([127, 0, 0, 1], http_port));
    for _ in 0..3 {
        let r = common::get(at, "server.default", "/x", &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port))
        .await
        .unwrap();
    tcp.write_all(b"ping over mTLS").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"ping over mTLS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(files.path("server.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| *l == format!("peer={CLIENT_ID}"))
            .count(),
        3,
        "{log}"
    );
    // HTTP reused one pooled TLS connection; TCP made its own.
    assert_eq!(stat(&client, "cluster.to_http.ssl.handshake").await, 1);
    assert_eq!(stat(&client, "cluster.to_tcp.ssl.handshake").await, 1);
    assert_eq!(
        stat(&server, "listener.inbound_http.ssl.handshake").await,
        1
    );
    assert_eq!(stat(&server, "listener.inbound_tcp.ssl.handshake").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_with_the_wrong_san_or_ca_is_a_connect_failure() {
    let (ca, files) = (Ca::new("mesh CA"), Files::new("wrongsan"));
    let server_ports = (common::free_port(), common::free_port());
    let _server = server_proxy(&ca, &files, server_ports.0, server_ports.1).await;
    let (client, http_port, tcp_port) = client_proxy(
        &ca,
        server_ports,
        "spiffe://cluster.local/ns/default/sa/someone-else",
    )
    .await;
    let r = common::get(SocketAddr::from(([127, 0, 0, 1], http_port)), "s", "/", &[]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        stat(&client, "cluster.to_http.ssl.fail_verify_san").await,
        1
    );
    assert_eq!(
        stat(&client, "cluster.to_http.upstream_cx_connect_fail").await,
        1
    );
    // TCP: the downstream connection is closed without data.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port))
        .await
        .unwrap();
    let _ = tcp.write_all(b"hello").await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(buf.is_empty());
    assert_eq!(stat(&client, "cluster.to_tcp.ssl.fail_verify_san").await, 1);
    // A trust bundle from another CA: the chain does not verify.
    client
        .shared()
        .secrets
        .set("ROOTCA", Ca::new("other").root_secret());
    let r = common::get(SocketAddr::from(([127, 0, 0, 1], http_port)), "s", "/", &[]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        stat(&client, "cluster.to_http.ssl.fail_verify_error").await,
        1
    );
}

async fn tls_get(
    port: u16,
    cfg: Arc<rustls::ClientConfig>,
) -> (
    hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    Vec<u8>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let serial = {
        let der = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let raw = cert.tbs_certificate.raw_serial();
        raw.iter().copied().skip_while(|b| *b == 0).collect()
    };
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    (send, serial)
}

async fn request(
    send: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
) -> u16 {
    let req = hyper::Request::builder()
        .uri("/")
        .header("host", "x")
        .body(Default::default())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reaches_new_handshakes_and_open_connections_keep_working() {
    let ca = Ca::new("rotation CA");
    let port = common::free_port();
    let l = listener(
        "rot",
        port,
        vec![chain(
            hcm_direct("hi"),
            Some(downstream(
                json!({"tls_certificate_sds_secret_configs": [agent_sds("default")]}),
                false,
            )),
            "",
        )],
        false,
    );
    let p = common::proxy(&bootstrap(vec![l], vec![], vec![])).await;
    let cfg = client_config(&ca, None, &[]);
    // No secret yet: the handshake is refused and counted.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let res = tokio_rustls::TlsConnector::from(cfg.clone())
        .connect("localhost".try_into().unwrap(), tcp)
        .await;
    assert!(res.is_err());
    assert_eq!(stat(&p, "listener.rot.ssl.connection_error").await, 1);
    p.shared()
        .secrets
        .set("default", ca.leaf("server", 1).secret());
    let (mut old, serial) = tls_get(port, cfg.clone()).await;
    assert_eq!(serial, vec![1u8], "first serial");
    assert_eq!(request(&mut old).await, 200);
    p.shared()
        .secrets
        .set("default", ca.leaf("server", 2).secret());
    let (mut new, serial) = tls_get(port, cfg).await;
    assert_eq!(
        serial,
        vec![2u8],
        "a new handshake sees the rotated certificate"
    );
    assert_eq!(request(&mut new).await, 200);
    assert_eq!(
        request(&mut old).await,
        200,
        "the open connection keeps working"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissive_listener_accepts_tls_and_plaintext_on_one_port() {
    let ca = Ca::new("permissive CA");
    let port = common::free_port();
    let tls = downstream(
        json!({"tls_certificates": [inline_cert(&ca.leaf("server", 3))]}),
        false,
    );
    let l = listener(
        "perm",
        port,
        vec![
            chain(hcm_direct("over tls"), Some(tls), "tls"),
            chain(hcm_direct("in plaintext"), None, "raw_buffer"),
        ],
        true,
    );
    let _p = common::proxy(&bootstrap(vec![l], vec![], vec![])).await;
    let r = common::get(SocketAddr::from(([127, 0, 0, 1], port)), "x", "/", &[]).await;
    assert_eq!(r.body, "in plaintext");
    let (mut send, _) = tls_get(port, client_config(&ca, None, &[])).await;
    let req = hyper::Request::builder()
        .uri("/")
        .header("host", "x")
        .body(Default::default())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"over tls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_show_chains_and_dumps_never_show_keys() {
    let ca = Ca::new("certs CA");
    let (leaf, inline_leaf) = (ca.leaf("server", 0x2a), ca.leaf("inline", 0x2b));
    let secrets = vec![
        json!({"name": "default", "tls_certificate": inline_cert(&leaf)}),
        json!({"name": "ROOTCA", "validation_context": {"trusted_ca": inline(&ca.pem())}}),
    ];
    let port = common::free_port();
    let tls = downstream(
        json!({"tls_certificates": [inline_cert(&inline_leaf)]}),
        false,
    );
    let l = listener(
        "certs",
        port,
        vec![chain(hcm_direct("x"), Some(tls), "")],
        false,
    );
    let p = common::proxy(&bootstrap(vec![l], vec![], secrets)).await;
    let certs = common::admin(&p, "/certs").await.json();
    let all = certs["certificates"].as_array().unwrap();
    let chain_of = |serial: &str| {
        all.iter()
            .flat_map(|c| c["cert_chain"].as_array().unwrap())
            .find(|c| c["serial_number"] == serial)
            .cloned()
            .unwrap_or_else(|| panic!("{certs}"))
    };
    let d = chain_of("2a");
    assert_eq!(d["path"], "default");
    assert_eq!(d["subject_alt_names"][0]["uri"], SERVER_ID);
    assert!(
        d["days_until_expiration"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 365
    );
    assert_eq!(chain_of("2b")["path"], "<inline>");
    assert!(
        all.iter().any(|c| c["ca_cert"][0]["path"] == "ROOTCA"),
        "{certs}"
    );
    let dump = common::admin(&p, "/config_dump").await.body;
    assert!(!dump.contains("PRIVATE KEY"), "{dump}");
    assert!(dump.contains("[redacted]"));
    assert!(
        dump.contains("SecretsConfigDump") && dump.contains("\"ROOTCA\""),
        "{dump}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_cluster_without_alpn_offers_h2_and_the_peer_serves_h2() {
    let (ca, files) = (Ca::new("h2 CA"), Files::new("h2"));
    let server_ports = (common::free_port(), common::free_port());
    let server = server_proxy(&ca, &files, server_ports.0, server_ports.1).await;
    let port = common::free_port();
    let mut c = cluster(
        "to_h2",
        SocketAddr::from(([127, 0, 0, 1], server_ports.0)),
        Some(upstream(istio_common(&[SERVER_ID], &[]), "")),
    );
    c["http2_protocol_options"] = json!({});
    let l = listener(
        "out",
        port,
        vec![chain(hcm_to("to_h2", json!([])), None, "")],
        false,
    );
    let client = common::proxy(&bootstrap(vec![l], vec![c], vec![])).await;
    client
        .shared()
        .secrets
        .set("default", ca.leaf("client", 30).secret());
    client.shared().secrets.set("ROOTCA", ca.root_secret());
    let r = common::get(SocketAddr::from(([127, 0, 0, 1], port)), "s", "/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        stat(&server, "http.ingress.downstream_rq_http2_total").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_socket_matches_send_mtls_to_istio_endpoints_and_plaintext_to_the_rest() {
    let (ca, files) = (Ca::new("auto CA"), Files::new("auto"));
    let server_ports = (common::free_port(), common::free_port());
    let _server = server_proxy(&ca, &files, server_ports.0, server_ports.1).await;
    let plain = common::backend("plain").await;
    let endpoint = |addr: SocketAddr, metadata: serde_json::Value| {
        json!({"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": addr.port()}}},
            "metadata": metadata})
    };
    let istio = json!({"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"}}});
    let c = json!({"name": "auto", "type": "STATIC", "connect_timeout": "1s",
        "transport_socket_matches": [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
             "transport_socket": upstream(istio_common(&[SERVER_ID], &ISTIO_ALPN), "")},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}],
        "load_assignment": {"cluster_name": "auto", "endpoints": [{"lb_endpoints": [
            endpoint(SocketAddr::from(([127, 0, 0, 1], server_ports.0)), istio),
            endpoint(plain, json!({}))]}]}});
    let port = common::free_port();
    let l = listener(
        "out",
        port,
        vec![chain(hcm_to("auto", json!([])), None, "")],
        false,
    );
    let client = common::proxy(&bootstrap(vec![l], vec![c], vec![])).await;
    client
        .shared()
        .secrets
        .set("default", ca.leaf("client", 40).secret());
    client.shared().secrets.set("ROOTCA", ca.root_secret());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let r = common::get(SocketAddr::from(([127, 0, 0, 1], port)), "s", "/", &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.insert(r.json()["backend"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["app", "plain"]);
    assert_eq!(stat(&client, "cluster.auto.ssl.handshake").await, 1);
}
