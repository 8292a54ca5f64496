//! `weft-adsload`: a benchmark tool, not part of the product. It simulates N sidecar proxies
//! against an ADS server (one HTTP/2 connection and one SotW stream each, subscribing CDS and
//! LDS as wildcards, then EDS and RDS for the names those carry, ACKing every response) and
//! measures how long the control plane takes to bring every one of them up to date.
//!
//! Output is one JSON object per line on stdout; commands are lines on stdin:
//!
//! * `mark LABEL TYPE` (TYPE one of `cds lds eds rds`): prints `{"event":"marked",...}` at once,
//!   then `{"event":"converged",...}` when every client has ACKed a TYPE response received after
//!   the mark with a version other than the one it had at the mark (or the mark timed out):
//!   p50/p99/max milliseconds from the mark, clients missing, bytes per client since the mark.
//! * `stats`: counts and bytes so far. `quit` (or end of input): exit.
//!
//! `{"event":"ready",...}` is printed once every client has ACKed CDS, LDS and every non-empty
//! EDS/RDS subscription; its `bytes_per_client` is the initial configuration's size per proxy.

mod client;
mod collect;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use weft_xds::pb::envoy::config::core::v3::Node;

use crate::client::{Event, Kind};
use crate::collect::Collector;

#[derive(Debug, Parser)]
#[command(
    name = "weft-adsload",
    version,
    about = "Benchmark tool: N simulated ADS clients, convergence after a configuration change"
)]
struct Args {
    /// The ADS server (plaintext gRPC).
    #[arg(long, default_value = "127.0.0.1:15010")]
    address: String,
    /// Simulated proxies, one connection and one stream each.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Exit after this many seconds whatever happens (the bound on every run).
    #[arg(long, default_value_t = 600)]
    duration_s: u64,
    /// Spread the clients' first connects over this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    ramp_ms: u64,
    /// A mark reports whoever has converged after this many seconds.
    #[arg(long, default_value_t = 30)]
    mark_timeout_s: u64,
    /// Namespace of the simulated pods (node id and `NAMESPACE` metadata).
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(run(args))
}

/// Client `i`'s node: an Istio sidecar id with a distinct pod IP and name.
fn node(i: usize, namespace: &str) -> Node {
    let ip = format!(
        "10.{}.{}.{}",
        100 + (i >> 16) % 100,
        (i >> 8) & 255,
        i & 255
    );
    let meta = json!({
        "NAMESPACE": namespace,
        "INSTANCE_IPS": ip,
        "LABELS": {"app": "adsload"},
    });
    Node {
        id: format!("sidecar~{ip}~load-{i}.{namespace}~{namespace}.svc.cluster.local"),
        cluster: format!("adsload.{namespace}"),
        metadata: Some(weft_xds::struct_from_json(&meta)),
        ..Default::default()
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(args.duration_s);
    let (tx, mut events) = mpsc::unbounded_channel::<Event>();
    let address: Arc<str> = args.address.clone().into();
    let step = Duration::from_millis(args.ramp_ms) / u32::try_from(args.clients).unwrap_or(1);
    for i in 0..args.clients {
        let (address, tx, node) = (address.clone(), tx.clone(), node(i, &args.namespace));
        let start = tokio::time::Instant::now() + step * u32::try_from(i).unwrap_or(0);
        tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            client::run(i, address, node, tx, until).await;
        });
    }
    drop(tx);
    let mut collector = Collector::new(args.clients);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mark_timeout = Duration::from_secs(args.mark_timeout_s);
    loop {
        let out = tokio::select! {
            Some(ev) = events.recv() => collector.on_event(ev),
            line = lines.next_line() => {
                let Some(line) = line.context("reading stdin")? else { break };
                match command(&mut collector, line.trim(), mark_timeout) {
                    Some(out) => Some(out),
                    None => break,
                }
            }
            _ = tick.tick() => collector.check(),
            _ = tokio::time::sleep_until(until.into()) => break,
        };
        if let Some(out) = out {
            println!("{out}");
        }
    }
    println!("{}", collector.stats("done"));
    Ok(())
}

/// One stdin command's answer; `None` means quit.
fn command(collector: &mut Collector, line: &str, mark_timeout: Duration) -> Option<Value> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Some(match words.as_slice() {
        ["quit"] => return None,
        ["stats"] => collector.stats("stats"),
        ["mark", label, kind] => match Kind::from_short(kind) {
            Some(kind) => collector.mark(label, kind, mark_timeout),
            None => json!({"event": "error", "error": format!("unknown type {kind:?}")}),
        },
        _ => json!({"event": "error", "error": format!("unknown command {line:?}")}),
    })
}
