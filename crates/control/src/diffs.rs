//! Which resources changed between two generations of a view, worked out once per pair and
//! shared by every connection that goes from one to the other (all proxies of a view do, at
//! every push).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::resources::ProxyResources;

struct Diff {
    from: Arc<ProxyResources>,
    to: Arc<ProxyResources>,
    changed: Arc<[String]>,
}

/// The last difference computed per type.
#[derive(Default)]
pub(crate) struct Diffs {
    last: Mutex<HashMap<String, Diff>>,
}

impl Diffs {
    /// Names of the `type_url` resources of `to` that are new or changed since `from`.
    pub fn changed(
        &self,
        type_url: &str,
        from: &Arc<ProxyResources>,
        to: &Arc<ProxyResources>,
    ) -> Arc<[String]> {
        {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = last.get(type_url)
                && Arc::ptr_eq(&d.from, from)
                && Arc::ptr_eq(&d.to, to)
            {
                return d.changed.clone();
            }
        }
        let (old, new) = (from.get_or_empty(type_url), to.get_or_empty(type_url));
        let changed: Arc<[String]> = new.changed_since(old, &[]).into();
        let diff = Diff {
            from: from.clone(),
            to: to.clone(),
            changed: changed.clone(),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.insert(type_url.to_string(), diff);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::TypedResources;
    use weft_xds::pb::google::protobuf::Any;
    use weft_xds::type_url::CLUSTER_LOAD_ASSIGNMENT as EDS;

    fn resources(items: &[(&str, u8)]) -> Arc<ProxyResources> {
        let set = TypedResources::new(items.iter().map(|(n, b)| {
            let any = Any {
                type_url: EDS.into(),
                value: vec![*b],
            };
            (n.to_string(), Arc::new(any))
        }));
        let mut r = ProxyResources::default();
        r.types.insert(EDS.into(), set);
        Arc::new(r)
    }

    #[test]
    fn one_diff_per_pair_of_generations() {
        let diffs = Diffs::default();
        let (a, b) = (
            resources(&[("x", 1), ("y", 1)]),
            resources(&[("x", 1), ("y", 2)]),
        );
        let first = diffs.changed(EDS, &a, &b);
        assert_eq!(*first, ["y".to_string()]);
        let again = diffs.changed(EDS, &a, &b);
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second connection reuses it"
        );
        let c = resources(&[("x", 3), ("y", 2)]);
        let next = diffs.changed(EDS, &b, &c);
        assert_eq!(*next, ["x".to_string()], "a new generation is a new diff");
        assert!(diffs.changed(EDS, &c, &c).is_empty());
    }
}
