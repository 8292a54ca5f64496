//! Rules for ServiceEntry: hosts, addresses and ports, and what each resolution mode needs
//! from hosts and endpoints.

use std::collections::{BTreeMap, BTreeSet};

use weft_config::model::networking::{Resolution, ServiceEntry, WorkloadEntry};

use super::workload::check_endpoint_fields;
use super::{
    check_export_to, check_port, check_port_name, check_protocol, check_selector,
    check_unix_address, is_ip, report,
};
use crate::Checker;
use crate::common::{HostRules, check_host, check_ip_or_cidr};

pub fn check(spec: &ServiceEntry, c: &mut Checker) {
    let resolution = spec.resolution.unwrap_or(Resolution::None);
    c.require(!spec.hosts.is_empty(), "spec.hosts");
    for (i, host) in spec.hosts.iter().enumerate() {
        let path = format!("spec.hosts[{i}]");
        if host == "*" {
            c.error(&path, "a ServiceEntry host cannot be \"*\"");
        } else {
            report(c, &path, check_host(host, HostRules::SERVICE));
        }
    }
    check_addresses(spec, resolution, c);
    let ports = check_ports(spec, c);
    check_resolution(spec, resolution, c);
    for (i, ep) in spec.endpoints.iter().enumerate() {
        let path = format!("spec.endpoints[{i}]");
        check_endpoint_address(ep, &path, resolution, c);
        check_endpoint_fields(ep, &path, Some(&ports), c);
    }
    if let Some(sel) = &spec.workload_selector {
        check_selector(c, "spec.workloadSelector.labels", &sel.labels);
    }
    check_export_to(c, "spec.exportTo", &spec.export_to);
    for (i, san) in spec.subject_alt_names.iter().enumerate() {
        if san.is_empty() {
            c.error(
                format!("spec.subjectAltNames[{i}]"),
                "subject alt name must not be empty",
            );
        }
    }
}

fn check_addresses(spec: &ServiceEntry, resolution: Resolution, c: &mut Checker) {
    for (i, addr) in spec.addresses.iter().enumerate() {
        let path = format!("spec.addresses[{i}]");
        if let Err(e) = check_ip_or_cidr(addr) {
            c.error(&path, e);
        } else if addr.contains('/') && !matches!(resolution, Resolution::None | Resolution::Static)
        {
            c.error(&path, "CIDR addresses need resolution NONE or STATIC");
        }
    }
}

/// Checks the ports and returns their names.
fn check_ports(spec: &ServiceEntry, c: &mut Checker) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut numbers: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, port) in spec.ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match port.number {
            None => c.require(false, format!("{path}.number")),
            Some(n) => {
                check_port(c, &format!("{path}.number"), n);
                if let Some(first) = numbers.get(&n) {
                    c.error(
                        format!("{path}.number"),
                        format!("port {n} is already declared by spec.ports[{first}]"),
                    );
                } else {
                    numbers.insert(n, i);
                }
            }
        }
        match port.name.as_deref() {
            None => c.require(false, format!("{path}.name")),
            Some(name) => {
                check_port_name(c, &format!("{path}.name"), name);
                if !names.insert(name.to_string()) {
                    c.error(
                        format!("{path}.name"),
                        format!("port name {name:?} is already declared"),
                    );
                }
            }
        }
        // An unset protocol means Istio sniffs it.
        if let Some(p) = port.protocol.as_deref() {
            check_protocol(c, &format!("{path}.protocol"), p);
        }
        if let Some(t) = port.target_port {
            check_port(c, &format!("{path}.targetPort"), t);
        }
    }
    names
}

fn check_resolution(spec: &ServiceEntry, resolution: Resolution, c: &mut Checker) {
    let has_endpoints = !spec.endpoints.is_empty();
    if has_endpoints && spec.workload_selector.is_some() {
        c.error(
            "spec.workloadSelector",
            "only one of endpoints or workloadSelector may be set",
        );
    }
    match resolution {
        Resolution::None => {
            if has_endpoints {
                c.error(
                    "spec.endpoints",
                    "resolution NONE takes no endpoints: traffic goes to the address the client asked for",
                );
            }
            if spec.workload_selector.is_some() {
                c.warn(
                    "spec.workloadSelector",
                    "workloadSelector has no effect with resolution NONE",
                );
            }
        }
        Resolution::Static => {
            if !has_endpoints && spec.workload_selector.is_none() {
                c.error(
                    "spec.endpoints",
                    "resolution STATIC needs endpoints or a workloadSelector",
                );
            }
        }
        Resolution::Dns | Resolution::DnsRoundRobin => {
            let name = if resolution == Resolution::Dns {
                "DNS"
            } else {
                "DNS_ROUND_ROBIN"
            };
            if !has_endpoints {
                for (i, host) in spec.hosts.iter().enumerate() {
                    if host.starts_with('*') {
                        c.error(
                            format!("spec.hosts[{i}]"),
                            format!("wildcard host {host:?} cannot be resolved with resolution {name}; add endpoints or use resolution NONE"),
                        );
                    }
                }
            }
            if resolution == Resolution::DnsRoundRobin && spec.endpoints.len() > 1 {
                c.error(
                    "spec.endpoints",
                    "resolution DNS_ROUND_ROBIN allows at most one endpoint",
                );
            }
        }
    }
}

/// STATIC endpoints are IPs or unix sockets; DNS endpoints are IPs or host names.
fn check_endpoint_address(ep: &WorkloadEntry, path: &str, resolution: Resolution, c: &mut Checker) {
    let at = format!("{path}.address");
    let Some(addr) = ep.address.as_deref() else {
        c.require(false, &at);
        return;
    };
    if addr.starts_with("unix://") {
        if resolution == Resolution::Static {
            report(c, &at, check_unix_address(addr));
        } else {
            c.error(
                &at,
                "unix:// addresses are only allowed with resolution STATIC",
            );
        }
        return;
    }
    match resolution {
        Resolution::Static if !is_ip(addr) => c.error(
            &at,
            format!("{addr:?} is not an IP address, as resolution STATIC needs (use resolution DNS for host names)"),
        ),
        Resolution::Dns | Resolution::DnsRoundRobin if !is_ip(addr) => {
            report(c, &at, check_host(addr, HostRules::FQDN_ONLY));
        }
        _ => {}
    }
}
