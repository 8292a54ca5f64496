//! What a control plane needs to run its CA: where the material lives and the leaf policy,
//! turned into a ready [`CaService`] and the key that issues local credentials.

use std::path::PathBuf;
use std::sync::Arc;

use crate::ca::{CaError, CertificateAuthority, TtlPolicy};
use crate::credential::{CredentialKey, CredentialKeyError};
use crate::service::CaService;

/// How the control plane's CA is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaOptions {
    /// The CA's own directory: the self-signed root (unless `cacerts` is set) and the key that
    /// signs local credentials live here, created 0700 with 0600 keys.
    pub dir: PathBuf,
    /// Istio's plugged-in `cacerts` directory; signing material is read from there instead.
    pub cacerts: Option<PathBuf>,
    pub trust_domain: String,
    pub ttl: TtlPolicy,
}

/// Why the CA could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("CA: {0}")]
    Ca(#[from] CaError),
    #[error("CA credentials: {0}")]
    Credentials(#[from] CredentialKeyError),
}

/// A CA ready to serve.
#[derive(Debug, Clone)]
pub struct RunningCa {
    pub ca: Arc<CertificateAuthority>,
    /// Issues the local-mode credentials the service accepts.
    pub credentials: Arc<CredentialKey>,
    pub service: CaService,
}

impl CaOptions {
    /// Loads or creates the material and the credential key.
    pub fn start(&self) -> Result<RunningCa, SetupError> {
        let ca = match &self.cacerts {
            Some(dir) => {
                let ca = CertificateAuthority::from_cacerts(dir, &self.trust_domain, self.ttl)?;
                // The credential key still lives in the CA's own directory.
                crate::files::create_private_dir(&self.dir).map_err(CaError::from)?;
                ca
            }
            None => CertificateAuthority::self_signed(&self.dir, &self.trust_domain, self.ttl)?,
        };
        let ca = Arc::new(ca);
        let credentials = Arc::new(CredentialKey::load_or_create(&self.dir)?);
        let service = CaService::new(ca.clone(), credentials.clone());
        Ok(RunningCa {
            ca,
            credentials,
            service,
        })
    }
}
