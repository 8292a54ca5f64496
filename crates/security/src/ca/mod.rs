//! The certificate authority: its signing material (a self-signed root it creates, or Istio's
//! plugged-in `cacerts` layout) and the signing of workload leaves for SPIFFE identities.

mod material;
mod pem_text;
mod sign;

use std::path::PathBuf;
use std::time::Duration;

use rcgen::{Issuer, KeyPair};
use time::OffsetDateTime;

use crate::files::FileError;

pub use material::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};
pub use pem_text::split_certificates;

/// Istio's defaults: `DEFAULT_WORKLOAD_CERT_TTL` 24 h, `MAX_WORKLOAD_CERT_TTL` 90 days.
pub const DEFAULT_WORKLOAD_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_WORKLOAD_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// Validity of a self-signed root (Istio's `CITADEL_SELF_SIGNED_CA_CERT_TTL`).
pub const SELF_SIGNED_ROOT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaves start this far in the past so peers with a slightly slow clock accept them.
pub const CLOCK_SKEW_GRACE: Duration = Duration::from_secs(60);

/// How long issued leaves live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// Used when the request asks for none (validity 0).
    pub default_ttl: Duration,
    /// Longer requests are cut to this.
    pub max_ttl: Duration,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            default_ttl: DEFAULT_WORKLOAD_TTL,
            max_ttl: MAX_WORKLOAD_TTL,
        }
    }
}

impl TtlPolicy {
    /// The lifetime a request gets: its own if given, never more than the maximum.
    pub fn effective(&self, requested: Option<Duration>) -> Duration {
        let wanted = requested
            .filter(|d| !d.is_zero())
            .unwrap_or(self.default_ttl);
        wanted.min(self.max_ttl)
    }
}

/// Why the CA could not start or refused to sign.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {reason}", path.display())]
    Material { path: PathBuf, reason: String },
    #[error("{}: has {present} but not {missing}; restore it or remove both to create a new root", dir.display())]
    Incomplete {
        dir: PathBuf,
        present: &'static str,
        missing: &'static str,
    },
    #[error("CSR: {0}")]
    Csr(String),
    #[error("CSR: requests {requested:?}, but the caller may only obtain [{allowed:?}]")]
    IdentityMismatch {
        requested: Vec<String>,
        allowed: String,
    },
    #[error("cannot sign: {0}")]
    Signing(String),
}

/// A signed leaf with the rest of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChain {
    /// PEM certificates: the leaf, the intermediates, the root last (Istio's response order).
    pub certificates: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A CA that signs workload certificates for one trust domain.
pub struct CertificateAuthority {
    trust_domain: String,
    issuer: Issuer<'static, KeyPair>,
    /// Certificates between a leaf and the root (from `cert-chain.pem`; empty for a
    /// self-signed root).
    intermediates: Vec<String>,
    root_pem: String,
    signing_not_after: OffsetDateTime,
    ttl: TtlPolicy,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.trust_domain)
            .field("intermediates", &self.intermediates.len())
            .field("signing_not_after", &self.signing_not_after)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The trust bundle (`root-cert.pem`), what peers verify chains against.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub fn ttl(&self) -> TtlPolicy {
        self.ttl
    }
}
