//! The `weft` binary: parses the command line and hands each subcommand to the crate that owns
//! it. Nothing here knows Istio semantics; this is the only place `anyhow` is used.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc instead of glibc malloc: the request path allocates and frees small objects
/// (headers, futures, buffers) at a high rate, and glibc's bins and consolidation showed up as
/// ~8 % of the proxy's CPU under load (bench/README.md, "Instructions per request").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// weft: a light service mesh that speaks Istio's configuration.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check Istio and Kubernetes objects one by one (schema and webhook rules).
    Validate(cmd::validate::Args),
    /// Analyze a set of objects for cross-resource problems (istioctl analyze's IST codes).
    Analyze(cmd::analyze::Args),
    /// Install or remove sidecar traffic capture (istio-iptables' flags and rules).
    Iptables(cmd::iptables::Args),
    /// Run the data-plane proxy (Envoy xDS v3 bootstrap, or generated for sidecar/router).
    Proxy(cmd::proxy::Args),
    /// Run the control plane: Istio config from a directory, Envoy xDS over ADS (istiod's job).
    Control(cmd::control::Args),
    /// Show what one proxy runs: clusters, listeners, routes, endpoints (istioctl's).
    ProxyConfig(cmd::inspect::ConfigArgs),
    /// Show every connected proxy's sync state with the control plane (istioctl's).
    ProxyStatus(cmd::inspect::StatusArgs),
    /// Run a whole mesh on this machine: control plane, gateway, workloads and their sidecars.
    Up(cmd::up::Args),
    /// Run the Bookinfo demo in a local mesh and print the product page's URL.
    Demo(cmd::up::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Iptables(args) => cmd::iptables::run(args),
        Command::Proxy(args) => cmd::proxy::run(args),
        Command::Control(args) => cmd::control::run(args),
        Command::ProxyConfig(args) => cmd::inspect::run_config(args),
        Command::ProxyStatus(args) => cmd::inspect::run_status(args),
        Command::Up(args) => cmd::up::run(args),
        Command::Demo(args) => cmd::up::demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft: {e:#}");
            ExitCode::from(2)
        }
    }
}
