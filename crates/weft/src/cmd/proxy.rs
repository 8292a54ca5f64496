//! `weft proxy`: runs the data plane from a bootstrap file, or generates the bootstrap for a
//! sidecar or router that follows an ADS server. Stops gracefully on SIGTERM, Ctrl-C or
//! `/quitquitquit`: health checks fail first, listeners close, and in-flight work gets
//! `--drain-time` to finish.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;
use weft_proxy::Proxy;
use weft_proxy_config::bootstrap;

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
    /// How long in-flight work may take to finish on shutdown (e.g. `5s`, `500ms`).
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.concurrency.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let proxy = Proxy::start(b, snap).await?;
        tracing::info!(admin = %proxy.admin_addr(), "proxy started");
        wait_for_stop(&proxy).await;
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
    md.insert(
        "SERVICE_ACCOUNT".into(),
        json!(env("SERVICE_ACCOUNT", "default")),
    );
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
        };
        let (b, _) = generated("sidecar", &g).expect("bootstrap");
        let api = b.dynamic_resources.expect("dynamic").ads_api_type();
        assert_eq!(api, Ok(Some(AdsApiType::DeltaGrpc)));
    }
}
