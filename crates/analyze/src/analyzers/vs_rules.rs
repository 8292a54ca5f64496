//! IST0130 VirtualServiceUnreachableRule and IST0131 VirtualServiceIneffectiveMatch: rules
//! after a catch-all rule, rules whose every match an earlier rule already takes, and matches
//! that repeat an earlier one (Istio's `analyzeUnreachable*Rules`).

use std::collections::BTreeMap;

use serde::Serialize;
use weft_config::Object;
use weft_config::model::networking::VirtualService;

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct UnreachableRules;

impl Analyzer for UnreachableRules {
    fn name(&self) -> &'static str {
        "virtualservice.UnreachableRulesAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for VirtualService rules and matches that can never be used"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.virtual_services()
            .flat_map(|(obj, vs)| check(obj, vs))
            .collect()
    }
}

/// One rule as the check sees it: its display name and its matches serialized for comparison
/// (names removed, so only what selects traffic is compared).
struct Rule {
    name: String,
    matches: Vec<(String, String)>,
}

fn check(obj: &Object, vs: &VirtualService) -> Vec<Message> {
    let http = vs.http.iter().enumerate().map(|(i, r)| Rule {
        name: r
            .name
            .as_deref()
            .map_or_else(|| format!("#{i}"), crate::message::quote),
        matches: r
            .r#match
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let name = m
                    .name
                    .as_deref()
                    .map_or_else(|| format!("#{j}"), crate::message::quote);
                let mut unnamed = m.clone();
                unnamed.name = None;
                (name, serialized(&unnamed))
            })
            .collect(),
    });
    let mut out = analyze(obj, "http", http.collect());
    out.extend(analyze(
        obj,
        "tls",
        unnamed_rules(vs.tls.iter().map(|r| &r.r#match)),
    ));
    out.extend(analyze(
        obj,
        "tcp",
        unnamed_rules(vs.tcp.iter().map(|r| &r.r#match)),
    ));
    out
}

fn unnamed_rules<'a, M: Serialize + 'a>(rules: impl Iterator<Item = &'a Vec<M>>) -> Vec<Rule> {
    rules
        .enumerate()
        .map(|(i, matches)| Rule {
            name: format!("#{i}"),
            matches: matches
                .iter()
                .enumerate()
                .map(|(j, m)| (format!("#{j}"), serialized(m)))
                .collect(),
        })
        .collect()
}

fn serialized<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn analyze(obj: &Object, kind: &str, rules: Vec<Rule>) -> Vec<Message> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut catch_all = false;
    for (i, rule) in rules.iter().enumerate() {
        let at = || Anchor::at(obj, format!("spec.{kind}[{i}]"));
        if rule.matches.is_empty() {
            if catch_all {
                let reason = "only the last rule can have no matches";
                out.push(catalogue::virtual_service_unreachable_rule(
                    at(),
                    &rule.name,
                    reason,
                ));
            }
            catch_all = true;
            continue;
        }
        if catch_all {
            let reason = "route without matches defined before";
            out.push(catalogue::virtual_service_unreachable_rule(
                at(),
                &rule.name,
                reason,
            ));
            continue;
        }
        let mut duplicates = 0;
        for (j, (match_name, key)) in rule.matches.iter().enumerate() {
            match seen.get(key.as_str()) {
                Some(&earlier) => {
                    duplicates += 1;
                    out.push(catalogue::virtual_service_ineffective_match(
                        Anchor::at(obj, format!("spec.{kind}[{i}].match[{j}]")),
                        &rule.name,
                        match_name,
                        &rules[earlier].name,
                    ));
                }
                None => {
                    seen.insert(key, i);
                }
            }
        }
        if duplicates == rule.matches.len() {
            let reason = "all matches used by prior rules";
            out.push(catalogue::virtual_service_unreachable_rule(
                at(),
                &rule.name,
                reason,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    fn run(http: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n\
             spec:\n  hosts:\n  - r\n  http:\n{http}"
        );
        lines(&UnreachableRules, &yaml)
    }

    const ROUTE: &str = "    route:\n    - destination:\n        host: r\n";

    #[test]
    fn duplicate_match_makes_a_rule_unreachable() {
        let m = "  - match:\n    - uri:\n        prefix: /a\n";
        let got = run(&format!("{m}{ROUTE}{m}{ROUTE}"));
        assert_eq!(
            got,
            [
                "Warning [IST0130] (VirtualService default/r test.yaml:15) VirtualService rule #1 \
                 not used (all matches used by prior rules).",
                "Info [IST0131] (VirtualService default/r test.yaml:16) VirtualService rule #1 \
                 match #0 is not used (duplicate/overlapping match in rule #0)."
            ]
        );
    }

    #[test]
    fn named_rules_and_matches_are_quoted_and_names_do_not_count() {
        let first = "  - name: first\n    match:\n    - name: a\n      uri:\n        exact: /x\n";
        let second = "  - name: second\n    match:\n    - name: b\n      uri:\n        exact: \
                      /x\n    - uri:\n        exact: /y\n";
        let got = run(&format!("{first}{ROUTE}{second}{ROUTE}"));
        assert_eq!(
            got,
            [
                "Info [IST0131] (VirtualService default/r test.yaml:19) VirtualService rule \
              \"second\" match \"b\" is not used (duplicate/overlapping match in rule \"first\")."
            ]
        );
    }

    #[test]
    fn rules_after_a_catch_all() {
        let any = format!("  -{}", &ROUTE[3..]);
        let m = "  - match:\n    - uri:\n        prefix: /a\n";
        let got = run(&format!("{any}{any}{m}{ROUTE}"));
        assert_eq!(
            got,
            [
                "Warning [IST0130] (VirtualService default/r test.yaml:12) VirtualService rule #1 \
                 not used (only the last rule can have no matches).",
                "Warning [IST0130] (VirtualService default/r test.yaml:15) VirtualService rule #2 \
                 not used (route without matches defined before)."
            ]
        );
    }

    #[test]
    fn distinct_matches_are_fine() {
        let a = "  - match:\n    - uri:\n        prefix: /a\n";
        let b = "  - match:\n    - uri:\n        prefix: /b\n";
        let any = format!("  -{}", &ROUTE[3..]);
        assert!(run(&format!("{a}{ROUTE}{b}{ROUTE}{any}")).is_empty());
    }
}
