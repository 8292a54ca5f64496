//! jwt_authn end to end on loopback: a real proxy in front of a real backend, curl as the
//! client, tokens signed in the test (ES256, ring), one provider with inline keys and one whose
//! JWKS an in-test HTTP server serves through a cluster, rotated during the test.
#![allow(clippy::unwrap_used)]

mod common;
mod jwt_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use jwt_support::{Key, claims, jwks_server, now};
use serde_json::{Value, json};

const JWT_AUTHN: &str =
    "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

fn filter(local_jwks: &str, log: &str) -> String {
    let inline = serde_json::to_string(local_jwks).unwrap();
    format!(
        r#"          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log}
              log_format: {{ text_format_source: {{ inline_string: "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n" }} }}
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": {JWT_AUTHN}
              providers:
                local:
                  issuer: https://local.example
                  audiences: [svc]
                  local_jwks: {{ inline_string: {inline} }}
                  forward_payload_header: x-jwt-payload
                  payload_in_metadata: local
                  claim_to_headers: [{{ header_name: x-team, claim_name: team }}]
                remote:
                  issuer: https://remote.example
                  from_headers: [{{ name: x-remote-token, value_prefix: "" }}]
                  remote_jwks:
                    http_uri: {{ uri: "http://jwks.example/keys.json", cluster: jwks, timeout: 2s }}
                    cache_duration: 1s
              rules:
              - match: {{ prefix: / }}
                requires:
                  requires_any:
                    requirements: [{{ provider_name: local }}, {{ provider_name: remote }}, {{ allow_missing: {{}} }}]
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
          route_config:
            name: local
            virtual_hosts:
            - name: api
              domains: ["*"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: backend }}
"#
    )
}

/// curl's status, headers and body for one request.
fn curl(port: u16, path: &str, headers: &[String]) -> (u16, String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "5", "-H", "Host: api.example"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// A proxy with the filter above, its backend and a JWKS server serving `remote`'s keys.
struct Setup {
    _proxy: weft_proxy::Proxy,
    port: u16,
    log: std::path::PathBuf,
    local: Key,
    served: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl Setup {
    async fn start(remote: &Key) -> Self {
        assert!(
            has_curl(),
            "curl is required for this test (apt-get install curl)"
        );
        let local = Key::new("l1");
        let served = Arc::new(Mutex::new(remote.jwks()));
        let hits = Arc::new(AtomicUsize::new(0));
        let jwks_addr = jwks_server(served.clone(), hits.clone()).await;
        let backend_addr = backend("b").await;
        let port = free_port();
        let log = std::env::temp_dir().join(format!("weft-jwt-{port}.log"));
        let filter = filter(&local.jwks(), log.to_str().unwrap());
        let yaml = bootstrap(
            &[listener("http", port, &filter)],
            &[
                cluster("backend", &[backend_addr], ""),
                cluster("jwks", &[jwks_addr], ""),
            ],
        );
        Self {
            _proxy: proxy(&yaml).await,
            port,
            log,
            local,
            served,
            hits,
        }
    }

    /// curl through the proxy (on a blocking thread).
    async fn curl(&self, path: &'static str, header: Option<String>) -> (u16, String, String) {
        let port = self.port;
        let headers: Vec<String> = header.into_iter().collect();
        tokio::task::spawn_blocking(move || curl(port, path, &headers))
            .await
            .unwrap()
    }

    async fn bearer(&self, token: &str) -> (u16, String, String) {
        self.curl("/get", Some(format!("Authorization: Bearer {token}")))
            .await
    }
}

fn local_claims() -> Value {
    claims("https://local.example")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_keys_accept_valid_tokens_and_refuse_bad_ones() {
    let s = Setup::start(&Key::new("unused")).await;
    let good = s.local.token(local_claims());
    let (status, _, body) = s.bearer(&good).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    let h = &seen["headers"];
    assert!(h.get("authorization").is_none(), "token removed: {h}");
    assert_eq!(h["x-team"], "blue");
    assert_eq!(h["x-jwt-payload"], good.split('.').nth(1).unwrap());

    let (status, _, body) = s.curl("/get", Some("x-team: forged".into())).await;
    assert_eq!(
        status, 200,
        "no token: allowed for AuthorizationPolicy to decide"
    );
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert!(
        seen["headers"].get("x-team").is_none(),
        "forged claim header removed"
    );

    let forged = Key::new("l1").token(local_claims());
    let header = format!("Authorization: Bearer {forged}");
    let (status, head, body) = s.curl("/get?x=1", Some(header)).await;
    assert_eq!((status, body.as_str()), (401, "Jwt verification fails"));
    let challenge =
        r#"www-authenticate: bearer realm="http://api.example/get", error="invalid_token""#;
    assert!(head.contains(challenge), "{head}");

    let mut expired = local_claims();
    expired["exp"] = json!(now() - 120);
    let (status, _, body) = s.bearer(&s.local.token(expired)).await;
    assert_eq!((status, body.as_str()), (401, "Jwt is expired"));

    let mut other_aud = local_claims();
    other_aud["aud"] = json!("elsewhere");
    let (status, _, body) = s.bearer(&s.local.token(other_aud)).await;
    assert_eq!(
        (status, body.as_str()),
        (403, "Audiences in Jwt are not allowed")
    );

    let (status, _, body) = s.bearer("not-a-jwt").await;
    assert_eq!(status, 401, "{body}");

    let logged = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        logged.contains("401 jwt_authn_access_denied{Jwt_verification_fails}"),
        "{logged}"
    );
    assert!(logged.contains("403 jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}"));
    let _ = std::fs::remove_file(&s.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_keys_are_fetched_through_the_cluster_and_follow_rotation() {
    let (remote_a, remote_b) = (Key::new("ra"), Key::new("rb"));
    let s = Setup::start(&remote_a).await;
    let remote = |k: &Key| {
        format!(
            "x-remote-token: {}",
            k.token(claims("https://remote.example"))
        )
    };
    let (status, _, body) = s.curl("/get", Some(remote(&remote_a))).await;
    assert_eq!(status, 200, "remote keys fetched on first use: {body}");
    assert!(s.hits.load(Ordering::Relaxed) >= 1);

    *s.served.lock().unwrap() = remote_b.jwks();
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let (status, _, _) = s.curl("/get", Some(remote(&remote_b))).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "rotated key never accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _, body) = s.curl("/get", Some(remote(&remote_a))).await;
    let refused = "Jwks doesn't have key to match kid or alg from Jwt";
    assert_eq!((status, body.as_str()), (401, refused));
    let _ = std::fs::remove_file(&s.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_keys_that_cannot_be_fetched_reject_tokens_but_not_anonymous_requests() {
    let key = Key::new("k");
    let backend_addr = backend("b").await;
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let port = free_port();
    let log = std::env::temp_dir().join(format!("weft-jwt-{port}.log"));
    let yaml = bootstrap(
        &[listener(
            "http",
            port,
            &filter(&key.jwks(), log.to_str().unwrap()),
        )],
        &[
            cluster("backend", &[backend_addr], ""),
            cluster("jwks", &[dead], ""),
        ],
    );
    let _proxy = proxy(&yaml).await;
    let t = key.token(claims("https://remote.example"));
    let r = get(
        ([127, 0, 0, 1], port).into(),
        "api.example",
        "/",
        &[("x-remote-token", &t)],
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Jwks remote fetch is failed")
    );
    let r = get(([127, 0, 0, 1], port).into(), "api.example", "/", &[]).await;
    assert_eq!(r.status, 200);
    let _ = std::fs::remove_file(&log);
}
