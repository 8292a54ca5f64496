//! weft's data plane: binds listeners, terminates and originates TLS (rustls, `tls`), proxies
//! TCP and HTTP/1.1 + h2 (hyper 1.x), keeps upstream connection pools, serves the admin API,
//! counts Envoy-style stats, writes access logs and follows an ADS server (SDS secrets
//! included, kept in `secrets::SecretStore`).
//!
//! Config arrives as `weft-proxy-config` snapshots and is published through one `ArcSwap`
//! (`state::Shared::live`): the request path loads it without locks. This crate owns all
//! sockets and tasks; it does not interpret Envoy config itself (that is `weft-proxy-config`)
//! and must not depend on the control-plane crates.

mod access_log;
pub mod admin;
pub mod ads;
mod dump;
mod http;
mod inspect;
mod jwks;
mod listener;
mod network_rbac;
mod orig_dst;
mod pipe;
mod pool;
pub mod secrets;
mod state;
pub mod stats;
mod tcp;
mod tls;
mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use weft_proxy_config::model::Bootstrap;
use weft_proxy_config::runtime::Snapshot;

pub use listener::BindError;
pub use state::Shared;

/// Addresses of a downstream connection.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub peer: SocketAddr,
    /// The (original) destination.
    pub local: SocketAddr,
    pub server_name: String,
    /// Set when the connection's TLS was terminated here.
    pub tls: Option<Arc<PeerTls>>,
}

/// What a terminated TLS handshake says about the downstream peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerTls {
    /// The peer certificate's first `spiffe://` URI SAN without the scheme
    /// (`cluster.local/ns/default/sa/bookinfo-productpage`): Istio's source principal.
    pub principal: Option<String>,
    /// All URI SANs of the peer certificate (empty when the peer sent none).
    pub uri_sans: Vec<String>,
    pub dns_sans: Vec<String>,
    /// SNI the client asked for.
    pub sni: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("admin: cannot bind {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    listeners: Arc<Mutex<listener::ListenerManager>>,
    admin_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Default admin address, as in Envoy/Istio sidecars.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:15000";

impl Proxy {
    /// Starts listeners for the static resources, the admin API and (when the bootstrap has
    /// `dynamic_resources.ads_config`) the ADS client.
    pub async fn start(bootstrap: Bootstrap, snapshot: Snapshot) -> Result<Proxy, StartError> {
        let admin_addr = admin_address(&bootstrap)?;
        let stats = Arc::new(stats::Stats::default());
        let shared = Arc::new(Shared::new(bootstrap, stats));
        for s in &shared.bootstrap.static_resources.secrets {
            let secret = weft_proxy_config::runtime::tls::build_secret(s)
                .map_err(|e| StartError::Config(e.to_string()))?;
            shared.secrets.set(&s.name, secret);
        }
        let listeners = Arc::new(Mutex::new(listener::ListenerManager::default()));
        let control = Control {
            shared: shared.clone(),
            listeners: listeners.clone(),
        };
        if let Some(e) = control.apply(Arc::new(snapshot)).into_iter().next() {
            return Err(e.into());
        }
        let admin = admin::bind(admin_addr)
            .await
            .map_err(|source| StartError::Admin {
                addr: admin_addr,
                source,
            })?;
        let admin_addr = admin.local_addr().unwrap_or(admin_addr);
        let mut tasks = vec![tokio::spawn(admin::serve(shared.clone(), admin))];
        match ads::AdsConfig::from_bootstrap(&shared.bootstrap).map_err(StartError::Config)? {
            Some(cfg) => tasks.push(tokio::spawn(ads::run(control, cfg))),
            None => shared.ready.store(true, Ordering::Relaxed),
        }
        shared.stats.live.set(1);
        Ok(Proxy {
            shared,
            listeners,
            admin_addr,
            tasks,
        })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// How long TCP connections of a replaced listener may go on (Envoy's drain time).
    pub fn set_drain_time(&self, drain: Duration) {
        let ms = u64::try_from(drain.as_millis()).unwrap_or(u64::MAX);
        self.shared.drain_time_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves when `/quitquitquit` was called.
    pub async fn quit_requested(&self) {
        self.shared.quit.notified().await;
    }

    /// Stops accepting, fails health checks, waits `drain` for in-flight work, then stops.
    pub async fn shutdown(self, drain: Duration) {
        self.shared.healthy.store(false, Ordering::Relaxed);
        self.shared.stats.live.set(0);
        lock(&self.listeners).stop();
        tokio::time::sleep(drain).await;
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn admin_address(b: &Bootstrap) -> Result<SocketAddr, StartError> {
    let Some(a) = b.admin.as_ref().and_then(|a| a.address.as_ref()) else {
        return DEFAULT_ADMIN
            .parse()
            .map_err(|_| StartError::Config("bad default admin address".into()));
    };
    let at = weft_proxy_config::error::At::new("Bootstrap");
    weft_proxy_config::runtime::cluster::socket_addr(&at.field("admin.address"), a)
        .map_err(|e| StartError::Config(e.to_string()))
}

/// Applies new snapshots: publish to the data path, then bind/unbind listeners.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
    listeners: Arc<Mutex<listener::ListenerManager>>,
}

impl Control {
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn apply(&self, snap: Arc<Snapshot>) -> Vec<BindError> {
        self.shared.publish(snap);
        lock(&self.listeners).sync(&self.shared)
    }
}
