//! STRICT_DNS / LOGICAL_DNS resolution: every `dns_refresh_rate` the cluster's names are looked
//! up with tokio's resolver (the system's), and the member set is replaced when the answer
//! changed. Which addresses become hosts is decided in weft-proxy-config (`DnsConfig`).

use std::net::IpAddr;
use std::sync::Weak;

use weft_proxy_config::runtime::cluster::{DnsConfig, Endpoint};

use super::{Members, UpstreamCluster, hosts_for};

async fn lookup(hostname: &str, port: u16) -> Option<Vec<IpAddr>> {
    match tokio::net::lookup_host((hostname, port)).await {
        Ok(addrs) => Some(addrs.map(|a| a.ip()).collect()),
        Err(e) => {
            tracing::debug!(hostname, error = %e, "DNS lookup failed");
            None
        }
    }
}

pub async fn refresh(cluster: Weak<UpstreamCluster>, cfg: DnsConfig) {
    let mut last: Vec<Vec<Endpoint>> = Vec::new();
    loop {
        let mut answers = Vec::with_capacity(cfg.targets.len());
        for t in &cfg.targets {
            answers.push(lookup(&t.hostname, t.template.addr.port()).await);
        }
        let Some(c) = cluster.upgrade() else { return };
        let next = cfg.endpoints(&answers, &last);
        let flat: Vec<Endpoint> = next.iter().flatten().copied().collect();
        let current = c.members.load_full();
        let unchanged = flat.len() == current.hosts.len()
            && flat.iter().zip(&current.hosts).all(|(e, h)| h.ep == *e);
        // Nothing resolved this time but hosts from before: keep them (last good answer).
        let keep_previous = flat.is_empty() && !current.hosts.is_empty();
        if !unchanged && !keep_previous {
            let hosts = hosts_for(&flat, Some(&current), &c.limits);
            tracing::debug!(cluster = %c.cfg.name, hosts = hosts.len(), "DNS hosts updated");
            c.set_members(Members::new(hosts, &c.cfg));
        }
        last = next;
        drop(c);
        tokio::time::sleep(cfg.refresh_rate).await;
    }
}
