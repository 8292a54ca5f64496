//! The `weft` binary: parses the command line and hands each subcommand to the crate that owns
//! it. Nothing here knows about Istio semantics.

fn main() {}
