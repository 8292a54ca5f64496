//! Envoy-style statistics: fixed stat blocks per cluster, HTTP connection manager, TCP proxy
//! and listener, made of prometheus-client atomics. The request path only increments; the
//! registry of blocks is locked only when a block is created (config apply) or read (admin).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

macro_rules! stat_block {
    ($name:ident { counters: [$($c:ident),*], gauges: [$($g:ident),*] }) => {
        #[derive(Debug, Default)]
        pub struct $name {
            $(pub $c: Counter,)*
            $(pub $g: Gauge,)*
        }
        impl $name {
            fn values(&self) -> Vec<(&'static str, bool, i64)> {
                vec![
                    $((stringify!($c), true, self.$c.get() as i64),)*
                    $((stringify!($g), false, self.$g.get()),)*
                ]
            }
        }
    };
}

stat_block!(ClusterStats {
    counters: [
        upstream_rq_total,
        upstream_rq_1xx,
        upstream_rq_2xx,
        upstream_rq_3xx,
        upstream_rq_4xx,
        upstream_rq_5xx,
        upstream_rq_timeout,
        upstream_rq_retry,
        upstream_rq_retry_success,
        upstream_rq_retry_overflow,
        upstream_rq_retry_limit_exceeded,
        upstream_cx_total,
        upstream_cx_connect_fail,
        upstream_cx_connect_timeout,
        upstream_cx_none_healthy,
        upstream_cx_destroy
    ],
    gauges: [upstream_cx_active, upstream_rq_active, membership_total]
});

stat_block!(HttpStats {
    counters: [
        downstream_rq_total,
        downstream_rq_1xx,
        downstream_rq_2xx,
        downstream_rq_3xx,
        downstream_rq_4xx,
        downstream_rq_5xx,
        downstream_cx_total,
        downstream_rq_http1_total,
        downstream_rq_http2_total,
        no_route,
        no_cluster,
        rq_direct_response,
        rq_redirect,
        downstream_rq_timeout,
        downstream_cx_protocol_error,
        downstream_rq_header_timeout,
        downstream_rq_idle_timeout,
        downstream_cx_idle_timeout,
        downstream_cx_max_duration_reached,
        downstream_cx_drain_close
    ],
    gauges: [downstream_cx_active, downstream_rq_active]
});

stat_block!(TcpStats {
    counters: [
        downstream_cx_total,
        downstream_cx_no_route,
        idle_timeout,
        upstream_flush_total,
        downstream_cx_drain_close
    ],
    gauges: [downstream_cx_active]
});

stat_block!(ListenerStats {
    counters: [
        downstream_cx_total,
        no_filter_chain_match,
        downstream_pre_cx_timeout
    ],
    gauges: [downstream_cx_active]
});

// --- Cluster limits and outlier detection (circuit breakers, ejections) ---------------------

/// A stat block whose stats have dotted Envoy names (`outlier_detection.ejections_active`).
macro_rules! named_stat_block {
    ($name:ident { counters: [$($c:ident = $cn:literal),*], gauges: [$($g:ident = $gn:literal),*] }) => {
        #[derive(Debug, Default)]
        pub struct $name {
            $(pub $c: Counter,)*
            $(pub $g: Gauge,)*
        }
        impl $name {
            fn values(&self) -> Vec<(&'static str, bool, i64)> {
                vec![
                    $(($cn, true, self.$c.get() as i64),)*
                    $(($gn, false, self.$g.get()),)*
                ]
            }
        }
    };
}

named_stat_block!(ClusterLimitStats {
    counters: [
        upstream_cx_overflow = "upstream_cx_overflow",
        upstream_rq_pending_overflow = "upstream_rq_pending_overflow",
        upstream_rq_retry_overflow = "upstream_rq_retry_overflow",
        ejections_total = "outlier_detection.ejections_total",
        ejections_enforced_total = "outlier_detection.ejections_enforced_total",
        ejections_overflow = "outlier_detection.ejections_overflow",
        ejections_enforced_consecutive_5xx = "outlier_detection.ejections_enforced_consecutive_5xx",
        ejections_detected_consecutive_5xx = "outlier_detection.ejections_detected_consecutive_5xx",
        ejections_enforced_consecutive_gateway_failure =
            "outlier_detection.ejections_enforced_consecutive_gateway_failure",
        ejections_detected_consecutive_gateway_failure =
            "outlier_detection.ejections_detected_consecutive_gateway_failure",
        ejections_enforced_consecutive_local_origin_failure =
            "outlier_detection.ejections_enforced_consecutive_local_origin_failure",
        ejections_detected_consecutive_local_origin_failure =
            "outlier_detection.ejections_detected_consecutive_local_origin_failure",
        ejections_enforced_success_rate = "outlier_detection.ejections_enforced_success_rate",
        ejections_detected_success_rate = "outlier_detection.ejections_detected_success_rate",
        ejections_enforced_failure_percentage =
            "outlier_detection.ejections_enforced_failure_percentage",
        ejections_detected_failure_percentage =
            "outlier_detection.ejections_detected_failure_percentage",
        ejections_enforced_local_origin_success_rate =
            "outlier_detection.ejections_enforced_local_origin_success_rate",
        ejections_detected_local_origin_success_rate =
            "outlier_detection.ejections_detected_local_origin_success_rate",
        ejections_enforced_local_origin_failure_percentage =
            "outlier_detection.ejections_enforced_local_origin_failure_percentage",
        ejections_detected_local_origin_failure_percentage =
            "outlier_detection.ejections_detected_local_origin_failure_percentage"
    ],
    gauges: [
        ejections_active = "outlier_detection.ejections_active",
        rq_pending_open = "circuit_breakers.default.rq_pending_open",
        rq_open = "circuit_breakers.default.rq_open",
        rq_retry_open = "circuit_breakers.default.rq_retry_open",
        remaining_rq = "circuit_breakers.default.remaining_rq",
        remaining_retries = "circuit_breakers.default.remaining_retries"
    ]
});

// --- end of cluster limits ------------------------------------------------------------------

named_stat_block!(SslStats {
    counters: [
        handshake = "ssl.handshake",
        connection_error = "ssl.connection_error",
        fail_verify_error = "ssl.fail_verify_error",
        fail_verify_san = "ssl.fail_verify_san",
        no_certificate = "ssl.no_certificate"
    ],
    gauges: []
});

named_stat_block!(RbacStats {
    counters: [
        allowed = "rbac.allowed",
        denied = "rbac.denied",
        shadow_allowed = "rbac.shadow_allowed",
        shadow_denied = "rbac.shadow_denied"
    ],
    gauges: []
});

impl ClusterStats {
    pub fn count_status(&self, status: u16) {
        class_counter(
            status,
            [
                &self.upstream_rq_1xx,
                &self.upstream_rq_2xx,
                &self.upstream_rq_3xx,
                &self.upstream_rq_4xx,
                &self.upstream_rq_5xx,
            ],
        );
    }
}

impl HttpStats {
    pub fn count_status(&self, status: u16) {
        class_counter(
            status,
            [
                &self.downstream_rq_1xx,
                &self.downstream_rq_2xx,
                &self.downstream_rq_3xx,
                &self.downstream_rq_4xx,
                &self.downstream_rq_5xx,
            ],
        );
    }
}

fn class_counter(status: u16, by_class: [&Counter; 5]) {
    if let Some(c) = by_class.get(usize::from(status / 100).wrapping_sub(1)) {
        c.inc();
    }
}

/// Every stat block by scope (`cluster`, `http`, `tcp`, `listener`) and name.
#[derive(Debug, Default)]
struct Blocks {
    cluster: BTreeMap<String, Arc<ClusterStats>>,
    cluster_limits: BTreeMap<String, Arc<ClusterLimitStats>>,
    http: BTreeMap<String, Arc<HttpStats>>,
    tcp: BTreeMap<String, Arc<TcpStats>>,
    listener: BTreeMap<String, Arc<ListenerStats>>,
    listener_ssl: BTreeMap<String, Arc<SslStats>>,
    cluster_ssl: BTreeMap<String, Arc<SslStats>>,
    /// By connection manager prefix: `http.<prefix>.rbac.allowed`.
    http_rbac: BTreeMap<String, Arc<RbacStats>>,
    /// By network RBAC `stat_prefix` without its trailing dot: `tcp.rbac.allowed`.
    network_rbac: BTreeMap<String, Arc<RbacStats>>,
}

/// The proxy's stat store.
#[derive(Debug)]
pub struct Stats {
    blocks: Mutex<Blocks>,
    started: Instant,
    pub live: Gauge,
    pub config_updates: Counter,
    pub config_rejections: Counter,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            blocks: Mutex::default(),
            started: Instant::now(),
            live: Gauge::default(),
            config_updates: Counter::default(),
            config_rejections: Counter::default(),
        }
    }
}

fn get_or_add<T: Default>(map: &mut BTreeMap<String, Arc<T>>, name: &str) -> Arc<T> {
    map.entry(name.to_string()).or_default().clone()
}

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Blocks> {
        self.blocks.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn cluster(&self, name: &str) -> Arc<ClusterStats> {
        get_or_add(&mut self.lock().cluster, name)
    }
    pub fn cluster_limits(&self, name: &str) -> Arc<ClusterLimitStats> {
        get_or_add(&mut self.lock().cluster_limits, name)
    }
    pub fn http(&self, prefix: &str) -> Arc<HttpStats> {
        get_or_add(&mut self.lock().http, prefix)
    }
    pub fn tcp(&self, prefix: &str) -> Arc<TcpStats> {
        get_or_add(&mut self.lock().tcp, prefix)
    }
    pub fn listener(&self, name: &str) -> Arc<ListenerStats> {
        get_or_add(&mut self.lock().listener, name)
    }
    /// `listener.<stat_prefix>.ssl.*` of listeners that terminate TLS.
    pub fn listener_ssl(&self, name: &str) -> Arc<SslStats> {
        get_or_add(&mut self.lock().listener_ssl, name)
    }
    /// `cluster.<name>.ssl.*` of clusters that originate TLS.
    pub fn cluster_ssl(&self, name: &str) -> Arc<SslStats> {
        get_or_add(&mut self.lock().cluster_ssl, name)
    }
    pub fn http_rbac(&self, hcm_prefix: &str) -> Arc<RbacStats> {
        get_or_add(&mut self.lock().http_rbac, hcm_prefix)
    }
    /// Envoy joins the filter's `stat_prefix` and `rbac.` as given (Istio: `tcp.`).
    pub fn network_rbac(&self, stat_prefix: &str) -> Arc<RbacStats> {
        let name = stat_prefix.strip_suffix('.').unwrap_or(stat_prefix);
        get_or_add(&mut self.lock().network_rbac, name)
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Every stat as `(scope, scope name, stat, is_counter, value)`.
    fn rows(&self) -> Vec<(&'static str, String, &'static str, bool, i64)> {
        let b = self.lock();
        let mut rows = Vec::new();
        let mut push =
            |scope: &'static str, name: &String, values: Vec<(&'static str, bool, i64)>| {
                for (stat, counter, v) in values {
                    rows.push((scope, name.clone(), stat, counter, v));
                }
            };
        b.cluster
            .iter()
            .for_each(|(n, s)| push("cluster", n, s.values()));
        b.cluster_limits
            .iter()
            .for_each(|(n, s)| push("cluster", n, s.values()));
        b.http.iter().for_each(|(n, s)| push("http", n, s.values()));
        b.tcp.iter().for_each(|(n, s)| push("tcp", n, s.values()));
        b.listener
            .iter()
            .for_each(|(n, s)| push("listener", n, s.values()));
        b.listener_ssl
            .iter()
            .for_each(|(n, s)| push("listener", n, s.values()));
        b.cluster_ssl
            .iter()
            .for_each(|(n, s)| push("cluster", n, s.values()));
        b.http_rbac
            .iter()
            .for_each(|(n, s)| push("http", n, s.values()));
        // No scope: the stat prefix is the whole name (`tcp.rbac.allowed`).
        b.network_rbac
            .iter()
            .for_each(|(n, s)| push("", n, s.values()));
        rows
    }

    fn server_rows(&self) -> Vec<(&'static str, bool, i64)> {
        vec![
            ("live", false, self.live.get()),
            ("uptime", false, self.uptime_secs() as i64),
            ("config_updates", true, self.config_updates.get() as i64),
            (
                "config_rejections",
                true,
                self.config_rejections.get() as i64,
            ),
        ]
    }

    /// Envoy's `/stats` text: `cluster.backend.upstream_rq_total: 3`, sorted by name.
    pub fn render_text(&self, filter: Option<&str>) -> String {
        let mut lines: Vec<String> = self
            .rows()
            .into_iter()
            .map(|(scope, name, stat, _, v)| match scope {
                "" => format!("{name}.{stat}: {v}"),
                _ => format!("{scope}.{name}.{stat}: {v}"),
            })
            .chain(
                self.server_rows()
                    .into_iter()
                    .map(|(stat, _, v)| format!("server.{stat}: {v}")),
            )
            .filter(|l| filter.is_none_or(|f| l.contains(f)))
            .collect();
        lines.sort();
        let mut out = String::new();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        out
    }

    /// Prometheus text exposition through prometheus-client.
    pub fn render_prometheus(self: &Arc<Self>) -> String {
        let mut registry = Registry::with_prefix("envoy");
        registry.register_collector(Box::new(PromCollector(self.clone())));
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Exposes the stat blocks as Prometheus families: `envoy_cluster_upstream_rq_total
/// {envoy_cluster_name="x"}`. prometheus-client appends `_total` to counters itself, so a stat
/// already ending in `_total` is registered without it.
#[derive(Debug)]
struct PromCollector(Arc<Stats>);

/// (family name, is counter) → (label name, scope name, value) per member.
type Families = BTreeMap<(String, bool), Vec<(&'static str, String, i64)>>;

fn label_of(scope: &str) -> &'static str {
    match scope {
        "cluster" => "envoy_cluster_name",
        "http" => "envoy_http_conn_manager_prefix",
        "tcp" => "envoy_tcp_prefix",
        _ => "envoy_listener_address",
    }
}

impl Collector for PromCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut families = Families::new();
        let mut unscoped = Vec::new();
        for (scope, name, stat, counter, v) in self.0.rows() {
            if scope.is_empty() {
                unscoped.push((format!("{name}_{stat}").replace('.', "_"), counter, v));
                continue;
            }
            let family = format!("{scope}_{stat}").replace('.', "_");
            families
                .entry((family, counter))
                .or_default()
                .push((label_of(scope), name, v));
        }
        for ((family, counter), members) in &families {
            let base = if *counter {
                family.strip_suffix("_total").unwrap_or(family)
            } else {
                family
            };
            let kind = if *counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut m = encoder.encode_descriptor(base, family, None, kind)?;
            for (label, name, v) in members {
                let labels = [(*label, name.as_str())];
                let fam = m.encode_family(&labels)?;
                encode_value(fam, *counter, *v)?;
            }
        }
        let server = self
            .0
            .server_rows()
            .into_iter()
            .map(|(stat, counter, v)| (format!("server_{stat}"), counter, v));
        for (name, counter, v) in server.chain(unscoped) {
            let kind = if counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let m = encoder.encode_descriptor(&name, &name, None, kind)?;
            encode_value(m, counter, v)?;
        }
        Ok(())
    }
}

fn encode_value(
    enc: prometheus_client::encoding::MetricEncoder<'_>,
    counter: bool,
    v: i64,
) -> Result<(), std::fmt::Error> {
    if counter {
        let c: Counter = Counter::default();
        c.inc_by(v.max(0) as u64);
        c.encode(enc)
    } else {
        let g: Gauge = Gauge::default();
        g.set(v);
        g.encode(enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_prometheus_names() {
        let stats = Arc::new(Stats::default());
        let c = stats.cluster("backend");
        c.upstream_rq_total.inc();
        c.count_status(503);
        c.upstream_cx_active.inc();
        let text = stats.render_text(None);
        assert!(
            text.contains("cluster.backend.upstream_rq_total: 1\n"),
            "{text}"
        );
        assert!(
            text.contains("cluster.backend.upstream_rq_5xx: 1\n"),
            "{text}"
        );
        let prom = stats.render_prometheus();
        assert!(
            prom.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 1"),
            "{prom}"
        );
        assert!(
            prom.contains("envoy_cluster_upstream_cx_active{envoy_cluster_name=\"backend\"} 1"),
            "{prom}"
        );
        assert!(
            prom.contains("# TYPE envoy_cluster_upstream_rq counter"),
            "{prom}"
        );
    }
}
