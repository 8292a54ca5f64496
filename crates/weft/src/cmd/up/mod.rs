//! `weft up DIR` and `weft demo`: the whole mesh on one machine. The control plane runs in this
//! process; every workload's app, its sidecar and the ingress gateway are supervised child
//! processes (restarted on crash, output prefixed per process, all stopped on Ctrl-C/SIGTERM).
//!
//! Capture mode `none` (the default, no root): each workload instance gets two loopback
//! addresses, the pod IP where its sidecar listens (127.10.0.N) and the app IP where the app
//! listens (127.11.0.N); the app reaches other services through its sidecar's HTTP proxy
//! listener (`HTTP_PROXY=http://POD_IP:15080`). See docs/local-mode.md.
//!
//! The in-process control plane runs a CA with a root created in the runtime dir; each proxy
//! gets a credential for its namespace and service account (0600, `--credential-file`) and
//! obtains its workload certificate with it (docs/security/identity.md).

pub mod demo;
mod processes;
mod status;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};
use weft_local::plan::{Plan, PlanOptions};
use weft_local::supervise::{Supervisor, SupervisorOptions};
use weft_security::{CaOptions, SpiffeId, TtlPolicy};

pub use demo::DemoArgs;

/// Arguments of `weft up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of Istio config plus the local workloads (Services, Deployments whose
    /// container `command` is a local program).
    pub dir: PathBuf,
    #[command(flatten)]
    pub options: UpOptions,
}

/// Options shared by `weft up` and `weft demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpOptions {
    /// Traffic capture: `none` (no root; apps use their sidecar as HTTP proxy). `netns` is
    /// not available yet.
    #[arg(long, default_value = "none")]
    pub capture: String,
    /// Address of the control plane's xDS server.
    #[arg(long, default_value = "127.0.0.1:15010")]
    pub xds_address: SocketAddr,
    /// Address of the control plane's debug and metrics server.
    #[arg(long, default_value = "127.0.0.1:15014")]
    pub control_http_address: SocketAddr,
    /// Stop after this long (for scripts and tests), e.g. `30s`; default: until Ctrl-C.
    #[arg(long, value_parser = parse_secs)]
    pub stop_after: Option<Duration>,
    /// Printed once every proxy is ready (`weft demo` names the product page).
    #[arg(skip)]
    pub banner: Option<String>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let n = s.strip_suffix('s').unwrap_or(s);
    n.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a duration in seconds (e.g. 30s)"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    up(&args.dir, &args.options)
}

/// Starts the mesh described by `dir` and runs until stopped.
pub fn up(dir: &Path, options: &UpOptions) -> anyhow::Result<ExitCode> {
    if options.capture != "none" {
        bail!(
            "--capture {}: only `none` is available in this version (netns capture is planned)",
            options.capture
        );
    }
    crate::cmd::init_tracing("warn");
    let plan = load_plan(dir)?;
    let runtime_dir = RuntimeDir::create()?;
    std::fs::write(
        runtime_dir.0.join("pods.yaml"),
        weft_local::plan::pods_yaml(&plan),
    )
    .context("cannot write the local Pods")?;
    status::check_ports(&plan, options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(dir, &runtime_dir.0, &plan, options))
}

fn load_plan(dir: &Path) -> anyhow::Result<Plan> {
    let loaded =
        weft_config::load_paths(&[dir.to_path_buf()], &weft_config::LoadOptions::default());
    for p in &loaded.problems {
        eprintln!("{p}");
    }
    if loaded.problems.iter().any(|p| p.is_error()) {
        bail!("{}: the configuration has errors", dir.display());
    }
    let plan = weft_local::plan::plan(&loaded.objects, &PlanOptions::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    if plan.instances.is_empty() {
        bail!(
            "{}: no Deployment found: nothing to run (see docs/local-mode.md for the workload format)",
            dir.display()
        );
    }
    Ok(plan)
}

async fn serve(
    dir: &Path,
    runtime_dir: &Path,
    plan: &Plan,
    options: &UpOptions,
) -> anyhow::Result<ExitCode> {
    let control = ControlPlane::start(control_options(dir, runtime_dir, options))
        .await
        .context("cannot start the control plane")?;
    let supervisor = Supervisor::new(SupervisorOptions {
        color: std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ..SupervisorOptions::default()
    });
    let weft = std::env::current_exe().context("cannot find the weft binary")?;
    let credentials = issue_credentials(plan, runtime_dir, &control)?;
    for spec in processes::all(plan, &weft, control.xds_address, credentials.as_deref()) {
        supervisor.spawn(spec);
    }
    status::print_table(plan, &control);
    status::wait_ready(plan).await;
    if let Some(banner) = &options.banner {
        println!("weft up: {banner}");
    }
    match options.stop_after {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = crate::cmd::shutdown_signal() => {}
            }
        }
        None => crate::cmd::shutdown_signal().await,
    }
    println!("weft up: stopping");
    supervisor.shutdown().await;
    control.stop().await;
    println!("weft up: stopped");
    Ok(ExitCode::SUCCESS)
}

fn control_options(dir: &Path, runtime_dir: &Path, options: &UpOptions) -> ControlOptions {
    ControlOptions {
        config_dir: dir.to_path_buf(),
        extra_config_dirs: vec![runtime_dir.to_path_buf()],
        mesh: MeshConfig::default().with_defaults(),
        xds_address: options.xds_address,
        http_address: options.control_http_address,
        poll_interval: Duration::from_millis(500),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(100),
            max: Duration::from_secs(2),
        },
        ads: AdsOptions::default(),
        ca: Some(CaOptions {
            dir: runtime_dir.join("ca"),
            cacerts: None,
            trust_domain: MeshConfig::DEFAULT_TRUST_DOMAIN.to_string(),
            ttl: TtlPolicy::default(),
        }),
    }
}

/// Writes one credential per proxy (workload instance or gateway) for its namespace and
/// service account, 0600 under the runtime dir; returns their directory.
fn issue_credentials(
    plan: &Plan,
    runtime_dir: &Path,
    control: &ControlPlane,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(ca) = &control.ca else {
        return Ok(None);
    };
    let dir = runtime_dir.join("credentials");
    weft_security::files::create_private_dir(&dir)?;
    for inst in &plan.instances {
        if processes::admin(inst).is_none() {
            continue;
        }
        let id = SpiffeId::new(ca.ca.trust_domain(), &inst.namespace, &inst.service_account)
            .map_err(|e| anyhow::anyhow!("{}: {e}", inst.name))?;
        // Valid for as long as a local mesh plausibly runs; the CA dir dies with the run.
        let token = ca.credentials.issue(&id, Duration::from_secs(365 * 86_400));
        let path = processes::credential_path(&dir, inst);
        weft_security::files::write_private(&path, token.as_bytes())?;
    }
    Ok(Some(dir))
}

/// A private directory for generated objects, removed when dropped.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn create() -> anyhow::Result<RuntimeDir> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("weft-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(RuntimeDir(dir))
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
