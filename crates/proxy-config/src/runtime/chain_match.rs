//! Filter-chain selection, Envoy's staged order: destination port, destination IP, server
//! name, transport protocol, application protocols, source IP, source port. At each stage the
//! most specific matching criterion wins; chains without that criterion are the fallback.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::error::{At, Result};
use crate::model::core::CidrRange;
use crate::model::listener::FilterChainMatch;

#[derive(Debug, Clone, Default)]
pub struct ChainMatch {
    pub destination_port: Option<u16>,
    pub prefix_ranges: Vec<IpNet>,
    pub server_names: Vec<String>,
    pub transport_protocol: Option<String>,
    pub application_protocols: Vec<String>,
    pub source_prefix_ranges: Vec<IpNet>,
    pub source_ports: Vec<u16>,
}

impl ChainMatch {
    /// Whether selection needs the TLS server name or ALPN (so the inspector must run).
    pub fn needs_tls_inspection(&self) -> bool {
        !self.server_names.is_empty()
            || self.transport_protocol.as_deref() == Some("tls")
            || !self.application_protocols.is_empty()
    }
}

/// What is known about a connection when its chain is chosen.
#[derive(Debug, Clone)]
pub struct ConnInfo<'a> {
    pub destination: SocketAddr,
    pub source: SocketAddr,
    pub server_name: Option<&'a str>,
    /// `raw_buffer` or `tls`.
    pub transport_protocol: &'a str,
    pub application_protocols: &'a [String],
}

type Stage = fn(&ChainMatch, &ConnInfo<'_>) -> Option<u32>;

const STAGES: [Stage; 7] = [
    |m, c| match m.destination_port {
        None => Some(0),
        Some(p) => (p == c.destination.port()).then_some(1),
    },
    |m, c| ip_score(&m.prefix_ranges, c.destination.ip()),
    |m, c| server_name_score(&m.server_names, c.server_name),
    |m, c| match &m.transport_protocol {
        None => Some(0),
        Some(t) => (t == c.transport_protocol).then_some(1),
    },
    |m, c| {
        if m.application_protocols.is_empty() {
            Some(0)
        } else {
            m.application_protocols
                .iter()
                .any(|p| c.application_protocols.contains(p))
                .then_some(1)
        }
    },
    |m, c| ip_score(&m.source_prefix_ranges, c.source.ip()),
    |m, c| {
        if m.source_ports.is_empty() {
            Some(0)
        } else {
            m.source_ports.contains(&c.source.port()).then_some(1)
        }
    },
];

fn ip_score(ranges: &[IpNet], ip: IpAddr) -> Option<u32> {
    if ranges.is_empty() {
        return Some(0);
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    ranges
        .iter()
        .filter(|n| n.contains(&ip))
        .map(|n| u32::from(n.prefix_len()) + 1)
        .max()
}

fn server_name_score(names: &[String], sni: Option<&str>) -> Option<u32> {
    if names.is_empty() {
        return Some(0);
    }
    let sni = sni?.to_ascii_lowercase();
    names
        .iter()
        .filter_map(|n| {
            if *n == sni {
                Some(10_000)
            } else {
                let suffix = n.strip_prefix('*')?;
                (sni.len() > suffix.len() && sni.ends_with(suffix))
                    .then_some(suffix.len() as u32 + 1)
            }
        })
        .max()
}

/// Picks the chain for a connection; `None` means the listener's default chain (if any).
pub fn select<'m>(
    matchers: impl IntoIterator<Item = &'m ChainMatch>,
    conn: &ConnInfo<'_>,
) -> Option<usize> {
    let mut candidates: Vec<(usize, &ChainMatch)> = matchers.into_iter().enumerate().collect();
    for stage in STAGES {
        let scored: Vec<(usize, &ChainMatch, u32)> = candidates
            .iter()
            .filter_map(|(i, m)| stage(m, conn).map(|s| (*i, *m, s)))
            .collect();
        let best = scored.iter().map(|(_, _, s)| *s).max()?;
        candidates = scored
            .into_iter()
            .filter(|(_, _, s)| *s == best)
            .map(|(i, m, _)| (i, m))
            .collect();
    }
    candidates.first().map(|(i, _)| *i)
}

pub fn build_chain_match(at: &At<'_>, m: Option<&FilterChainMatch>) -> Result<ChainMatch> {
    let Some(m) = m else {
        return Ok(ChainMatch::default());
    };
    let port = |at: &At<'_>, p: u32| u16::try_from(p).map_err(|_| at.err("must be at most 65535"));
    Ok(ChainMatch {
        destination_port: m
            .destination_port
            .map(|p| port(&at.field("destination_port"), p))
            .transpose()?,
        prefix_ranges: cidrs(&at.field("prefix_ranges"), &m.prefix_ranges)?,
        server_names: m
            .server_names
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        transport_protocol: (!m.transport_protocol.is_empty())
            .then(|| m.transport_protocol.clone()),
        application_protocols: m.application_protocols.clone(),
        source_prefix_ranges: cidrs(&at.field("source_prefix_ranges"), &m.source_prefix_ranges)?,
        source_ports: m
            .source_ports
            .iter()
            .enumerate()
            .map(|(i, p)| port(&at.field("source_ports").index(i), *p))
            .collect::<Result<_>>()?,
    })
}

fn cidrs(at: &At<'_>, ranges: &[CidrRange]) -> Result<Vec<IpNet>> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rat = at.index(i);
            let ip: IpAddr = r.address_prefix.parse().map_err(|_| {
                rat.field("address_prefix")
                    .err(format!("{:?} is not an IP address", r.address_prefix))
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = r.prefix_len.unwrap_or(max);
            let len = u8::try_from(len)
                .ok()
                .filter(|l| u32::from(*l) <= max)
                .ok_or_else(|| {
                    rat.field("prefix_len")
                        .err(format!("must be at most {max}"))
                })?;
            IpNet::new(ip, len)
                .map(|n| n.trunc())
                .map_err(|e| rat.err(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(json: serde_json::Value) -> ChainMatch {
        let fcm: FilterChainMatch = serde_json::from_value(json).expect("model");
        build_chain_match(&At::new("t"), Some(&fcm)).expect("compile")
    }

    fn conn<'a>(dst: &str, sni: Option<&'a str>, tp: &'a str, alpn: &'a [String]) -> ConnInfo<'a> {
        ConnInfo {
            destination: dst.parse().expect("addr"),
            source: "127.0.0.1:5000".parse().expect("addr"),
            server_name: sni,
            transport_protocol: tp,
            application_protocols: alpn,
        }
    }

    #[test]
    fn port_then_prefix_specificity() {
        let chains = [
            m(serde_json::json!({})),
            m(serde_json::json!({"destination_port": 8080})),
            m(
                serde_json::json!({"destination_port": 8080, "prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}),
            ),
            m(
                serde_json::json!({"destination_port": 8080, "prefix_ranges": [{"address_prefix": "10.1.0.0", "prefix_len": 16}]}),
            ),
        ];
        assert_eq!(
            select(&chains, &conn("10.1.2.3:8080", None, "raw_buffer", &[])),
            Some(3)
        );
        assert_eq!(
            select(&chains, &conn("10.9.2.3:8080", None, "raw_buffer", &[])),
            Some(2)
        );
        assert_eq!(
            select(&chains, &conn("192.168.0.1:8080", None, "raw_buffer", &[])),
            Some(1)
        );
        assert_eq!(
            select(&chains, &conn("10.1.2.3:9090", None, "raw_buffer", &[])),
            Some(0)
        );
    }

    #[test]
    fn server_names_transport_and_alpn() {
        let chains = [
            m(serde_json::json!({"server_names": ["*.example.com"]})),
            m(serde_json::json!({"server_names": ["api.example.com"]})),
            m(serde_json::json!({"transport_protocol": "tls"})),
            m(serde_json::json!({"application_protocols": ["h2c"]})),
        ];
        assert_eq!(
            select(
                &chains,
                &conn("1.2.3.4:443", Some("api.example.com"), "tls", &[])
            ),
            Some(1)
        );
        assert_eq!(
            select(
                &chains,
                &conn("1.2.3.4:443", Some("www.example.com"), "tls", &[])
            ),
            Some(0)
        );
        assert_eq!(
            select(&chains, &conn("1.2.3.4:443", Some("other.org"), "tls", &[])),
            Some(2)
        );
        let h2c = vec!["h2c".to_string()];
        assert_eq!(
            select(&chains, &conn("1.2.3.4:80", None, "raw_buffer", &h2c)),
            Some(3)
        );
        assert_eq!(
            select(&chains[..1], &conn("1.2.3.4:80", None, "raw_buffer", &[])),
            None
        );
    }

    #[test]
    fn bad_prefix_is_reported_with_path() {
        let fcm: FilterChainMatch = serde_json::from_value(
            serde_json::json!({"prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 40}]}),
        )
        .expect("model");
        let err =
            build_chain_match(&At::new("Listener l").field("fcm"), Some(&fcm)).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "Listener l: fcm.prefix_ranges[0].prefix_len: must be at most 32"
        );
    }
}
