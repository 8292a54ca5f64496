//! `weft iptables`: installs the sidecar's traffic capture with istio-iptables' flags, and
//! `weft iptables clean` removes it. `--dry-run` prints the `iptables-restore` input instead.
//! The rules and their checks live in weft-iptables; this module maps flags and prints.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use weft_iptables::{Family, Flags, generate, system};

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Arguments of `weft iptables`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub capture: CaptureArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Remove the capture: every ISTIO_* chain and every jump to one (IPv4 and IPv6).
    Clean {
        /// Print the iptables-restore input that would remove the rules, change nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

/// istio-iptables' flags, with the values Istio's injector passes as defaults.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Port that outbound TCP traffic is redirected to.
    #[arg(short = 'p', long, default_value = "15001", value_name = "PORT")]
    pub envoy_port: String,
    /// Port that inbound TCP traffic is redirected to.
    #[arg(short = 'z', long, default_value = "15006", value_name = "PORT")]
    pub inbound_capture_port: String,
    /// Users whose traffic is never captured (comma-separated ids).
    #[arg(short = 'u', long, default_value = "1337", value_name = "UIDS")]
    pub proxy_uid: String,
    /// Groups whose traffic is never captured [default: the proxy uids].
    #[arg(short = 'g', long, value_name = "GIDS")]
    pub proxy_gid: Option<String>,
    /// Inbound capture mode: REDIRECT (TPROXY is not supported yet).
    #[arg(
        short = 'm',
        long = "istio-inbound-interception-mode",
        default_value = "REDIRECT",
        value_name = "MODE"
    )]
    pub inbound_interception_mode: String,
    /// Inbound ports to capture: "*" for all, a comma-separated list, or "" for none.
    #[arg(
        short = 'b',
        long = "istio-inbound-ports",
        default_value = "*",
        value_name = "PORTS"
    )]
    pub inbound_ports: String,
    /// Inbound ports never captured when -b is "*".
    #[arg(
        short = 'd',
        long = "istio-local-exclude-ports",
        default_value = "15090,15021,15020",
        value_name = "PORTS"
    )]
    pub local_exclude_ports: String,
    /// Outbound destinations to capture: "*", comma-separated CIDRs, or "" for none.
    #[arg(
        short = 'i',
        long = "istio-service-cidr",
        default_value = "*",
        value_name = "CIDRS"
    )]
    pub service_cidr: String,
    /// Outbound destinations never captured (comma-separated CIDRs).
    #[arg(
        short = 'x',
        long = "istio-service-exclude-cidr",
        default_value = "",
        value_name = "CIDRS"
    )]
    pub service_exclude_cidr: String,
    /// Outbound destination ports never captured.
    #[arg(
        short = 'o',
        long = "istio-local-outbound-ports-exclude",
        default_value = "",
        value_name = "PORTS"
    )]
    pub outbound_ports_exclude: String,
    /// Outbound TCP ports always captured, whatever their destination.
    #[arg(
        short = 'q',
        long = "istio-include-outbound-ports",
        default_value = "",
        value_name = "PORTS"
    )]
    pub outbound_ports_include: String,
    /// Capture DNS (port 53) to the DNS proxy on 15053: queries to the servers of
    /// /etc/resolv.conf, or to any server with --capture-all-dns.
    #[arg(long)]
    pub redirect_dns: bool,
    /// With --redirect-dns, capture DNS to any server.
    #[arg(long)]
    pub capture_all_dns: bool,
    /// Program ip6tables as well.
    #[arg(long)]
    pub ipv6: bool,
    /// Print the iptables-restore input, change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

impl CaptureArgs {
    fn to_flags(&self) -> Flags {
        Flags {
            envoy_port: self.envoy_port.clone(),
            inbound_capture_port: self.inbound_capture_port.clone(),
            proxy_uid: self.proxy_uid.clone(),
            proxy_gid: self.proxy_gid.clone(),
            inbound_interception_mode: self.inbound_interception_mode.clone(),
            inbound_ports: self.inbound_ports.clone(),
            local_exclude_ports: self.local_exclude_ports.clone(),
            service_cidr: self.service_cidr.clone(),
            service_exclude_cidr: self.service_exclude_cidr.clone(),
            outbound_ports_exclude: self.outbound_ports_exclude.clone(),
            outbound_ports_include: self.outbound_ports_include.clone(),
            redirect_dns: self.redirect_dns,
            capture_all_dns: self.capture_all_dns,
            ipv6: self.ipv6,
            dns_servers: Vec::new(),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(Action::Clean { dry_run }) => clean(dry_run),
        None => capture(&args.capture),
    }
}

fn capture(args: &CaptureArgs) -> anyhow::Result<ExitCode> {
    let mut flags = args.to_flags();
    if flags.redirect_dns && !flags.capture_all_dns {
        flags.dns_servers =
            system::resolv_conf_servers(Path::new(RESOLV_CONF)).unwrap_or_else(|e| {
                eprintln!("weft iptables: warning: {e}");
                Vec::new()
            });
    }
    let checked = flags.to_config()?;
    for warning in &checked.warnings {
        eprintln!("weft iptables: warning: {warning}");
    }
    let sets = generate(&checked.config);
    if args.dry_run {
        let text: String = sets
            .iter()
            .map(|set| {
                format!(
                    "# {} --noflush input\n{}",
                    restore_program(set.family),
                    set.to_restore()
                )
            })
            .collect();
        print_out(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    system::apply(&sets)?;
    let families: Vec<&str> = sets.iter().map(|s| family_name(s.family)).collect();
    eprintln!(
        "weft iptables: capture rules applied ({})",
        families.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn clean(dry_run: bool) -> anyhow::Result<ExitCode> {
    if dry_run {
        let mut text = String::new();
        for family in [Family::V4, Family::V6] {
            match system::pending_clean(family) {
                Ok(Some(script)) => {
                    text.push_str(&format!(
                        "# {} --noflush input\n{script}",
                        restore_program(family)
                    ));
                }
                Ok(None) => {}
                Err(weft_iptables::SystemError::Missing { .. }) if family == Family::V6 => {}
                Err(e) => return Err(e.into()),
            }
        }
        print_out(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let cleaned = system::clean_all()?;
    if cleaned.is_empty() {
        eprintln!("weft iptables: no capture rules found");
    } else {
        let families: Vec<&str> = cleaned.iter().map(|f| family_name(*f)).collect();
        eprintln!(
            "weft iptables: capture rules removed ({})",
            families.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing the rules")
}

fn restore_program(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables-restore",
        Family::V6 => "ip6tables-restore",
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: CaptureArgs,
    }

    #[test]
    fn cli_defaults_are_the_library_defaults() {
        let cli = Cli::try_parse_from(["weft-iptables"]).expect("no flags");
        assert_eq!(cli.args.to_flags(), Flags::default());
    }

    #[test]
    fn short_flags_mirror_istio_iptables() {
        let cli = Cli::try_parse_from([
            "weft-iptables",
            "-p",
            "15002",
            "-z",
            "15007",
            "-u",
            "1000",
            "-g",
            "1001",
            "-m",
            "REDIRECT",
            "-b",
            "9080",
            "-d",
            "22",
            "-i",
            "10.0.0.0/8",
            "-x",
            "10.0.0.1/32",
            "-o",
            "3306",
            "-q",
            "443",
            "-n",
        ])
        .expect("istio-iptables flags");
        let flags = cli.args.to_flags();
        assert_eq!(
            (
                flags.envoy_port.as_str(),
                flags.inbound_capture_port.as_str()
            ),
            ("15002", "15007")
        );
        assert_eq!(flags.proxy_gid.as_deref(), Some("1001"));
        assert_eq!(flags.service_exclude_cidr, "10.0.0.1/32");
        assert!(cli.args.dry_run);
    }
}
