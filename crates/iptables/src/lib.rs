//! Traffic capture for a sidecar, compatible with Istio's `istio-iptables`: a typed
//! [`Config`] (built from istio-iptables' flags by [`Flags::to_config`]), pure generation of
//! the nat/raw rules in `iptables-restore` format ([`generate`]), and cleaning computed from
//! the current rules ([`clean_script`]).
//!
//! This crate owns the capture rules and nothing else: it does not start the proxy or know
//! Istio objects. All I/O (running `iptables-save`/`iptables-restore`, reading resolv.conf)
//! is in [`system`]; everything else is plain functions over plain data.

pub mod clean;
pub mod config;
pub mod flags;
pub mod resolv;
pub mod restore;
pub mod rules;
pub mod system;

pub use clean::{clean_script, leftover_chains};
pub use config::{Config, DnsCapture, Family, InboundPorts, OutboundCidrs};
pub use flags::{Checked, FlagError, Flags};
pub use restore::{Rule, RuleSet, Table};
pub use rules::{generate, generate_family};
pub use system::SystemError;
