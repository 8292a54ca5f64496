//! Values of the Pod annotations Istio's injector parses (its `AnnotationValidation` table):
//! booleans, counts, ports, port lists, IP ranges and the interception mode.

use std::net::IpAddr;

/// The reason `value` is not acceptable for `annotation`, or `None` when it is (or Istio
/// accepts any value).
pub fn problem(annotation: &str, value: &str) -> Option<String> {
    let result = match annotation {
        "sidecar.istio.io/enableCoreDump" | "prometheus.istio.io/merge-metrics" => boolean(value),
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => uint32(value),
        "status.sidecar.istio.io/port" => status_port(value),
        "sidecar.istio.io/interceptionMode" => interception_mode(value),
        "traffic.sidecar.istio.io/includeOutboundIPRanges"
        | "traffic.sidecar.istio.io/excludeOutboundIPRanges" => ip_ranges(value),
        "traffic.sidecar.istio.io/includeInboundPorts"
        | "traffic.sidecar.istio.io/excludeInboundPorts"
        | "traffic.sidecar.istio.io/includeOutboundPorts"
        | "traffic.sidecar.istio.io/excludeOutboundPorts" => ports(value),
        _ => Ok(()),
    };
    result.err()
}

fn boolean(v: &str) -> Result<(), String> {
    const WORDS: &[&str] = &[
        "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False",
    ];
    if WORDS.contains(&v) {
        Ok(())
    } else {
        Err(format!("{v:?} is not a boolean (true or false)"))
    }
}

fn uint32(v: &str) -> Result<(), String> {
    v.parse::<u32>()
        .map(|_| ())
        .map_err(|_| format!("{v:?} is not a non-negative 32-bit integer"))
}

fn status_port(v: &str) -> Result<(), String> {
    match v.parse::<u32>() {
        Ok(0..=65535) => Ok(()),
        _ => Err(format!("{v:?} is not a port number (0 to 65535)")),
    }
}

fn interception_mode(v: &str) -> Result<(), String> {
    match v {
        "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
        _ => Err(format!("{v:?} is not one of REDIRECT, TPROXY or NONE")),
    }
}

/// `*`, or a comma-separated list of CIDR blocks (an empty list is allowed).
fn ip_ranges(v: &str) -> Result<(), String> {
    if v.trim() == "*" {
        return Ok(());
    }
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !is_cidr(part) {
            return Err(format!(
                "{part:?} is not an IP range in CIDR form (10.0.0.0/8)"
            ));
        }
    }
    Ok(())
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    len.parse::<u8>().is_ok_and(|l| l <= max)
}

/// `*`, or a comma-separated list of ports 1 to 65535 (an empty list is allowed).
fn ports(v: &str) -> Result<(), String> {
    if v.trim() == "*" {
        return Ok(());
    }
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !matches!(part.parse::<u32>(), Ok(1..=65535)) {
            return Err(format!("{part:?} is not a port number (1 to 65535)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_istio_accepts() {
        for (a, v) in [
            ("sidecar.istio.io/enableCoreDump", "true"),
            ("status.sidecar.istio.io/port", "15020"),
            ("sidecar.istio.io/interceptionMode", "TPROXY"),
            (
                "traffic.sidecar.istio.io/includeOutboundIPRanges",
                "10.0.0.0/8, fd00::/8",
            ),
            ("traffic.sidecar.istio.io/excludeOutboundIPRanges", ""),
            ("traffic.sidecar.istio.io/includeInboundPorts", "*"),
            ("traffic.sidecar.istio.io/excludeOutboundPorts", "5432,6379"),
            ("sidecar.istio.io/proxyImage", "anything"),
        ] {
            assert_eq!(problem(a, v), None, "{a}={v}");
        }
    }

    #[test]
    fn rejects_bad_values_with_a_reason() {
        assert_eq!(
            problem("sidecar.istio.io/enableCoreDump", "yes").as_deref(),
            Some("\"yes\" is not a boolean (true or false)")
        );
        assert_eq!(
            problem(
                "traffic.sidecar.istio.io/includeOutboundIPRanges",
                "10.0.0.0"
            )
            .as_deref(),
            Some("\"10.0.0.0\" is not an IP range in CIDR form (10.0.0.0/8)")
        );
        assert!(problem("traffic.sidecar.istio.io/excludeInboundPorts", "80,0").is_some());
        assert!(problem("status.sidecar.istio.io/port", "70000").is_some());
        assert!(problem("sidecar.istio.io/interceptionMode", "redirect").is_some());
        assert!(problem("readiness.status.sidecar.istio.io/periodSeconds", "-1").is_some());
    }
}
