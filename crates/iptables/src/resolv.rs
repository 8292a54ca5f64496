//! The nameservers of a resolv.conf text: the DNS servers whose traffic `--redirect-dns`
//! captures when `--capture-all-dns` is not given.

use std::net::IpAddr;

/// Every `nameserver` address of `text`, in order, without duplicates. Lines that do not parse
/// (comments, options, zone-scoped IPv6 addresses) are skipped.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        if let Some(addr) = words.next().and_then(|w| w.parse::<IpAddr>().ok())
            && !out.contains(&addr)
        {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers() {
        let text = "# comment\nsearch default.svc.cluster.local\nnameserver 10.96.0.10\n\
                    nameserver fd00::10\nnameserver 10.96.0.10\noptions ndots:5\nnameserver bad\n";
        let got: Vec<String> = nameservers(text).iter().map(ToString::to_string).collect();
        assert_eq!(got, ["10.96.0.10", "fd00::10"]);
    }
}
