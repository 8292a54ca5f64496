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
use super::processes::{ADMIN_PORT, GATEWAY_IP, GATEWAY_NAME};

/// Every address the mesh will listen on, except gateway listeners (they come from config).
fn planned_addresses(plan: &Plan, options: &UpOptions) -> Vec<(SocketAddr, String)> {
    let mut out = vec![
        (options.xds_address, "control plane xDS".to_string()),
        (
            options.control_http_address,
            "control plane HTTP".to_string(),
        ),
        (
            (GATEWAY_IP, ADMIN_PORT).into(),
            format!("{GATEWAY_NAME} admin"),
        ),
    ];
    for inst in &plan.instances {
        out.push((
            (inst.pod_ip, ADMIN_PORT).into(),
            format!("{} admin", inst.name),
        ));
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
    println!("weft up: {GATEWAY_NAME}  admin http://{GATEWAY_IP}:{ADMIN_PORT}/");
    println!(
        "{:<28} {:<14} {:<14} {:<8} ADMIN",
        "WORKLOAD", "POD IP", "APP IP", "PORTS"
    );
    for inst in &plan.instances {
        let ports: Vec<String> = inst.ports.iter().map(|(_, p)| p.to_string()).collect();
        println!(
            "{:<28} {:<14} {:<14} {:<8} http://{}:{ADMIN_PORT}/",
            format!("{}.{}", inst.name, inst.namespace),
            inst.pod_ip,
            inst.app_ip,
            ports.join(","),
            inst.pod_ip
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
    let mut admins: Vec<SocketAddr> = plan
        .instances
        .iter()
        .map(|i| (i.pod_ip, ADMIN_PORT).into())
        .collect();
    admins.push((GATEWAY_IP, ADMIN_PORT).into());
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
