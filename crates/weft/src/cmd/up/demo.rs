//! `weft demo`: Bookinfo in a local mesh, from the copy of examples/bookinfo built into the
//! binary, so that it runs from any directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::UpOptions;

/// Arguments of `weft demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub options: UpOptions,
}

const FILES: [(&str, &str); 4] = [
    (
        "platform.yaml",
        include_str!("../../../../../examples/bookinfo/platform.yaml"),
    ),
    (
        "gateway.yaml",
        include_str!("../../../../../examples/bookinfo/gateway.yaml"),
    ),
    (
        "destination-rule-all.yaml",
        include_str!("../../../../../examples/bookinfo/destination-rule-all.yaml"),
    ),
    (
        "ingress-gateway.yaml",
        include_str!("../../../../../examples/bookinfo/ingress-gateway.yaml"),
    ),
];

/// The example directory written out, removed when dropped.
struct DemoDir(PathBuf);

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = DemoDir(std::env::temp_dir().join(format!("weft-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)
        .with_context(|| format!("cannot create {}", dir.0.display()))?;
    for (name, text) in FILES {
        std::fs::write(dir.0.join(name), text)
            .with_context(|| format!("cannot write {}", dir.0.join(name).display()))?;
    }
    let mut options = args.options;
    options.banner = Some("Bookinfo: http://127.0.0.1:8080/productpage".into());
    super::up(&dir.0, &options)
}
