//! Rules for AuthorizationPolicy: the action and its provider, then each rule's sources,
//! operations and conditions (`authz_conditions`), with value formats in `authz_values`.

use weft_config::model::security::{Action, AuthorizationPolicy, Operation, Rule, Source};

use super::authz_conditions::check_condition;
use super::authz_values::{ValueKind, check_values};
use super::shared::{Attachment, check_attachment};
use crate::Checker;

/// Source fields the CUSTOM action cannot use: the ext_authz filter runs before the
/// identities they match on are known.
const CUSTOM_UNSUPPORTED_SOURCE: &[&str] = &[
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
];

/// Source fields that only exist for HTTP traffic (the JWT of a request).
const HTTP_ONLY_SOURCE: &[&str] = &["requestPrincipals", "notRequestPrincipals"];

pub fn check(spec: &AuthorizationPolicy, c: &mut Checker) {
    check_attachment(
        Attachment {
            selector: spec.selector.as_ref(),
            target_ref: spec.target_ref.as_ref(),
            target_refs: &spec.target_refs,
        },
        c,
    );
    let action = spec.action();
    check_action(spec, action, c);
    for (i, rule) in spec.rules.iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        check_rule(rule, &path, c);
        match action {
            Action::Custom => check_custom_rule(rule, &path, c),
            Action::Deny => warn_http_only_deny(rule, &path, c),
            Action::Allow | Action::Audit => {}
        }
    }
}

/// The action decides whether rules and a provider are needed.
fn check_action(spec: &AuthorizationPolicy, action: Action, c: &mut Checker) {
    match (action, &spec.provider) {
        (Action::Custom, None) => c.error(
            "spec.provider",
            "action CUSTOM requires provider.name, an extension provider declared in MeshConfig",
        ),
        (Action::Custom, Some(p)) if p.name.is_empty() => c.require(false, "spec.provider.name"),
        (Action::Custom, Some(_)) => {}
        (other, Some(_)) => c.error(
            "spec.provider",
            format!(
                "provider is only used with action CUSTOM (action is {})",
                other.as_str()
            ),
        ),
        (_, None) => {}
    }
    if !spec.rules.is_empty() {
        return;
    }
    match action {
        Action::Deny | Action::Custom => c.error(
            "spec.rules",
            format!(
                "a {} policy without rules never matches (Istio's webhook refuses it); add an \
                 empty rule `{{}}` to match every request",
                action.as_str()
            ),
        ),
        Action::Audit => c.warn(
            "spec.rules",
            "an AUDIT policy without rules never matches, so nothing is audited",
        ),
        // No rules with ALLOW is the documented way to deny every request.
        Action::Allow => {}
    }
}

fn check_rule(rule: &Rule, path: &str, c: &mut Checker) {
    for (j, from) in rule.from.iter().enumerate() {
        let p = format!("{path}.from[{j}].source");
        match &from.source {
            None => c.require(false, p),
            Some(src) => check_source(src, &p, c),
        }
    }
    for (j, to) in rule.to.iter().enumerate() {
        let p = format!("{path}.to[{j}].operation");
        match &to.operation {
            None => c.require(false, p),
            Some(op) => check_operation(op, &p, c),
        }
    }
    for (j, cond) in rule.when.iter().enumerate() {
        check_condition(cond, &format!("{path}.when[{j}]"), c);
    }
}

fn source_fields(s: &Source) -> [(&'static str, &[String], ValueKind); 12] {
    use ValueKind::{Ip, Match, Namespace, ServiceAccount};
    [
        ("principals", &s.principals, Match),
        ("notPrincipals", &s.not_principals, Match),
        ("requestPrincipals", &s.request_principals, Match),
        ("notRequestPrincipals", &s.not_request_principals, Match),
        ("namespaces", &s.namespaces, Namespace),
        ("notNamespaces", &s.not_namespaces, Namespace),
        ("serviceAccounts", &s.service_accounts, ServiceAccount),
        (
            "notServiceAccounts",
            &s.not_service_accounts,
            ServiceAccount,
        ),
        ("ipBlocks", &s.ip_blocks, Ip),
        ("notIpBlocks", &s.not_ip_blocks, Ip),
        ("remoteIpBlocks", &s.remote_ip_blocks, Ip),
        ("notRemoteIpBlocks", &s.not_remote_ip_blocks, Ip),
    ]
}

fn operation_fields(o: &Operation) -> [(&'static str, &[String], ValueKind); 8] {
    use ValueKind::{Match, Method, Path, Port};
    [
        ("hosts", &o.hosts, Match),
        ("notHosts", &o.not_hosts, Match),
        ("ports", &o.ports, Port),
        ("notPorts", &o.not_ports, Port),
        ("methods", &o.methods, Method),
        ("notMethods", &o.not_methods, Method),
        ("paths", &o.paths, Path),
        ("notPaths", &o.not_paths, Path),
    ]
}

fn check_source(src: &Source, path: &str, c: &mut Checker) {
    let fields = source_fields(src);
    if fields.iter().all(|(_, v, _)| v.is_empty()) {
        c.error(path, "source must set at least one field");
    }
    let identity = [
        &src.principals,
        &src.not_principals,
        &src.namespaces,
        &src.not_namespaces,
    ];
    let by_account = !src.service_accounts.is_empty() || !src.not_service_accounts.is_empty();
    if by_account && identity.iter().any(|v| !v.is_empty()) {
        let field = if src.service_accounts.is_empty() {
            "notServiceAccounts"
        } else {
            "serviceAccounts"
        };
        c.error(
            format!("{path}.{field}"),
            "serviceAccounts cannot be combined with principals or namespaces in one source",
        );
    }
    for (name, values, kind) in fields {
        check_values(c, &format!("{path}.{name}"), kind, values);
    }
}

fn check_operation(op: &Operation, path: &str, c: &mut Checker) {
    let fields = operation_fields(op);
    if fields.iter().all(|(_, v, _)| v.is_empty()) {
        c.error(path, "operation must set at least one field");
    }
    for (name, values, kind) in fields {
        check_values(c, &format!("{path}.{name}"), kind, values);
    }
}

/// CUSTOM policies cannot match on peer or request identities.
fn check_custom_rule(rule: &Rule, path: &str, c: &mut Checker) {
    for (j, from) in rule.from.iter().enumerate() {
        let Some(src) = &from.source else { continue };
        for (name, values, _) in source_fields(src) {
            if !values.is_empty() && CUSTOM_UNSUPPORTED_SOURCE.contains(&name) {
                c.error(
                    format!("{path}.from[{j}].source.{name}"),
                    format!("{name} is not supported with the CUSTOM action"),
                );
            }
        }
    }
    for (j, cond) in rule.when.iter().enumerate() {
        let k = cond.key.as_str();
        let identity = matches!(
            k,
            "source.namespace" | "source.principal" | "source.serviceAccount"
        );
        if identity || k.starts_with("request.auth.") {
            c.error(
                format!("{path}.when[{j}].key"),
                format!("condition {k:?} is not supported with the CUSTOM action"),
            );
        }
    }
}

/// Istio's warning: a DENY rule that only uses HTTP attributes matches every connection on a
/// TCP port, so such a policy denies all TCP traffic in its scope.
fn warn_http_only_deny(rule: &Rule, path: &str, c: &mut Checker) {
    let sources: Vec<&Source> = rule.from.iter().filter_map(|f| f.source.as_ref()).collect();
    let ops: Vec<&Operation> = rule
        .to
        .iter()
        .filter_map(|t| t.operation.as_ref())
        .collect();
    let tcp_in_from = sources.iter().any(|s| {
        source_fields(s)
            .iter()
            .any(|(name, v, _)| !v.is_empty() && !HTTP_ONLY_SOURCE.contains(name))
    });
    let tcp_in_to = ops
        .iter()
        .any(|o| !o.ports.is_empty() || !o.not_ports.is_empty());
    let http_only =
        (!sources.is_empty() && ops.is_empty() && !tcp_in_from) || (!ops.is_empty() && !tcp_in_to);
    if http_only {
        c.warn(
            path,
            "this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports in \
             the policy's scope; list the ports it is meant for",
        );
    }
}

#[cfg(test)]
#[path = "authorization_policy_tests.rs"]
mod tests;
