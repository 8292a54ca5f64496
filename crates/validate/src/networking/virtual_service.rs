//! Rules for VirtualService: hosts, gateways, delegation, TLS and TCP routes, and the
//! destination and weight checks HTTP routes share (HTTP routes are in `http_route`).

use weft_config::model::networking::{
    Destination, L4MatchAttributes, RouteDestination, TcpRoute, TlsMatchAttributes, TlsRoute,
    VirtualService,
};

use super::{
    check_export_to, check_gateway_ref, check_host_at, check_labels, check_namespace, check_port,
    host_covers, http_route, is_ip, report,
};
use crate::Checker;
use crate::common::{HostRules, check_ip_or_cidr, is_dns1123_label};

pub fn check(spec: &VirtualService, c: &mut Checker) {
    // Istio treats a VirtualService without hosts as a delegate, to be included by the
    // `delegate` of another's HTTP route.
    let delegate = spec.hosts.is_empty();
    check_hosts(spec, c);
    for (i, gw) in spec.gateways.iter().enumerate() {
        check_gateway_ref(c, &format!("spec.gateways[{i}]"), gw);
    }
    if spec.http.is_empty() && spec.tls.is_empty() && spec.tcp.is_empty() {
        c.error(
            "spec",
            "a VirtualService needs at least one http, tls or tcp route",
        );
    }
    for (i, route) in spec.http.iter().enumerate() {
        http_route::check(route, &format!("spec.http[{i}]"), delegate, c);
    }
    for (i, route) in spec.tls.iter().enumerate() {
        check_tls_route(route, &format!("spec.tls[{i}]"), &spec.hosts, c);
    }
    for (i, route) in spec.tcp.iter().enumerate() {
        check_tcp_route(route, &format!("spec.tcp[{i}]"), c);
    }
    check_export_to(c, "spec.exportTo", &spec.export_to);
}

fn check_hosts(spec: &VirtualService, c: &mut Checker) {
    if spec.hosts.is_empty() {
        if !spec.gateways.is_empty() || !spec.tls.is_empty() || !spec.tcp.is_empty() {
            c.error(
                "spec.hosts",
                "required field is missing (only a delegate VirtualService, with HTTP routes \
                 and no gateways, may omit hosts)",
            );
        }
        return;
    }
    let on_mesh = spec.gateways.is_empty() || spec.gateways.iter().any(|g| g == "mesh");
    let mut valid = true;
    for (i, host) in spec.hosts.iter().enumerate() {
        let path = format!("spec.hosts[{i}]");
        if is_ip(host) {
            continue;
        }
        if let Err(e) = crate::common::check_host(host, HostRules::SERVICE) {
            c.error(&path, e);
            valid = false;
        } else if host == "*" && on_mesh {
            c.error(
                &path,
                "wildcard host \"*\" is not allowed for a VirtualService bound to the mesh gateway",
            );
            valid = false;
        }
    }
    if valid {
        check_overlapping_hosts(&spec.hosts, c);
    }
}

/// Overlapping hosts (`*.example.com` and `a.example.com`) in one VirtualService make the rule
/// apply twice; Istio refuses them.
fn check_overlapping_hosts(hosts: &[String], c: &mut Checker) {
    for (j, b) in hosts.iter().enumerate() {
        if let Some(i) = hosts[..j]
            .iter()
            .position(|a| host_covers(a, b) || host_covers(b, a))
        {
            let msg = format!(
                "host {b:?} overlaps {:?} (spec.hosts[{i}]); list each host once",
                hosts[i]
            );
            c.error(format!("spec.hosts[{j}]"), msg);
        }
    }
}

fn check_tls_route(route: &TlsRoute, path: &str, hosts: &[String], c: &mut Checker) {
    c.require(!route.r#match.is_empty(), format!("{path}.match"));
    for (i, m) in route.r#match.iter().enumerate() {
        check_tls_match(m, &format!("{path}.match[{i}]"), hosts, c);
    }
    c.require(!route.route.is_empty(), format!("{path}.route"));
    check_route_destinations(c, &format!("{path}.route"), &route.route);
}

fn check_tls_match(m: &TlsMatchAttributes, path: &str, hosts: &[String], c: &mut Checker) {
    c.require(!m.sni_hosts.is_empty(), format!("{path}.sniHosts"));
    for (i, sni) in m.sni_hosts.iter().enumerate() {
        let at = format!("{path}.sniHosts[{i}]");
        if !is_ip(sni)
            && let Err(e) = crate::common::check_host(sni, HostRules::SERVICE)
        {
            c.error(&at, e);
            continue;
        }
        // Without hosts the missing hosts are reported instead.
        if !hosts.is_empty() && !hosts.iter().any(|h| host_covers(h, sni)) {
            let msg = format!(
                "SNI host {sni:?} is not covered by any host of the VirtualService ({})",
                hosts.join(", ")
            );
            c.error(&at, msg);
        }
    }
    check_l4_common(
        c,
        path,
        &m.destination_subnets,
        m.port,
        &m.source_labels,
        &m.gateways,
        m.source_namespace.as_deref(),
    );
}

fn check_tcp_route(route: &TcpRoute, path: &str, c: &mut Checker) {
    for (i, m) in route.r#match.iter().enumerate() {
        check_l4_match(m, &format!("{path}.match[{i}]"), c);
    }
    c.require(!route.route.is_empty(), format!("{path}.route"));
    check_route_destinations(c, &format!("{path}.route"), &route.route);
}

fn check_l4_match(m: &L4MatchAttributes, path: &str, c: &mut Checker) {
    if let Some(subnet) = &m.source_subnet {
        c.warn(
            format!("{path}.sourceSubnet"),
            "sourceSubnet is deprecated and has no effect",
        );
        report(c, format!("{path}.sourceSubnet"), check_ip_or_cidr(subnet));
    }
    check_l4_common(
        c,
        path,
        &m.destination_subnets,
        m.port,
        &m.source_labels,
        &m.gateways,
        m.source_namespace.as_deref(),
    );
}

fn check_l4_common(
    c: &mut Checker,
    path: &str,
    subnets: &[String],
    port: Option<u32>,
    source_labels: &std::collections::BTreeMap<String, String>,
    gateways: &[String],
    source_namespace: Option<&str>,
) {
    for (i, s) in subnets.iter().enumerate() {
        report(
            c,
            format!("{path}.destinationSubnets[{i}]"),
            check_ip_or_cidr(s),
        );
    }
    if let Some(p) = port {
        check_port(c, &format!("{path}.port"), p);
    }
    check_labels(c, &format!("{path}.sourceLabels"), source_labels);
    for (i, gw) in gateways.iter().enumerate() {
        check_gateway_ref(c, &format!("{path}.gateways[{i}]"), gw);
    }
    if let Some(ns) = source_namespace {
        check_namespace(c, &format!("{path}.sourceNamespace"), ns);
    }
}

fn check_route_destinations(c: &mut Checker, path: &str, routes: &[RouteDestination]) {
    for (i, r) in routes.iter().enumerate() {
        let at = format!("{path}[{i}].destination");
        match &r.destination {
            Some(d) => check_destination(c, &at, d),
            None => c.require(false, &at),
        }
    }
    let weights: Vec<Option<i32>> = routes.iter().map(|r| r.weight).collect();
    check_weights(c, path, &weights);
}

/// A destination of a route or mirror: a service host (not `*`), a subset name, a port.
pub(super) fn check_destination(c: &mut Checker, path: &str, d: &Destination) {
    match d.host.as_deref() {
        None => c.require(false, format!("{path}.host")),
        Some("*") => c.error(
            format!("{path}.host"),
            "a destination host cannot be \"*\"; name a service",
        ),
        Some(host) => check_host_at(c, &format!("{path}.host"), host, HostRules::SERVICE),
    }
    if let Some(subset) = &d.subset
        && !is_dns1123_label(subset)
    {
        c.error(
            format!("{path}.subset"),
            format!("subset name {subset:?} must be a DNS label"),
        );
    }
    if let Some(port) = &d.port {
        match port.number {
            Some(n) => check_port(c, &format!("{path}.port.number"), n),
            None => c.require(false, format!("{path}.port.number")),
        }
    }
}

/// Weights of the destinations of one route, listed at `path`: each 0-100 and, with more than
/// one destination, summing to 100 as Istio documents (Istio itself normalizes any sum).
pub(super) fn check_weights(c: &mut Checker, path: &str, weights: &[Option<i32>]) {
    for (i, w) in weights.iter().enumerate() {
        if let Some(w) = *w
            && !(0..=100).contains(&w)
        {
            c.error(
                format!("{path}[{i}].weight"),
                format!("weight {w} must be between 0 and 100"),
            );
        }
    }
    match weights {
        [] => {}
        [Some(w)] if *w != 100 && (0..=100).contains(w) => c.warn(
            format!("{path}[0].weight"),
            format!("weight {w} has no effect: the only destination receives all traffic"),
        ),
        [_] => {}
        _ => {
            let sum: i64 = weights.iter().map(|w| i64::from(w.unwrap_or(0))).sum();
            if sum != 100 {
                c.error(
                    path,
                    format!(
                        "weights must sum to 100 when there is more than one destination (they sum to {sum})"
                    ),
                );
            }
        }
    }
}
