//! What `weft up` tells the user: ports that are already taken (and by whom) before anything
//! starts, the table of addresses once started, and when the proxies are ready.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_control::server::ControlPlane;
use weft_local::plan::Plan;
use weft_local::supervise::who_listens;

use super::UpOptions;
use super::processes::{Role, admin, role};

/// Every address the mesh will listen on, except gateway listeners (they come from config).
fn planned_addresses(plan: &Plan, options: &UpOptions) -> Vec<(SocketAddr, String)> {
    let mut out = vec![
        (options.xds_address, "control plane xDS".to_string()),
        (options.control_http_address, "control plane HTTP".into()),
    ];
    for inst in &plan.instances {
        if let Some(a) = admin(inst) {
            out.push((a, format!("{} admin", inst.name)));
        }
        if role(inst) != Role::Workload {
            continue;
        }
        for (_, port) in &inst.ports {
            out.push((
                (inst.pod_ip, *port).into(),
                format!("{} sidecar", inst.name),
            ));
            out.push(((inst.app_ip, *port).into(), format!("{} app", inst.name)));
        }
    }
    out
}

/// Refuses to start when an address is taken, naming it, what needed it and who has it.
pub fn check_ports(plan: &Plan, options: &UpOptions) -> anyhow::Result<()> {
    for (addr, what) in planned_addresses(plan, options) {
        if std::net::TcpListener::bind(addr).is_ok() {
            continue;
        }
        let who = who_listens(addr)
            .map(|(pid, cmd)| format!(" by pid {pid} ({cmd})"))
            .unwrap_or_default();
        bail!("{addr} ({what}) is already in use{who}; stop it or choose other addresses");
    }
    Ok(())
}

pub fn print_table(plan: &Plan, control: &ControlPlane) {
    println!();
    println!(
        "weft up: control plane  xDS {}  debug http://{}/debug/syncz",
        control.xds_address, control.http_address
    );
    println!(
        "{:<36} {:<9} {:<12} {:<12} {:<10} ADMIN",
        "INSTANCE", "ROLE", "POD IP", "APP IP", "PORTS"
    );
    for inst in &plan.instances {
        let ports: Vec<String> = inst.ports.iter().map(|(_, p)| p.to_string()).collect();
        let (kind, app) = match role(inst) {
            Role::Workload => ("workload", inst.app_ip.to_string()),
            Role::Gateway => ("gateway", "-".into()),
            Role::External => ("external", "-".into()),
        };
        let admin = admin(inst).map_or("-".into(), |a| format!("http://{a}/"));
        println!(
            "{:<36} {kind:<9} {:<12} {app:<12} {:<10} {admin}",
            format!("{}.{}", inst.name, inst.namespace),
            inst.pod_ip,
            ports.join(","),
        );
    }
    println!();
}

/// One plain HTTP/1.1 GET; the status code, or `None` when nothing answered.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut head = [0u8; 32];
        let n = s.read(&mut head).await.ok()?;
        let line = std::str::from_utf8(&head[..n]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()?
}

/// Waits (up to 60 s) until every proxy's admin `/ready` answers 200, then says so.
pub async fn wait_ready(plan: &Plan) {
    let admins: Vec<SocketAddr> = plan.instances.iter().filter_map(admin).collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let mut ready = 0;
        for a in &admins {
            if http_status(*a, "/ready").await == Some(200) {
                ready += 1;
            }
        }
        if ready == admins.len() {
            println!(
                "weft up: all {ready} proxies ready in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("weft up: not every proxy is ready after 60s; see the logs above");
}
