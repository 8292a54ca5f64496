//! One module per subcommand: argument struct and `run`.

pub mod analyze;
pub mod control;
pub mod inspect;
pub mod iptables;
pub mod proxy;
pub mod up;
pub mod validate;
