//! Workload identity for weft: SPIFFE ids, the CA (root material and signing), the local-mode
//! per-workload credential, the certificate-signing gRPC service
//! (`istio.v1.auth.IstioCertificateService`) and its client, and the agent that obtains and
//! rotates a workload's key and chain.
//!
//! Must not touch the data path's sockets or xDS: the agent hands what it obtains to a
//! callback; wiring it into the proxy's secret store is the binary's job.

pub mod agent;
pub mod ca;
pub mod credential;
pub mod files;
pub mod service;
pub mod setup;
pub mod spiffe;

pub use ca::{CaError, CertificateAuthority, SignedChain, TtlPolicy};
pub use setup::{CaOptions, RunningCa, SetupError};
pub use spiffe::{SpiffeError, SpiffeId};
