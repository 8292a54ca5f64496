//! The processes of a local mesh, as specs for the supervisor: per planned instance its app and
//! sidecar, or a gateway proxy.
//!
//! A Deployment whose container is named `istio-proxy` and has no command is a gateway (the
//! shape of Istio's gateway injection template): it runs `weft proxy router` with the
//! Deployment's labels at the instance's pod IP. Any other Deployment without a command is
//! only registered (its pod exists for the control plane; nothing runs).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use weft_local::plan::{Instance, Plan};
use weft_local::supervise::ProcessSpec;

pub const ADMIN_PORT: u16 = 15000;

/// What runs for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The app and its sidecar.
    Workload,
    Gateway,
    /// Registered only.
    External,
}

pub fn role(inst: &Instance) -> Role {
    if !inst.is_external() {
        Role::Workload
    } else if inst.containers.iter().any(|c| c.name == "istio-proxy") {
        Role::Gateway
    } else {
        Role::External
    }
}

/// The admin address of an instance's proxy, if it has one.
pub fn admin(inst: &Instance) -> Option<SocketAddr> {
    (role(inst) != Role::External).then(|| SocketAddr::from((inst.pod_ip, ADMIN_PORT)))
}

/// Where an instance's proxy finds its CA credential (written by `weft up`, 0600).
pub fn credential_path(credentials: &Path, inst: &Instance) -> PathBuf {
    credentials.join(format!("{}.{}.credential", inst.name, inst.namespace))
}

/// The processes to run; proxies get `--credential-file` under `credentials` when given.
pub fn all(
    plan: &Plan,
    weft: &Path,
    xds: SocketAddr,
    credentials: Option<&Path>,
) -> Vec<ProcessSpec> {
    let mut out = Vec::new();
    for inst in &plan.instances {
        let credential = credentials.map(|dir| credential_path(dir, inst));
        match role(inst) {
            Role::Workload => {
                out.push(proxy(inst, "sidecar", weft, xds, credential));
                out.extend(inst.process_spec());
            }
            Role::Gateway => out.push(proxy(inst, "router", weft, xds, credential)),
            Role::External => {}
        }
    }
    out
}

fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

fn proxy(
    inst: &Instance,
    mode: &str,
    weft: &Path,
    xds: SocketAddr,
    credential: Option<PathBuf>,
) -> ProcessSpec {
    let admin = SocketAddr::from((IpAddr::V4(inst.pod_ip), ADMIN_PORT));
    let mut env = vec![
        ("INSTANCE_IP".into(), inst.pod_ip.to_string()),
        ("POD_NAME".into(), inst.name.clone()),
        ("POD_NAMESPACE".into(), inst.namespace.clone()),
        ("SERVICE_ACCOUNT".into(), inst.service_account.clone()),
        ("ISTIO_METAJSON_LABELS".into(), labels_json(&inst.labels)),
        ("ISTIO_META_WORKLOAD_NAME".into(), inst.deployment.clone()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    if mode == "sidecar" {
        env.push(("ISTIO_META_INTERCEPTION_MODE".into(), "NONE".into()));
        env.push(("ISTIO_META_APP_IP".into(), inst.app_ip.to_string()));
    }
    let name = match mode {
        "sidecar" => format!("{}.proxy", inst.name),
        _ => inst.name.clone(),
    };
    let mut args = [
        "proxy",
        mode,
        "--discovery-address",
        &xds.to_string(),
        "--admin-address",
        &admin.to_string(),
        "--drain-time",
        "1s",
    ]
    .map(String::from)
    .to_vec();
    if let Some(path) = credential {
        args.push("--credential-file".into());
        args.push(path.display().to_string());
    }
    ProcessSpec {
        name,
        program: weft.display().to_string(),
        args,
        env,
        cwd: None,
        restart: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_get_their_own_credential_file_apps_do_not() {
        let yaml = r"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, command: [/bin/true]}]
";
        let loaded = weft_config::load_str("test.yaml", yaml, &weft_config::LoadOptions::default());
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let plan = weft_local::plan::plan(&loaded.objects, &Default::default()).expect("plan");
        assert_eq!(plan.instances.len(), 1, "one instance");
        let dir = Path::new("/run/creds");
        let specs = all(
            &plan,
            Path::new("/bin/weft"),
            ([127, 0, 0, 1], 15010).into(),
            Some(dir),
        );
        let proxy = specs
            .iter()
            .find(|s| s.name.ends_with(".proxy"))
            .expect("sidecar");
        let at = proxy
            .args
            .iter()
            .position(|a| a == "--credential-file")
            .expect("flag");
        assert_eq!(proxy.args[at + 1], "/run/creds/web-0.shop.credential");
        let app = specs
            .iter()
            .find(|s| !s.name.ends_with(".proxy"))
            .expect("app");
        assert!(!app.args.iter().any(|a| a == "--credential-file"));
        let without = all(
            &plan,
            Path::new("/bin/weft"),
            ([127, 0, 0, 1], 15010).into(),
            None,
        );
        assert!(
            without
                .iter()
                .all(|s| !s.args.iter().any(|a| a == "--credential-file"))
        );
    }
}
