//! The cluster's traffic policies (circuit breakers, outlier detection, load-balancer configs,
//! DNS settings) from protobuf into the model.

use weft_xds::pb::envoy::config::cluster::v3 as pb;

use crate::error::{At, Result};
use crate::from_pb::{dur, enum_named, rest};
use crate::model::cluster as m;

pub fn circuit_breakers(
    at: &At<'_>,
    cb: Option<&pb::CircuitBreakers>,
) -> Result<Option<m::CircuitBreakers>> {
    let Some(cb) = cb else { return Ok(None) };
    let at = at.field("circuit_breakers");
    if !cb.per_host_thresholds.is_empty() {
        return Err(at.field("per_host_thresholds").err("is not supported"));
    }
    let thresholds = cb
        .thresholds
        .iter()
        .enumerate()
        .map(|(i, t)| thresholds(&at.field("thresholds").index(i), t))
        .collect::<Result<_>>()?;
    Ok(Some(m::CircuitBreakers { thresholds }))
}

fn thresholds(at: &At<'_>, t: &pb::circuit_breakers::Thresholds) -> Result<m::Thresholds> {
    let mut left = *t;
    left.priority = 0;
    left.max_connections = None;
    left.max_pending_requests = None;
    left.max_requests = None;
    left.max_retries = None;
    left.retry_budget = None;
    left.track_remaining = false;
    rest(at, &left)?;
    let priority = enum_named(
        &at.field("priority"),
        weft_xds::pb::envoy::config::core::v3::RoutingPriority::try_from(t.priority)
            .ok()
            .map(|p| p.as_str_name()),
    )?;
    let retry_budget = match &t.retry_budget {
        None => None,
        Some(b) => {
            let bat = at.field("retry_budget");
            let mut left = *b;
            left.budget_percent = None;
            left.min_retry_concurrency = None;
            rest(&bat, &left)?;
            Some(m::RetryBudget {
                budget_percent: b
                    .budget_percent
                    .as_ref()
                    .map(|p| m::Percent { value: p.value }),
                min_retry_concurrency: b.min_retry_concurrency.map(|v| v.value),
            })
        }
    };
    Ok(m::Thresholds {
        priority,
        max_connections: t.max_connections.map(|v| v.value),
        max_pending_requests: t.max_pending_requests.map(|v| v.value),
        max_requests: t.max_requests.map(|v| v.value),
        max_retries: t.max_retries.map(|v| v.value),
        retry_budget,
        track_remaining: t.track_remaining,
    })
}

pub fn outlier_detection(
    at: &At<'_>,
    od: Option<&pb::OutlierDetection>,
) -> Result<Option<m::OutlierDetection>> {
    let Some(o) = od else { return Ok(None) };
    let at = at.field("outlier_detection");
    let mut left = o.clone();
    left.consecutive_5xx = None;
    left.interval = None;
    left.base_ejection_time = None;
    left.max_ejection_time = None;
    left.max_ejection_percent = None;
    left.enforcing_consecutive_5xx = None;
    left.consecutive_gateway_failure = None;
    left.enforcing_consecutive_gateway_failure = None;
    left.split_external_local_origin_errors = false;
    left.consecutive_local_origin_failure = None;
    left.enforcing_consecutive_local_origin_failure = None;
    left.enforcing_success_rate = None;
    left.success_rate_minimum_hosts = None;
    left.success_rate_request_volume = None;
    left.success_rate_stdev_factor = None;
    left.enforcing_local_origin_success_rate = None;
    left.failure_percentage_threshold = None;
    left.enforcing_failure_percentage = None;
    left.enforcing_failure_percentage_local_origin = None;
    left.failure_percentage_minimum_hosts = None;
    left.failure_percentage_request_volume = None;
    rest(&at, &left)?;
    Ok(Some(m::OutlierDetection {
        consecutive_5xx: o.consecutive_5xx.map(|v| v.value),
        interval: dur(&at.field("interval"), o.interval.as_ref())?,
        base_ejection_time: dur(
            &at.field("base_ejection_time"),
            o.base_ejection_time.as_ref(),
        )?,
        max_ejection_time: dur(&at.field("max_ejection_time"), o.max_ejection_time.as_ref())?,
        max_ejection_percent: o.max_ejection_percent.map(|v| v.value),
        enforcing_consecutive_5xx: o.enforcing_consecutive_5xx.map(|v| v.value),
        consecutive_gateway_failure: o.consecutive_gateway_failure.map(|v| v.value),
        enforcing_consecutive_gateway_failure: o
            .enforcing_consecutive_gateway_failure
            .map(|v| v.value),
        split_external_local_origin_errors: o.split_external_local_origin_errors,
        consecutive_local_origin_failure: o.consecutive_local_origin_failure.map(|v| v.value),
        enforcing_consecutive_local_origin_failure: o
            .enforcing_consecutive_local_origin_failure
            .map(|v| v.value),
        enforcing_success_rate: o.enforcing_success_rate.map(|v| v.value),
        success_rate_minimum_hosts: o.success_rate_minimum_hosts.map(|v| v.value),
        success_rate_request_volume: o.success_rate_request_volume.map(|v| v.value),
        success_rate_stdev_factor: o.success_rate_stdev_factor.map(|v| v.value),
        enforcing_local_origin_success_rate: o.enforcing_local_origin_success_rate.map(|v| v.value),
        failure_percentage_threshold: o.failure_percentage_threshold.map(|v| v.value),
        enforcing_failure_percentage: o.enforcing_failure_percentage.map(|v| v.value),
        enforcing_failure_percentage_local_origin: o
            .enforcing_failure_percentage_local_origin
            .map(|v| v.value),
        failure_percentage_minimum_hosts: o.failure_percentage_minimum_hosts.map(|v| v.value),
        failure_percentage_request_volume: o.failure_percentage_request_volume.map(|v| v.value),
    }))
}

pub fn common_lb_config(
    at: &At<'_>,
    c: Option<&pb::cluster::CommonLbConfig>,
) -> Result<Option<m::CommonLbConfig>> {
    use pb::cluster::common_lb_config::LocalityConfigSpecifier as L;
    let Some(c) = c else { return Ok(None) };
    let at = at.field("common_lb_config");
    let mut left = c.clone();
    left.healthy_panic_threshold = None;
    left.locality_config_specifier = None;
    rest(&at, &left)?;
    let locality_weighted_lb_config = match &c.locality_config_specifier {
        None => None,
        Some(L::LocalityWeightedLbConfig(_)) => Some(serde_json::json!({})),
        Some(L::ZoneAwareLbConfig(_)) => {
            return Err(at.field("zone_aware_lb_config").err("is not supported"));
        }
    };
    Ok(Some(m::CommonLbConfig {
        healthy_panic_threshold: c
            .healthy_panic_threshold
            .as_ref()
            .map(|p| m::Percent { value: p.value }),
        locality_weighted_lb_config,
    }))
}

/// The `lb_config` oneof: (ring hash, maglev, original dst) configs.
pub type LbConfigs = (
    Option<m::RingHashLbConfig>,
    Option<m::MaglevLbConfig>,
    Option<m::OriginalDstLbConfig>,
);

pub fn lb_config(at: &At<'_>, c: Option<&pb::cluster::LbConfig>) -> Result<LbConfigs> {
    use pb::cluster::LbConfig as L;
    match c {
        None => Ok((None, None, None)),
        Some(L::RingHashLbConfig(r)) => {
            let at = at.field("ring_hash_lb_config");
            let mut left = *r;
            left.minimum_ring_size = None;
            left.maximum_ring_size = None;
            left.hash_function = 0;
            rest(&at, &left)?;
            let hash_function = enum_named(
                &at.field("hash_function"),
                pb::cluster::ring_hash_lb_config::HashFunction::try_from(r.hash_function)
                    .ok()
                    .map(|h| h.as_str_name()),
            )?;
            Ok((
                Some(m::RingHashLbConfig {
                    minimum_ring_size: r.minimum_ring_size.map(|v| v.value),
                    maximum_ring_size: r.maximum_ring_size.map(|v| v.value),
                    hash_function,
                }),
                None,
                None,
            ))
        }
        Some(L::MaglevLbConfig(mg)) => Ok((
            None,
            Some(m::MaglevLbConfig {
                table_size: mg.table_size.map(|v| v.value),
            }),
            None,
        )),
        Some(L::OriginalDstLbConfig(o)) => {
            let at = at.field("original_dst_lb_config");
            let mut left = o.clone();
            left.use_http_header = false;
            rest(&at, &left)?;
            Ok((
                None,
                None,
                Some(m::OriginalDstLbConfig {
                    use_http_header: o.use_http_header,
                }),
            ))
        }
        Some(L::LeastRequestLbConfig(_)) => Err(at
            .field("least_request_lb_config")
            .err("is not supported (LEAST_REQUEST uses two choices)")),
        Some(L::RoundRobinLbConfig(_)) => {
            Err(at.field("round_robin_lb_config").err("is not supported"))
        }
    }
}

pub fn dns_lookup_family(at: &At<'_>, c: &pb::Cluster) -> Result<m::DnsLookupFamily> {
    enum_named(
        &at.field("dns_lookup_family"),
        pb::cluster::DnsLookupFamily::try_from(c.dns_lookup_family)
            .ok()
            .map(|f| f.as_str_name()),
    )
}
