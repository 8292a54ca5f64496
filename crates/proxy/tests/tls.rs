//! Downstream TLS termination against real clients (curl, openssl s_client, rustls): mTLS
//! with the peer principal in the access log, refusals (plaintext, no certificate, another CA,
//! wrong SAN, expired, not yet valid), rotation through the secret store, PERMISSIVE-style
//! listeners, `/certs` and key redaction.
#![allow(clippy::unwrap_used)]

mod common;
mod tls_pki;

use std::time::Duration;

use serde_json::json;
use tls_pki::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_proxy::Proxy;

async fn start(json: String) -> Proxy {
    common::proxy(&json).await
}

async fn stat(p: &Proxy, name: &str) -> i64 {
    let text = common::admin(p, "/stats").await.body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map_or(-1, |v| v.trim().parse().unwrap())
}

fn curl_https(port: u16, files: &Files, client: Option<&str>) -> (bool, String) {
    let url = format!("https://localhost:{port}/hello");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let ca = files.path("ca.crt");
    let (crt, key) = client
        .map(|c| {
            (
                files.path(&format!("{c}.crt")),
                files.path(&format!("{c}.key")),
            )
        })
        .unzip();
    let mut args = vec![
        "-sS".to_string(),
        "--max-time".into(),
        "5".into(),
        "--resolve".into(),
        resolve,
        "--cacert".into(),
        ca.display().to_string(),
        "-o".into(),
        "-".into(),
        "-w".into(),
        "\nstatus=%{http_code}".into(),
    ];
    if let (Some(crt), Some(key)) = (crt, key) {
        args.extend(["--cert".into(), crt.display().to_string()]);
        args.extend(["--key".into(), key.display().to_string()]);
    }
    args.push(url);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run("curl", &refs, "")
}

/// An mTLS listener in front of a backend, the client's URI SAN logged per request.
struct MtlsSetup {
    proxy: Proxy,
    port: u16,
    files: Files,
    ca: Ca,
}

async fn mtls_listener(tag: &str, sans: Vec<serde_json::Value>) -> MtlsSetup {
    let files = Files::new(tag);
    let ca = Ca::new("weft test CA");
    files.write("ca.crt", &ca.pem());
    let server = ca.leaf("server", 1);
    let (crt, key) = server.write(&files, "server");
    let backend = common::backend("app").await;
    let port = common::free_port();
    // Certificates from files for this listener; other tests use inline and SDS.
    let common_ctx = json!({
        "tls_certificates": [{"certificate_chain": {"filename": crt}, "private_key": {"filename": key}}],
        "validation_context": {"trusted_ca": inline(&ca.pem()), "match_typed_subject_alt_names": sans},
    });
    let log = files.path("access.log");
    let l = listener(
        "mtls",
        port,
        vec![chain(
            hcm_to("app", file_log(&log, "peer=%DOWNSTREAM_PEER_URI_SAN%\n")),
            Some(downstream(common_ctx, true)),
            "",
        )],
        false,
    );
    let proxy = start(bootstrap(
        vec![l],
        vec![cluster("app", backend, None)],
        vec![],
    ))
    .await;
    MtlsSetup {
        proxy,
        port,
        files,
        ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_openssl_get_through_mtls_and_the_peer_principal_is_logged() {
    let s = mtls_listener("ok", vec![]).await;
    s.ca.leaf("productpage", 7).write(&s.files, "client");
    let (ok, out) = curl_https(s.port, &s.files, Some("client"));
    assert!(ok && out.contains("status=200"), "{out}");
    let body: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(body["headers"]["x-forwarded-proto"], "https", "{out}");
    let args = [
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", s.port),
        "-servername",
        "localhost",
        "-CAfile",
        &s.files.path("ca.crt").display().to_string(),
        "-cert",
        &s.files.path("client.crt").display().to_string(),
        "-key",
        &s.files.path("client.key").display().to_string(),
        "-verify_return_error",
        "-ign_eof",
    ]
    .map(str::to_string);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, out) = run(
        "openssl",
        &refs,
        "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(
        out.contains("HTTP/1.0 200") || out.contains("HTTP/1.1 200"),
        "{out}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(s.files.path("access.log")).unwrap();
    assert!(
        log.lines()
            .filter(|l| *l == "peer=spiffe://cluster.local/ns/default/sa/productpage")
            .count()
            == 2,
        "{log}"
    );
    assert_eq!(stat(&s.proxy, "listener.mtls.ssl.handshake").await, 2);
    let prom = common::admin(&s.proxy, "/stats/prometheus").await.body;
    assert!(
        prom.contains("envoy_listener_ssl_handshake_total{envoy_listener_address=\"mtls\"} 2"),
        "{prom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_plaintext_missing_foreign_expired_and_future_client_certificates() {
    let s = mtls_listener("refuse", vec![]).await;
    // Plaintext to a TLS-only chain: no HTTP answer, the connection is closed.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1.1"),
        "{buf:?}"
    );
    // No client certificate.
    let (ok, out) = curl_https(s.port, &s.files, None);
    assert!(!ok && !out.contains("status=200"), "{out}");
    // From another CA.
    Ca::new("other CA")
        .leaf("productpage", 2)
        .write(&s.files, "foreign");
    let (ok, out) = curl_https(s.port, &s.files, Some("foreign"));
    assert!(!ok && !out.contains("status=200"), "{out}");
    // Expired, then not yet valid.
    let uri = "spiffe://cluster.local/ns/default/sa/productpage";
    s.ca.leaf_with(uri, 3, Some((2020, 2021)))
        .write(&s.files, "expired");
    let (ok, out) = curl_https(s.port, &s.files, Some("expired"));
    assert!(!ok && !out.contains("status=200"), "{out}");
    s.ca.leaf_with(uri, 4, Some((2090, 2091)))
        .write(&s.files, "future");
    let (ok, out) = curl_https(s.port, &s.files, Some("future"));
    assert!(!ok && !out.contains("status=200"), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stat(&s.proxy, "listener.mtls.ssl.no_certificate").await, 1);
    assert_eq!(
        stat(&s.proxy, "listener.mtls.ssl.fail_verify_error").await,
        3
    );
    assert_eq!(
        stat(&s.proxy, "listener.mtls.ssl.connection_error").await,
        5
    );
    assert_eq!(stat(&s.proxy, "listener.mtls.ssl.handshake").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_without_a_matching_san_is_refused() {
    let sans = vec![
        json!({"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/ns/default/sa/product"}}),
    ];
    let s = mtls_listener("san", sans).await;
    s.ca.leaf("productpage", 5).write(&s.files, "good");
    s.ca.leaf("ratings", 6).write(&s.files, "bad");
    let (ok, out) = curl_https(s.port, &s.files, Some("good"));
    assert!(ok && out.contains("status=200"), "{out}");
    let (ok, out) = curl_https(s.port, &s.files, Some("bad"));
    assert!(!ok && !out.contains("status=200"), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stat(&s.proxy, "listener.mtls.ssl.fail_verify_san").await, 1);
}
