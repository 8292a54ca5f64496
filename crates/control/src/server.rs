//! Wiring of a whole control plane: file source → store → pipeline → ADS and debug servers,
//! and the CA served on the xDS listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;
use weft_config::LoadOptions;
use weft_config::model::mesh::MeshConfig;
use weft_registry::RegistryOptions;
use weft_security::{CaOptions, RunningCa};
use weft_store::{ConfigSnapshot, ConfigSource, FileSource, Store};

use crate::ads::{AdsOptions, AdsServer};
use crate::debounce::DebounceOptions;
use crate::debug::{self, DebugState};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::status::SyncStatus;

/// Everything `weft control` is configured with.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    pub config_dir: PathBuf,
    /// More directories read and watched like `config_dir` (local mode adds its Pods).
    pub extra_config_dirs: Vec<PathBuf>,
    pub mesh: MeshConfig,
    pub xds_address: SocketAddr,
    pub http_address: SocketAddr,
    pub poll_interval: Duration,
    pub debounce: DebounceOptions,
    pub ads: AdsOptions,
    /// The CA served beside ADS; `None` serves no certificates.
    pub ca: Option<CaOptions>,
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot listen on {address} ({what}): {source}")]
    Bind {
        what: &'static str,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration source stopped before its first sync")]
    SourceStopped,
    #[error(transparent)]
    Ca(#[from] weft_security::SetupError),
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    pub xds_address: SocketAddr,
    pub http_address: SocketAddr,
    pub status: Arc<SyncStatus>,
    pub metrics: Arc<Metrics>,
    /// The CA, when one was configured: its root and the issuer of local credentials.
    pub ca: Option<RunningCa>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener, ControlError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ControlError::Bind {
            what,
            address,
            source,
        })
}

impl ControlPlane {
    /// Reads the configuration once (serving starts only after that), then serves.
    pub async fn start(opts: ControlOptions) -> Result<ControlPlane, ControlError> {
        let ca = opts.ca.as_ref().map(CaOptions::start).transpose()?;
        let xds = bind("xDS", opts.xds_address).await?;
        let http = bind("HTTP", opts.http_address).await?;
        let (xds_address, http_address) = (
            local(&xds, opts.xds_address),
            local(&http, opts.http_address),
        );
        let metrics = Arc::new(Metrics::new());
        let status = SyncStatus::new();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let (mut snapshots, store_task) = start_store(&opts);
        tasks.push(store_task);
        let first = first_sync(&mut snapshots).await?;
        info!(
            objects = first.len(),
            rejected = first.rejected.len(),
            "configuration synced"
        );

        let pipeline = Pipeline {
            mesh: opts.mesh.clone(),
            registry_options: RegistryOptions::default(),
            debounce: opts.debounce,
            metrics: metrics.clone(),
        };
        let config_rx = snapshots.clone();
        let (generation, pushes) = pipeline.start(first);
        let (generations, generation_rx) = watch::channel(generation.clone());
        let ads = AdsServer::new(
            pushes.subscribe(),
            status.clone(),
            metrics.clone(),
            opts.ads.clone(),
        );
        tasks.push(tokio::spawn(pipeline.run(
            snapshots,
            generation,
            pushes,
            generations,
        )));
        let ca_service = ca.as_ref().map(|c| c.service.clone());
        tasks.push(tokio::spawn(async move {
            let stop = stopped(shutdown_rx.clone());
            if let Err(e) = ads.serve_with_ca(xds, ca_service, stop).await {
                tracing::error!(error = %e, "xDS server failed");
            }
        }));
        let state = debug_state(status.clone(), metrics.clone(), config_rx, generation_rx);
        let http_shutdown = stopped(shutdown.subscribe());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = debug::serve(http, state, http_shutdown).await {
                tracing::error!(error = %e, "debug server failed");
            }
        }));
        info!(%xds_address, %http_address, ca = ca.is_some(), "control plane serving");
        Ok(ControlPlane {
            xds_address,
            http_address,
            status,
            metrics,
            ca,
            shutdown,
            tasks,
        })
    }

    /// Stops serving and waits for the servers to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts the file source and the store.
fn start_store(opts: &ControlOptions) -> (watch::Receiver<Arc<ConfigSnapshot>>, JoinHandle<()>) {
    let dirs: Vec<&PathBuf> = std::iter::once(&opts.config_dir)
        .chain(&opts.extra_config_dirs)
        .collect();
    let (store, snapshots) = Store::new(dirs.len());
    let (events_tx, events_rx) = mpsc::channel(64);
    for dir in dirs {
        let source = FileSource::new(dir, opts.poll_interval, LoadOptions::default());
        info!(source = %source.name(), "reading configuration");
        // The source's task ends by itself once the store is gone.
        drop(Box::new(source).run(events_tx.clone()));
    }
    (snapshots, tokio::spawn(store.run(events_rx)))
}

/// Waits until every source has reported its initial state.
async fn first_sync(
    snapshots: &mut watch::Receiver<Arc<ConfigSnapshot>>,
) -> Result<Arc<ConfigSnapshot>, ControlError> {
    loop {
        snapshots
            .changed()
            .await
            .map_err(|_| ControlError::SourceStopped)?;
        let s = snapshots.borrow_and_update().clone();
        if s.synced {
            return Ok(s);
        }
    }
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

fn debug_state(
    status: Arc<SyncStatus>,
    metrics: Arc<Metrics>,
    config: watch::Receiver<Arc<ConfigSnapshot>>,
    generation: watch::Receiver<crate::pipeline::Generation>,
) -> DebugState {
    DebugState {
        status,
        metrics,
        configz: Arc::new(move || config.borrow().configz()),
        registryz: Arc::new(move || generation.borrow().registry.debug_json()),
    }
}
