//! Subscription name lists shared between connections.
//!
//! Every sidecar of a view subscribes to the same EDS and RDS names (the clusters and routes
//! it was sent), so storing one list per connection multiplies thousands of names by the
//! number of proxies. Connections keep an `Arc` of one shared list instead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Lists no connection holds any more are dropped once the set has doubled since the last
/// sweep, and never before it holds this many.
const FIRST_SWEEP: usize = 64;

#[derive(Debug)]
struct Lists {
    lists: HashSet<Arc<[String]>>,
    sweep_at: usize,
}

/// The distinct subscription lists in use.
#[derive(Debug)]
pub(crate) struct NameLists {
    inner: Mutex<Lists>,
}

impl Default for NameLists {
    fn default() -> Self {
        NameLists {
            inner: Mutex::new(Lists {
                lists: HashSet::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }
}

impl NameLists {
    /// The shared list equal to `names`.
    pub fn intern(&self, names: Vec<String>) -> Arc<[String]> {
        if names.is_empty() {
            return Arc::default();
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = inner.lists.get(names.as_slice()) {
            return list.clone();
        }
        if inner.lists.len() >= inner.sweep_at {
            inner.lists.retain(|l| Arc::strong_count(l) > 1);
            inner.sweep_at = (inner.lists.len() * 2).max(FIRST_SWEEP);
        }
        let list: Arc<[String]> = names.into();
        inner.lists.insert(list.clone());
        list
    }

    /// Number of lists kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|l| l.lists.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}-{i}")).collect()
    }

    #[test]
    fn equal_lists_are_one_allocation() {
        let lists = NameLists::default();
        let a = lists.intern(names("outbound|80||svc", 100));
        let b = lists.intern(names("outbound|80||svc", 100));
        let other = lists.intern(names("outbound|80||svc", 99));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(*other, names("outbound|80||svc", 99)[..]);
        assert_eq!(lists.len(), 2);
    }

    #[test]
    fn lists_nobody_holds_are_swept() {
        let lists = NameLists::default();
        let kept = lists.intern(names("kept", 3));
        for i in 0..(FIRST_SWEEP * 4) {
            drop(lists.intern(names(&format!("gone{i}"), 2)));
        }
        assert!(lists.len() <= FIRST_SWEEP + 1, "{} lists kept", lists.len());
        let again = lists.intern(names("kept", 3));
        assert!(
            Arc::ptr_eq(&kept, &again),
            "a held list survives the sweeps"
        );
    }

    #[test]
    fn the_empty_list_is_not_stored() {
        let lists = NameLists::default();
        assert!(lists.intern(Vec::new()).is_empty());
        assert_eq!(lists.len(), 0);
    }
}
