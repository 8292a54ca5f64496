//! Rules for the Kubernetes kinds a mesh depends on (Service ports, Pod and Deployment shape),
//! as the API server enforces them, so that files checked before `kubectl apply` fail here
//! rather than there.

use std::collections::BTreeMap;

use weft_config::IntOrString;
use weft_config::model::kube::{Container, Deployment, Pod, PodSpec, Protocol, Service};

use crate::Checker;
use crate::common::{check_port, is_dns1123_label};

pub fn check_service(svc: &Service, c: &mut Checker) {
    let ports = &svc.spec.ports;
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut numbers: BTreeMap<(i64, Protocol), usize> = BTreeMap::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        if let Err(e) = check_port(port.port) {
            c.error(format!("{path}.port"), e);
        }
        let key = (port.port, port.protocol.unwrap_or_default());
        if let Some(first) = numbers.insert(key, i) {
            c.error(
                format!("{path}.port"),
                format!(
                    "port {}/{} is already used by spec.ports[{first}]",
                    key.0,
                    key.1.as_str()
                ),
            );
        }
        check_service_port_name(port.name.as_deref(), i, ports.len() > 1, &mut names, c);
        if let Some(target) = &port.target_port
            && let Err(e) = check_target_port(target)
        {
            c.error(format!("{path}.targetPort"), e);
        }
        if let Some(node_port) = port.node_port
            && let Err(e) = check_port(node_port)
        {
            c.error(format!("{path}.nodePort"), e);
        }
    }
}

/// Names are DNS labels, unique, and required once a Service has several ports.
fn check_service_port_name<'a>(
    name: Option<&'a str>,
    index: usize,
    several: bool,
    seen: &mut BTreeMap<&'a str, usize>,
    c: &mut Checker,
) {
    let path = format!("spec.ports[{index}].name");
    match name {
        None | Some("") if several => {
            c.error(path, "ports must be named when a Service has more than one");
        }
        None | Some("") => {}
        Some(name) => {
            if !is_dns1123_label(name) {
                c.error(
                    &path,
                    format!(
                        "port name {name:?} must be a DNS label (lowercase letters, digits and '-')"
                    ),
                );
            }
            if let Some(first) = seen.get(name) {
                c.error(
                    &path,
                    format!("port name {name:?} is already used by spec.ports[{first}]"),
                );
            } else {
                seen.insert(name, index);
            }
        }
    }
}

pub fn check_pod(pod: &Pod, c: &mut Checker) {
    check_pod_spec(&pod.spec, "spec", c);
}

pub fn check_deployment(d: &Deployment, c: &mut Checker) {
    let spec = &d.spec;
    if spec.replicas.is_some_and(|r| r < 0) {
        c.error("spec.replicas", "replicas must not be negative");
    }
    let selector = &spec.selector;
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        c.error("spec.selector", "a Deployment needs a non-empty selector");
    }
    let labels = &spec.template.metadata.labels;
    for (k, v) in &selector.match_labels {
        if labels.get(k) != Some(v) {
            c.error(
                "spec.selector.matchLabels",
                format!("selector {k}={v} does not match the pod template's labels (spec.template.metadata.labels)"),
            );
        }
    }
    check_pod_spec(&spec.template.spec, "spec.template.spec", c);
}

fn check_pod_spec(spec: &PodSpec, path: &str, c: &mut Checker) {
    if spec.containers.is_empty() {
        c.error(
            format!("{path}.containers"),
            "a pod needs at least one container",
        );
    }
    for (i, container) in spec.containers.iter().enumerate() {
        check_container(container, &format!("{path}.containers[{i}]"), c);
    }
    for (i, container) in spec.init_containers.iter().enumerate() {
        check_container(container, &format!("{path}.initContainers[{i}]"), c);
    }
}

fn check_container(container: &Container, path: &str, c: &mut Checker) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, port) in container.ports.iter().enumerate() {
        let p = format!("{path}.ports[{j}]");
        if let Err(e) = check_port(port.container_port) {
            c.error(format!("{p}.containerPort"), e);
        }
        if let Some(host_port) = port.host_port
            && let Err(e) = check_port(host_port)
        {
            c.error(format!("{p}.hostPort"), e);
        }
        let Some(name) = port.name.as_deref() else {
            continue;
        };
        if let Err(e) = check_port_name(name) {
            c.error(format!("{p}.name"), e);
        }
        if let Some(first) = names.insert(name, j) {
            c.error(
                format!("{p}.name"),
                format!("port name {name:?} is already used by {path}.ports[{first}]"),
            );
        }
    }
}

/// A target port is a number or the name of a container port.
fn check_target_port(target: &IntOrString) -> Result<(), String> {
    match target {
        IntOrString::Int(n) => check_port(*n),
        IntOrString::String(s) => match s.parse::<i64>() {
            Ok(n) => check_port(n),
            Err(_) => check_port_name(s),
        },
    }
}

/// Kubernetes' IANA_SVC_NAME: 1-15 lowercase letters, digits and '-', at least one letter, no
/// leading, trailing or doubled '-'.
fn check_port_name(name: &str) -> Result<(), String> {
    let valid = (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "port name {name:?} must be 1-15 lowercase letters, digits and '-', with at least one \
             letter and no leading, trailing or doubled '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::testing::{assert_clean, errors, only_error};

    fn svc(ports: &str) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  ports:\n{ports}")
    }

    fn pod(containers: &str) -> String {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{containers}")
    }

    fn deployment(selector: &str, labels: &str, ports: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  selector:\n    \
             matchLabels: {selector}\n  template:\n    metadata:\n      labels: {labels}\n    \
             spec:\n      containers:\n      - name: app\n        ports: {ports}\n"
        )
    }

    #[test]
    fn bookinfo_style_service_is_valid() {
        assert_clean(&svc(
            "  - {name: http, port: 9080, targetPort: 9080}\n  - {name: grpc-web, port: 9443, targetPort: grpc, protocol: TCP}\n",
        ));
        assert_clean(&svc("  - {port: 80}\n"));
    }

    #[test]
    fn service_ports_are_in_range() {
        let e = errors(&svc(
            "  - {name: a, port: 0}\n  - {name: b, port: 70000, nodePort: 70001}\n",
        ));
        assert_eq!(
            e,
            [
                (
                    "spec.ports[0].port".to_string(),
                    "port 0 is out of range 1-65535".to_string()
                ),
                (
                    "spec.ports[1].port".to_string(),
                    "port 70000 is out of range 1-65535".to_string()
                ),
                (
                    "spec.ports[1].nodePort".to_string(),
                    "port 70001 is out of range 1-65535".to_string()
                ),
            ]
        );
    }

    #[test]
    fn service_port_names_are_required_unique_labels_with_several_ports() {
        let e = errors(&svc(
            "  - {port: 80}\n  - {name: Http, port: 81}\n  - {name: web, port: 82}\n  - {name: web, port: 83}\n",
        ));
        assert_eq!(
            e,
            [
                (
                    "spec.ports[0].name".to_string(),
                    "ports must be named when a Service has more than one".to_string()
                ),
                (
                    "spec.ports[1].name".to_string(),
                    "port name \"Http\" must be a DNS label (lowercase letters, digits and '-')"
                        .to_string()
                ),
                (
                    "spec.ports[3].name".to_string(),
                    "port name \"web\" is already used by spec.ports[2]".to_string()
                ),
            ]
        );
    }

    #[test]
    fn service_port_numbers_are_unique_per_protocol() {
        let (field, msg) = only_error(&svc("  - {name: a, port: 53}\n  - {name: b, port: 53}\n"));
        assert_eq!(field, "spec.ports[1].port");
        assert_eq!(msg, "port 53/TCP is already used by spec.ports[0]");
        assert_clean(&svc(
            "  - {name: a, port: 53}\n  - {name: b, port: 53, protocol: UDP}\n",
        ));
    }

    #[test]
    fn target_ports_are_numbers_or_port_names() {
        let e = errors(&svc(
            "  - {name: a, port: 80, targetPort: 0}\n  - {name: b, port: 81, targetPort: http_web}\n  - {name: c, port: 82, targetPort: \"8080\"}\n",
        ));
        assert_eq!(
            e,
            [
                ("spec.ports[0].targetPort".to_string(), "port 0 is out of range 1-65535".to_string()),
                (
                    "spec.ports[1].targetPort".to_string(),
                    "port name \"http_web\" must be 1-15 lowercase letters, digits and '-', with at \
                     least one letter and no leading, trailing or doubled '-'"
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn pod_container_ports_are_checked() {
        let yaml = pod(
            "  containers:\n  - name: app\n    ports:\n    - {containerPort: 8080, name: http}\n    - {containerPort: 65536, name: http}\n    - {containerPort: 9090, hostPort: 0, name: averyveryverylongname}\n  initContainers:\n  - name: init\n    ports: [{containerPort: -1}]\n",
        );
        let fields: Vec<_> = errors(&yaml).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].ports[1].containerPort",
                "spec.containers[0].ports[1].name",
                "spec.containers[0].ports[2].hostPort",
                "spec.containers[0].ports[2].name",
                "spec.initContainers[0].ports[0].containerPort",
            ]
        );
        assert_clean(&pod(
            "  containers:\n  - name: app\n    ports: [{containerPort: 9080, name: http}]\n",
        ));
    }

    #[test]
    fn pod_needs_a_container() {
        let (field, msg) = only_error(&pod("  containers: []\n"));
        assert_eq!(field, "spec.containers");
        assert_eq!(msg, "a pod needs at least one container");
    }

    #[test]
    fn deployment_container_ports_are_checked() {
        assert_clean(&deployment(
            "{app: a}",
            "{app: a, version: v1}",
            "[{containerPort: 9080}]",
        ));
        let (field, msg) = only_error(&deployment(
            "{app: a}",
            "{app: a}",
            "[{containerPort: 100000}]",
        ));
        assert_eq!(
            field,
            "spec.template.spec.containers[0].ports[0].containerPort"
        );
        assert_eq!(msg, "port 100000 is out of range 1-65535");
    }

    #[test]
    fn deployment_selector_must_match_template_labels() {
        let (field, msg) = only_error(&deployment("{app: a}", "{app: b}", "[]"));
        assert_eq!(field, "spec.selector.matchLabels");
        assert_eq!(
            msg,
            "selector app=a does not match the pod template's labels (spec.template.metadata.labels)"
        );
        let (field, _) = only_error(&deployment("{}", "{app: b}", "[]"));
        assert_eq!(field, "spec.selector");
    }

    #[test]
    fn port_names_follow_iana_service_names() {
        for ok in ["http", "grpc-web", "h2c", "a1"] {
            assert!(check_port_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "123",
            "-http",
            "http-",
            "a--b",
            "HTTP",
            "sixteen-chars-xx",
        ] {
            assert!(check_port_name(bad).is_err(), "{bad}");
        }
    }
}
