//! Golden outputs of the rule generation for istio-iptables' common flag sets. The files under
//! tests/golden/ were checked by hand against istio-iptables' rule order; regenerate them with
//! `WEFT_UPDATE_GOLDEN=1 cargo test -p weft-iptables --test golden` and review the diff.

use std::path::PathBuf;

use weft_iptables::{Flags, generate};

fn render(flags: &Flags) -> String {
    let config = flags.to_config().expect("valid flags").config;
    generate(&config)
        .iter()
        .map(|set| format!("# {:?}\n{}", set.family, set.to_restore()))
        .collect()
}

fn check(name: &str, flags: Flags) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.rules"));
    let got = render(&flags);
    if std::env::var_os("WEFT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with WEFT_UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(got, want, "{name}: output differs from {}", path.display());
}

#[test]
fn default_flags() {
    check("default", Flags::default());
}

#[test]
fn excluded_ports() {
    check(
        "excluded-ports",
        Flags {
            local_exclude_ports: "15090,15021,15020,22".into(),
            outbound_ports_exclude: "3306,6379".into(),
            ..Flags::default()
        },
    );
}

#[test]
fn include_lists() {
    check(
        "include-ports",
        Flags {
            inbound_ports: "9080,9443".into(),
            service_cidr: String::new(),
            outbound_ports_include: "443,8443".into(),
            ..Flags::default()
        },
    );
}

#[test]
fn cidr_include_and_exclude_both_families() {
    check(
        "cidrs-ipv6",
        Flags {
            service_cidr: "10.96.0.0/12,fd00:10:96::/112".into(),
            service_exclude_cidr: "10.96.0.1/32,fd00:10:96::1/128".into(),
            ipv6: true,
            ..Flags::default()
        },
    );
}

#[test]
fn loopback_include_keeps_app_loopback_calls_captured() {
    check(
        "loopback-include",
        Flags {
            service_cidr: "127.0.0.0/8".into(),
            ..Flags::default()
        },
    );
}

#[test]
fn dns_capture_all() {
    check(
        "dns-all",
        Flags {
            redirect_dns: true,
            capture_all_dns: true,
            ..Flags::default()
        },
    );
}

#[test]
fn dns_capture_resolv_conf_servers() {
    check(
        "dns-servers",
        Flags {
            redirect_dns: true,
            proxy_uid: "1337,0".into(),
            proxy_gid: Some("1337".into()),
            dns_servers: vec![
                "10.96.0.10".parse().expect("ip"),
                "fd00::10".parse().expect("ip"),
            ],
            ..Flags::default()
        },
    );
}

#[test]
fn no_inbound_no_outbound_ranges() {
    check(
        "no-capture-ranges",
        Flags {
            inbound_ports: String::new(),
            service_cidr: String::new(),
            ..Flags::default()
        },
    );
}
