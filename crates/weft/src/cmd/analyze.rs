//! `weft analyze`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `weft analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to analyze (`-` for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("weft analyze is not implemented yet")
}
