//! `weft control`: the control plane (istiod's job). Reads Istio and Kubernetes objects from a
//! directory (watched for changes), serves Envoy xDS over ADS, and debug endpoints and metrics
//! over HTTP. With `--ca-dir` it also runs the CA (istiod's Citadel) on the xDS port, and can
//! write local credentials for proxies started by hand (`--issue-credential`). Stops on
//! SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};
use weft_security::{CaOptions, RunningCa, SpiffeId, TtlPolicy};

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
    /// Proxies pushed to at the same time after a change (PILOT_PUSH_THROTTLE); the others
    /// wait for a slot. 0: no limit.
    #[arg(long, default_value_t = 100)]
    pub push_concurrency: usize,
    #[command(flatten)]
    pub ca: CaArgs,
}

/// The CA's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CaArgs {
    /// Run the CA: its self-signed root (created on first start) and the key of local
    /// credentials live in this directory (0700, keys 0600).
    #[arg(long)]
    pub ca_dir: Option<PathBuf>,
    /// Sign with plugged-in material in Istio's `cacerts` layout (ca-cert.pem, ca-key.pem,
    /// root-cert.pem, cert-chain.pem) instead of the self-signed root.
    #[arg(long, requires = "ca_dir")]
    pub cacerts: Option<PathBuf>,
    /// Trust domain of issued identities; default: MeshConfig `trustDomain`, else cluster.local.
    #[arg(long)]
    pub trust_domain: Option<String>,
    /// Lifetime of a workload certificate when the request asks for none
    /// (DEFAULT_WORKLOAD_CERT_TTL), e.g. `24h`.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    pub workload_cert_ttl: Duration,
    /// Longest lifetime a workload certificate gets (MAX_WORKLOAD_CERT_TTL).
    #[arg(long, default_value = "2160h", value_parser = parse_ttl)]
    pub max_workload_cert_ttl: Duration,
    /// Write a local credential for `NAMESPACE/SERVICE_ACCOUNT` to `PATH` (0600) at start, for
    /// `weft proxy ... --credential-file PATH`; repeatable.
    #[arg(long, value_name = "NS/SA=PATH", requires = "ca_dir")]
    pub issue_credential: Vec<String>,
    /// How long credentials written by `--issue-credential` are accepted.
    #[arg(long, default_value = "720h", value_parser = parse_ttl)]
    pub credential_ttl: Duration,
}

/// Durations as Istio writes them: `24h`, `90m`, `30s`, `500ms`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let units = [("ms", 0.001), ("h", 3600.0), ("m", 60.0), ("s", 1.0)];
    let (num, mult) = units
        .iter()
        .find_map(|(unit, mult)| s.strip_suffix(unit).map(|n| (n, *mult)))
        .ok_or_else(|| format!("invalid duration {s:?}: use e.g. 24h, 90m or 30s"))?;
    let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = v * mult;
    if !(secs.is_finite() && secs > 0.0 && secs < 100.0 * 365.0 * 86_400.0) {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl CaArgs {
    /// The CA options, if `--ca-dir` asks for a CA.
    pub fn options(&self, mesh: &MeshConfig) -> anyhow::Result<Option<CaOptions>> {
        let Some(dir) = &self.ca_dir else {
            return Ok(None);
        };
        if self.workload_cert_ttl > self.max_workload_cert_ttl {
            anyhow::bail!("--workload-cert-ttl must not exceed --max-workload-cert-ttl");
        }
        let trust_domain = self
            .trust_domain
            .clone()
            .unwrap_or_else(|| mesh.trust_domain().to_string());
        // Checked once here so a bad flag fails before anything starts.
        SpiffeId::new(&trust_domain, "default", "default")
            .map_err(|e| anyhow::anyhow!("--trust-domain: {e}"))?;
        Ok(Some(CaOptions {
            dir: dir.clone(),
            cacerts: self.cacerts.clone(),
            trust_domain,
            ttl: TtlPolicy {
                default_ttl: self.workload_cert_ttl,
                max_ttl: self.max_workload_cert_ttl,
            },
        }))
    }
}

/// Writes the credentials `--issue-credential` asks for.
fn issue_credentials(args: &CaArgs, ca: &RunningCa) -> anyhow::Result<()> {
    for spec in &args.issue_credential {
        let (identity, path) = spec
            .split_once('=')
            .and_then(|(who, path)| Some((who.split_once('/')?, path)))
            .with_context(|| {
                format!("--issue-credential {spec:?}: use NAMESPACE/SERVICE_ACCOUNT=PATH")
            })?;
        let id = SpiffeId::new(ca.ca.trust_domain(), identity.0, identity.1)
            .map_err(|e| anyhow::anyhow!("--issue-credential {spec:?}: {e}"))?;
        let token = ca.credentials.issue(&id, args.credential_ttl);
        weft_security::files::write_private(Path::new(path), token.as_bytes())?;
        tracing::info!(identity = %id, path, "wrote a local credential");
    }
    Ok(())
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
    }
    .with_defaults();
    let opts = ControlOptions {
        config_dir: args.config_dir,
        extra_config_dirs: Vec::new(),
        mesh: mesh.clone(),
        xds_address: args.xds_address,
        http_address: args.http_address,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(10)),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(args.debounce_after_ms),
            max: Duration::from_millis(args.debounce_max_ms.max(args.debounce_after_ms)),
        },
        ads: AdsOptions {
            push_concurrency: args.push_concurrency,
            ..AdsOptions::default()
        },
        ca: args.ca.options(&mesh)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let control = ControlPlane::start(opts).await?;
        if let Some(ca) = &control.ca {
            issue_credentials(&args.ca, ca)?;
        }
        super::shutdown_signal().await;
        tracing::info!("shutting down");
        control.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_flags_take_istio_durations() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_ttl("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_ttl("24").is_err());
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("-1h").is_err());
    }

    #[test]
    fn trust_domain_defaults_to_mesh_config_and_is_checked() {
        let mut args = CaArgs {
            ca_dir: Some("/tmp/ca".into()),
            cacerts: None,
            trust_domain: None,
            workload_cert_ttl: Duration::from_secs(3600),
            max_workload_cert_ttl: Duration::from_secs(7200),
            issue_credential: Vec::new(),
            credential_ttl: Duration::from_secs(60),
        };
        let mesh = MeshConfig {
            trust_domain: Some("example.org".into()),
            ..MeshConfig::default()
        };
        let opts = args.options(&mesh).expect("options").expect("CA on");
        assert_eq!(opts.trust_domain, "example.org");
        args.trust_domain = Some("Bad Domain".into());
        let err = args.options(&mesh).expect_err("refused").to_string();
        assert!(err.starts_with("--trust-domain:"), "{err}");
        args.ca_dir = None;
        assert!(
            args.options(&mesh).expect("no error").is_none(),
            "no --ca-dir, no CA"
        );
    }
}
