//! Rules for WorkloadEntry and WorkloadGroup, and for the fields WorkloadEntries share with
//! ServiceEntry endpoints and WorkloadGroup templates.

use std::collections::BTreeSet;

use weft_config::model::networking::{ReadinessProbe, WorkloadEntry, WorkloadGroup};

use super::{
    check_header_name, check_labels, check_locality, check_port, check_port_name,
    check_unix_address, is_ip, key_path, one_of, report,
};
use crate::Checker;
use crate::common::{HostRules, check_host, check_label_key, is_dns1123_subdomain};

pub fn check_entry(spec: &WorkloadEntry, c: &mut Checker) {
    match spec.address.as_deref() {
        // Without an address the workload is reached through its network's gateway.
        None if spec.network.is_some() => {}
        None => c.error(
            "spec.address",
            "required field is missing (only a WorkloadEntry with a network may omit it)",
        ),
        Some(addr) if addr.starts_with("unix://") => {
            report(c, "spec.address", check_unix_address(addr));
        }
        Some(addr) if is_ip(addr) => {}
        Some(addr) => report(c, "spec.address", check_host(addr, HostRules::FQDN_ONLY)),
    }
    check_endpoint_fields(spec, "spec", None, c);
}

/// Ports, labels, weight, locality and service account of a WorkloadEntry, a ServiceEntry
/// endpoint (whose port names must be among `declared`) or a WorkloadGroup template.
pub(super) fn check_endpoint_fields(
    we: &WorkloadEntry,
    path: &str,
    declared: Option<&BTreeSet<String>>,
    c: &mut Checker,
) {
    let on_socket = we
        .address
        .as_deref()
        .is_some_and(|a| a.starts_with("unix://"));
    if on_socket && !we.ports.is_empty() {
        c.error(format!("{path}.ports"), "a unix:// endpoint has no ports");
    }
    for (name, port) in &we.ports {
        let at = key_path(&format!("{path}.ports"), name);
        check_port_name(c, &at, name);
        check_port(c, &at, *port);
        if declared.is_some_and(|d| !d.contains(name)) {
            c.error(&at, format!("port {name:?} is not declared in spec.ports"));
        }
    }
    check_labels(c, &format!("{path}.labels"), &we.labels);
    if we.weight == Some(0) {
        c.warn(
            format!("{path}.weight"),
            "weight 0 means the default weight 1, not \"no traffic\"",
        );
    }
    if let Some(l) = &we.locality {
        report(c, format!("{path}.locality"), check_locality(l, false));
    }
    if let Some(sa) = &we.service_account
        && !is_dns1123_subdomain(sa)
    {
        c.error(
            format!("{path}.serviceAccount"),
            format!("{sa:?} is not a valid service account name"),
        );
    }
}

pub fn check_group(spec: &WorkloadGroup, c: &mut Checker) {
    match &spec.template {
        None => c.require(false, "spec.template"),
        Some(t) => {
            if t.address.is_some() {
                c.error(
                    "spec.template.address",
                    "address must not be set in a template: each WorkloadEntry gets its workload's address",
                );
            }
            check_endpoint_fields(t, "spec.template", None, c);
        }
    }
    if let Some(m) = &spec.metadata {
        check_labels(c, "spec.metadata.labels", &m.labels);
        for key in m.annotations.keys() {
            report(
                c,
                key_path("spec.metadata.annotations", key),
                check_label_key(key),
            );
        }
    }
    if let Some(p) = &spec.probe {
        check_probe(p, "spec.probe", c);
    }
}

fn check_probe(p: &ReadinessProbe, path: &str, c: &mut Checker) {
    let methods = [
        ("httpGet", p.http_get.is_some()),
        ("tcpSocket", p.tcp_socket.is_some()),
        ("exec", p.exec.is_some()),
        ("grpc", p.grpc.is_some()),
    ];
    one_of(c, path, &methods, true);
    for (field, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = value.filter(|v| *v < 0) {
            c.error(
                format!("{path}.{field}"),
                format!("{field} {v} must not be negative"),
            );
        }
    }
    let port = |c: &mut Checker, at: String, port: Option<u32>| match port {
        None => c.require(false, at),
        Some(n) => check_port(c, &at, n),
    };
    if let Some(h) = &p.http_get {
        port(c, format!("{path}.httpGet.port"), h.port);
        if let Some(s) = h
            .scheme
            .as_deref()
            .filter(|s| *s != "HTTP" && *s != "HTTPS")
        {
            c.error(
                format!("{path}.httpGet.scheme"),
                format!("scheme {s:?} must be HTTP or HTTPS"),
            );
        }
        for (i, header) in h.http_headers.iter().enumerate() {
            let at = format!("{path}.httpGet.httpHeaders[{i}].name");
            match header.name.as_deref() {
                None => c.require(false, at),
                Some(n) => check_header_name(c, &at, n, false),
            }
        }
    }
    if let Some(t) = &p.tcp_socket {
        port(c, format!("{path}.tcpSocket.port"), t.port);
    }
    if let Some(e) = &p.exec {
        c.require(!e.command.is_empty(), format!("{path}.exec.command"));
    }
    if let Some(g) = &p.grpc {
        port(c, format!("{path}.grpc.port"), g.port);
    }
}
