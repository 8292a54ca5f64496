//! Generation of the capture rules from a [`Config`], in istio-iptables' order.
//!
//! Chains (nat table): `ISTIO_INBOUND` (from PREROUTING: which inbound ports are captured),
//! `ISTIO_IN_REDIRECT` (REDIRECT to the inbound capture port), `ISTIO_OUTPUT` (from OUTPUT:
//! which outbound traffic is captured), `ISTIO_REDIRECT` (REDIRECT to the outbound capture
//! port) and, with DNS capture, `ISTIO_OUTPUT_DNS`. DNS capture also adds conntrack-zone rules
//! in the raw table.

use crate::config::{
    Config, DNS_PROXY_PORT, DnsCapture, Family, INBOUND_TUNNEL_PORT, InboundPorts, OutboundCidrs,
};
use crate::restore::{Rule, RuleSet, Table};

const INBOUND: &str = "ISTIO_INBOUND";
const IN_REDIRECT: &str = "ISTIO_IN_REDIRECT";
const OUTPUT: &str = "ISTIO_OUTPUT";
const REDIRECT: &str = "ISTIO_REDIRECT";
const OUTPUT_DNS: &str = "ISTIO_OUTPUT_DNS";

/// The rule sets to apply: IPv4 always, IPv6 when [`Config::ipv6`] is set.
pub fn generate(config: &Config) -> Vec<RuleSet> {
    let mut sets = vec![generate_family(config, Family::V4)];
    if config.ipv6 {
        sets.push(generate_family(config, Family::V6));
    }
    sets
}

/// The rules of one address family.
pub fn generate_family(config: &Config, family: Family) -> RuleSet {
    let mut b = Builder {
        family,
        rules: Vec::new(),
    };
    b.nat(
        INBOUND,
        format!("-p tcp --dport {INBOUND_TUNNEL_PORT} -j RETURN"),
    );
    b.nat(
        REDIRECT,
        format!("-p tcp -j REDIRECT --to-ports {}", config.proxy_port),
    );
    b.nat(
        IN_REDIRECT,
        format!(
            "-p tcp -j REDIRECT --to-ports {}",
            config.inbound_capture_port
        ),
    );
    inbound(&mut b, config);
    b.nat("OUTPUT", format!("-j {OUTPUT}"));
    // Port exclusions come before the loopback rules, so an excluded port is never captured,
    // not even when the app calls itself through a service address.
    for port in &config.outbound_exclude_ports {
        b.nat(OUTPUT, format!("-p tcp --dport {port} -j RETURN"));
        b.nat(OUTPUT, format!("-p udp --dport {port} -j RETURN"));
    }
    b.nat(
        OUTPUT,
        format!("-o lo -s {} -j RETURN", family.passthrough()),
    );
    owner_exemptions(&mut b, config);
    if config.redirects_dns() {
        dns(&mut b, config);
    }
    outbound(&mut b, config);
    RuleSet {
        family,
        rules: b.rules,
    }
}

struct Builder {
    family: Family,
    rules: Vec<Rule>,
}

impl Builder {
    fn nat(&mut self, chain: &str, spec: String) {
        self.push(Table::Nat, chain, spec);
    }

    fn raw(&mut self, chain: &str, spec: String) {
        self.push(Table::Raw, chain, spec);
    }

    fn push(&mut self, table: Table, chain: &str, spec: String) {
        self.rules.push(Rule {
            table,
            chain: chain.to_string(),
            spec,
        });
    }

    /// `addr/32` or `addr/128`, for the addresses of this family only.
    fn hosts(&self, dns: &DnsCapture) -> Vec<String> {
        match dns {
            DnsCapture::Servers(servers) => servers
                .iter()
                .filter(|a| self.family.holds_addr(a))
                .map(|a| format!("{a}/{}", self.family.host_prefix()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn inbound(b: &mut Builder, config: &Config) {
    let Some(ports) = &config.inbound_ports else {
        return;
    };
    b.nat("PREROUTING", format!("-p tcp -j {INBOUND}"));
    match ports {
        InboundPorts::All => {
            for port in &config.inbound_exclude_ports {
                b.nat(INBOUND, format!("-p tcp --dport {port} -j RETURN"));
            }
            b.nat(INBOUND, format!("-p tcp -j {IN_REDIRECT}"));
        }
        InboundPorts::Only(list) => {
            for port in list {
                b.nat(INBOUND, format!("-p tcp --dport {port} -j {IN_REDIRECT}"));
            }
        }
    }
}

/// For each proxy uid, then each gid: the proxy's calls to a local non-loopback address (an
/// app calling itself through a service) go through the inbound capture; the app's own
/// loopback calls are left alone; everything else the proxy sends is never captured.
fn owner_exemptions(b: &mut Builder, config: &Config) {
    let loopback = b.family.loopback();
    let dns = config.redirects_dns();
    let keep_loopback = !config.includes_loopback();
    let owners = config
        .proxy_uids
        .iter()
        .map(|id| ("--uid-owner", *id))
        .chain(config.proxy_gids.iter().map(|id| ("--gid-owner", *id)));
    for (kind, id) in owners {
        // As in istio-iptables, only the uid rule skips port 53 here: the proxy's TCP DNS to
        // a local address must reach the DNS proxy, not the inbound listener.
        let ports = if dns && kind == "--uid-owner" {
            format!("-m multiport ! --dports 53,{INBOUND_TUNNEL_PORT}")
        } else {
            format!("! --dport {INBOUND_TUNNEL_PORT}")
        };
        b.nat(
            OUTPUT,
            format!("-o lo ! -d {loopback} -p tcp {ports} -m owner {kind} {id} -j {IN_REDIRECT}"),
        );
        if keep_loopback {
            let tcp = if dns { "-p tcp ! --dport 53 " } else { "" };
            b.nat(
                OUTPUT,
                format!("-o lo {tcp}-m owner ! {kind} {id} -j RETURN"),
            );
        }
        b.nat(OUTPUT, format!("-m owner {kind} {id} -j RETURN"));
    }
}

fn owners(config: &Config) -> Vec<String> {
    let uids = config
        .proxy_uids
        .iter()
        .map(|id| format!("--uid-owner {id}"));
    let gids = config
        .proxy_gids
        .iter()
        .map(|id| format!("--gid-owner {id}"));
    uids.chain(gids).collect()
}

/// DNS to port 53 goes to the DNS proxy on 15053, except the proxy's own queries. The raw-table
/// rules put the two legs (app to proxy, proxy to server) in separate conntrack zones, so
/// their UDP flows with the same addresses do not collide.
fn dns(b: &mut Builder, config: &Config) {
    let servers = b.hosts(&config.dns);
    let all = config.dns == DnsCapture::All;
    b.raw("OUTPUT", format!("-j {OUTPUT_DNS}"));
    if all || !servers.is_empty() {
        b.nat(OUTPUT, format!("-j {OUTPUT_DNS}"));
    }
    let redirect = format!("-j REDIRECT --to-ports {DNS_PROXY_PORT}");
    if all {
        b.nat(OUTPUT_DNS, format!("-p tcp --dport 53 {redirect}"));
    }
    for s in &servers {
        b.nat(OUTPUT_DNS, format!("-p tcp --dport 53 -d {s} {redirect}"));
    }
    for owner in owners(config) {
        b.nat(
            OUTPUT_DNS,
            format!("-p udp --dport 53 -m owner {owner} -j RETURN"),
        );
    }
    if all {
        b.nat(OUTPUT_DNS, format!("-p udp --dport 53 {redirect}"));
    }
    for s in &servers {
        b.nat(OUTPUT_DNS, format!("-p udp --dport 53 -d {s} {redirect}"));
    }
    for owner in owners(config) {
        b.raw(
            OUTPUT_DNS,
            format!("-p udp --dport 53 -m owner {owner} -j CT --zone 1"),
        );
        b.raw(
            OUTPUT_DNS,
            format!("-p udp --sport {DNS_PROXY_PORT} -m owner {owner} -j CT --zone 2"),
        );
    }
    if all || !servers.is_empty() {
        b.raw("PREROUTING", format!("-j {INBOUND}"));
    }
    if all {
        b.raw(OUTPUT_DNS, "-p udp --dport 53 -j CT --zone 2".into());
        b.raw(INBOUND, "-p udp --sport 53 -j CT --zone 1".into());
    }
    for s in &servers {
        b.raw(
            OUTPUT_DNS,
            format!("-p udp --dport 53 -d {s} -j CT --zone 2"),
        );
        b.raw(INBOUND, format!("-p udp --sport 53 -s {s} -j CT --zone 1"));
    }
}

/// The app's outbound traffic: loopback and excluded ranges stay, included ports and ranges go
/// to the outbound capture port.
fn outbound(b: &mut Builder, config: &Config) {
    b.nat(OUTPUT, format!("-d {} -j RETURN", b.family.loopback()));
    let family = b.family;
    for net in config
        .outbound_exclude_cidrs
        .iter()
        .filter(|n| family.holds(n))
    {
        b.nat(OUTPUT, format!("-d {net} -j RETURN"));
    }
    for port in &config.outbound_include_ports {
        b.nat(OUTPUT, format!("-p tcp --dport {port} -j {REDIRECT}"));
    }
    match &config.outbound_cidrs {
        OutboundCidrs::All => b.nat(OUTPUT, format!("-j {REDIRECT}")),
        OutboundCidrs::Only(nets) => {
            for net in nets.iter().filter(|n| family.holds(n)) {
                b.nat(OUTPUT, format!("-d {net} -j {REDIRECT}"));
            }
        }
    }
}
