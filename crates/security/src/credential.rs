//! The local-mode credential: a token the control plane issues to each workload it starts,
//! binding a SPIFFE identity and an expiry with HMAC-SHA256 under a key only the control plane
//! holds. The CA service accepts it as `authorization: Bearer TOKEN`; Kubernetes
//! service-account tokens will be another [`Authenticator`].

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::files::{self, FileError};
use crate::spiffe::SpiffeId;

/// The file in the CA directory holding the credential key.
pub const CREDENTIAL_KEY: &str = "credential-key";
const TOKEN_PREFIX: &str = "weft1.";
const KEY_LEN: usize = 32;

/// Why a caller is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("credential is malformed: {0}")]
    Malformed(&'static str),
    #[error("credential signature does not verify")]
    BadSignature,
    #[error("credential for {identity} expired at {expired_at} (unix seconds)")]
    Expired { identity: String, expired_at: u64 },
    #[error("credential names an invalid identity: {0}")]
    Identity(String),
}

/// Turns a caller's bearer token into the identity it may obtain certificates for.
#[tonic::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, bearer_token: &str) -> Result<SpiffeId, AuthError>;
}

/// Issues and verifies local credentials.
pub struct CredentialKey {
    key: hmac::Key,
}

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey([redacted])")
    }
}

/// Why the credential key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialKeyError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: must hold {KEY_LEN} bytes, has {len}", path.display())]
    Length {
        path: std::path::PathBuf,
        len: usize,
    },
    #[error("no random numbers for a new credential key")]
    Random,
}

impl CredentialKey {
    /// Loads `dir/credential-key`, creating it (32 random bytes, 0600) on first start.
    pub fn load_or_create(dir: &Path) -> Result<CredentialKey, CredentialKeyError> {
        let path = dir.join(CREDENTIAL_KEY);
        if !path.exists() {
            let mut bytes = [0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| CredentialKeyError::Random)?;
            files::write_private(&path, &bytes)?;
        }
        let bytes = std::fs::read(&path).map_err(|e| FileError::new(&path, "read", e))?;
        if bytes.len() != KEY_LEN {
            return Err(CredentialKeyError::Length {
                path,
                len: bytes.len(),
            });
        }
        Ok(CredentialKey::from_bytes(&bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> CredentialKey {
        CredentialKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// A token for `identity` valid for `ttl` from now.
    pub fn issue(&self, identity: &SpiffeId, ttl: Duration) -> String {
        let expiry = unix_now().saturating_add(ttl.as_secs());
        self.issue_until(identity, expiry)
    }

    fn issue_until(&self, identity: &SpiffeId, expiry_unix: u64) -> String {
        let payload = format!("{identity}\n{expiry_unix}");
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!(
            "{TOKEN_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The identity a token binds, if its signature verifies and it has not expired.
    pub fn verify(&self, token: &str) -> Result<SpiffeId, AuthError> {
        let rest = token
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(AuthError::Malformed("not a weft credential"))?;
        let (payload_b64, tag_b64) = rest
            .split_once('.')
            .ok_or(AuthError::Malformed("missing signature"))?;
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s);
        let payload = decode(payload_b64).map_err(|_| AuthError::Malformed("payload"))?;
        let tag = decode(tag_b64).map_err(|_| AuthError::Malformed("signature"))?;
        hmac::verify(&self.key, &payload, &tag).map_err(|_| AuthError::BadSignature)?;
        let text = String::from_utf8(payload).map_err(|_| AuthError::Malformed("payload"))?;
        let (id_text, expiry_text) = text
            .split_once('\n')
            .ok_or(AuthError::Malformed("payload"))?;
        let expiry: u64 = expiry_text
            .parse()
            .map_err(|_| AuthError::Malformed("expiry"))?;
        if expiry <= unix_now() {
            return Err(AuthError::Expired {
                identity: id_text.to_string(),
                expired_at: expiry,
            });
        }
        id_text
            .parse()
            .map_err(|e: crate::SpiffeError| AuthError::Identity(e.to_string()))
    }
}

#[tonic::async_trait]
impl Authenticator for CredentialKey {
    async fn authenticate(&self, bearer_token: &str) -> Result<SpiffeId, AuthError> {
        self.verify(bearer_token)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SpiffeId {
        "spiffe://cluster.local/ns/default/sa/reviews"
            .parse()
            .expect("id")
    }

    #[test]
    fn issued_token_verifies_to_its_identity() {
        let key = CredentialKey::from_bytes(&[7; KEY_LEN]);
        let token = key.issue(&id(), Duration::from_secs(60));
        assert_eq!(key.verify(&token), Ok(id()));
    }

    #[test]
    fn forged_tampered_and_expired_tokens_are_refused() {
        let key = CredentialKey::from_bytes(&[7; KEY_LEN]);
        let other = CredentialKey::from_bytes(&[8; KEY_LEN]);
        let forged = other.issue(&id(), Duration::from_secs(60));
        assert_eq!(key.verify(&forged), Err(AuthError::BadSignature));

        let token = key.issue(&id(), Duration::from_secs(60));
        let (_, tag) = token.rsplit_once('.').expect("tag");
        let admin: SpiffeId = "spiffe://cluster.local/ns/istio-system/sa/admin"
            .parse()
            .expect("id");
        let swapped = format!(
            "{TOKEN_PREFIX}{}.{tag}",
            URL_SAFE_NO_PAD.encode(format!("{admin}\n{}", unix_now() + 60))
        );
        assert_eq!(key.verify(&swapped), Err(AuthError::BadSignature));

        let expired = key.issue_until(&id(), unix_now() - 1);
        assert!(matches!(
            key.verify(&expired),
            Err(AuthError::Expired { .. })
        ));
        assert!(matches!(
            key.verify("Bearer x"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            key.verify("weft1.!!.??"),
            Err(AuthError::Malformed(_))
        ));
    }
}
