//! The real control plane in process, for tests that drive a proxy from it: a fresh config
//! directory and `weft-control` on ephemeral loopback ports with short debounce.

use std::path::{Path, PathBuf};
use std::time::Duration;

use weft_config::model::mesh::MeshConfig;
use weft_control::AdsOptions;
use weft_control::debounce::DebounceOptions;
use weft_control::server::{ControlOptions, ControlPlane};

/// An empty directory under the system temp dir, unique to this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-proxy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A control plane watching `dir`, with mesh `proxyHttpPort` set to `http_proxy_port`.
pub async fn control_plane(dir: &Path, http_proxy_port: u16) -> ControlPlane {
    let mut mesh = MeshConfig::default().with_defaults();
    mesh.proxy_http_port = Some(i32::from(http_proxy_port));
    let opts = ControlOptions {
        config_dir: dir.to_path_buf(),
        extra_config_dirs: Vec::new(),
        mesh,
        xds_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        poll_interval: Duration::from_millis(50),
        debounce: DebounceOptions {
            quiet: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        ads: AdsOptions::default(),
        ca: None,
    };
    ControlPlane::start(opts).await.unwrap()
}
