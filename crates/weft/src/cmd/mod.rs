//! One module per subcommand: argument struct and `run`.

pub mod analyze;
pub mod iptables;
pub mod validate;
