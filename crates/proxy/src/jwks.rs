//! Remote JWKS for jwt_authn providers: one cache entry per (cluster, uri), filled by a
//! background task that fetches through the named cluster (plain HTTP; upstream TLS is not
//! there yet), keeps the keys for `cache_duration`, refetches after a failure every second and
//! keeps the last good keys until a fetch succeeds. Entries outlive config updates so a push
//! does not drop keys; an entry whose source no provider uses any more is dropped at its next
//! refresh. The request path only reads an `ArcSwap`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use tokio::sync::watch;
use weft_proxy_config::runtime::jwt::{self, Jwks, JwksSource, RemoteJwks};
use weft_proxy_config::runtime::listener::HttpFilterKind;
use weft_proxy_config::runtime::{NetworkKind, Snapshot};

use crate::http::UpstreamBody;
use crate::pool::Sender;
use crate::state::Shared;
use crate::upstream::PickContext;

/// Envoy's `failed_refetch_duration` default.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// A JWKS larger than this is refused.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Remote key sets by (cluster, uri).
#[derive(Debug, Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<(String, String), Arc<RemoteKeys>>>,
}

#[derive(Debug)]
pub struct RemoteKeys {
    keys: ArcSwapOption<Jwks>,
    /// Becomes true after the first fetch attempt, successful or not.
    attempted: watch::Sender<bool>,
}

impl RemoteKeys {
    pub fn current(&self) -> Option<Arc<Jwks>> {
        self.keys.load_full()
    }

    /// The keys, waiting up to `timeout` for the first fetch if none was attempted yet.
    pub async fn ready(&self, timeout: Duration) -> Option<Arc<Jwks>> {
        if let Some(k) = self.current() {
            return Some(k);
        }
        let mut rx = self.attempted.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|done| *done)).await;
        self.current()
    }
}

/// Why one fetch failed (logged; the request sees `Jwks remote fetch is failed`).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("cluster {0} is not configured")]
    NoCluster(String),
    #[error("cluster {0} has no healthy host")]
    NoHost(String),
    #[error("{0}")]
    Connect(#[from] crate::pool::ConnectError),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("status {0}")]
    Status(StatusCode),
    #[error("body: {0}")]
    Body(String),
    #[error("timeout")]
    Timeout,
    #[error("{0}")]
    Jwks(#[from] weft_proxy_config::runtime::jwt::JwksError),
}

impl JwksCache {
    /// The entry for a source; the first call starts its fetch task.
    pub fn entry(&self, shared: &Arc<Shared>, src: &RemoteJwks) -> Arc<RemoteKeys> {
        let key = (src.cluster.clone(), src.uri.to_string());
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = entries.get(&key) {
            return e.clone();
        }
        let entry = Arc::new(RemoteKeys {
            keys: ArcSwapOption::empty(),
            attempted: watch::Sender::new(false),
        });
        entries.insert(key, entry.clone());
        tokio::spawn(refresh(Arc::downgrade(shared), entry.clone(), src.clone()));
        entry
    }
}

/// Fetches until the proxy is gone or no provider of its config uses the source any more.
async fn refresh(shared: Weak<Shared>, entry: Arc<RemoteKeys>, src: RemoteJwks) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        if !in_use(&s.live.load().snap, &src) {
            let key = (src.cluster.clone(), src.uri.to_string());
            let mut entries = s
                .jwks
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            entries.remove(&key);
            tracing::debug!(uri = %src.uri, "JWKS source no longer configured");
            return;
        }
        let result = tokio::time::timeout(src.timeout, fetch(&s, &src))
            .await
            .unwrap_or(Err(FetchError::Timeout));
        drop(s);
        let wait = match result {
            Ok(jwks) => {
                tracing::debug!(uri = %src.uri, keys = jwks.keys.len(), "fetched JWKS");
                entry.keys.store(Some(Arc::new(jwks)));
                src.cache_duration
            }
            Err(e) => {
                tracing::warn!(uri = %src.uri, cluster = %src.cluster, error = %e, "JWKS fetch failed; keeping the last good keys");
                RETRY_AFTER_FAILURE.min(src.cache_duration)
            }
        };
        entry.attempted.send_replace(true);
        tokio::time::sleep(wait).await;
    }
}

/// Whether a jwt_authn provider of the snapshot fetches from this source.
fn in_use(snap: &Snapshot, src: &RemoteJwks) -> bool {
    let same = |p: &jwt::Provider| matches!(&p.jwks, JwksSource::Remote(r) if r.cluster == src.cluster && r.uri == src.uri);
    snap.listeners
        .values()
        .flat_map(|l| l.chains.iter().chain(l.default_chain.iter()))
        .filter_map(|c| match &c.kind {
            NetworkKind::Http(h) => Some(h),
            NetworkKind::Tcp(_) => None,
        })
        .flat_map(|h| h.http_filters.iter())
        .any(|f| match &f.kind {
            HttpFilterKind::JwtAuthn(a) => a.providers.iter().any(same),
            _ => false,
        })
}

async fn fetch(shared: &Shared, src: &RemoteJwks) -> Result<Jwks, FetchError> {
    let live = shared.live.load_full();
    let cluster = live
        .clusters
        .get(&src.cluster)
        .ok_or_else(|| FetchError::NoCluster(src.cluster.clone()))?;
    let host = cluster
        .pick(&PickContext::default())
        .ok_or_else(|| FetchError::NoHost(src.cluster.clone()))?;
    let authority = src.uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let mut req = Request::get(src.uri.clone())
        .header(http::header::HOST, authority)
        .body(UpstreamBody::empty())
        .map_err(|e| FetchError::Body(e.to_string()))?;
    let sender = host
        .pool
        .checkout(&host, &cluster.cfg, &cluster.stats, cluster.tls.as_deref())
        .await?;
    let resp = match sender {
        Sender::H1(mut s) => {
            // HTTP/1.1 wants the origin form; the authority is in Host.
            let path = src.uri.path_and_query().map_or("/", |p| p.as_str());
            *req.uri_mut() = path
                .parse()
                .map_err(|_| FetchError::Status(StatusCode::BAD_REQUEST))?;
            s.send_request(req).await?
        }
        Sender::H2(mut s) => s.send_request(req).await?,
    };
    if resp.status() != StatusCode::OK {
        return Err(FetchError::Status(resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|e| FetchError::Body(e.to_string()))?
        .to_bytes();
    let text = std::str::from_utf8(&body).map_err(|e| FetchError::Body(e.to_string()))?;
    Ok(Jwks::parse(text)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BOOTSTRAP: &str = r#"
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 1 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                p:
                  issuer: i
                  remote_jwks: { http_uri: { uri: "http://keys.example/jwks", cluster: keys, timeout: 1s } }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config: { name: r, virtual_hosts: [] }
"#;

    fn source(uri: &str, cluster: &str) -> RemoteJwks {
        RemoteJwks {
            uri: uri.parse().unwrap(),
            cluster: cluster.into(),
            timeout: Duration::from_secs(1),
            cache_duration: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_source_is_in_use_only_while_a_provider_names_it() {
        let (_, snap) = weft_proxy_config::bootstrap::load_str("b.yaml", BOOTSTRAP)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(in_use(&snap, &source("http://keys.example/jwks", "keys")));
        assert!(!in_use(&snap, &source("http://keys.example/other", "keys")));
        assert!(!in_use(
            &snap,
            &source("http://keys.example/jwks", "elsewhere")
        ));
        assert!(!in_use(
            &Snapshot::default(),
            &source("http://keys.example/jwks", "keys")
        ));
    }
}
