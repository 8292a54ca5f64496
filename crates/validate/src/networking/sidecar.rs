//! Rules for Sidecar: ingress and egress listeners, outbound traffic policy, and (across the
//! objects of a namespace) the single default Sidecar.

use std::collections::{BTreeMap, BTreeSet};

use weft_config::model::networking::{
    CaptureMode, IstioEgressListener, IstioIngressListener, OutboundTrafficPolicy,
    OutboundTrafficPolicyMode, Port, ServerTlsMode, ServerTlsSettings, Sidecar,
};
use weft_config::{Body, Object, Problem};

use super::gateway::check_server_tls;
use super::traffic_policy::check_connection_pool;
use super::virtual_service::check_destination;
use super::{
    Protocol, check_labels, check_port, check_port_name, check_protocol, check_unix_address, is_ip,
    report,
};
use crate::Checker;
use crate::common::{HostRules, check_host};

pub fn check(spec: &Sidecar, c: &mut Checker) {
    if let Some(sel) = &spec.workload_selector {
        if sel.labels.is_empty() {
            c.error(
                "spec.workloadSelector.labels",
                "a workloadSelector needs labels (omit workloadSelector to make this the namespace default)",
            );
        }
        check_labels(c, "spec.workloadSelector.labels", &sel.labels);
    }
    let mut ports = BTreeMap::new();
    for (i, l) in spec.ingress.iter().enumerate() {
        check_ingress(l, &format!("spec.ingress[{i}]"), &mut ports, c);
    }
    check_egress(&spec.egress, c);
    if let Some(pool) = &spec.inbound_connection_pool {
        check_connection_pool(pool, "spec.inboundConnectionPool", c);
    }
    if let Some(p) = &spec.outbound_traffic_policy {
        check_outbound(p, "spec.outboundTrafficPolicy", c);
    }
}

/// Checks a listener port number against those seen (number to listener path).
fn check_unique_port(c: &mut Checker, path: &str, n: u32, seen: &mut BTreeMap<u32, String>) {
    if let Some(first) = seen.get(&n) {
        c.error(path, format!("port {n} is already used by {first}"));
    } else {
        seen.insert(n, path.trim_end_matches(".port.number").to_string());
    }
}

fn check_ingress(
    l: &IstioIngressListener,
    path: &str,
    seen: &mut BTreeMap<u32, String>,
    c: &mut Checker,
) {
    let Some(port) = &l.port else {
        c.require(false, format!("{path}.port"));
        return;
    };
    let protocol = check_ingress_port(port, path, seen, c);
    if let Some(bind) = l.bind.as_deref().filter(|b| !is_ip(b)) {
        c.error(
            format!("{path}.bind"),
            format!("bind {bind:?} must be an IP address"),
        );
    }
    if let Some(e) = &l.default_endpoint {
        report(
            c,
            format!("{path}.defaultEndpoint"),
            check_default_endpoint(e),
        );
    }
    if let Some(tls) = &l.tls {
        let at = format!("{path}.tls");
        if !protocol.is_some_and(|p| p.is_tls()) {
            c.error(&at, "TLS settings need port protocol HTTPS or TLS");
        }
        check_sidecar_tls(tls, &at, c);
    }
    if let Some(pool) = &l.connection_pool {
        let at = format!("{path}.connectionPool");
        check_connection_pool(pool, &at, c);
        if pool.http.is_some() && !protocol.is_some_and(|p| p.is_http()) {
            c.warn(
                format!("{at}.http"),
                "HTTP settings only apply to HTTP ports; only tcp applies here",
            );
        }
    }
}

/// The port of an ingress listener; returns its protocol when known.
fn check_ingress_port(
    port: &Port,
    path: &str,
    seen: &mut BTreeMap<u32, String>,
    c: &mut Checker,
) -> Option<Protocol> {
    match port.number {
        None => c.require(false, format!("{path}.port.number")),
        Some(n) => {
            let at = format!("{path}.port.number");
            check_port(c, &at, n);
            check_unique_port(c, &at, n, seen);
        }
    }
    if let Some(name) = &port.name {
        check_port_name(c, &format!("{path}.port.name"), name);
    }
    if port.target_port.is_some() {
        c.warn(
            format!("{path}.port.targetPort"),
            "targetPort has no effect on Sidecar listeners",
        );
    }
    port.protocol
        .as_deref()
        .and_then(|p| check_protocol(c, &format!("{path}.port.protocol"), p))
}

/// `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT`, `:PORT` or `unix://path`.
fn check_default_endpoint(e: &str) -> Result<(), String> {
    if e.starts_with("unix://") {
        return check_unix_address(e);
    }
    let bad = || {
        format!(
            "defaultEndpoint {e:?} must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix://path"
        )
    };
    let (host, port) = e.rsplit_once(':').ok_or_else(bad)?;
    if !matches!(host, "" | "127.0.0.1" | "0.0.0.0" | "[::1]" | "[::]") {
        return Err(bad());
    }
    let port: i64 = port.parse().map_err(|_| bad())?;
    crate::common::check_port(port)
}

fn check_sidecar_tls(tls: &ServerTlsSettings, path: &str, c: &mut Checker) {
    if tls.https_redirect.is_some() {
        c.error(
            format!("{path}.httpsRedirect"),
            "httpsRedirect is not supported on Sidecar listeners",
        );
    }
    if tls.credential_name.is_some() || !tls.credential_names.is_empty() {
        c.error(
            path,
            "credentialName is not supported on Sidecar listeners; use certificate files",
        );
    }
    match tls.mode {
        Some(ServerTlsMode::IstioMutual | ServerTlsMode::AutoPassthrough) => c.error(
            format!("{path}.mode"),
            "modes ISTIO_MUTUAL and AUTO_PASSTHROUGH are not allowed on Sidecar listeners",
        ),
        _ => check_server_tls(tls, path, c),
    }
}

/// Egress listeners: one catch-all (without a port) at most, last; unique ports and sockets;
/// hosts of the form `namespace/host`.
fn check_egress(egress: &[IstioEgressListener], c: &mut Checker) {
    let mut ports = BTreeMap::new();
    let mut sockets = BTreeSet::new();
    let mut catch_all: Option<usize> = None;
    for (i, l) in egress.iter().enumerate() {
        let path = format!("spec.egress[{i}]");
        match &l.port {
            None => {
                if let Some(first) = catch_all {
                    c.error(&path, format!("only one egress listener may omit the port (spec.egress[{first}] does too)"));
                } else if i + 1 != egress.len() {
                    c.error(
                        &path,
                        "the egress listener without a port must be the last one",
                    );
                }
                catch_all.get_or_insert(i);
            }
            Some(port) => check_egress_port(l, port, &path, &mut ports, &mut sockets, c),
        }
        c.require(!l.hosts.is_empty(), format!("{path}.hosts"));
        for (j, host) in l.hosts.iter().enumerate() {
            report(c, format!("{path}.hosts[{j}]"), check_egress_host(host));
        }
    }
}

fn check_egress_port(
    l: &IstioEgressListener,
    port: &Port,
    path: &str,
    ports: &mut BTreeMap<u32, String>,
    sockets: &mut BTreeSet<String>,
    c: &mut Checker,
) {
    if let Some(name) = &port.name {
        check_port_name(c, &format!("{path}.port.name"), name);
    }
    if let Some(p) = &port.protocol {
        check_protocol(c, &format!("{path}.port.protocol"), p);
    }
    let bind = l.bind.as_deref();
    match port.number.filter(|n| *n != 0) {
        // A listener without a port number listens on a unix socket.
        None => match bind {
            Some(b) if b.starts_with("unix://") => {
                report(c, format!("{path}.bind"), check_unix_address(b));
                if !sockets.insert(b.to_string()) {
                    c.error(
                        format!("{path}.bind"),
                        format!("socket {b:?} is already used by another listener"),
                    );
                }
                if !matches!(
                    l.capture_mode,
                    None | Some(CaptureMode::Default | CaptureMode::None)
                ) {
                    c.error(
                        format!("{path}.captureMode"),
                        "a unix socket listener needs captureMode DEFAULT or NONE",
                    );
                }
            }
            _ => c.error(
                format!("{path}.port.number"),
                "required field is missing (only a listener bound to a unix:// socket may omit it)",
            ),
        },
        Some(n) => {
            let at = format!("{path}.port.number");
            check_port(c, &at, n);
            check_unique_port(c, &at, n, ports);
            if let Some(b) = bind.filter(|b| !is_ip(b)) {
                c.error(
                    format!("{path}.bind"),
                    format!("bind {b:?} must be an IP address"),
                );
            }
        }
    }
}

/// `namespace/host`, where the namespace is `*`, `.`, `~` or a namespace name.
fn check_egress_host(host: &str) -> Result<(), String> {
    if !host.contains('/') {
        return Err(format!(
            "{host:?} must be namespace/host, for example \"./{host}\" or \"*/{host}\""
        ));
    }
    check_host(host, HostRules::NAMESPACED)
}

fn check_outbound(p: &OutboundTrafficPolicy, path: &str, c: &mut Checker) {
    let Some(proxy) = &p.egress_proxy else { return };
    let at = format!("{path}.egressProxy");
    if p.mode != Some(OutboundTrafficPolicyMode::AllowAny) {
        c.error(&at, "egressProxy needs mode ALLOW_ANY");
    }
    check_destination(c, &at, proxy);
    if proxy.port.is_none() {
        c.require(false, format!("{at}.port"));
    }
}

/// Istio allows one Sidecar without a workload selector per namespace.
pub fn check_namespace_defaults(objects: &[Object]) -> Vec<Problem> {
    let mut defaults: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for obj in objects {
        if let Body::Sidecar(b) = &obj.body
            && b.spec.workload_selector.is_none()
        {
            defaults.entry(obj.namespace()).or_default().push(obj);
        }
    }
    let mut problems = Vec::new();
    for (ns, sidecars) in defaults {
        for (i, obj) in sidecars.iter().enumerate().skip(1) {
            let others: Vec<&str> = sidecars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| o.name())
                .collect();
            let msg = format!(
                "namespace {ns:?} already has a Sidecar without workloadSelector ({}); only one is allowed",
                others.join(", ")
            );
            problems.push(obj.problem("spec.workloadSelector", msg));
        }
    }
    problems
}
