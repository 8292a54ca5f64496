//! IST0127 NoMatchingWorkloadsFound for AuthorizationPolicies that apply to no workload, and
//! IST0101 ReferencedResourceNotFound for source namespaces no object of the input is in.
//! Workloads are only judged missing when the input describes some; namespaces only when it
//! has Namespace objects.

use std::collections::BTreeSet;

use weft_config::model::security::AuthorizationPolicy;
use weft_config::{Kind, Object};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::labels;
use crate::message::{Anchor, Message};

/// MeshConfig's default root namespace: policies there apply mesh-wide.
const ROOT_NAMESPACE: &str = "istio-system";

#[derive(Debug)]
pub struct AuthorizationPolicies;

impl Analyzer for AuthorizationPolicies {
    fn name(&self) -> &'static str {
        "auth.AuthorizationPoliciesAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of authorization policies"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let namespaces: BTreeSet<&str> = ctx
            .objects()
            .map(|o| {
                if o.kind == "Namespace" {
                    o.name()
                } else {
                    o.namespace()
                }
            })
            .filter(|ns| !ns.is_empty())
            .collect();
        let check_namespaces = ctx.has_kind(Kind::Namespace);
        let mut out = Vec::new();
        for (obj, ap) in ctx.authorization_policies() {
            out.extend(no_matching_workloads(ctx, obj, ap));
            if check_namespaces {
                out.extend(unknown_namespaces(obj, ap, &namespaces));
            }
        }
        out
    }
}

fn no_matching_workloads(ctx: &Context, obj: &Object, ap: &AuthorizationPolicy) -> Option<Message> {
    if ap.target_ref.is_some() || !ap.target_refs.is_empty() || ctx.workloads.is_empty() {
        return None;
    }
    let ns = obj.namespace();
    let at = || Anchor::at(obj, "metadata.name");
    let Some(selector) = ap.selector.as_ref().map(|s| &s.match_labels) else {
        let none_here = ns != ROOT_NAMESPACE && !ctx.has_workloads_in(ns);
        return none_here.then(|| catalogue::no_matching_workloads_found(at(), ""));
    };
    let mesh_wide = ns == ROOT_NAMESPACE;
    let matched = ctx
        .workloads
        .iter()
        .any(|w| (mesh_wide || w.namespace == ns) && labels::matches(selector, w.labels));
    let judged = mesh_wide || ctx.has_workloads_in(ns);
    (!matched && judged).then(|| {
        let at = Anchor::at(obj, "spec.selector");
        catalogue::no_matching_workloads_found(at, &labels::selector_string(selector))
    })
}

fn unknown_namespaces(
    obj: &Object,
    ap: &AuthorizationPolicy,
    known: &BTreeSet<&str>,
) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, rule) in ap.rules.iter().enumerate() {
        for (j, from) in rule.from.iter().enumerate() {
            let Some(source) = &from.source else { continue };
            let lists = [
                ("namespaces", &source.namespaces),
                ("notNamespaces", &source.not_namespaces),
            ];
            for (field, list) in lists {
                for (k, ns) in list.iter().enumerate() {
                    if !known.iter().any(|n| namespace_matches(n, ns)) {
                        let path = format!("spec.rules[{i}].from[{j}].source.{field}[{k}]");
                        out.push(catalogue::referenced_resource_not_found(
                            Anchor::at(obj, path),
                            "namespace",
                            ns,
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Istio's namespace patterns: `*`, `prefix*`, `*suffix` or an exact name (case-insensitive).
fn namespace_matches(ns: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return ns.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return ns.starts_with(prefix);
    }
    ns.eq_ignore_ascii_case(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const POD: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: \
        v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: shop\n  labels:\n    app: web\n\
        spec:\n  containers:\n  - name: app\n    image: web\n---\n";

    fn policy(ns: &str, spec: &str) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  \
             namespace: {ns}\nspec:\n{spec}"
        )
    }

    #[test]
    fn selector_matching_no_workload() {
        let yaml =
            POD.to_string() + &policy("shop", "  selector:\n    matchLabels:\n      app: api\n");
        assert_eq!(
            lines(&AuthorizationPolicies, &yaml),
            [
                "Warning [IST0127] (AuthorizationPolicy shop/p test.yaml:25) No matching workloads \
              for this resource with the following labels: app=api"
            ]
        );
    }

    #[test]
    fn namespace_wide_policy_in_an_empty_namespace() {
        let yaml = POD.to_string() + &policy("empty", "  action: DENY\n");
        assert_eq!(
            lines(&AuthorizationPolicies, &yaml),
            [
                "Warning [IST0127] (AuthorizationPolicy empty/p test.yaml:21) No matching workloads \
              for this resource with the following labels: "
            ]
        );
    }

    #[test]
    fn unknown_source_namespace() {
        let rules = "  rules:\n  - from:\n    - source:\n        namespaces:\n        - shop\n        \
                     - sho*\n        - payments\n";
        let yaml = POD.to_string() + &policy("shop", rules);
        assert_eq!(
            lines(&AuthorizationPolicies, &yaml),
            [
                "Error [IST0101] (AuthorizationPolicy shop/p test.yaml:30) Referenced namespace not \
              found: \"payments\""
            ]
        );
    }

    #[test]
    fn matching_and_mesh_wide_policies_are_fine() {
        let yaml = POD.to_string()
            + &policy("shop", "  selector:\n    matchLabels:\n      app: web\n")
            + "---\n"
            + &policy("istio-system", "  action: DENY\n");
        assert!(lines(&AuthorizationPolicies, &yaml).is_empty());
    }
}
