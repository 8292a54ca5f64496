//! The typed capture configuration: what [`crate::generate`] turns into rules. Build it from
//! command-line strings with [`crate::Flags::to_config`], or directly.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxy's HBONE tunnel port. Istio always lets it through inbound and never sends the
/// proxy's own loopback calls to it through the inbound capture.
pub const INBOUND_TUNNEL_PORT: u16 = 15008;

/// The port of the agent's DNS proxy that DNS capture redirects to.
pub const DNS_PROXY_PORT: u16 = 15053;

/// The address the proxy binds as source for inbound passthrough traffic to the app, so that
/// the app's answer is not captured again (IPv4).
pub const INBOUND_PASSTHROUGH_V4: &str = "127.0.0.6/32";

/// IPv6 counterpart of [`INBOUND_PASSTHROUGH_V4`].
pub const INBOUND_PASSTHROUGH_V6: &str = "::6/128";

/// Which destination ports of inbound TCP traffic are sent to the inbound capture port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundPorts {
    /// `*`: every port except [`Config::inbound_exclude_ports`].
    All,
    /// Only these ports (the exclusion list does not apply, as in istio-iptables).
    Only(Vec<u16>),
}

/// Which outbound destinations are sent to the outbound capture port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundCidrs {
    /// `*`: every destination not excluded.
    All,
    /// Only these ranges; an empty list captures nothing by address (ports in
    /// [`Config::outbound_include_ports`] still are).
    Only(Vec<IpNet>),
}

/// DNS capture: where UDP and TCP port 53 from the app go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCapture {
    /// No DNS rules.
    Off,
    /// Capture DNS sent to these servers (normally those of /etc/resolv.conf).
    Servers(Vec<IpAddr>),
    /// Capture DNS to any server (`--capture-all-dns`).
    All,
}

/// Address family of one rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The host's own loopback range that is never redirected outbound.
    pub fn loopback(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.1/32",
            Family::V6 => "::1/128",
        }
    }

    /// The inbound passthrough source address.
    pub fn passthrough(self) -> &'static str {
        match self {
            Family::V4 => INBOUND_PASSTHROUGH_V4,
            Family::V6 => INBOUND_PASSTHROUGH_V6,
        }
    }

    /// Whether `net` belongs to this family.
    pub fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))
        )
    }

    /// Whether `addr` belongs to this family.
    pub fn holds_addr(self, addr: &IpAddr) -> bool {
        matches!(
            (self, addr),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }

    /// The host-route prefix length (`/32` or `/128`).
    pub fn host_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// Everything that decides the capture rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Outbound capture port (`-p`, 15001).
    pub proxy_port: u16,
    /// Inbound capture port (`-z`, 15006).
    pub inbound_capture_port: u16,
    /// Users whose traffic is never captured (`-u`, 1337).
    pub proxy_uids: Vec<u32>,
    /// Groups whose traffic is never captured (`-g`, defaults to the uids).
    pub proxy_gids: Vec<u32>,
    /// Inbound ports to capture (`-b`); `None` captures no inbound traffic (`-b ""`).
    pub inbound_ports: Option<InboundPorts>,
    /// Inbound ports never captured when all are (`-d`).
    pub inbound_exclude_ports: Vec<u16>,
    /// Outbound destinations to capture (`-i`).
    pub outbound_cidrs: OutboundCidrs,
    /// Outbound destinations never captured (`-x`).
    pub outbound_exclude_cidrs: Vec<IpNet>,
    /// Outbound destination ports never captured, TCP and UDP (`-o`).
    pub outbound_exclude_ports: Vec<u16>,
    /// Outbound TCP destination ports always captured (`-q`).
    pub outbound_include_ports: Vec<u16>,
    /// DNS capture (`--redirect-dns`, `--capture-all-dns`).
    pub dns: DnsCapture,
    /// Also produce ip6tables rules.
    pub ipv6: bool,
}

impl Default for Config {
    /// The sidecar's usual rule set: what Istio's injector asks istio-iptables for.
    fn default() -> Self {
        Config {
            proxy_port: 15001,
            inbound_capture_port: 15006,
            proxy_uids: vec![1337],
            proxy_gids: vec![1337],
            inbound_ports: Some(InboundPorts::All),
            inbound_exclude_ports: vec![15090, 15021, 15020],
            outbound_cidrs: OutboundCidrs::All,
            outbound_exclude_cidrs: Vec::new(),
            outbound_exclude_ports: Vec::new(),
            outbound_include_ports: Vec::new(),
            dns: DnsCapture::Off,
            ipv6: false,
        }
    }
}

impl Config {
    /// Whether any DNS rule is produced.
    pub fn redirects_dns(&self) -> bool {
        !matches!(self.dns, DnsCapture::Off)
    }

    /// Whether an outbound include range is a loopback range: then the app's own loopback calls
    /// are not exempted (istio-iptables' behaviour).
    pub fn includes_loopback(&self) -> bool {
        match &self.outbound_cidrs {
            OutboundCidrs::All => false,
            OutboundCidrs::Only(nets) => nets.iter().any(|n| n.addr().is_loopback()),
        }
    }
}
