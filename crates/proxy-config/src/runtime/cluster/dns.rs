//! STRICT_DNS / LOGICAL_DNS: which resolved addresses become hosts. Resolution itself is I/O
//! and lives in weft-proxy; this is the pure part (lookup family, strict vs logical, keeping
//! the last good answer when a lookup fails).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Endpoint;
use crate::model::cluster::DnsLookupFamily;

/// Envoy's default `dns_refresh_rate`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// LOGICAL_DNS: only the first address of each name is a host.
    pub logical: bool,
    pub refresh_rate: Duration,
    pub family: DnsLookupFamily,
    /// The load assignment's endpoints, each with the name to resolve.
    pub targets: Vec<DnsTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTarget {
    pub hostname: String,
    /// Port, weight, priority and locality of the hosts this name resolves to (its `addr` IP
    /// is a placeholder).
    pub template: Endpoint,
}

/// The addresses of one answer that the lookup family admits, in answer order: AUTO prefers
/// IPv6 and falls back to IPv4, V4_PREFERRED the other way round.
pub fn admitted(family: DnsLookupFamily, answer: &[IpAddr]) -> Vec<IpAddr> {
    let v4: Vec<IpAddr> = answer.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = answer.iter().copied().filter(IpAddr::is_ipv6).collect();
    match family {
        DnsLookupFamily::V4Only => v4,
        DnsLookupFamily::V6Only => v6,
        DnsLookupFamily::Auto => {
            if v6.is_empty() {
                v4
            } else {
                v6
            }
        }
        DnsLookupFamily::V4Preferred => {
            if v4.is_empty() {
                v6
            } else {
                v4
            }
        }
        DnsLookupFamily::All => answer.to_vec(),
    }
}

impl DnsConfig {
    /// The hosts for the latest answers (`None` = the lookup failed). A failed or empty
    /// lookup keeps that name's hosts from `last`, as Envoy keeps the last good answer.
    pub fn endpoints(
        &self,
        answers: &[Option<Vec<IpAddr>>],
        last: &[Vec<Endpoint>],
    ) -> Vec<Vec<Endpoint>> {
        self.targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ips = answers
                    .get(i)
                    .and_then(|a| a.as_deref())
                    .map(|a| admitted(self.family, a))
                    .unwrap_or_default();
                dedup_keep_order(&mut ips);
                if self.logical {
                    ips.truncate(1);
                }
                if ips.is_empty() {
                    return last.get(i).cloned().unwrap_or_default();
                }
                ips.into_iter()
                    .map(|ip| Endpoint {
                        addr: SocketAddr::new(ip, t.template.addr.port()),
                        ..t.template
                    })
                    .collect()
            })
            .collect()
    }
}

fn dedup_keep_order(ips: &mut Vec<IpAddr>) {
    let mut seen = Vec::with_capacity(ips.len());
    ips.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn cfg(logical: bool, family: DnsLookupFamily) -> DnsConfig {
        DnsConfig {
            logical,
            refresh_rate: DEFAULT_REFRESH,
            family,
            targets: vec![DnsTarget {
                hostname: "svc.example".into(),
                template: Endpoint {
                    addr: SocketAddr::new(ip("0.0.0.0"), 8080),
                    weight: 3,
                    ..Endpoint::default()
                },
            }],
        }
    }

    #[test]
    fn lookup_families() {
        let both = [ip("10.0.0.1"), ip("::1"), ip("10.0.0.2")];
        use DnsLookupFamily::*;
        assert_eq!(
            admitted(V4Only, &both),
            vec![ip("10.0.0.1"), ip("10.0.0.2")]
        );
        assert_eq!(admitted(V6Only, &both), vec![ip("::1")]);
        assert_eq!(admitted(Auto, &both), vec![ip("::1")]);
        assert_eq!(admitted(Auto, &both[..1]), vec![ip("10.0.0.1")]);
        assert_eq!(admitted(V4Preferred, &both[1..2]), vec![ip("::1")]);
        assert_eq!(admitted(All, &both).len(), 3);
    }

    #[test]
    fn strict_takes_every_address_logical_the_first() {
        let answer = Some(vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.1")]);
        let strict =
            cfg(false, DnsLookupFamily::V4Only).endpoints(std::slice::from_ref(&answer), &[]);
        let addrs: Vec<String> = strict[0].iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(addrs, vec!["10.0.0.1:8080", "10.0.0.2:8080"]);
        assert!(strict[0].iter().all(|e| e.weight == 3));
        let logical = cfg(true, DnsLookupFamily::V4Only).endpoints(&[answer], &[]);
        assert_eq!(logical[0].len(), 1);
        assert_eq!(logical[0][0].addr.to_string(), "10.0.0.1:8080");
    }

    #[test]
    fn failed_lookup_keeps_last_good_hosts() {
        let c = cfg(false, DnsLookupFamily::V4Only);
        let good = c.endpoints(&[Some(vec![ip("10.0.0.9")])], &[]);
        assert_eq!(c.endpoints(&[None], &good), good);
        // An answer with only addresses of the wrong family counts as empty.
        assert_eq!(c.endpoints(&[Some(vec![ip("::2")])], &good), good);
        assert!(c.endpoints(&[None], &[])[0].is_empty());
    }
}
