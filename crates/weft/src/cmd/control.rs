//! `weft control`: the control plane (istiod's job). Reads Istio and Kubernetes objects from a
//! directory (watched for changes), serves Envoy xDS over ADS, and debug endpoints and metrics
//! over HTTP. Stops on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};

/// Arguments of `weft control`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of YAML/JSON configuration, read recursively and watched for changes.
    #[arg(long)]
    pub config_dir: PathBuf,
    /// Mesh config (the `mesh` key of Istio's ConfigMap, as YAML).
    #[arg(long)]
    pub mesh_config: Option<PathBuf>,
    /// Address of the ADS gRPC server (plaintext).
    #[arg(long, default_value = "127.0.0.1:15010")]
    pub xds_address: SocketAddr,
    /// Address of the debug and metrics HTTP server.
    #[arg(long, default_value = "127.0.0.1:15014")]
    pub http_address: SocketAddr,
    /// How often the configuration directory is looked at, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_interval_ms: u64,
    /// Quiet time after a change before pushing, in milliseconds (PILOT_DEBOUNCE_AFTER).
    #[arg(long, default_value_t = 100)]
    pub debounce_after_ms: u64,
    /// Longest time a push waits for changes to settle, in milliseconds (PILOT_DEBOUNCE_MAX).
    #[arg(long, default_value_t = 10_000)]
    pub debounce_max_ms: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::init_tracing("info");
    let mesh = match &args.mesh_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            MeshConfig::from_yaml(&path.display().to_string(), &text)
                .map_err(|p| anyhow::anyhow!("{p}"))?
        }
        None => MeshConfig::default(),
    };
    let opts = ControlOptions {
        config_dir: args.config_dir,
        extra_config_dirs: Vec::new(),
        mesh: mesh.with_defaults(),
        xds_address: args.xds_address,
        http_address: args.http_address,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(10)),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(args.debounce_after_ms),
            max: Duration::from_millis(args.debounce_max_ms.max(args.debounce_after_ms)),
        },
        ads: AdsOptions::default(),
        ca: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let control = ControlPlane::start(opts).await?;
        super::shutdown_signal().await;
        tracing::info!("shutting down");
        control.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}
