//! Model → compiled RBAC: exactly one field of every permission, principal and value matcher,
//! regexes and CIDRs parsed once, policies in name order.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Engine, MetadataMatch, Permission, Policy, Principal, Rbac, ValueMatch};
use crate::error::{At, Result};
use crate::model::core::CidrRange;
use crate::model::rbac as m;
use crate::runtime::matcher::{StringMatcher, compile_header, compile_string};

pub fn compile_http(at: &At<'_>, r: &m::HttpRbac) -> Result<Rbac> {
    Ok(Rbac {
        rules: engine(&at.field("rules"), r.rules.as_ref())?,
        shadow: engine(&at.field("shadow_rules"), r.shadow_rules.as_ref())?,
        rules_stat_prefix: r.rules_stat_prefix.clone(),
        shadow_rules_stat_prefix: r.shadow_rules_stat_prefix.clone(),
        stat_prefix: String::new(),
    })
}

/// `RBACPerRoute`: `None` disables RBAC for the route.
pub fn compile_per_route(at: &At<'_>, r: &m::RbacPerRoute) -> Result<Option<Rbac>> {
    r.rbac
        .as_ref()
        .map(|r| compile_http(&at.field("rbac"), r))
        .transpose()
}

pub fn compile_network(at: &At<'_>, r: &m::NetworkRbac) -> Result<Rbac> {
    if r.stat_prefix.is_empty() {
        return Err(at.field("stat_prefix").err("must not be empty"));
    }
    Ok(Rbac {
        rules: engine(&at.field("rules"), r.rules.as_ref())?,
        shadow: engine(&at.field("shadow_rules"), r.shadow_rules.as_ref())?,
        rules_stat_prefix: String::new(),
        shadow_rules_stat_prefix: r.shadow_rules_stat_prefix.clone(),
        stat_prefix: r.stat_prefix.clone(),
    })
}

fn engine(at: &At<'_>, rules: Option<&m::Rules>) -> Result<Option<Engine>> {
    let Some(rules) = rules else { return Ok(None) };
    let mut policies = Vec::with_capacity(rules.policies.len());
    for (name, p) in &rules.policies {
        let pat = at.field("policies").field(name);
        if p.permissions.is_empty() {
            return Err(pat
                .field("permissions")
                .err("at least one permission is required"));
        }
        if p.principals.is_empty() {
            return Err(pat
                .field("principals")
                .err("at least one principal is required"));
        }
        let permissions = list(&pat.field("permissions"), &p.permissions, permission)?;
        let principals = list(&pat.field("principals"), &p.principals, principal)?;
        policies.push((
            name.clone(),
            Policy {
                permissions,
                principals,
            },
        ));
    }
    Ok(Some(Engine {
        action: rules.action,
        policies,
    }))
}

fn list<M, C>(at: &At<'_>, items: &[M], f: fn(&At<'_>, &M) -> Result<C>) -> Result<Vec<C>> {
    items
        .iter()
        .enumerate()
        .map(|(i, x)| f(&at.index(i), x))
        .collect()
}

/// Rejects a oneof with none or several fields set.
fn one_of<T>(at: &At<'_>, mut set: Vec<T>, names: &str) -> Result<T> {
    match set.len() {
        1 => Ok(set.remove(0)),
        0 => Err(at.err(format!("one of {names} is required"))),
        _ => Err(at.err(format!("only one of {names} may be set"))),
    }
}

const PERMISSION_FIELDS: &str = "any, and_rules, or_rules, not_rule, header, url_path, \
     destination_ip, destination_port, destination_port_range, metadata, requested_server_name";

fn permission(at: &At<'_>, p: &m::Permission) -> Result<Permission> {
    let mut set = Vec::new();
    if let Some(any) = p.any {
        if !any {
            return Err(at.field("any").err("must be true"));
        }
        set.push(Permission::Any);
    }
    if let Some(s) = &p.and_rules {
        set.push(Permission::And(rule_set(&at.field("and_rules"), &s.rules)?));
    }
    if let Some(s) = &p.or_rules {
        set.push(Permission::Or(rule_set(&at.field("or_rules"), &s.rules)?));
    }
    if let Some(inner) = &p.not_rule {
        set.push(Permission::Not(Box::new(permission(
            &at.field("not_rule"),
            inner,
        )?)));
    }
    if let Some(h) = &p.header {
        set.push(Permission::Header(compile_header(&at.field("header"), h)?));
    }
    if let Some(u) = &p.url_path {
        set.push(Permission::UrlPath(path(&at.field("url_path"), u)?));
    }
    if let Some(c) = &p.destination_ip {
        set.push(Permission::DestinationIp(cidr(
            &at.field("destination_ip"),
            c,
        )?));
    }
    if let Some(port) = p.destination_port {
        set.push(Permission::DestinationPort(port));
    }
    if let Some(r) = p.destination_port_range {
        if r.start >= r.end {
            return Err(at
                .field("destination_port_range")
                .err("start must be less than end"));
        }
        set.push(Permission::DestinationPortRange(r.start, r.end));
    }
    if let Some(md) = &p.metadata {
        set.push(Permission::Metadata(metadata(&at.field("metadata"), md)?));
    }
    if let Some(s) = &p.requested_server_name {
        let sm = compile_string(&at.field("requested_server_name"), s)?;
        set.push(Permission::RequestedServerName(sm));
    }
    one_of(at, set, PERMISSION_FIELDS)
}

fn rule_set(at: &At<'_>, rules: &[m::Permission]) -> Result<Vec<Permission>> {
    if rules.is_empty() {
        return Err(at.field("rules").err("at least one rule is required"));
    }
    list(&at.field("rules"), rules, permission)
}

const PRINCIPAL_FIELDS: &str = "any, and_ids, or_ids, not_id, authenticated, direct_remote_ip, \
     remote_ip, source_ip, header, url_path, metadata";

fn principal(at: &At<'_>, p: &m::Principal) -> Result<Principal> {
    let mut set = Vec::new();
    if let Some(any) = p.any {
        if !any {
            return Err(at.field("any").err("must be true"));
        }
        set.push(Principal::Any);
    }
    if let Some(s) = &p.and_ids {
        set.push(Principal::And(id_set(&at.field("and_ids"), &s.ids)?));
    }
    if let Some(s) = &p.or_ids {
        set.push(Principal::Or(id_set(&at.field("or_ids"), &s.ids)?));
    }
    if let Some(inner) = &p.not_id {
        set.push(Principal::Not(Box::new(principal(
            &at.field("not_id"),
            inner,
        )?)));
    }
    if let Some(a) = &p.authenticated {
        let name = a
            .principal_name
            .as_ref()
            .map(|s| compile_string(&at.field("authenticated").field("principal_name"), s))
            .transpose()?;
        set.push(Principal::Authenticated(name));
    }
    let ips = [
        (
            &p.direct_remote_ip,
            "direct_remote_ip",
            Principal::DirectRemoteIp as fn(_) -> _,
        ),
        (&p.remote_ip, "remote_ip", Principal::RemoteIp),
        (&p.source_ip, "source_ip", Principal::SourceIp),
    ];
    for (range, name, make) in ips {
        if let Some(c) = range {
            set.push(make(cidr(&at.field(name), c)?));
        }
    }
    if let Some(h) = &p.header {
        set.push(Principal::Header(compile_header(&at.field("header"), h)?));
    }
    if let Some(u) = &p.url_path {
        set.push(Principal::UrlPath(path(&at.field("url_path"), u)?));
    }
    if let Some(md) = &p.metadata {
        set.push(Principal::Metadata(metadata(&at.field("metadata"), md)?));
    }
    one_of(at, set, PRINCIPAL_FIELDS)
}

fn id_set(at: &At<'_>, ids: &[m::Principal]) -> Result<Vec<Principal>> {
    if ids.is_empty() {
        return Err(at.field("ids").err("at least one id is required"));
    }
    list(&at.field("ids"), ids, principal)
}

fn path(at: &At<'_>, p: &m::PathMatcher) -> Result<StringMatcher> {
    let s = p
        .path
        .as_ref()
        .ok_or_else(|| at.field("path").err("is required"))?;
    compile_string(&at.field("path"), s)
}

/// Envoy's RBAC CIDR: an unset `prefix_len` is 0 (every address of the family).
fn cidr(at: &At<'_>, c: &CidrRange) -> Result<IpNet> {
    let ip: IpAddr = c.address_prefix.parse().map_err(|_| {
        at.field("address_prefix")
            .err(format!("{:?} is not an IP address", c.address_prefix))
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = c.prefix_len.unwrap_or(0);
    let len = u8::try_from(len)
        .ok()
        .filter(|l| u32::from(*l) <= max)
        .ok_or_else(|| at.field("prefix_len").err(format!("must be at most {max}")))?;
    IpNet::new(ip, len)
        .map(|n| n.trunc())
        .map_err(|e| at.err(e.to_string()))
}

fn metadata(at: &At<'_>, md: &m::MetadataMatcher) -> Result<MetadataMatch> {
    if md.filter.is_empty() {
        return Err(at.field("filter").err("must not be empty"));
    }
    if md.path.is_empty() {
        return Err(at.field("path").err("at least one segment is required"));
    }
    let value = md
        .value
        .as_ref()
        .ok_or_else(|| at.field("value").err("is required"))?;
    Ok(MetadataMatch {
        filter: md.filter.clone(),
        path: md.path.iter().map(|s| s.key.clone()).collect(),
        value: value_match(&at.field("value"), value)?,
        invert: md.invert,
    })
}

fn value_match(at: &At<'_>, v: &m::ValueMatcher) -> Result<ValueMatch> {
    let mut set = Vec::new();
    if v.null_match.is_some() {
        set.push(ValueMatch::Null);
    }
    if let Some(d) = &v.double_match {
        let dat = at.field("double_match");
        set.push(match (d.range, d.exact) {
            (Some(r), None) => ValueMatch::DoubleRange(r.start, r.end),
            (None, Some(x)) => ValueMatch::DoubleExact(x),
            _ => return Err(dat.err("exactly one of range, exact is required")),
        });
    }
    if let Some(s) = &v.string_match {
        set.push(ValueMatch::Str(compile_string(
            &at.field("string_match"),
            s,
        )?));
    }
    if let Some(b) = v.bool_match {
        set.push(ValueMatch::Bool(b));
    }
    if let Some(b) = v.present_match {
        set.push(ValueMatch::Present(b));
    }
    if let Some(l) = &v.list_match {
        let lat = at.field("list_match").field("one_of");
        let inner = l.one_of.as_ref().ok_or_else(|| lat.err("is required"))?;
        set.push(ValueMatch::ListOneOf(Box::new(value_match(&lat, inner)?)));
    }
    one_of(
        at,
        set,
        "null_match, double_match, string_match, bool_match, present_match, list_match",
    )
}
