//! Generated resources of one proxy view, packed once and shared by every connection that has
//! the same view.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

/// The order in which types are pushed: clusters before their endpoints, listeners before
/// their routes (Envoy's ADS ordering, so nothing is referenced before it exists), then the
/// secrets listeners asked for.
pub const PUSH_ORDER: [&str; 5] = [
    type_url::CLUSTER,
    type_url::CLUSTER_LOAD_ASSIGNMENT,
    type_url::LISTENER,
    type_url::ROUTE_CONFIGURATION,
    type_url::SECRET,
];

/// The short name Istio uses for a type in metrics and debug output.
pub fn short_type(url: &str) -> &'static str {
    match url {
        type_url::CLUSTER => "cds",
        type_url::CLUSTER_LOAD_ASSIGNMENT => "eds",
        type_url::LISTENER => "lds",
        type_url::ROUTE_CONFIGURATION => "rds",
        type_url::SECRET => "sds",
        _ => "other",
    }
}

/// Whether a client names the resources it wants (RDS, EDS) rather than getting all of them.
pub fn is_named_type(url: &str) -> bool {
    matches!(
        url,
        type_url::ROUTE_CONFIGURATION | type_url::CLUSTER_LOAD_ASSIGNMENT | type_url::SECRET
    )
}

/// All resources of one type, with a version that changes exactly when their content does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypedResources {
    pub version: String,
    pub items: BTreeMap<String, Arc<Any>>,
    /// A content hash per resource (independent of map-field order in the encoding).
    pub hashes: BTreeMap<String, u64>,
}

/// A hash of packed bytes.
pub fn bytes_hash(any: &Any) -> u64 {
    let mut h = DefaultHasher::new();
    any.type_url.hash(&mut h);
    any.value.hash(&mut h);
    h.finish()
}

impl TypedResources {
    /// Builds the set from named, packed resources, hashing their bytes.
    pub fn new(items: impl IntoIterator<Item = (String, Arc<Any>)>) -> Self {
        Self::with_hashes(items.into_iter().map(|(n, a)| {
            let hash = bytes_hash(&a);
            (n, a, hash)
        }))
    }

    /// Builds the set from resources whose content hashes are already known.
    pub fn with_hashes(items: impl IntoIterator<Item = (String, Arc<Any>, u64)>) -> Self {
        let mut out = TypedResources::default();
        for (name, any, hash) in items {
            out.hashes.insert(name.clone(), hash);
            out.items.insert(name, any);
        }
        let mut h = DefaultHasher::new();
        for (name, hash) in &out.hashes {
            name.hash(&mut h);
            hash.hash(&mut h);
        }
        out.version = format!("{:016x}", h.finish());
        out
    }

    /// The version of one resource.
    pub fn item_version(&self, name: &str) -> String {
        format!(
            "{:016x}",
            self.hashes.get(name).copied().unwrap_or_default()
        )
    }

    /// The resources a request asks for: all of them for a wildcard (empty) subscription.
    pub fn select(&self, names: &[String]) -> Vec<Any> {
        if names.is_empty() {
            return self.items.values().map(|a| (**a).clone()).collect();
        }
        names
            .iter()
            .filter_map(|n| self.items.get(n))
            .map(|a| (**a).clone())
            .collect()
    }
}

/// Every type generated for one proxy view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyResources {
    pub types: BTreeMap<String, TypedResources>,
}

impl ProxyResources {
    pub fn get(&self, url: &str) -> Option<&TypedResources> {
        self.types.get(url)
    }

    /// The set of `url`, or an empty set with a stable version.
    pub fn get_or_empty(&self, url: &str) -> TypedResources {
        self.get(url)
            .cloned()
            .unwrap_or_else(|| TypedResources::new(std::iter::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(name: &str, bytes: &[u8]) -> (String, Arc<Any>) {
        let a = Any {
            type_url: type_url::CLUSTER.into(),
            value: bytes.to_vec(),
        };
        (name.to_string(), Arc::new(a))
    }

    #[test]
    fn version_follows_content() {
        let a = TypedResources::new([any("a", b"1"), any("b", b"2")]);
        let same = TypedResources::new([any("b", b"2"), any("a", b"1")]);
        let other = TypedResources::new([any("a", b"1"), any("b", b"3")]);
        assert_eq!(a.version, same.version);
        assert_ne!(a.version, other.version);
    }

    #[test]
    fn select_named_and_wildcard() {
        let set = TypedResources::new([any("a", b"1"), any("b", b"2")]);
        assert_eq!(set.select(&[]).len(), 2);
        assert_eq!(set.select(&["b".into(), "zz".into()]).len(), 1);
    }
}
