//! Upstream HTTP connection pools, one per host: idle HTTP/1.1 connections are reused
//! (keep-alive) and one HTTP/2 connection is shared by all requests. Locks here are per host
//! and never held across `.await`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use weft_proxy_config::runtime::{Cluster, UpstreamProtocol};

use crate::http::UpstreamBody;
use crate::stats::ClusterStats;
use crate::tls::Stream;
use crate::tls::client::{AlpnFallback, ClientTls, TlsConnectError};
use crate::upstream::Host;

/// Bound on idle HTTP/1.1 connections kept per host.
const MAX_IDLE_PER_HOST: usize = 64;

#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(Instant, http1::SendRequest<UpstreamBody>)>>,
    h2: Mutex<Option<http2::SendRequest<UpstreamBody>>>,
}

#[derive(Debug)]
pub enum Sender {
    H1(http1::SendRequest<UpstreamBody>),
    H2(http2::SendRequest<UpstreamBody>),
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
    /// The TLS handshake (or its config) failed; the connection counts as a connect failure.
    #[error("TLS error: {0}")]
    Tls(#[from] TlsConnectError),
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
        tls: Option<&ClientTls>,
    ) -> Result<Sender, ConnectError> {
        if let Some(s) = self.reuse(cluster).await {
            return Ok(s);
        }
        // Boxed: the connect path's state (TCP, TLS and codec handshakes) is large, and kept
        // inline it would be copied with every request's future even when a pooled connection
        // answers.
        Box::pin(self.open(host, cluster, stats, tls)).await
    }

    /// A new connection, within the cluster's connection limit (or one freed while waiting).
    async fn open(
        &self,
        host: &Arc<Host>,
        cluster: &Cluster,
        stats: &Arc<ClusterStats>,
        tls: Option<&ClientTls>,
    ) -> Result<Sender, ConnectError> {
        let slot = match CxSlot::take(host, cluster, stats) {
            Some(slot) => slot,
            None => match self.wait_for_capacity(host, cluster, stats).await? {
                Freed::Sender(s) => return Ok(s),
                Freed::Slot(slot) => slot,
            },
        };
        let fallback = match cluster.protocol {
            UpstreamProtocol::Http2 => AlpnFallback::H2,
            UpstreamProtocol::Http1 => AlpnFallback::Http11,
        };
        let io = TokioIo::new(connect(host, cluster, stats, tls, fallback).await?);
        match cluster.protocol {
            UpstreamProtocol::Http2 => {
                let (send, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                spawn_conn(slot, conn);
                *lock(&self.h2) = Some(send.clone());
                Ok(Sender::H2(send))
            }
            UpstreamProtocol::Http1 => {
                let (send, conn) = http1::handshake(io).await?;
                // `with_upgrades`: a 101 answer hands the connection to the upgrade splice.
                spawn_conn(slot, conn.with_upgrades());
                Ok(Sender::H1(send))
            }
        }
    }

    /// The shared HTTP/2 connection or an idle HTTP/1.1 one, when usable.
    async fn reuse(&self, cluster: &Cluster) -> Option<Sender> {
        match cluster.protocol {
            UpstreamProtocol::Http2 => lock(&self.h2)
                .clone()
                .filter(|s| s.is_ready())
                .map(Sender::H2),
            UpstreamProtocol::Http1 => self.take_idle(cluster.idle_timeout).await.map(Sender::H1),
        }
    }

    async fn take_idle(
        &self,
        idle_timeout: Option<Duration>,
    ) -> Option<http1::SendRequest<UpstreamBody>> {
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
    pub fn checkin(&self, s: http1::SendRequest<UpstreamBody>) {
        if s.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_PER_HOST {
            idle.push((Instant::now(), s));
        }
    }

    /// The request waits as pending (bounded by `max_pending_requests`) until a connection
    /// slot frees or a connection can be reused. As in Envoy the wait itself is not bounded
    /// here: the route timeout ends it.
    async fn wait_for_capacity(
        &self,
        host: &Arc<Host>,
        cluster: &Cluster,
        stats: &Arc<ClusterStats>,
    ) -> Result<Freed, ConnectError> {
        host.limits.stats.upstream_cx_overflow.inc();
        let _pending = host
            .limits
            .pend(&cluster.breakers)
            .map_err(|_| ConnectError::Overflow)?;
        loop {
            tokio::time::sleep(CAPACITY_POLL).await;
            if let Some(s) = self.reuse(cluster).await {
                return Ok(Freed::Sender(s));
            }
            if let Some(slot) = CxSlot::take(host, cluster, stats) {
                return Ok(Freed::Slot(slot));
            }
        }
    }
}

/// What a pending request got once capacity freed.
enum Freed {
    Sender(Sender),
    Slot(CxSlot),
}

/// One upstream connection counted in the connection gauges (and so against
/// `max_connections`) from before it connects until it closes: taking the slot first is what
/// keeps concurrent requests from all connecting past the limit.
struct CxSlot {
    host: Arc<Host>,
    stats: Arc<ClusterStats>,
}

impl CxSlot {
    fn take(host: &Arc<Host>, cluster: &Cluster, stats: &Arc<ClusterStats>) -> Option<Self> {
        let before = stats.upstream_cx_active.inc();
        if let Some(max) = cluster.breakers.max_connections
            && u64::try_from(before).unwrap_or(0) >= max
        {
            stats.upstream_cx_active.dec();
            return None;
        }
        host.cx_active.fetch_add(1, Ordering::Relaxed);
        Some(Self {
            host: host.clone(),
            stats: stats.clone(),
        })
    }
}

impl Drop for CxSlot {
    fn drop(&mut self) {
        self.host.cx_active.fetch_sub(1, Ordering::Relaxed);
        self.stats.upstream_cx_active.dec();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP connection to `to`, from `from` when the cluster has `upstream_bind_config`.
async fn tcp_connect(
    to: std::net::SocketAddr,
    from: Option<std::net::SocketAddr>,
) -> std::io::Result<TcpStream> {
    // A source of the other address family cannot be bound (Istio has one per family).
    let Some(from) = from.filter(|f| f.is_ipv4() == to.is_ipv4()) else {
        return TcpStream::connect(to).await;
    };
    let sock = if to.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.bind(from)?;
    sock.connect(to).await
}

/// A TCP connection to `host`, then the TLS handshake when the cluster has TLS, both within
/// the connect timeout.
async fn connect(
    host: &Host,
    cluster: &Cluster,
    stats: &ClusterStats,
    tls: Option<&ClientTls>,
    fallback: AlpnFallback,
) -> Result<Stream, ConnectError> {
    stats.upstream_cx_total.inc();
    host.cx_total.fetch_add(1, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + cluster.connect_timeout;
    let res =
        tokio::time::timeout_at(deadline, tcp_connect(host.addr, cluster.source_address)).await;
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
    let Some(tls) = tls else {
        return Ok(Stream::Plain(stream));
    };
    let fail = || {
        stats.upstream_cx_connect_fail.inc();
        host.cx_connect_fail.fetch_add(1, Ordering::Relaxed);
    };
    match tokio::time::timeout_at(deadline, tls.connect(stream, host.addr, fallback)).await {
        Ok(Ok(s)) => Ok(Stream::Client(Box::new(s))),
        Ok(Err(e)) => {
            fail();
            Err(ConnectError::Tls(e))
        }
        Err(_) => {
            fail();
            stats.upstream_cx_connect_timeout.inc();
            Err(ConnectError::Timeout)
        }
    }
}

/// Drives a client connection; its slot keeps the connection gauges right until it ends.
fn spawn_conn<F>(slot: CxSlot, conn: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(upstream = %slot.host.addr, error = %e, "upstream connection ended");
        }
        slot.stats.upstream_cx_destroy.inc();
        drop(slot);
    });
}

/// Connects a stream (TLS when the cluster has it) for the TCP proxy.
pub async fn connect_tcp(
    host: &Host,
    cluster: &Cluster,
    stats: &ClusterStats,
    tls: Option<&ClientTls>,
) -> Result<Stream, ConnectError> {
    connect(host, cluster, stats, tls, AlpnFallback::None).await
}
