//! The proxy's secrets by SDS name: `default` (the workload's key and chain) and `ROOTCA`
//! (the trust bundle) set in-process by the identity agent, plus secrets from the bootstrap
//! and from ADS. TLS contexts look secrets up by name when they build a handshake config, and
//! watch [`SecretStore::changed`] to rebuild after a rotation; open connections keep the
//! config they were established with.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;
use weft_proxy_config::runtime::secret::Secret;

/// Secrets by name; the version counter moves on every change.
#[derive(Debug)]
pub struct SecretStore {
    secrets: RwLock<BTreeMap<String, Arc<Secret>>>,
    version: watch::Sender<u64>,
}

impl Default for SecretStore {
    fn default() -> Self {
        Self {
            secrets: RwLock::default(),
            version: watch::channel(0).0,
        }
    }
}

impl SecretStore {
    /// Adds or replaces a secret.
    pub fn set(&self, name: &str, secret: Secret) {
        let mut map = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(name.to_string(), Arc::new(secret));
        drop(map);
        self.version.send_modify(|v| *v += 1);
    }

    pub fn remove(&self, name: &str) {
        let mut map = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        let removed = map.remove(name).is_some();
        drop(map);
        if removed {
            self.version.send_modify(|v| *v += 1);
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Secret>> {
        let map = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// Names and values, for `/certs` and `/config_dump` (which must redact keys).
    pub fn all(&self) -> Vec<(String, Arc<Secret>)> {
        let map = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The current version (what [`SecretStore::changed`] last sent).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Moves on every change.
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proxy_config::runtime::secret::ValidationContext;

    #[test]
    fn set_get_remove_move_the_version() {
        let store = SecretStore::default();
        let rx = store.changed();
        let ca = Secret::Validation(ValidationContext {
            trusted_ca_pem: "PEM".into(),
        });
        store.set("ROOTCA", ca.clone());
        assert_eq!(store.get("ROOTCA").as_deref(), Some(&ca));
        assert_eq!(*rx.borrow(), 1);
        store.remove("ROOTCA");
        store.remove("ROOTCA");
        assert!(store.get("ROOTCA").is_none());
        assert_eq!(*rx.borrow(), 2);
    }
}
