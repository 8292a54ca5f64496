//! The processes of a local mesh: each planned instance's app and sidecar, and the ingress
//! gateway, as specs for the supervisor.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use weft_local::plan::{Instance, Plan};
use weft_local::supervise::ProcessSpec;

/// Where the ingress gateway's proxy lives (its admin API, its node identity).
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(127, 10, 255, 1);
pub const GATEWAY_NAME: &str = "istio-ingressgateway";
pub const ADMIN_PORT: u16 = 15000;

/// Apps (instances with a command), their sidecars, then the ingress gateway.
pub fn all(plan: &Plan, weft: &Path, xds: SocketAddr) -> Vec<ProcessSpec> {
    let mut out = Vec::new();
    for inst in &plan.instances {
        out.push(sidecar(inst, weft, xds));
        if let Some((program, args)) = inst.command.split_first() {
            out.push(ProcessSpec {
                name: inst.name.clone(),
                program: program.clone(),
                args: args.to_vec(),
                env: inst.env.clone(),
                cwd: inst.working_dir.clone(),
                restart: true,
            });
        }
    }
    out.push(gateway(weft, xds));
    out
}

fn proxy_spec(name: String, mode: &str, weft: &Path, xds: SocketAddr, ip: Ipv4Addr) -> ProcessSpec {
    ProcessSpec {
        name,
        program: weft.display().to_string(),
        args: vec![
            "proxy".into(),
            mode.into(),
            "--discovery-address".into(),
            xds.to_string(),
            "--admin-address".into(),
            SocketAddr::from((ip, ADMIN_PORT)).to_string(),
            "--drain-time".into(),
            "1s".into(),
        ],
        env: Vec::new(),
        cwd: None,
        restart: true,
    }
}

fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

fn sidecar(inst: &Instance, weft: &Path, xds: SocketAddr) -> ProcessSpec {
    let mut spec = proxy_spec(
        format!("{}.proxy", inst.name),
        "sidecar",
        weft,
        xds,
        inst.pod_ip,
    );
    spec.env = vec![
        ("INSTANCE_IP".into(), inst.pod_ip.to_string()),
        ("POD_NAME".into(), inst.name.clone()),
        ("POD_NAMESPACE".into(), inst.namespace.clone()),
        ("SERVICE_ACCOUNT".into(), inst.service_account.clone()),
        ("ISTIO_METAJSON_LABELS".into(), labels_json(&inst.labels)),
        ("ISTIO_META_WORKLOAD_NAME".into(), inst.deployment.clone()),
        ("ISTIO_META_INTERCEPTION_MODE".into(), "NONE".into()),
        ("ISTIO_META_APP_IP".into(), inst.app_ip.to_string()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    spec
}

/// The ingress gateway: a router with Istio's labels in `istio-system`.
fn gateway(weft: &Path, xds: SocketAddr) -> ProcessSpec {
    let mut spec = proxy_spec(GATEWAY_NAME.into(), "router", weft, xds, GATEWAY_IP);
    let labels = BTreeMap::from([
        ("istio".to_string(), "ingressgateway".to_string()),
        ("app".to_string(), GATEWAY_NAME.to_string()),
    ]);
    spec.env = vec![
        ("INSTANCE_IP".into(), GATEWAY_IP.to_string()),
        ("POD_NAME".into(), format!("{GATEWAY_NAME}-0")),
        ("POD_NAMESPACE".into(), "istio-system".into()),
        (
            "SERVICE_ACCOUNT".into(),
            "istio-ingressgateway-service-account".into(),
        ),
        ("ISTIO_METAJSON_LABELS".into(), labels_json(&labels)),
        ("ISTIO_META_WORKLOAD_NAME".into(), GATEWAY_NAME.into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    spec
}
