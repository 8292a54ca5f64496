//! istio-iptables' command-line values as given (strings), and their checked conversion into a
//! [`Config`]. Every error names the flag it came from.

use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

use crate::config::{Config, DnsCapture, InboundPorts, OutboundCidrs};

/// A flag value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlagError {
    #[error("{flag}: {value:?} is not a port (1-65535)")]
    Port { flag: &'static str, value: String },
    #[error("{flag}: {value:?} is not a user or group id")]
    Id { flag: &'static str, value: String },
    #[error("{flag}: {value:?} is not a CIDR (address/prefix, such as 10.0.0.0/8)")]
    Cidr { flag: &'static str, value: String },
    #[error("{flag}: {value:?} is not allowed here: {reason}")]
    NotAllowed {
        flag: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{flag}: {value} is not supported yet; use REDIRECT")]
    Unsupported { flag: &'static str, value: String },
    #[error("{flag}: unknown mode {value:?}; expected REDIRECT or TPROXY")]
    Mode { flag: &'static str, value: String },
}

/// istio-iptables' flags, as strings. [`Default`] holds weft's defaults, which are the values
/// Istio's sidecar injector passes (so no flag gives the usual sidecar capture).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `-p, --envoy-port`
    pub envoy_port: String,
    /// `-z, --inbound-capture-port`
    pub inbound_capture_port: String,
    /// `-u, --proxy-uid` (comma-separated)
    pub proxy_uid: String,
    /// `-g, --proxy-gid` (comma-separated; `None`: same as the uids)
    pub proxy_gid: Option<String>,
    /// `-m, --istio-inbound-interception-mode`
    pub inbound_interception_mode: String,
    /// `-b, --istio-inbound-ports`: `*`, a list, or empty for no inbound capture.
    pub inbound_ports: String,
    /// `-d, --istio-local-exclude-ports`
    pub local_exclude_ports: String,
    /// `-i, --istio-service-cidr`: `*`, a list, or empty.
    pub service_cidr: String,
    /// `-x, --istio-service-exclude-cidr`
    pub service_exclude_cidr: String,
    /// `-o, --istio-local-outbound-ports-exclude`
    pub outbound_ports_exclude: String,
    /// `-q, --istio-include-outbound-ports`
    pub outbound_ports_include: String,
    /// `--redirect-dns`
    pub redirect_dns: bool,
    /// `--capture-all-dns`
    pub capture_all_dns: bool,
    /// `--ipv6`: also program ip6tables.
    pub ipv6: bool,
    /// The DNS servers to capture when `--redirect-dns` is given without `--capture-all-dns`;
    /// the caller reads them from /etc/resolv.conf (see [`crate::system::resolv_conf_servers`]).
    pub dns_servers: Vec<IpAddr>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            envoy_port: "15001".into(),
            inbound_capture_port: "15006".into(),
            proxy_uid: "1337".into(),
            proxy_gid: None,
            inbound_interception_mode: "REDIRECT".into(),
            inbound_ports: "*".into(),
            local_exclude_ports: "15090,15021,15020".into(),
            service_cidr: "*".into(),
            service_exclude_cidr: String::new(),
            outbound_ports_exclude: String::new(),
            outbound_ports_include: String::new(),
            redirect_dns: false,
            capture_all_dns: false,
            ipv6: false,
            dns_servers: Vec::new(),
        }
    }
}

/// What [`Flags::to_config`] produced: the config, and notes for the user (flags that have no
/// effect in this combination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Flags {
    /// Checks every flag and builds the [`Config`].
    pub fn to_config(&self) -> Result<Checked, FlagError> {
        check_mode(&self.inbound_interception_mode)?;
        let proxy_uids = ids("--proxy-uid", &self.proxy_uid)?;
        let proxy_gids = match &self.proxy_gid {
            Some(gids) => ids("--proxy-gid", gids)?,
            None => proxy_uids.clone(),
        };
        let outbound_exclude_cidrs =
            cidrs("--istio-service-exclude-cidr", &self.service_exclude_cidr)?;
        let mut warnings = Vec::new();
        let config = Config {
            proxy_port: port("--envoy-port", &self.envoy_port)?,
            inbound_capture_port: port("--inbound-capture-port", &self.inbound_capture_port)?,
            proxy_uids,
            proxy_gids,
            inbound_ports: inbound_ports(&self.inbound_ports)?,
            inbound_exclude_ports: ports("--istio-local-exclude-ports", &self.local_exclude_ports)?,
            outbound_cidrs: outbound_cidrs(&self.service_cidr)?,
            outbound_exclude_cidrs,
            outbound_exclude_ports: ports(
                "--istio-local-outbound-ports-exclude",
                &self.outbound_ports_exclude,
            )?,
            outbound_include_ports: ports(
                "--istio-include-outbound-ports",
                &self.outbound_ports_include,
            )?,
            dns: self.dns_capture(&mut warnings),
            ipv6: self.ipv6,
        };
        Ok(Checked { config, warnings })
    }

    fn dns_capture(&self, warnings: &mut Vec<String>) -> DnsCapture {
        if !self.redirect_dns {
            if self.capture_all_dns {
                warnings.push("--capture-all-dns has no effect without --redirect-dns".into());
            }
            return DnsCapture::Off;
        }
        if self.capture_all_dns {
            return DnsCapture::All;
        }
        if self.dns_servers.is_empty() {
            warnings.push(
                "--redirect-dns: no DNS server found and --capture-all-dns not given; \
                 DNS capture disabled"
                    .into(),
            );
            return DnsCapture::Off;
        }
        DnsCapture::Servers(self.dns_servers.clone())
    }
}

fn check_mode(mode: &str) -> Result<(), FlagError> {
    const FLAG: &str = "--istio-inbound-interception-mode";
    match mode {
        "REDIRECT" => Ok(()),
        "TPROXY" => Err(FlagError::Unsupported {
            flag: FLAG,
            value: mode.into(),
        }),
        _ => Err(FlagError::Mode {
            flag: FLAG,
            value: mode.into(),
        }),
    }
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn port(flag: &'static str, value: &str) -> Result<u16, FlagError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(FlagError::Port {
            flag,
            value: value.into(),
        }),
    }
}

fn ports(flag: &'static str, list: &str) -> Result<Vec<u16>, FlagError> {
    if list.trim() == "*" {
        return Err(FlagError::NotAllowed {
            flag,
            value: list.into(),
            reason: "give a list of ports",
        });
    }
    let mut out: Vec<u16> = Vec::new();
    for item in split(list) {
        let p = port(flag, item)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn ids(flag: &'static str, list: &str) -> Result<Vec<u32>, FlagError> {
    let parsed: Result<Vec<u32>, FlagError> = split(list)
        .map(|s| {
            s.parse::<u32>().map_err(|_| FlagError::Id {
                flag,
                value: s.into(),
            })
        })
        .collect();
    let parsed = parsed?;
    if parsed.is_empty() {
        return Err(FlagError::Id {
            flag,
            value: list.into(),
        });
    }
    Ok(parsed)
}

fn cidr(flag: &'static str, value: &str) -> Result<IpNet, FlagError> {
    value
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| FlagError::Cidr {
            flag,
            value: value.into(),
        })
}

fn cidrs(flag: &'static str, list: &str) -> Result<Vec<IpNet>, FlagError> {
    if list.trim() == "*" {
        return Err(FlagError::NotAllowed {
            flag,
            value: list.into(),
            reason: "excluding every destination would capture nothing; use -i \"\" instead",
        });
    }
    split(list).map(|s| cidr(flag, s)).collect()
}

fn inbound_ports(list: &str) -> Result<Option<InboundPorts>, FlagError> {
    const FLAG: &str = "--istio-inbound-ports";
    match list.trim() {
        "" => Ok(None),
        "*" => Ok(Some(InboundPorts::All)),
        _ => Ok(Some(InboundPorts::Only(ports(FLAG, list)?))),
    }
}

fn outbound_cidrs(list: &str) -> Result<OutboundCidrs, FlagError> {
    const FLAG: &str = "--istio-service-cidr";
    match list.trim() {
        "*" => Ok(OutboundCidrs::All),
        _ => Ok(OutboundCidrs::Only(
            split(list)
                .map(|s| cidr(FLAG, s))
                .collect::<Result<_, _>>()?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: impl FnOnce(&mut Flags)) -> String {
        let mut flags = Flags::default();
        f(&mut flags);
        match flags.to_config() {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_the_sidecar_defaults() {
        let checked = Flags::default().to_config().expect("defaults are valid");
        assert_eq!(checked.config, Config::default());
        assert!(checked.warnings.is_empty());
    }

    #[test]
    fn port_out_of_range_names_the_flag() {
        let msg = err(|f| f.envoy_port = "70000".into());
        assert_eq!(msg, "--envoy-port: \"70000\" is not a port (1-65535)");
        let msg = err(|f| f.inbound_capture_port = "0".into());
        assert!(msg.starts_with("--inbound-capture-port: \"0\""), "{msg}");
        let msg = err(|f| f.local_exclude_ports = "15090,abc".into());
        assert!(
            msg.starts_with("--istio-local-exclude-ports: \"abc\""),
            "{msg}"
        );
        let msg = err(|f| f.outbound_ports_include = "65536".into());
        assert!(msg.starts_with("--istio-include-outbound-ports:"), "{msg}");
        let msg = err(|f| f.inbound_ports = "80,-1".into());
        assert!(msg.starts_with("--istio-inbound-ports: \"-1\""), "{msg}");
    }

    #[test]
    fn bad_cidr_names_the_flag() {
        let msg = err(|f| f.service_cidr = "10.0.0/8".into());
        assert_eq!(
            msg,
            "--istio-service-cidr: \"10.0.0/8\" is not a CIDR (address/prefix, such as 10.0.0.0/8)"
        );
        let msg = err(|f| f.service_exclude_cidr = "10.0.0.1".into());
        assert!(
            msg.starts_with("--istio-service-exclude-cidr: \"10.0.0.1\""),
            "{msg}"
        );
        let msg = err(|f| f.service_exclude_cidr = "*".into());
        assert!(
            msg.starts_with("--istio-service-exclude-cidr: \"*\" is not allowed"),
            "{msg}"
        );
    }

    #[test]
    fn tproxy_is_accepted_but_not_supported_yet() {
        let msg = err(|f| f.inbound_interception_mode = "TPROXY".into());
        assert_eq!(
            msg,
            "--istio-inbound-interception-mode: TPROXY is not supported yet; use REDIRECT"
        );
        let msg = err(|f| f.inbound_interception_mode = "NAT".into());
        assert!(msg.contains("unknown mode \"NAT\""), "{msg}");
    }

    #[test]
    fn bad_ids_name_the_flag() {
        let msg = err(|f| f.proxy_uid = "istio-proxy".into());
        assert!(msg.starts_with("--proxy-uid: \"istio-proxy\""), "{msg}");
        let msg = err(|f| f.proxy_gid = Some(String::new()));
        assert!(msg.starts_with("--proxy-gid:"), "{msg}");
    }

    #[test]
    fn lists_and_cidrs_are_normalised() {
        let flags = Flags {
            proxy_uid: "1337,0".into(),
            inbound_ports: "9080, 9080,8080".into(),
            service_cidr: "10.1.2.3/8,fd00::1/64".into(),
            ..Flags::default()
        };
        let config = flags.to_config().expect("valid").config;
        assert_eq!(config.proxy_gids, vec![1337, 0]);
        assert_eq!(
            config.inbound_ports,
            Some(InboundPorts::Only(vec![9080, 8080]))
        );
        let nets: Vec<String> = match config.outbound_cidrs {
            OutboundCidrs::Only(n) => n.iter().map(|n| n.to_string()).collect(),
            OutboundCidrs::All => panic!("expected a list"),
        };
        assert_eq!(nets, ["10.0.0.0/8", "fd00::/64"]);
        assert_eq!(
            Flags {
                inbound_ports: String::new(),
                ..Flags::default()
            }
            .to_config()
            .expect("valid")
            .config
            .inbound_ports,
            None
        );
    }

    #[test]
    fn dns_flags() {
        let all = Flags {
            redirect_dns: true,
            capture_all_dns: true,
            ..Flags::default()
        };
        assert_eq!(all.to_config().expect("valid").config.dns, DnsCapture::All);
        let none = Flags {
            redirect_dns: true,
            ..Flags::default()
        };
        let checked = none.to_config().expect("valid");
        assert_eq!(checked.config.dns, DnsCapture::Off);
        assert_eq!(checked.warnings.len(), 1);
        let servers = Flags {
            redirect_dns: true,
            dns_servers: vec!["10.96.0.10".parse().expect("ip")],
            ..Flags::default()
        };
        assert!(matches!(
            servers.to_config().expect("valid").config.dns,
            DnsCapture::Servers(s) if s.len() == 1
        ));
    }
}
