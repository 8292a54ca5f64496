//! Equality-based label selectors (`matchLabels`, `workloadSelector.labels`, Service
//! `selector`), printed as Kubernetes prints them.

use std::collections::BTreeMap;

/// Labels or a selector: key to value, in key order.
pub type Labels = BTreeMap<String, String>;

/// Whether every pair of `selector` is in `labels`. An empty selector selects everything.
pub fn matches(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `app=reviews,version=v1` (keys in order), as `labels.SelectorFromSet(..).String()`.
pub fn selector_string(selector: &Labels) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether every pair of `a` is in `b` with the same value (`a` is a subset of `b`).
pub fn is_subset(a: &Labels, b: &Labels) -> bool {
    matches(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_supersets() {
        let pod = l(&[("app", "reviews"), ("version", "v1")]);
        assert!(matches(&l(&[("app", "reviews")]), &pod));
        assert!(matches(&l(&[]), &pod));
        assert!(!matches(&l(&[("app", "ratings")]), &pod));
        assert!(!matches(&l(&[("tier", "web")]), &pod));
    }

    #[test]
    fn selector_strings_are_sorted() {
        assert_eq!(
            selector_string(&l(&[("version", "v1"), ("app", "reviews")])),
            "app=reviews,version=v1"
        );
        assert_eq!(selector_string(&l(&[])), "");
    }
}
