//! `weft proxy`: runs the data plane from a bootstrap file, or generates the bootstrap for a
//! sidecar or router that follows an ADS server. Stops gracefully on SIGTERM, Ctrl-C or
//! `/quitquitquit`: health checks fail first, listeners close, and in-flight work gets
//! `--drain-time` to finish.
//!
//! A sidecar or router given `--credential-file` also runs the identity agent (pilot-agent's
//! SDS side): it obtains the workload's key and chain from the CA and sets them, and the trust
//! bundle, as the proxy's `default` and `ROOTCA` secrets, again on every rotation.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;
use weft_proxy::Proxy;
use weft_proxy::secrets::SecretStore;
use weft_proxy_config::bootstrap;
use weft_proxy_config::runtime::secret::{PrivateKey, Secret, TlsCertificate, ValidationContext};
use weft_security::SpiffeId;
use weft_security::agent::{Issued, KeyAlgorithm, RotationOptions, run_rotation};
use weft_security::service::CaClient;

/// Arguments of `weft proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub mode: Option<Mode>,
    /// Envoy v3 bootstrap (YAML or JSON).
    #[arg(long, global = true)]
    pub bootstrap: Option<PathBuf>,
    /// Worker threads.
    #[arg(long, default_value_t = 2, global = true)]
    pub concurrency: usize,
    /// How long in-flight work may take to finish on shutdown, and how long a TCP connection
    /// of a listener replaced by a config update goes on before it is closed (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_parser = parse_duration, global = true)]
    pub drain_time: Duration,
}

#[derive(Debug, clap::Subcommand)]
pub enum Mode {
    /// A sidecar next to a workload, configured over ADS.
    Sidecar(Generate),
    /// A gateway (router), configured over ADS.
    Router(Generate),
}

#[derive(Debug, clap::Args)]
pub struct Generate {
    /// The xDS (ADS) server, `HOST:PORT`.
    #[arg(long)]
    pub discovery_address: String,
    /// Node id; defaults to `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local` from the pod's
    /// environment (INSTANCE_IP, POD_NAME, POD_NAMESPACE).
    #[arg(long)]
    pub node_id: Option<String>,
    /// Admin API address.
    #[arg(long, default_value = weft_proxy::DEFAULT_ADMIN)]
    pub admin_address: SocketAddr,
    /// Use incremental (delta) xDS (`api_type: DELTA_GRPC`) instead of state of the world;
    /// also on when `ISTIO_DELTA_XDS=true`, as with Istio's pilot-agent.
    #[arg(long)]
    pub delta: bool,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// The identity agent's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IdentityArgs {
    /// The CA's gRPC address, `HOST:PORT`; default: the discovery address.
    #[arg(long)]
    pub ca_address: Option<String>,
    /// File holding the credential the CA accepts (`weft control --issue-credential`, or
    /// written by `weft up`); without it no certificate is obtained.
    #[arg(long)]
    pub credential_file: Option<PathBuf>,
    /// Trust domain of the workload's identity (also `TRUST_DOMAIN`); default cluster.local.
    #[arg(long)]
    pub trust_domain: Option<String>,
    /// Key type of the workload certificate: `ecdsa` (P-256) or `rsa` (2048 bits).
    #[arg(long, default_value = "ecdsa", value_parser = parse_key_algorithm)]
    pub workload_key: KeyAlgorithm,
}

fn parse_key_algorithm(s: &str) -> Result<KeyAlgorithm, String> {
    match s {
        "ecdsa" | "ec" | "ECDSA" => Ok(KeyAlgorithm::EcdsaP256),
        "rsa" | "RSA" => Ok(KeyAlgorithm::Rsa2048),
        _ => Err(format!("unknown key type {s:?}: use ecdsa or rsa")),
    }
}

/// `ads_config.api_type` for a generated bootstrap.
fn api_type(g: &Generate) -> &'static str {
    let from_env = env("ISTIO_DELTA_XDS", "false").eq_ignore_ascii_case("true");
    if g.delta || from_env {
        "DELTA_GRPC"
    } else {
        "GRPC"
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!("invalid duration {s:?}: use e.g. 5s or 500ms"));
    };
    let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    if !(0.0..=86_400.0).contains(&(v * mult)) {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// One worker runs on a current-thread runtime: every task, timer and socket lives on the thread
/// that polls it, so a request pays no cross-thread wake-ups or work-stealing atomics (the way
/// one Envoy worker owns its event loop). More workers share a multi-thread runtime.
fn proxy_runtime(concurrency: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if concurrency <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(concurrency);
        b
    };
    builder
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_tracing();
    let (b, snap) = match (&args.mode, &args.bootstrap) {
        (None, Some(path)) => bootstrap::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        (Some(Mode::Sidecar(g)), None) => generated("sidecar", g)?,
        (Some(Mode::Router(g)), None) => generated("router", g)?,
        (None, None) => bail!(
            "give --bootstrap FILE, or `weft proxy sidecar|router --discovery-address HOST:PORT`"
        ),
        (Some(_), Some(_)) => bail!("--bootstrap cannot be combined with sidecar/router"),
    };
    let rt = proxy_runtime(args.concurrency)?;
    rt.block_on(async move {
        // Built inside the runtime: the CA client's channel needs it.
        let agent = match &args.mode {
            Some(Mode::Sidecar(g) | Mode::Router(g)) => identity_agent(g)?,
            None => None,
        };
        let proxy = Proxy::start(b, snap).await?;
        proxy.set_drain_time(args.drain_time);
        tracing::info!(admin = %proxy.admin_addr(), "proxy started");
        let agent_task = agent.map(|agent| {
            let secrets = proxy.shared().secrets.clone();
            tokio::spawn(agent.run(move |issued| set_workload_secrets(&secrets, issued)))
        });
        wait_for_stop(&proxy).await;
        if let Some(task) = agent_task {
            task.abort();
        }
        tracing::info!(drain = ?args.drain_time, "draining");
        proxy.shutdown(args.drain_time).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop(proxy: &Proxy) {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = proxy.quit_requested() => {}
    }
}

fn init_tracing() {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, reload};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
    weft_proxy::admin::set_log_handler(Box::new(move |level| {
        if level.is_empty() {
            return Ok(format!(
                "active loggers: {}",
                handle.with_current(|f| f.to_string()).unwrap_or_default()
            ));
        }
        let f = EnvFilter::try_new(level).map_err(|e| format!("invalid level {level:?}: {e}"))?;
        handle.reload(f).map_err(|e| e.to_string())?;
        Ok(format!("active loggers: {level}"))
    }));
}

/// The pod's service account: `ISTIO_META_SERVICE_ACCOUNT`, else `SERVICE_ACCOUNT`, else
/// `default`.
fn service_account() -> String {
    env(
        "ISTIO_META_SERVICE_ACCOUNT",
        &env("SERVICE_ACCOUNT", "default"),
    )
}

/// The agent a sidecar or router runs, if it was given a credential. Its identity is the
/// pod's: `spiffe://TRUST_DOMAIN/ns/POD_NAMESPACE/sa/SERVICE_ACCOUNT`.
fn identity_agent(g: &Generate) -> anyhow::Result<Option<Agent>> {
    let Some(path) = &g.identity.credential_file else {
        tracing::info!("no --credential-file: not obtaining a workload certificate");
        return Ok(None);
    };
    let credential = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --credential-file {}", path.display()))?;
    let trust_domain = g
        .identity
        .trust_domain
        .clone()
        .unwrap_or_else(|| env("TRUST_DOMAIN", "cluster.local"));
    let identity = SpiffeId::new(
        &trust_domain,
        &env("POD_NAMESPACE", "default"),
        &service_account(),
    )
    .map_err(|e| anyhow::anyhow!("workload identity: {e}"))?;
    let address = g
        .identity
        .ca_address
        .as_deref()
        .unwrap_or(&g.discovery_address);
    let client = CaClient::new(address, &credential).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut options = RotationOptions::new(identity);
    options.key_algorithm = g.identity.workload_key;
    Ok(Some(Agent { client, options }))
}

/// The identity agent, ready to run.
#[derive(Debug)]
struct Agent {
    client: CaClient,
    options: RotationOptions,
}

impl Agent {
    async fn run(self, deliver: impl FnMut(Issued) + Send) {
        run_rotation(self.client, self.options, deliver).await;
    }
}

/// Hands an obtained certificate to the proxy: `default` (key and chain) and `ROOTCA`.
pub fn set_workload_secrets(secrets: &SecretStore, issued: Issued) {
    secrets.set(
        "ROOTCA",
        Secret::Validation(ValidationContext {
            trusted_ca_pem: issued.root_pem,
        }),
    );
    secrets.set(
        "default",
        Secret::Certificate(TlsCertificate {
            chain_pem: issued.chain_pem,
            key: PrivateKey::new(issued.key_pem),
        }),
    );
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Node metadata as pilot-agent builds it: every `ISTIO_META_X` variable becomes key `X`
/// (`ISTIO_META_INTERCEPTION_MODE=NONE`), then the pod's identity.
fn node_metadata(ns: &str, labels: serde_json::Value) -> serde_json::Value {
    let mut md = serde_json::Map::new();
    for (key, value) in std::env::vars() {
        if let Some(k) = key.strip_prefix("ISTIO_META_").filter(|k| !k.is_empty()) {
            md.insert(k.to_string(), json!(value));
        }
    }
    md.insert("NAMESPACE".into(), json!(ns));
    md.insert("LABELS".into(), labels);
    md.insert("SERVICE_ACCOUNT".into(), json!(service_account()));
    let workload = env("ISTIO_META_WORKLOAD_NAME", &env("POD_NAME", "weft"));
    md.insert("WORKLOAD_NAME".into(), json!(workload));
    let cluster = env("ISTIO_META_CLUSTER_ID", "Kubernetes");
    md.insert("CLUSTER_ID".into(), json!(cluster));
    serde_json::Value::Object(md)
}

/// The bootstrap a sidecar or router needs: node identity and metadata from the pod's
/// environment, an ADS stream to the discovery address, admin on 127.0.0.1:15000.
fn generated(
    kind: &str,
    g: &Generate,
) -> anyhow::Result<(
    weft_proxy_config::model::Bootstrap,
    weft_proxy_config::Snapshot,
)> {
    let ns = env("POD_NAMESPACE", "default");
    let node_id = g.node_id.clone().unwrap_or_else(|| {
        format!(
            "{kind}~{}~{}.{ns}~{ns}.svc.cluster.local",
            env("INSTANCE_IP", "127.0.0.1"),
            env("POD_NAME", "weft")
        )
    });
    let xds = g
        .discovery_address
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --discovery-address {}", g.discovery_address))?
        .next()
        .with_context(|| format!("--discovery-address {} has no address", g.discovery_address))?;
    let labels: serde_json::Value =
        serde_json::from_str(&env("ISTIO_METAJSON_LABELS", "{}")).unwrap_or_else(|_| json!({}));
    let text = json!({
        "node": {
            "id": node_id,
            "cluster": env("ISTIO_META_CLUSTER_ID", "Kubernetes"),
            "metadata": node_metadata(&ns, labels),
        },
        "admin": {"address": {"socket_address": {"address": g.admin_address.ip().to_string(), "port_value": g.admin_address.port()}}},
        "dynamic_resources": {
            "ads_config": {"api_type": api_type(g), "transport_api_version": "V3",
                           "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"}
        },
        "static_resources": {"clusters": [{
            "name": "xds-grpc", "type": "STATIC", "connect_timeout": "1s",
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
            "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
                {"socket_address": {"address": xds.ip().to_string(), "port_value": xds.port()}}}}]}]}
        }]}
    })
    .to_string();
    bootstrap::load_str("<generated bootstrap>", &text).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use weft_proxy_config::model::bootstrap::AdsApiType;

    use super::*;

    #[test]
    fn delta_flag_generates_a_delta_grpc_bootstrap() {
        let g = Generate {
            discovery_address: "127.0.0.1:15010".into(),
            node_id: Some("sidecar~127.0.0.1~a.default~default.svc.cluster.local".into()),
            admin_address: ([127, 0, 0, 1], 15000).into(),
            delta: true,
            identity: IdentityArgs::default(),
        };
        let (b, _) = generated("sidecar", &g).expect("bootstrap");
        let api = b.dynamic_resources.expect("dynamic").ads_api_type();
        assert_eq!(api, Ok(Some(AdsApiType::DeltaGrpc)));
    }
}
