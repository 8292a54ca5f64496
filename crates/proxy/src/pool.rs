//! Upstream HTTP connection pools, one per host: idle HTTP/1.1 connections are reused
//! (keep-alive) and one HTTP/2 connection is shared by all requests. Locks here are per host
//! and never held across `.await`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use weft_proxy_config::runtime::{Cluster, UpstreamProtocol};

use crate::stats::ClusterStats;
use crate::upstream::Host;

/// Bound on idle HTTP/1.1 connections kept per host.
const MAX_IDLE_PER_HOST: usize = 64;

#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(Instant, http1::SendRequest<Incoming>)>>,
    h2: Mutex<Option<http2::SendRequest<Incoming>>>,
}

#[derive(Debug)]
pub enum Sender {
    H1(http1::SendRequest<Incoming>),
    H2(http2::SendRequest<Incoming>),
}

/// Why no upstream connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection timeout")]
    Timeout,
    #[error("connection failure: {0}")]
    Io(#[from] io::Error),
    #[error("protocol error: {0}")]
    Handshake(#[from] hyper::Error),
    /// `max_connections` was reached and `max_pending_requests` too (response flag UO).
    #[error("upstream overflow: circuit breaker threshold reached")]
    Overflow,
}

/// How often a request waiting for a connection slot looks again.
const CAPACITY_POLL: Duration = Duration::from_millis(20);

impl Pool {
    /// Returns a ready sender, reusing an idle or shared connection when there is one.
    pub async fn checkout(
        &self,
        host: &Arc<Host>,
        cluster: &Cluster,
        stats: &Arc<ClusterStats>,
    ) -> Result<Sender, ConnectError> {
        match cluster.protocol {
            UpstreamProtocol::Http2 => {
                let shared = lock(&self.h2).clone().filter(|s| s.is_ready());
                if let Some(s) = shared {
                    return Ok(Sender::H2(s));
                }
                if !has_capacity(cluster, stats) {
                    wait_for_capacity(host, cluster, stats, None).await?;
                }
                let io = connect(host, cluster, stats).await?;
                let (send, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                spawn_conn(host.clone(), stats.clone(), conn);
                *lock(&self.h2) = Some(send.clone());
                Ok(Sender::H2(send))
            }
            UpstreamProtocol::Http1 => {
                if let Some(s) = self.take_idle(cluster.idle_timeout).await {
                    return Ok(Sender::H1(s));
                }
                if !has_capacity(cluster, stats)
                    && let Some(s) = wait_for_capacity(host, cluster, stats, Some(self)).await?
                {
                    return Ok(Sender::H1(s));
                }
                let io = connect(host, cluster, stats).await?;
                let (send, conn) = http1::handshake(io).await?;
                spawn_conn(host.clone(), stats.clone(), conn);
                Ok(Sender::H1(send))
            }
        }
    }

    async fn take_idle(
        &self,
        idle_timeout: Option<Duration>,
    ) -> Option<http1::SendRequest<Incoming>> {
        for _ in 0..MAX_IDLE_PER_HOST {
            let (since, mut s) = lock(&self.idle).pop()?;
            if s.is_closed() || idle_timeout.is_some_and(|t| since.elapsed() > t) {
                continue;
            }
            if s.ready().await.is_ok() {
                return Some(s);
            }
        }
        None
    }

    /// Puts an HTTP/1.1 connection back after its response was read to the end.
    pub fn checkin(&self, s: http1::SendRequest<Incoming>) {
        if s.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_PER_HOST {
            idle.push((Instant::now(), s));
        }
    }
}

/// Whether the cluster is below `max_connections` (upstream connections of all its hosts).
fn has_capacity(cluster: &Cluster, stats: &ClusterStats) -> bool {
    cluster
        .breakers
        .max_connections
        .is_none_or(|max| u64::try_from(stats.upstream_cx_active.get()).unwrap_or(0) < max)
}

/// The request waits as pending (bounded by `max_pending_requests`) until a connection slot
/// frees or, for HTTP/1.1, an idle connection comes back. As in Envoy the wait itself is not
/// bounded here: the route timeout ends it. Returns the idle connection when one was found.
async fn wait_for_capacity(
    host: &Host,
    cluster: &Cluster,
    stats: &ClusterStats,
    idle: Option<&Pool>,
) -> Result<Option<http1::SendRequest<Incoming>>, ConnectError> {
    host.limits.stats.upstream_cx_overflow.inc();
    let _pending = host
        .limits
        .pend(&cluster.breakers)
        .map_err(|_| ConnectError::Overflow)?;
    loop {
        tokio::time::sleep(CAPACITY_POLL).await;
        if let Some(pool) = idle
            && let Some(s) = pool.take_idle(cluster.idle_timeout).await
        {
            return Ok(Some(s));
        }
        if has_capacity(cluster, stats) {
            return Ok(None);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn connect(
    host: &Host,
    cluster: &Cluster,
    stats: &ClusterStats,
) -> Result<TokioIo<TcpStream>, ConnectError> {
    stats.upstream_cx_total.inc();
    host.cx_total.fetch_add(1, Ordering::Relaxed);
    let res = tokio::time::timeout(cluster.connect_timeout, TcpStream::connect(host.addr)).await;
    let stream = match res {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            stats.upstream_cx_connect_fail.inc();
            host.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
            return Err(ConnectError::Io(e));
        }
        Err(_) => {
            stats.upstream_cx_connect_fail.inc();
            stats.upstream_cx_connect_timeout.inc();
            host.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
            return Err(ConnectError::Timeout);
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(TokioIo::new(stream))
}

/// Drives a client connection and keeps the connection gauges right.
fn spawn_conn<F>(host: Arc<Host>, stats: Arc<ClusterStats>, conn: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    host.cx_active.fetch_add(1, Ordering::Relaxed);
    stats.upstream_cx_active.inc();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(upstream = %host.addr, error = %e, "upstream connection ended");
        }
        host.cx_active.fetch_sub(1, Ordering::Relaxed);
        stats.upstream_cx_active.dec();
        stats.upstream_cx_destroy.inc();
    });
}

/// Connects a raw TCP stream for the TCP proxy.
pub async fn connect_tcp(
    host: &Host,
    cluster: &Cluster,
    stats: &ClusterStats,
) -> Result<TcpStream, ConnectError> {
    let io = connect(host, cluster, stats).await?;
    Ok(io.into_inner())
}
