//! One AuthorizationPolicy rule → one RBAC policy, with Istio's semantics: each `from` is one
//! principal (its fields ANDed, the values of a field ORed, `not*` negated), each `to` one
//! permission, and every `when` condition ANDed into all of them (on the permission side for
//! destination attributes, on the principal side for source and request attributes).
//!
//! On TCP, fields only HTTP has (hosts, methods, paths, request principals, `request.*`
//! conditions) follow Istio: an ALLOW rule using one matches nothing (the rule is dropped), a
//! DENY or AUDIT rule is kept without them (so it matches more, never less).

use weft_config::model::security::{Condition, Operation, Rule, Source};
use weft_xds::pb::envoy::config::core::v3::CidrRange;
use weft_xds::pb::envoy::config::rbac::v3::{Permission, Policy, Principal, permission, principal};

use super::values::{self as v, id, rule as perm};

/// What an Istio rule is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    Http,
    Tcp,
}

/// How a rule's HTTP-only fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpOnly {
    Keep,
    /// TCP with DENY/AUDIT: leave them out.
    Strip,
}

/// `Ok(None)`: the rule can never match this traffic (ALLOW on TCP with HTTP-only fields).
pub fn policy(rule: &Rule, allow: bool, traffic: Traffic) -> Result<Option<Policy>, String> {
    let mode = match traffic {
        Traffic::Http => HttpOnly::Keep,
        Traffic::Tcp if uses_http_only(rule) && allow => return Ok(None),
        Traffic::Tcp => HttpOnly::Strip,
    };
    let (mut perm_conds, mut id_conds) = (Vec::new(), Vec::new());
    for (i, c) in rule.when.iter().enumerate() {
        let leaves = condition(c, mode).map_err(|e| format!("when[{i}]: {e}"))?;
        for leaf in leaves {
            match leaf {
                Leaf::Perm(p) => perm_conds.push(p),
                Leaf::Id(p) => id_conds.push(p),
            }
        }
    }
    let mut permissions = Vec::new();
    for to in &rule.to {
        let mut rules = operation(to.operation.as_ref(), mode)?;
        rules.extend(perm_conds.iter().cloned());
        permissions.push(all_rules(rules));
    }
    if rule.to.is_empty() {
        permissions.push(all_rules(perm_conds));
    }
    let mut principals = Vec::new();
    for (i, from) in rule.from.iter().enumerate() {
        let mut ids = source(from.source.as_ref(), mode).map_err(|e| format!("from[{i}]: {e}"))?;
        ids.extend(id_conds.iter().cloned());
        principals.push(all_ids(ids));
    }
    if rule.from.is_empty() {
        principals.push(all_ids(id_conds));
    }
    Ok(Some(Policy {
        permissions,
        principals,
        ..Default::default()
    }))
}

/// A policy that matches everything (a DENY rule that cannot be translated fails closed).
pub fn match_all() -> Policy {
    Policy {
        permissions: vec![all_rules(Vec::new())],
        principals: vec![all_ids(Vec::new())],
        ..Default::default()
    }
}

fn uses_http_only(rule: &Rule) -> bool {
    let op = |o: &Operation| {
        !(o.hosts.is_empty()
            && o.not_hosts.is_empty()
            && o.methods.is_empty()
            && o.not_methods.is_empty()
            && o.paths.is_empty()
            && o.not_paths.is_empty())
    };
    let src =
        |s: &Source| !(s.request_principals.is_empty() && s.not_request_principals.is_empty());
    rule.to.iter().filter_map(|t| t.operation.as_ref()).any(op)
        || rule.from.iter().filter_map(|f| f.source.as_ref()).any(src)
        || rule.when.iter().any(|c| c.key.starts_with("request."))
}

fn all_rules(rules: Vec<Permission>) -> Permission {
    if rules.is_empty() {
        return perm(permission::Rule::Any(true));
    }
    perm(permission::Rule::AndRules(permission::Set { rules }))
}

fn all_ids(ids: Vec<Principal>) -> Principal {
    if ids.is_empty() {
        return id(principal::Identifier::Any(true));
    }
    id(principal::Identifier::AndIds(principal::Set { ids }))
}

fn or_rules(rules: Vec<Permission>) -> Permission {
    perm(permission::Rule::OrRules(permission::Set { rules }))
}

fn or_ids(ids: Vec<Principal>) -> Principal {
    id(principal::Identifier::OrIds(principal::Set { ids }))
}

/// Values of one field: ORed, or negated for a `not*` field; nothing for an empty field.
fn field_rules<F>(
    out: &mut Vec<Permission>,
    values: &[String],
    negate: bool,
    f: F,
) -> Result<(), String>
where
    F: Fn(&str) -> Result<Permission, String>,
{
    if values.is_empty() {
        return Ok(());
    }
    let any = or_rules(values.iter().map(|s| f(s)).collect::<Result<_, _>>()?);
    out.push(if negate {
        perm(permission::Rule::NotRule(Box::new(any)))
    } else {
        any
    });
    Ok(())
}

fn field_ids<F>(
    out: &mut Vec<Principal>,
    values: &[String],
    negate: bool,
    f: F,
) -> Result<(), String>
where
    F: Fn(&str) -> Result<Principal, String>,
{
    if values.is_empty() {
        return Ok(());
    }
    let any = or_ids(values.iter().map(|s| f(s)).collect::<Result<_, _>>()?);
    out.push(if negate {
        id(principal::Identifier::NotId(Box::new(any)))
    } else {
        any
    });
    Ok(())
}

fn port(s: &str) -> Result<u32, String> {
    s.parse::<u16>()
        .map(u32::from)
        .map_err(|_| format!("{s:?} is not a port"))
}

fn operation(op: Option<&Operation>, mode: HttpOnly) -> Result<Vec<Permission>, String> {
    let mut out = Vec::new();
    let Some(op) = op else { return Ok(out) };
    let http = mode == HttpOnly::Keep;
    let host = |s: &str| Ok(perm(permission::Rule::Header(v::host(s))));
    let method = |s: &str| Ok(perm(permission::Rule::Header(v::header(":method", s))));
    let path = |s: &str| Ok(perm(permission::Rule::UrlPath(v::path(s))));
    let dport = |s: &str| Ok(perm(permission::Rule::DestinationPort(port(s)?)));
    if http {
        field_rules(&mut out, &op.hosts, false, host)?;
        field_rules(&mut out, &op.not_hosts, true, host)?;
    }
    field_rules(&mut out, &op.ports, false, dport)?;
    field_rules(&mut out, &op.not_ports, true, dport)?;
    if http {
        field_rules(&mut out, &op.methods, false, method)?;
        field_rules(&mut out, &op.not_methods, true, method)?;
        field_rules(&mut out, &op.paths, false, path)?;
        field_rules(&mut out, &op.not_paths, true, path)?;
    }
    Ok(out)
}

fn ip_id(s: &str, make: fn(CidrRange) -> principal::Identifier) -> Result<Principal, String> {
    v::cidr(s)
        .map(|c| id(make(c)))
        .ok_or_else(|| format!("{s:?} is not an IP address or CIDR range"))
}

fn source(src: Option<&Source>, mode: HttpOnly) -> Result<Vec<Principal>, String> {
    let mut out = Vec::new();
    let Some(s) = src else { return Ok(out) };
    let ok = |f: fn(&str) -> Principal| move |x: &str| Ok(f(x));
    let request_principal = |x: &str| Ok(v::authn_string("request.auth.principal", x));
    let account = |x: &str| {
        v::service_account(x).ok_or_else(|| format!("service account {x:?} is not namespace/name"))
    };
    let direct = |x: &str| ip_id(x, principal::Identifier::DirectRemoteIp);
    let remote = |x: &str| ip_id(x, principal::Identifier::RemoteIp);
    field_ids(&mut out, &s.principals, false, ok(v::source_principal))?;
    field_ids(&mut out, &s.not_principals, true, ok(v::source_principal))?;
    if mode == HttpOnly::Keep {
        field_ids(&mut out, &s.request_principals, false, request_principal)?;
        field_ids(&mut out, &s.not_request_principals, true, request_principal)?;
    }
    field_ids(&mut out, &s.namespaces, false, ok(v::source_namespace))?;
    field_ids(&mut out, &s.not_namespaces, true, ok(v::source_namespace))?;
    field_ids(&mut out, &s.service_accounts, false, account)?;
    field_ids(&mut out, &s.not_service_accounts, true, account)?;
    field_ids(&mut out, &s.ip_blocks, false, direct)?;
    field_ids(&mut out, &s.not_ip_blocks, true, direct)?;
    field_ids(&mut out, &s.remote_ip_blocks, false, remote)?;
    field_ids(&mut out, &s.not_remote_ip_blocks, true, remote)?;
    Ok(out)
}

enum Leaf {
    Perm(Permission),
    Id(Principal),
}

type ToPermission = Box<dyn Fn(&str) -> Result<Permission, String>>;
type ToPrincipal = Box<dyn Fn(&str) -> Result<Principal, String>>;

/// How a `when` key is matched: on the permission side or the principal side.
enum KeyKind {
    Perm(ToPermission),
    Id(ToPrincipal),
}

fn condition(c: &Condition, mode: HttpOnly) -> Result<Vec<Leaf>, String> {
    if c.key.starts_with("request.") && mode == HttpOnly::Strip {
        return Ok(Vec::new());
    }
    let kind = condition_key(&c.key)?;
    let mut leaves = Vec::new();
    match kind {
        KeyKind::Perm(f) => {
            let mut out = Vec::new();
            field_rules(&mut out, &c.values, false, &f)?;
            field_rules(&mut out, &c.not_values, true, &f)?;
            leaves.extend(out.into_iter().map(Leaf::Perm));
        }
        KeyKind::Id(f) => {
            let mut out = Vec::new();
            field_ids(&mut out, &c.values, false, &f)?;
            field_ids(&mut out, &c.not_values, true, &f)?;
            leaves.extend(out.into_iter().map(Leaf::Id));
        }
    }
    Ok(leaves)
}

/// `request.auth.claims[a][b]` → `["a", "b"]`.
fn claim_path(rest: &str) -> Option<Vec<String>> {
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let parts: Vec<String> = inner.split("][").map(str::to_string).collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn condition_key(key: &str) -> Result<KeyKind, String> {
    let id_of = |f: fn(&str) -> Principal| KeyKind::Id(Box::new(move |x| Ok(f(x))));
    if let Some(name) = key
        .strip_prefix("request.headers[")
        .and_then(|r| r.strip_suffix(']'))
    {
        let name = name.to_ascii_lowercase();
        return Ok(KeyKind::Id(Box::new(move |x| {
            Ok(id(principal::Identifier::Header(v::header(&name, x))))
        })));
    }
    if let Some(rest) = key.strip_prefix("request.auth.claims") {
        let path = claim_path(rest).ok_or_else(|| format!("invalid claim key {key:?}"))?;
        return Ok(KeyKind::Id(Box::new(move |x| {
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            Ok(v::authn_claim(&refs, x))
        })));
    }
    Ok(match key {
        "source.ip" => KeyKind::Id(Box::new(|x| {
            ip_id(x, principal::Identifier::DirectRemoteIp)
        })),
        "remote.ip" => KeyKind::Id(Box::new(|x| ip_id(x, principal::Identifier::RemoteIp))),
        "source.namespace" => id_of(v::source_namespace),
        "source.principal" => id_of(v::source_principal),
        "request.auth.principal" => id_of(|x| v::authn_string("request.auth.principal", x)),
        "request.auth.presenter" => id_of(|x| v::authn_string("request.auth.presenter", x)),
        "request.auth.audiences" => id_of(|x| v::authn_list("request.auth.audiences", x)),
        "destination.ip" => KeyKind::Perm(Box::new(|x| {
            v::cidr(x)
                .map(|c| perm(permission::Rule::DestinationIp(c)))
                .ok_or_else(|| format!("{x:?} is not an IP address or CIDR range"))
        })),
        "destination.port" => KeyKind::Perm(Box::new(|x| {
            Ok(perm(permission::Rule::DestinationPort(port(x)?)))
        })),
        "connection.sni" => KeyKind::Perm(Box::new(|x| {
            Ok(perm(permission::Rule::RequestedServerName(v::wildcard(
                x, "",
            ))))
        })),
        k if k.starts_with("experimental.") => {
            return Err(format!("condition {k:?} is experimental and not supported"));
        }
        k => return Err(format!("unknown condition key {k:?}")),
    })
}
