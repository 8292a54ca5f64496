//! The plan as v1 Pods: what the registry reads to learn workloads, their labels, service
//! accounts, named ports and addresses.

use std::fmt::Write;

use super::{Instance, Plan};

/// Istio's label for workloads with a sidecar (auto mTLS sends mesh TLS to them).
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";

/// One v1 Pod per instance, as a multi-document YAML stream (empty for an empty plan).
/// Every string is double-quoted so that no name or label value can change the structure.
pub fn pods_yaml(plan: &Plan) -> String {
    let mut out = String::new();
    for instance in &plan.instances {
        write_pod(&mut out, instance);
    }
    out
}

fn write_pod(out: &mut String, instance: &Instance) {
    out.push_str("---\napiVersion: v1\nkind: Pod\nmetadata:\n");
    line(out, 2, "name", &quote(&instance.name));
    line(out, 2, "namespace", &quote(&instance.namespace));
    let mut labels = instance.labels.clone();
    if !instance.is_external() {
        // As Istio's injector labels a pod that gets a sidecar: clients use mTLS to it.
        labels
            .entry(TLS_MODE_LABEL.to_string())
            .or_insert_with(|| "istio".to_string());
    }
    if !labels.is_empty() {
        out.push_str("  labels:\n");
        for (key, value) in &labels {
            line(out, 4, &quote(key), &quote(value));
        }
    }
    out.push_str("spec:\n");
    line(
        out,
        2,
        "serviceAccountName",
        &quote(&instance.service_account),
    );
    if instance.containers.is_empty() {
        out.push_str("  containers: []\n");
    } else {
        out.push_str("  containers:\n");
    }
    for container in &instance.containers {
        line(out, 2, "- name", &quote(&container.name));
        if container.ports.is_empty() {
            continue;
        }
        out.push_str("    ports:\n");
        for (name, port) in &container.ports {
            line(out, 4, "- containerPort", &port.to_string());
            if let Some(name) = name {
                line(out, 6, "name", &quote(name));
            }
        }
    }
    out.push_str("status:\n  phase: Running\n");
    line(out, 2, "podIP", &quote(&instance.pod_ip.to_string()));
}

fn line(out: &mut String, indent: usize, key: &str, value: &str) {
    let _ = writeln!(out, "{:indent$}{key}: {value}", "");
}

/// A YAML double-quoted scalar.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
