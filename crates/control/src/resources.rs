//! Generated resources of one proxy view, packed once and shared by every connection that has
//! the same view.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};

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

    /// The set without resources, with the version every empty set has.
    pub fn empty() -> &'static TypedResources {
        static EMPTY: OnceLock<TypedResources> = OnceLock::new();
        EMPTY.get_or_init(|| TypedResources::new(std::iter::empty()))
    }

    /// The resources a request asks for: all of them for a wildcard (empty) subscription.
    /// They are the shared packed resources, not copies: a response to every proxy of a view
    /// points at the same bytes.
    pub fn select(&self, names: &[String]) -> Vec<Arc<Any>> {
        if names.is_empty() {
            return self.items.values().cloned().collect();
        }
        names
            .iter()
            .filter_map(|n| self.items.get(n))
            .cloned()
            .collect()
    }

    /// Names in `subscribed` (every name, for an empty subscription) whose content differs
    /// from `sent`, or that `sent` did not have. One merge over both sorted maps, so a push
    /// costs a comparison per resource, not a lookup.
    pub fn changed_since(&self, sent: &TypedResources, subscribed: &[String]) -> Vec<String> {
        let mut old = sent.hashes.iter().peekable();
        let mut changed = Vec::new();
        for (name, hash) in &self.hashes {
            while old.next_if(|(n, _)| n.as_str() < name.as_str()).is_some() {}
            let same = old
                .next_if(|(n, _)| *n == name)
                .is_some_and(|(_, h)| h == hash);
            let wanted = subscribed.is_empty() || subscribed.binary_search(name).is_ok();
            if !same && wanted {
                changed.push(name.clone());
            }
        }
        changed
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
    pub fn get_or_empty(&self, url: &str) -> &TypedResources {
        self.get(url).unwrap_or_else(|| TypedResources::empty())
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

    #[test]
    fn select_shares_the_packed_resources() {
        let set = TypedResources::new([any("a", b"1")]);
        let picked = set.select(&[]);
        assert!(Arc::ptr_eq(&picked[0], &set.items["a"]));
    }

    #[test]
    fn changed_since_finds_new_and_changed_subscribed_names() {
        let sent = TypedResources::new([any("a", b"1"), any("b", b"2"), any("d", b"4")]);
        let now = TypedResources::new([
            any("a", b"1"),
            any("b", b"9"),
            any("c", b"3"),
            any("e", b"5"),
        ]);
        assert_eq!(now.changed_since(&sent, &[]), ["b", "c", "e"]);
        let only_a_c = ["a".to_string(), "c".to_string()];
        assert_eq!(now.changed_since(&sent, &only_a_c), ["c"]);
        assert!(now.changed_since(&now, &[]).is_empty());
        let empty = TypedResources::default();
        assert_eq!(now.changed_since(&empty, &[]).len(), 4);
    }
}
