//! The `tcp_proxy` network filter: one upstream connection per downstream connection, bytes
//! copied both ways until either side closes or the idle timeout passes.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::lb::pick_weighted;
use weft_proxy_config::runtime::TcpProxy;
use weft_proxy_config::runtime::route::ClusterChoice;

use crate::ConnMeta;
use crate::pipe::{PipeEnd, pipe};
use crate::pool::{ConnectError, connect_tcp};
use crate::state::Shared;
use crate::tls::Stream;
use crate::upstream::{ActiveRequest, AttemptOutcome};

/// Proxies one downstream connection; `drained` resolves when the connection must close
/// because its listener was replaced and the drain time passed.
pub async fn proxy(
    shared: Arc<Shared>,
    cfg: Arc<TcpProxy>,
    downstream: Stream,
    meta: ConnMeta,
    drained: impl std::future::Future<Output = ()>,
) {
    let started = Instant::now();
    let live = shared.live.load_full();
    let stats = shared.stats.tcp(&cfg.stat_prefix);
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    let cluster_name = match &cfg.clusters {
        ClusterChoice::Single(c) => c.as_str(),
        ClusterChoice::Weighted(w) => {
            let weights: Vec<u32> = w.iter().map(|c| c.weight).collect();
            let i = pick_weighted(&weights, |n| fastrand::u64(0..n)).unwrap_or(0);
            w[i].name.as_str()
        }
    };
    let mut rec = LogRecord {
        start_time: Some(SystemTime::now()),
        upstream_cluster: cluster_name.to_string(),
        downstream_local: Some(meta.local),
        downstream_remote: Some(meta.peer),
        server_name: meta.server_name.clone(),
        downstream_peer_uri_san: crate::http::peer_uri_sans(&meta),
        ..Default::default()
    };
    match connect(&live, cluster_name, &mut rec).await {
        Ok(upstream) => {
            rec.upstream_local = upstream.stream.local_addr().ok();
            let piped = pipe(downstream, upstream.stream, cfg.idle_timeout, drained).await;
            rec.bytes_received = piped.received;
            rec.bytes_sent = piped.sent;
            match piped.end {
                PipeEnd::Idle => {
                    stats.idle_timeout.inc();
                }
                PipeEnd::Drained => {
                    stats.downstream_cx_drain_close.inc();
                }
                PipeEnd::Closed => {}
            }
        }
        Err(flag) => {
            stats.downstream_cx_no_route.inc();
            rec.response_flags = flag.into();
        }
    }
    stats.downstream_cx_active.dec();
    rec.duration = started.elapsed();
    live.log(&cfg.access_log, |s| s.format.render(&rec));
}

/// An upstream connection with the guards that keep its gauges right while it lives.
pub(crate) struct Upstream {
    pub(crate) stream: Stream,
    _active: ActiveRequest,
    _cx: CxGuard,
}

/// Picks a host of `cluster_name` and connects to it (circuit breakers, outlier reports,
/// gauges); on failure, Envoy's response flag.
pub(crate) async fn connect(
    live: &crate::state::Live,
    cluster_name: &str,
    rec: &mut LogRecord,
) -> Result<Upstream, &'static str> {
    let Some(cluster) = live.clusters.get(cluster_name) else {
        tracing::debug!(cluster = cluster_name, "tcp_proxy: unknown cluster");
        return Err("NC");
    };
    let Some(host) = cluster.pick(&crate::upstream::PickContext {
        original_dst: rec.downstream_local,
        ..Default::default()
    }) else {
        cluster.stats.upstream_cx_none_healthy.inc();
        return Err("UH");
    };
    rec.upstream_host = Some(host.addr);
    // tcp_proxy has no pending queue: at max_connections the connection is refused (UO).
    // The connection counts from before it connects (increment, then compare), so connections
    // accepted together cannot all pass the check while the first ones are still connecting.
    let before = cluster.stats.upstream_cx_active.inc();
    let cx = CxGuard(cluster.stats.clone());
    if let Some(max) = cluster.cfg.breakers.max_connections
        && u64::try_from(before).unwrap_or(0) >= max
    {
        drop(cx);
        cluster.limits.stats.upstream_cx_overflow.inc();
        return Err("UO");
    }
    let active = ActiveRequest::new(host.clone(), cluster.stats.clone());
    match connect_tcp(&host, &cluster.cfg, &cluster.stats, cluster.tls_for(&host)).await {
        Ok(stream) => {
            // A connected TCP upstream is the whole attempt: it counts as a success.
            cluster.report(&host, AttemptOutcome::Status(200));
            Ok(Upstream {
                stream,
                _active: active,
                _cx: cx,
            })
        }
        Err(e) => {
            let outcome = match e {
                ConnectError::Timeout => AttemptOutcome::Timeout,
                _ => AttemptOutcome::ConnectFailure,
            };
            cluster.report(&host, outcome);
            rec.upstream_failure = e.to_string();
            Err("UF")
        }
    }
}

struct CxGuard(Arc<crate::stats::ClusterStats>);

impl Drop for CxGuard {
    fn drop(&mut self) {
        self.0.upstream_cx_active.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::state::Live;
    use crate::stats::Stats;
    use crate::upstream::build_clusters;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Without iptables no connection has a redirected destination, so this drives the
    /// tcp_proxy connect step directly with the original destination a capture would give.
    #[tokio::test]
    async fn original_dst_cluster_connects_to_the_original_destination() {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dst = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let yaml = "static_resources:\n  clusters:\n  - name: passthrough\n    type: ORIGINAL_DST\n    lb_policy: CLUSTER_PROVIDED\n";
        let snap = weft_proxy_config::bootstrap::load_str("t.yaml", yaml)
            .unwrap()
            .1;
        let stats = Stats::default();
        let live = Live {
            clusters: build_clusters(&snap, None, &stats, &Default::default()),
            snap: Arc::new(snap),
            logs: Default::default(),
        };
        let mut rec = LogRecord {
            downstream_local: Some(dst),
            ..Default::default()
        };
        let mut up = connect(&live, "passthrough", &mut rec).await.unwrap();
        assert_eq!(rec.upstream_host, Some(dst));
        up.stream.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 16];
        let n = up.stream.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        let hosts = live.clusters["passthrough"].hosts();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].addr, dst);
        // No original destination: no host (UH).
        let mut rec = LogRecord::default();
        assert_eq!(
            connect(&live, "passthrough", &mut rec).await.err(),
            Some("UH")
        );
    }
}
