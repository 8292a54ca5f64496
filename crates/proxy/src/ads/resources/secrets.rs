//! SDS over ADS: `Secret` resources decoded and checked one by one (a bad one is NACKed by
//! name and the previous version keeps serving), the names to subscribe to (every SDS
//! reference with `sds_config: {ads: {}}` in the served listeners and clusters), and syncing
//! the accepted secrets into the proxy's secret store.

use std::collections::BTreeSet;
use std::sync::Arc;

use weft_proxy_config::from_pb;
use weft_proxy_config::runtime::tls::{CommonTls, SdsSource, build_secret, sds_names};
use weft_xds::pb::google::protobuf::Any;

use super::{Resources, Update, decode, merge};
use crate::secrets::SecretStore;

impl Resources {
    pub(super) fn apply_secrets(&mut self, resources: &[Any], update: &Update) -> Vec<String> {
        let d = decode(
            "Secret",
            resources,
            update,
            |s: &weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::Secret| {
                s.name.clone()
            },
            from_pb::secret,
            |m| build_secret(m).map(Arc::new),
        );
        let errors = d.errors.clone();
        merge(&mut self.secrets, d, update);
        errors
    }

    /// Names of the secrets the served config asks ADS for.
    pub fn sds_names(&self) -> Vec<String> {
        // The static and dynamic resources directly: assembling a snapshot would copy every
        // EDS cluster.
        let listeners = self
            .base
            .listeners
            .values()
            .chain(self.listeners.values().map(|e| &e.built));
        let chains = listeners
            .flat_map(|l| l.chains.iter().chain(l.default_chain.iter()))
            .filter_map(|c| c.tls.as_deref().map(|t| &t.common));
        let clusters = self
            .base
            .clusters
            .values()
            .chain(self.clusters.values().map(|e| &e.built))
            .flat_map(|c| {
                let matches = c.tls_matches.iter().filter_map(|m| m.tls.as_deref());
                c.tls.as_deref().into_iter().chain(matches)
            })
            .map(|t| &t.common);
        let names: BTreeSet<String> = chains
            .chain(clusters)
            .flat_map(|c: &CommonTls| sds_names(c))
            .filter(|n| n.source == SdsSource::Ads)
            .map(|n| n.name.clone())
            .collect();
        names.into_iter().collect()
    }

    /// Puts new or changed ADS secrets into `store` and removes those no longer accepted.
    pub fn sync_secrets(&mut self, store: &SecretStore) {
        let gone: Vec<String> = self
            .published_secrets
            .keys()
            .filter(|n| !self.secrets.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            store.remove(&name);
            self.published_secrets.remove(&name);
        }
        for (name, e) in &self.secrets {
            let same = self
                .published_secrets
                .get(name)
                .is_some_and(|p| Arc::ptr_eq(p, &e.built));
            if !same {
                store.set(name, (*e.built).clone());
                self.published_secrets.insert(name.clone(), e.built.clone());
            }
        }
    }
}
