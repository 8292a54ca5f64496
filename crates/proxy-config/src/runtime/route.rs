//! Compiled route tables: virtual-host lookup by domain and route match per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use regex::Regex;

use super::hash::{HashPolicy, compile_hash_policy};
use super::headers::{HeaderOps, compile_ops};
use super::matcher::{
    HeaderMatcher, PseudoHeaders, QueryMatcher, compile_header, compile_query, compile_regex,
    full_match,
};
use super::retry::{RetryPolicy, compile_retry};
use super::route_policy::{
    FilterOverrides, Mirror, RegexRewrite, StreamDuration, compile_mirror, compile_overrides,
    compile_regex_rewrite, compile_stream_duration,
};
use crate::error::{At, Result};
use crate::model::route as m;

/// Envoy's default route timeout.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct RouteTable {
    pub name: String,
    pub virtual_hosts: Vec<VirtualHost>,
    pub headers: HeaderOps,
    exact: HashMap<String, usize>,
    /// `*.suffix` domains, longest suffix first.
    suffixes: Vec<(String, usize)>,
    /// `prefix.*` domains, longest prefix first.
    prefixes: Vec<(String, usize)>,
    wildcard: Option<usize>,
}

#[derive(Debug)]
pub struct VirtualHost {
    pub name: String,
    pub routes: Vec<Route>,
    pub headers: HeaderOps,
    pub require_tls: m::TlsRequirement,
    /// `include_request_attempt_count`: `x-envoy-attempt-count` on upstream requests.
    pub attempt_count_upstream: bool,
    /// `include_attempt_count_in_response`: `x-envoy-attempt-count` on responses.
    pub attempt_count_downstream: bool,
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    path: PathMatch,
    case_sensitive: bool,
    header_matchers: Vec<HeaderMatcher>,
    query_matchers: Vec<QueryMatcher>,
    grpc: bool,
    pub action: Action,
    pub headers: HeaderOps,
    /// Route `typed_per_filter_config` over the virtual host's.
    pub filters: FilterOverrides,
}

#[derive(Debug)]
enum PathMatch {
    Prefix(String),
    Exact(String),
    Regex(Regex),
    SeparatedPrefix(String),
    /// `connect_matcher`: CONNECT requests.
    Connect,
}

#[derive(Debug)]
pub enum Action {
    Forward(Forward),
    Redirect(m::RedirectAction),
    Direct { status: StatusCode, body: Arc<str> },
}

#[derive(Debug)]
pub struct Forward {
    pub clusters: ClusterChoice,
    pub prefix_rewrite: Option<String>,
    pub host_rewrite: Option<http::HeaderValue>,
    pub regex_rewrite: Option<RegexRewrite>,
    /// `None` when the timeout is disabled (`0s`).
    pub timeout: Option<Duration>,
    /// The route's retry policy, else the virtual host's.
    pub retry: Option<Arc<RetryPolicy>>,
    pub hash_policies: Vec<HashPolicy>,
    pub mirrors: Vec<Mirror>,
    pub stream_duration: StreamDuration,
    /// The route's `upgrade_configs` (overrides of the connection manager's).
    pub upgrades: super::upgrade::Upgrades,
    /// `idle_timeout`: replaces the manager's `stream_idle_timeout` for this route;
    /// `None` inherits it, `Some(None)` (`0s`) disables it.
    pub idle_timeout: Option<Option<Duration>>,
}

#[derive(Debug)]
pub enum ClusterChoice {
    Single(String),
    Weighted(Vec<WeightedCluster>),
}

#[derive(Debug)]
pub struct WeightedCluster {
    pub name: String,
    pub weight: u32,
    pub headers: HeaderOps,
}

/// What a route match looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// `:path` including the query string.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub method: &'a str,
    /// `:authority` (or `Host`).
    pub authority: &'a str,
    pub scheme: &'a str,
}

impl RouteTable {
    /// Finds the virtual host for a `Host`/`:authority` value (Envoy's order: exact, longest
    /// `*.suffix`, longest `prefix.*`, then `*`). A host with a port that matches no domain is
    /// tried again without its port.
    pub fn find_virtual_host(&self, host: &str) -> Option<&VirtualHost> {
        let host = host.to_ascii_lowercase();
        let idx = self.lookup(&host).or_else(|| {
            let bare = strip_port(&host)?;
            self.lookup(bare)
        });
        idx.or(self.wildcard).map(|i| &self.virtual_hosts[i])
    }

    fn lookup(&self, host: &str) -> Option<usize> {
        if let Some(i) = self.exact.get(host) {
            return Some(*i);
        }
        let by_suffix = self
            .suffixes
            .iter()
            .find(|(s, _)| host.len() > s.len() && host.ends_with(s.as_str()));
        if let Some((_, i)) = by_suffix {
            return Some(*i);
        }
        self.prefixes
            .iter()
            .find(|(p, _)| host.len() > p.len() && host.starts_with(p.as_str()))
            .map(|(_, i)| *i)
    }
}

fn strip_port(host: &str) -> Option<&str> {
    let (h, port) = host.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit())
        && !h.ends_with(':')
        && (!h.contains(':') || h.ends_with(']'))
    {
        Some(h)
    } else {
        None
    }
}

impl VirtualHost {
    pub fn find_route(&self, req: &RequestView<'_>) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(req))
    }
}

impl Route {
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        let (path_only, query) = req.path.split_once('?').unwrap_or((req.path, ""));
        let pseudo = PseudoHeaders {
            method: req.method,
            authority: req.authority,
            path: req.path,
            scheme: req.scheme,
        };
        // CONNECT carries no path: only a connect_matcher route takes it, as in Envoy.
        let is_connect = req.method.eq_ignore_ascii_case("CONNECT");
        if is_connect != matches!(self.path, PathMatch::Connect) {
            return false;
        }
        let path_ok = match &self.path {
            PathMatch::Connect => true,
            PathMatch::Prefix(p) => starts_with(req.path, p, self.case_sensitive),
            PathMatch::Exact(p) => equals(path_only, p, self.case_sensitive),
            PathMatch::Regex(re) => full_match(re, path_only),
            PathMatch::SeparatedPrefix(p) => {
                starts_with(path_only, p, self.case_sensitive)
                    && (path_only.len() == p.len() || path_only.as_bytes()[p.len()] == b'/')
            }
        };
        path_ok
            && (!self.grpc || is_grpc(req.headers))
            && self
                .header_matchers
                .iter()
                .all(|h| h.matches_request(req.headers, Some(&pseudo)))
            && self.query_matchers.iter().all(|q| q.matches(query))
    }

    /// The prefix this route matched, for `prefix_rewrite`.
    pub fn matched_prefix(&self) -> Option<&str> {
        match &self.path {
            PathMatch::Prefix(p) | PathMatch::SeparatedPrefix(p) => Some(p),
            PathMatch::Exact(p) => Some(p),
            PathMatch::Regex(_) | PathMatch::Connect => None,
        }
    }
}

fn is_grpc(h: &HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

fn starts_with(s: &str, p: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        s.starts_with(p)
    } else {
        s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    }
}

fn equals(s: &str, p: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        s == p
    } else {
        s.eq_ignore_ascii_case(p)
    }
}

/// Compiles a route configuration; `resource` names it in errors.
pub fn build_route_table(resource: &str, rc: &m::RouteConfiguration) -> Result<RouteTable> {
    build_route_table_at(&At::new(resource), rc)
}

/// Compiles a route configuration found at `at` (inline in a listener, say).
pub fn build_route_table_at(at: &At<'_>, rc: &m::RouteConfiguration) -> Result<RouteTable> {
    let at = at.clone();
    let mut table = RouteTable {
        name: rc.name.clone(),
        virtual_hosts: Vec::with_capacity(rc.virtual_hosts.len()),
        headers: compile_ops(&at, rc)?,
        exact: HashMap::new(),
        suffixes: Vec::new(),
        prefixes: Vec::new(),
        wildcard: None,
    };
    for (i, vh) in rc.virtual_hosts.iter().enumerate() {
        let vat = at.field("virtual_hosts").index(i);
        table.virtual_hosts.push(build_virtual_host(&vat, vh)?);
        index_domains(&mut table, &vat, vh, i)?;
    }
    table.suffixes.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
    table.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    Ok(table)
}

fn index_domains(t: &mut RouteTable, at: &At<'_>, vh: &m::VirtualHost, i: usize) -> Result<()> {
    if vh.domains.is_empty() {
        return Err(at.field("domains").err("at least one domain is required"));
    }
    for (j, d) in vh.domains.iter().enumerate() {
        let dat = at.field("domains").index(j);
        let d = d.to_ascii_lowercase();
        let dup = if d == "*" {
            t.wildcard.replace(i).is_some()
        } else if let Some(suffix) = d.strip_prefix('*') {
            t.suffixes.iter().any(|(s, _)| s == suffix) || {
                t.suffixes.push((suffix.to_string(), i));
                false
            }
        } else if let Some(prefix) = d.strip_suffix('*') {
            t.prefixes.iter().any(|(p, _)| p == prefix) || {
                t.prefixes.push((prefix.to_string(), i));
                false
            }
        } else if d.contains('*') {
            return Err(dat.err(format!("wildcard only allowed at the start or end: {d:?}")));
        } else {
            t.exact.insert(d.clone(), i).is_some()
        };
        if dup {
            return Err(dat.err(format!(
                "domain {d:?} is already used by another virtual host"
            )));
        }
    }
    Ok(())
}

/// What routes inherit from their virtual host.
struct Inherited {
    retry: Option<Arc<RetryPolicy>>,
    filters: FilterOverrides,
}

fn build_virtual_host(at: &At<'_>, vh: &m::VirtualHost) -> Result<VirtualHost> {
    let inherited = Inherited {
        retry: vh
            .retry_policy
            .as_ref()
            .map(|r| compile_retry(&at.field("retry_policy"), r).map(Arc::new))
            .transpose()?,
        filters: compile_overrides(at, &vh.typed_per_filter_config, &FilterOverrides::default())?,
    };
    let routes = vh
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| build_route(&at.field("routes").index(i), r, &inherited))
        .collect::<Result<Vec<_>>>()?;
    Ok(VirtualHost {
        name: vh.name.clone(),
        routes,
        headers: compile_ops(at, vh)?,
        require_tls: vh.require_tls.unwrap_or_default(),
        attempt_count_upstream: vh.include_request_attempt_count,
        attempt_count_downstream: vh.include_attempt_count_in_response,
    })
}

fn build_route(at: &At<'_>, r: &m::Route, inherited: &Inherited) -> Result<Route> {
    let mat = at.field("match");
    Ok(Route {
        name: r.name.clone(),
        path: build_path(&mat, &r.match_)?,
        case_sensitive: r.match_.case_sensitive.unwrap_or(true),
        header_matchers: r
            .match_
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| compile_header(&mat.field("headers").index(i), h))
            .collect::<Result<_>>()?,
        query_matchers: r
            .match_
            .query_parameters
            .iter()
            .enumerate()
            .map(|(i, q)| compile_query(&mat.field("query_parameters").index(i), q))
            .collect::<Result<_>>()?,
        grpc: r.match_.grpc.is_some(),
        action: build_action(at, r, inherited)?,
        headers: compile_ops(at, r)?,
        filters: compile_overrides(at, &r.typed_per_filter_config, &inherited.filters)?,
    })
}

fn build_path(at: &At<'_>, m: &m::RouteMatch) -> Result<PathMatch> {
    let mut found = Vec::new();
    if let Some(p) = &m.prefix {
        found.push(PathMatch::Prefix(p.clone()));
    }
    if let Some(p) = &m.path {
        found.push(PathMatch::Exact(p.clone()));
    }
    if let Some(r) = &m.safe_regex {
        found.push(PathMatch::Regex(compile_regex(&at.field("safe_regex"), r)?));
    }
    if let Some(p) = &m.path_separated_prefix {
        if p.ends_with('/') || p.contains(['?', '#']) {
            return Err(at
                .field("path_separated_prefix")
                .err("must not end with '/' or contain '?' or '#'"));
        }
        found.push(PathMatch::SeparatedPrefix(p.clone()));
    }
    if m.connect_matcher.is_some() {
        found.push(PathMatch::Connect);
    }
    const KINDS: &str = "prefix, path, safe_regex, path_separated_prefix, connect_matcher";
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(at.err(format!("one of {KINDS} is required"))),
        _ => Err(at.err(format!("only one of {KINDS} may be set"))),
    }
}

fn build_action(at: &At<'_>, r: &m::Route, inherited: &Inherited) -> Result<Action> {
    match (&r.route, &r.redirect, &r.direct_response) {
        (Some(a), None, None) => Ok(Action::Forward(build_forward(
            &at.field("route"),
            a,
            inherited,
        )?)),
        (None, Some(rd), None) => Ok(Action::Redirect(rd.clone())),
        (None, None, Some(d)) => {
            let dat = at.field("direct_response");
            let status = u16::try_from(d.status)
                .ok()
                .filter(|s| (200..600).contains(s))
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| dat.field("status").err("must be between 200 and 599"))?;
            let body = match &d.body {
                None => String::new(),
                Some(b) => match (&b.inline_string, &b.filename) {
                    (Some(s), None) => s.clone(),
                    _ => return Err(dat.field("body").err("only inline_string is supported")),
                },
            };
            Ok(Action::Direct {
                status,
                body: body.into(),
            })
        }
        (None, None, None) => Err(at.err("one of route, redirect, direct_response is required")),
        _ => Err(at.err("only one of route, redirect, direct_response may be set")),
    }
}

fn build_forward(at: &At<'_>, a: &m::RouteAction, inherited: &Inherited) -> Result<Forward> {
    let clusters = match (&a.cluster, &a.weighted_clusters) {
        (Some(c), None) if !c.is_empty() => ClusterChoice::Single(c.clone()),
        (None, Some(w)) => build_weighted(&at.field("weighted_clusters"), w)?,
        (Some(_), Some(_)) => {
            return Err(at.err("only one of cluster and weighted_clusters may be set"));
        }
        _ => return Err(at.err("one of cluster, weighted_clusters is required")),
    };
    let host_rewrite = match &a.host_rewrite_literal {
        Some(h) => Some(
            http::HeaderValue::from_str(h)
                .map_err(|_| at.field("host_rewrite_literal").err("invalid host"))?,
        ),
        None => None,
    };
    let timeout = match a.timeout {
        None => Some(DEFAULT_ROUTE_TIMEOUT),
        Some(d) if d.0.is_zero() => None,
        Some(d) => Some(d.0),
    };
    if a.prefix_rewrite.is_some() && a.regex_rewrite.is_some() {
        return Err(at.err("only one of prefix_rewrite and regex_rewrite may be set"));
    }
    let retry = match &a.retry_policy {
        Some(r) => Some(Arc::new(compile_retry(&at.field("retry_policy"), r)?)),
        None => inherited.retry.clone(),
    };
    Ok(Forward {
        clusters,
        prefix_rewrite: a.prefix_rewrite.clone(),
        host_rewrite,
        regex_rewrite: a
            .regex_rewrite
            .as_ref()
            .map(|r| compile_regex_rewrite(&at.field("regex_rewrite"), r))
            .transpose()?,
        timeout,
        retry,
        hash_policies: a
            .hash_policy
            .iter()
            .enumerate()
            .map(|(i, h)| compile_hash_policy(&at.field("hash_policy").index(i), h))
            .collect::<Result<_>>()?,
        mirrors: a
            .request_mirror_policies
            .iter()
            .enumerate()
            .map(|(i, p)| compile_mirror(&at.field("request_mirror_policies").index(i), p))
            .collect::<Result<_>>()?,
        upgrades: super::upgrade::compile_route_upgrades(
            &at.field("upgrade_configs"),
            &a.upgrade_configs,
        )?,
        stream_duration: a
            .max_stream_duration
            .as_ref()
            .map(compile_stream_duration)
            .unwrap_or_default(),
        idle_timeout: a.idle_timeout.map(|d| (!d.0.is_zero()).then_some(d.0)),
    })
}

fn build_weighted(at: &At<'_>, w: &m::WeightedClusters) -> Result<ClusterChoice> {
    if w.clusters.is_empty() {
        return Err(at.field("clusters").err("at least one cluster is required"));
    }
    let mut out = Vec::with_capacity(w.clusters.len());
    for (i, c) in w.clusters.iter().enumerate() {
        let cat = at.field("clusters").index(i);
        if c.name.is_empty() {
            return Err(cat.field("name").err("must not be empty"));
        }
        out.push(WeightedCluster {
            name: c.name.clone(),
            weight: c.weight.unwrap_or(0),
            headers: compile_ops(&cat, c)?,
        });
    }
    let total: u64 = out.iter().map(|c| u64::from(c.weight)).sum();
    if total == 0 {
        return Err(at
            .field("clusters")
            .err("the sum of weights must be greater than 0"));
    }
    if let Some(t) = w.total_weight
        && u64::from(t) != total
    {
        return Err(at
            .field("total_weight")
            .err(format!("is {t} but the weights add up to {total}")));
    }
    Ok(ClusterChoice::Weighted(out))
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
