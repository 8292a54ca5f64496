//! DestinationRule traffic policy → cluster settings: load balancing, connection pool (circuit
//! breakers), and outlier detection. Client TLS is resolved here (`tls`) and built in `security::client_tls`.

use weft_config::model::networking::{
    ClientTlsSettings, ConnectionPoolSettings, LoadBalancerSettings,
    OutlierDetection as IstioOutlier, PortTrafficPolicy, SimpleLb, TrafficPolicy,
};
use weft_xds::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds;
use weft_xds::pb::envoy::config::cluster::v3::cluster::{
    CommonLbConfig, LbConfig, LbPolicy, MaglevLbConfig, RingHashLbConfig,
};
use weft_xds::pb::envoy::config::cluster::v3::{CircuitBreakers, Cluster, OutlierDetection};
use weft_xds::pb::envoy::config::core::v3::HttpProtocolOptions;
use weft_xds::pb::envoy::r#type::v3::Percent;

use crate::pbutil::{duration_of, u32v};

/// The policy that applies to one port of one subset: the rule's policy, overridden by its
/// port-level settings, then by the subset's policy and its port-level settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EffectivePolicy {
    pub load_balancer: Option<LoadBalancerSettings>,
    pub connection_pool: Option<ConnectionPoolSettings>,
    pub outlier_detection: Option<IstioOutlier>,
    pub tls: Option<ClientTlsSettings>,
}

impl EffectivePolicy {
    pub fn resolve(
        base: Option<&TrafficPolicy>,
        subset: Option<&TrafficPolicy>,
        port: u32,
    ) -> Self {
        let mut out = EffectivePolicy::default();
        for policy in [base, subset].into_iter().flatten() {
            out.apply(
                policy.load_balancer.clone(),
                policy.connection_pool.clone(),
                policy.outlier_detection.clone(),
                policy.tls.clone(),
            );
            let port_level = policy
                .port_level_settings
                .iter()
                .find(|p| p.port.as_ref().and_then(|s| s.number) == Some(port));
            if let Some(PortTrafficPolicy {
                load_balancer,
                connection_pool,
                outlier_detection,
                tls,
                ..
            }) = port_level
            {
                out.apply(
                    load_balancer.clone(),
                    connection_pool.clone(),
                    outlier_detection.clone(),
                    tls.clone(),
                );
            }
        }
        out
    }

    fn apply(
        &mut self,
        lb: Option<LoadBalancerSettings>,
        pool: Option<ConnectionPoolSettings>,
        outlier: Option<IstioOutlier>,
        tls: Option<ClientTlsSettings>,
    ) {
        self.load_balancer = lb.or(self.load_balancer.take());
        self.connection_pool = pool.or(self.connection_pool.take());
        self.outlier_detection = outlier.or(self.outlier_detection.take());
        self.tls = tls.or(self.tls.take());
    }

    /// `connectionPool.http.idleTimeout` and `maxRequestsPerConnection`, for the cluster's
    /// upstream HTTP protocol options.
    pub fn common_http_options(&self) -> Option<HttpProtocolOptions> {
        let http = self.connection_pool.as_ref()?.http.as_ref()?;
        let max = http
            .max_requests_per_connection
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0);
        if http.idle_timeout.is_none() && max.is_none() {
            return None;
        }
        Some(HttpProtocolOptions {
            idle_timeout: http.idle_timeout.as_ref().map(duration_of),
            max_requests_per_connection: max.map(u32v),
            ..Default::default()
        })
    }

    /// Applies the policy to `cluster`.
    pub fn apply_to(&self, cluster: &mut Cluster) {
        apply_load_balancer(self.load_balancer.as_ref(), cluster);
        cluster.circuit_breakers = Some(circuit_breakers(self.connection_pool.as_ref()));
        if let Some(tcp) = self.connection_pool.as_ref().and_then(|p| p.tcp.as_ref())
            && let Some(t) = &tcp.connect_timeout
        {
            cluster.connect_timeout = Some(duration_of(t));
        }
        if let Some(o) = &self.outlier_detection {
            cluster.outlier_detection = Some(outlier_detection(o));
            if let Some(min) = o.min_health_percent {
                let common = cluster
                    .common_lb_config
                    .get_or_insert_with(CommonLbConfig::default);
                common.healthy_panic_threshold = Some(Percent {
                    value: f64::from(min),
                });
            }
        }
    }
}

fn apply_load_balancer(lb: Option<&LoadBalancerSettings>, cluster: &mut Cluster) {
    // Istio's default is LEAST_REQUEST.
    cluster.lb_policy = LbPolicy::LeastRequest as i32;
    let Some(lb) = lb else { return };
    if let Some(simple) = lb.simple {
        cluster.lb_policy = match simple {
            SimpleLb::RoundRobin => LbPolicy::RoundRobin,
            SimpleLb::Random => LbPolicy::Random,
            SimpleLb::Passthrough => LbPolicy::ClusterProvided,
            SimpleLb::LeastConn | SimpleLb::LeastRequest | SimpleLb::Unspecified => {
                LbPolicy::LeastRequest
            }
        } as i32;
    }
    if let Some(ch) = &lb.consistent_hash {
        if let Some(m) = &ch.maglev {
            cluster.lb_policy = LbPolicy::Maglev as i32;
            cluster.lb_config = Some(LbConfig::MaglevLbConfig(MaglevLbConfig {
                table_size: m
                    .table_size
                    .map(|value| weft_xds::pb::google::protobuf::UInt64Value { value }),
            }));
        } else {
            let size = ch
                .ring_hash
                .as_ref()
                .and_then(|r| r.minimum_ring_size)
                .or(ch.minimum_ring_size)
                .unwrap_or(1024);
            cluster.lb_policy = LbPolicy::RingHash as i32;
            cluster.lb_config = Some(LbConfig::RingHashLbConfig(RingHashLbConfig {
                minimum_ring_size: Some(weft_xds::pb::google::protobuf::UInt64Value {
                    value: size,
                }),
                ..Default::default()
            }));
        }
    }
}

fn limit(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(u32::MAX)
}

/// Istio sets every threshold, to "unlimited" (2^32-1) unless the pool says otherwise.
fn circuit_breakers(pool: Option<&ConnectionPoolSettings>) -> CircuitBreakers {
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    let http = pool.and_then(|p| p.http.as_ref());
    CircuitBreakers {
        thresholds: vec![Thresholds {
            max_connections: Some(u32v(limit(tcp.and_then(|t| t.max_connections)))),
            max_pending_requests: Some(u32v(limit(
                http.and_then(|h| h.http1_max_pending_requests),
            ))),
            max_requests: Some(u32v(limit(http.and_then(|h| h.http2_max_requests)))),
            max_retries: Some(u32v(limit(http.and_then(|h| h.max_retries)))),
            track_remaining: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn outlier_detection(o: &IstioOutlier) -> OutlierDetection {
    let five_xx = o
        .consecutive_5xx_errors
        .or(o.consecutive_errors.and_then(|v| u32::try_from(v).ok()));
    let mut out = OutlierDetection {
        interval: o.interval.as_ref().map(duration_of),
        base_ejection_time: o.base_ejection_time.as_ref().map(duration_of),
        max_ejection_percent: o
            .max_ejection_percent
            .and_then(|v| u32::try_from(v).ok())
            .map(u32v),
        // Istio turns success-rate ejection off and only ejects on what is configured.
        enforcing_success_rate: Some(u32v(0)),
        enforcing_consecutive_5xx: Some(u32v(0)),
        enforcing_consecutive_gateway_failure: Some(u32v(0)),
        split_external_local_origin_errors: o.split_external_local_origin_errors.unwrap_or(false),
        ..Default::default()
    };
    if let Some(n) = five_xx.filter(|n| *n > 0) {
        out.consecutive_5xx = Some(u32v(n));
        out.enforcing_consecutive_5xx = Some(u32v(100));
    }
    if let Some(n) = o.consecutive_gateway_errors.filter(|n| *n > 0) {
        out.consecutive_gateway_failure = Some(u32v(n));
        out.enforcing_consecutive_gateway_failure = Some(u32v(100));
    }
    if let Some(n) = o.consecutive_local_origin_failures.filter(|n| *n > 0) {
        out.consecutive_local_origin_failure = Some(u32v(n));
        out.enforcing_consecutive_local_origin_failure = Some(u32v(100));
    }
    out
}
