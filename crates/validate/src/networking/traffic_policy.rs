//! Rules for a DestinationRule traffic policy: load balancing, connection pools (also used by
//! Sidecar), outlier detection, client TLS, per-port settings, tunnels and retry budgets.

use std::collections::BTreeMap;

use weft_config::model::networking::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, ConsistentHashLb, HttpCookie,
    HttpSettings, LoadBalancerSettings, LocalityLbSetting, OutlierDetection, PortTrafficPolicy,
    TcpSettings, TrafficPolicy, TunnelSettings, WarmupConfiguration,
};

use super::{
    check_duration, check_host_at, check_locality, check_optional_duration, check_port, is_ip,
    one_of, report,
};
use crate::Checker;
use crate::common::{HostRules, check_label_key, check_label_value, check_percentage};

pub(super) fn check(p: &TrafficPolicy, path: &str, c: &mut Checker) {
    let empty = p.load_balancer.is_none()
        && p.connection_pool.is_none()
        && p.outlier_detection.is_none()
        && p.tls.is_none()
        && p.port_level_settings.is_empty()
        && p.tunnel.is_none()
        && p.proxy_protocol.is_none()
        && p.retry_budget.is_none();
    if empty {
        c.error(path, "a traffic policy must set at least one field");
    }
    one_of(
        c,
        path,
        &[
            ("tunnel", p.tunnel.is_some()),
            ("proxyProtocol", p.proxy_protocol.is_some()),
        ],
        false,
    );
    check_common(
        c,
        path,
        p.load_balancer.as_ref(),
        p.connection_pool.as_ref(),
        p.outlier_detection.as_ref(),
        p.tls.as_ref(),
    );
    check_port_level_settings(
        &p.port_level_settings,
        &format!("{path}.portLevelSettings"),
        c,
    );
    if let Some(t) = &p.tunnel {
        check_tunnel(t, &format!("{path}.tunnel"), c);
    }
    if let Some(b) = &p.retry_budget {
        let at = format!("{path}.retryBudget");
        if let Some(pct) = b.percent {
            report(c, format!("{at}.percent"), check_percentage(pct));
        }
        check_optional_duration(
            c,
            &format!("{at}.budgetInterval"),
            b.budget_interval.as_ref(),
            true,
        );
    }
}

/// What a policy and each of its ports have in common.
fn check_common(
    c: &mut Checker,
    path: &str,
    lb: Option<&LoadBalancerSettings>,
    pool: Option<&ConnectionPoolSettings>,
    outlier: Option<&OutlierDetection>,
    tls: Option<&ClientTlsSettings>,
) {
    if let Some(lb) = lb {
        check_load_balancer(lb, &format!("{path}.loadBalancer"), outlier.is_some(), c);
    }
    if let Some(pool) = pool {
        check_connection_pool(pool, &format!("{path}.connectionPool"), c);
    }
    if let Some(o) = outlier {
        check_outlier_detection(o, &format!("{path}.outlierDetection"), c);
    }
    if let Some(t) = tls {
        check_tls(t, &format!("{path}.tls"), c);
    }
}

fn check_port_level_settings(ports: &[PortTrafficPolicy], path: &str, c: &mut Checker) {
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match p.port.as_ref().and_then(|p| p.number) {
            None => c.require(false, format!("{at}.port.number")),
            Some(n) => {
                check_port(c, &format!("{at}.port.number"), n);
                if let Some(first) = seen.get(&n) {
                    c.error(
                        format!("{at}.port.number"),
                        format!("port {n} already has settings in {path}[{first}]"),
                    );
                } else {
                    seen.insert(n, i);
                }
            }
        }
        let empty = p.load_balancer.is_none()
            && p.connection_pool.is_none()
            && p.outlier_detection.is_none()
            && p.tls.is_none();
        if empty {
            c.error(&at, "port settings must set at least one of loadBalancer, connectionPool, outlierDetection or tls");
        }
        check_common(
            c,
            &at,
            p.load_balancer.as_ref(),
            p.connection_pool.as_ref(),
            p.outlier_detection.as_ref(),
            p.tls.as_ref(),
        );
    }
}

fn check_load_balancer(lb: &LoadBalancerSettings, path: &str, has_outlier: bool, c: &mut Checker) {
    one_of(
        c,
        path,
        &[
            ("simple", lb.simple.is_some()),
            ("consistentHash", lb.consistent_hash.is_some()),
        ],
        false,
    );
    if let Some(h) = &lb.consistent_hash {
        check_consistent_hash(h, &format!("{path}.consistentHash"), c);
    }
    if let Some(l) = &lb.locality_lb_setting {
        check_locality_lb(l, &format!("{path}.localityLbSetting"), has_outlier, c);
    }
    one_of(
        c,
        path,
        &[
            ("warmup", lb.warmup.is_some()),
            ("warmupDurationSecs", lb.warmup_duration_secs.is_some()),
        ],
        false,
    );
    if let Some(d) = &lb.warmup_duration_secs {
        let at = format!("{path}.warmupDurationSecs");
        c.warn(&at, "warmupDurationSecs is deprecated; use warmup.duration");
        check_duration(c, &at, d, false);
    }
    if let Some(w) = &lb.warmup {
        check_warmup(w, &format!("{path}.warmup"), c);
    }
}

fn check_consistent_hash(h: &ConsistentHashLb, path: &str, c: &mut Checker) {
    let keys = [
        ("httpHeaderName", h.http_header_name.is_some()),
        ("httpCookie", h.http_cookie.is_some()),
        ("useSourceIp", h.use_source_ip.is_some()),
        (
            "httpQueryParameterName",
            h.http_query_parameter_name.is_some(),
        ),
    ];
    one_of(c, path, &keys, true);
    let algorithms = [
        ("ringHash", h.ring_hash.is_some()),
        ("maglev", h.maglev.is_some()),
    ];
    one_of(c, path, &algorithms, false);
    if let Some(cookie) = &h.http_cookie {
        check_cookie(cookie, &format!("{path}.httpCookie"), c);
    }
    if h.minimum_ring_size.is_some() {
        let at = format!("{path}.minimumRingSize");
        if h.ring_hash.is_some() || h.maglev.is_some() {
            c.error(&at, "minimumRingSize cannot be combined with ringHash or maglev; set ringHash.minimumRingSize");
        } else {
            c.warn(
                &at,
                "minimumRingSize is deprecated; use ringHash.minimumRingSize",
            );
        }
    }
    if let Some(m) = &h.maglev {
        check_maglev_table_size(c, &format!("{path}.maglev.tableSize"), m.table_size);
    }
}

fn check_cookie(cookie: &HttpCookie, path: &str, c: &mut Checker) {
    if cookie.name.as_deref().is_none_or(str::is_empty) {
        c.require(false, format!("{path}.name"));
    }
    check_optional_duration(c, &format!("{path}.ttl"), cookie.ttl.as_ref(), true);
    for (i, a) in cookie.attributes.iter().enumerate() {
        if a.name.as_deref().is_none_or(str::is_empty) {
            c.require(false, format!("{path}.attributes[{i}].name"));
        }
    }
}

/// Envoy's largest Maglev table.
const MAX_MAGLEV_TABLE: u64 = 5_000_011;

fn check_maglev_table_size(c: &mut Checker, path: &str, size: Option<u64>) {
    match size {
        None => c.require(false, path),
        Some(n) if n > MAX_MAGLEV_TABLE => c.error(
            path,
            format!("tableSize {n} is larger than {MAX_MAGLEV_TABLE}"),
        ),
        Some(n) if !is_prime(n) => c.error(path, format!("tableSize {n} must be a prime number")),
        Some(_) => {}
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn check_locality_lb(l: &LocalityLbSetting, path: &str, has_outlier: bool, c: &mut Checker) {
    let kinds = [
        ("distribute", !l.distribute.is_empty()),
        ("failover", !l.failover.is_empty()),
        ("failoverPriority", !l.failover_priority.is_empty()),
    ];
    one_of(c, path, &kinds, false);
    for (i, d) in l.distribute.iter().enumerate() {
        let at = format!("{path}.distribute[{i}]");
        match d.from.as_deref() {
            None => c.require(false, format!("{at}.from")),
            Some(from) => report(c, format!("{at}.from"), check_locality(from, true)),
        }
        let mut total: u64 = 0;
        for (to, weight) in &d.to {
            let key = super::key_path(&format!("{at}.to"), to);
            report(c, &key, check_locality(to, true));
            if !(1..=100).contains(weight) {
                c.error(
                    &key,
                    format!("locality weight {weight} must be between 1 and 100"),
                );
            }
            total += u64::from(*weight);
        }
        if total != 100 {
            c.error(
                format!("{at}.to"),
                format!("locality weights must sum to 100 (they sum to {total})"),
            );
        }
    }
    for (i, f) in l.failover.iter().enumerate() {
        check_failover(
            f.from.as_deref(),
            f.to.as_deref(),
            &format!("{path}.failover[{i}]"),
            c,
        );
    }
    for (i, p) in l.failover_priority.iter().enumerate() {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        let result = check_label_key(key).and_then(|()| check_label_value(value));
        report(c, format!("{path}.failoverPriority[{i}]"), result);
    }
    if (!l.failover.is_empty() || !l.failover_priority.is_empty()) && !has_outlier {
        c.warn(
            path,
            "locality failover only happens with outlierDetection set in the same policy",
        );
    }
}

fn check_failover(from: Option<&str>, to: Option<&str>, path: &str, c: &mut Checker) {
    for (field, region) in [("from", from), ("to", to)] {
        match region {
            None => c.require(false, format!("{path}.{field}")),
            Some(r) if r.is_empty() || r.contains('/') || r.contains('*') => c.error(
                format!("{path}.{field}"),
                format!("failover {field} {r:?} must be a region, without '/' or '*'"),
            ),
            Some(_) => {}
        }
    }
    if from.is_some() && from == to {
        c.error(
            format!("{path}.to"),
            "failover must go to a different region",
        );
    }
}

fn check_warmup(w: &WarmupConfiguration, path: &str, c: &mut Checker) {
    match &w.duration {
        None => c.require(false, format!("{path}.duration")),
        Some(d) => check_duration(c, &format!("{path}.duration"), d, false),
    }
    if let Some(p) = w.minimum_percent {
        report(c, format!("{path}.minimumPercent"), check_percentage(p));
    }
    if let Some(a) = w.aggression
        && a <= 0.0
    {
        c.error(
            format!("{path}.aggression"),
            format!("aggression {a} must be greater than 0"),
        );
    }
}

/// Connection pool settings of a DestinationRule or a Sidecar listener.
pub(super) fn check_connection_pool(pool: &ConnectionPoolSettings, path: &str, c: &mut Checker) {
    if pool.tcp.is_none() && pool.http.is_none() {
        c.error(path, "a connection pool must set tcp, http or both");
    }
    if let Some(t) = &pool.tcp {
        check_tcp_pool(t, &format!("{path}.tcp"), c);
    }
    if let Some(h) = &pool.http {
        check_http_pool(h, &format!("{path}.http"), c);
    }
}

fn non_negative(c: &mut Checker, path: &str, field: &str, value: Option<i32>) {
    if let Some(v) = value.filter(|v| *v < 0) {
        c.error(
            format!("{path}.{field}"),
            format!("{field} {v} must not be negative"),
        );
    }
}

fn check_tcp_pool(t: &TcpSettings, path: &str, c: &mut Checker) {
    non_negative(c, path, "maxConnections", t.max_connections);
    check_optional_duration(
        c,
        &format!("{path}.connectTimeout"),
        t.connect_timeout.as_ref(),
        false,
    );
    check_optional_duration(
        c,
        &format!("{path}.maxConnectionDuration"),
        t.max_connection_duration.as_ref(),
        false,
    );
    check_optional_duration(
        c,
        &format!("{path}.idleTimeout"),
        t.idle_timeout.as_ref(),
        true,
    );
    if let Some(k) = &t.tcp_keepalive {
        let at = format!("{path}.tcpKeepalive");
        check_optional_duration(c, &format!("{at}.time"), k.time.as_ref(), false);
        check_optional_duration(c, &format!("{at}.interval"), k.interval.as_ref(), false);
    }
}

fn check_http_pool(h: &HttpSettings, path: &str, c: &mut Checker) {
    non_negative(
        c,
        path,
        "http1MaxPendingRequests",
        h.http1_max_pending_requests,
    );
    non_negative(c, path, "http2MaxRequests", h.http2_max_requests);
    non_negative(
        c,
        path,
        "maxRequestsPerConnection",
        h.max_requests_per_connection,
    );
    non_negative(c, path, "maxRetries", h.max_retries);
    non_negative(c, path, "maxConcurrentStreams", h.max_concurrent_streams);
    check_optional_duration(
        c,
        &format!("{path}.idleTimeout"),
        h.idle_timeout.as_ref(),
        true,
    );
    let upgrade =
        h.h2_upgrade_policy == Some(weft_config::model::networking::H2UpgradePolicy::Upgrade);
    if upgrade && h.use_client_protocol == Some(true) {
        c.error(
            format!("{path}.useClientProtocol"),
            "useClientProtocol cannot be combined with h2UpgradePolicy UPGRADE",
        );
    }
}

fn check_outlier_detection(o: &OutlierDetection, path: &str, c: &mut Checker) {
    if let Some(n) = o.consecutive_errors {
        let at = format!("{path}.consecutiveErrors");
        c.warn(
            &at,
            "consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors",
        );
        if n < 0 {
            c.error(&at, format!("consecutiveErrors {n} must not be negative"));
        }
    }
    check_optional_duration(c, &format!("{path}.interval"), o.interval.as_ref(), false);
    check_optional_duration(
        c,
        &format!("{path}.baseEjectionTime"),
        o.base_ejection_time.as_ref(),
        false,
    );
    for (field, value) in [
        ("maxEjectionPercent", o.max_ejection_percent),
        ("minHealthPercent", o.min_health_percent),
    ] {
        if let Some(v) = value.filter(|v| !(0..=100).contains(v)) {
            c.error(
                format!("{path}.{field}"),
                format!("{field} {v} must be between 0 and 100"),
            );
        }
    }
}

fn check_tls(t: &ClientTlsSettings, path: &str, c: &mut Checker) {
    let Some(mode) = t.mode else {
        c.require(false, format!("{path}.mode"));
        return;
    };
    let files = [
        ("clientCertificate", t.client_certificate.is_some()),
        ("privateKey", t.private_key.is_some()),
        ("caCertificates", t.ca_certificates.is_some()),
        ("caCrl", t.ca_crl.is_some()),
    ];
    match mode {
        ClientTlsMode::Disable => {
            let other = files.iter().any(|(_, s)| *s)
                || t.credential_name.is_some()
                || t.sni.is_some()
                || !t.subject_alt_names.is_empty()
                || t.insecure_skip_verify.is_some();
            if other {
                c.warn(
                    path,
                    "TLS settings other than mode have no effect with mode DISABLE",
                );
            }
        }
        ClientTlsMode::IstioMutual => {
            let provided = files
                .iter()
                .copied()
                .chain([("credentialName", t.credential_name.is_some())]);
            for (field, _) in provided.filter(|(_, s)| *s) {
                c.error(
                    format!("{path}.{field}"),
                    format!("{field} must not be set with mode ISTIO_MUTUAL (Istio provides the certificates)"),
                );
            }
        }
        ClientTlsMode::Simple | ClientTlsMode::Mutual if t.credential_name.is_some() => {
            for (field, _) in files.iter().filter(|(_, s)| *s) {
                c.error(
                    format!("{path}.{field}"),
                    format!("{field} cannot be combined with credentialName, which provides the certificates"),
                );
            }
        }
        ClientTlsMode::Mutual => {
            for (field, set) in &files[..2] {
                if !set {
                    c.error(
                        format!("{path}.{field}"),
                        "required field is missing (mode MUTUAL needs a client certificate and key, or credentialName)",
                    );
                }
            }
        }
        ClientTlsMode::Simple => {}
    }
}

fn check_tunnel(t: &TunnelSettings, path: &str, c: &mut Checker) {
    if let Some(p) = t.protocol.as_deref()
        && p != "CONNECT"
        && p != "POST"
    {
        c.error(
            format!("{path}.protocol"),
            format!("tunnel protocol {p:?} must be \"CONNECT\" or \"POST\""),
        );
    }
    match t.target_host.as_deref() {
        None => c.require(false, format!("{path}.targetHost")),
        Some(h) if is_ip(h) => {}
        Some(h) => check_host_at(c, &format!("{path}.targetHost"), h, HostRules::FQDN_ONLY),
    }
    match t.target_port {
        None => c.require(false, format!("{path}.targetPort")),
        Some(p) => check_port(c, &format!("{path}.targetPort"), p),
    }
}
