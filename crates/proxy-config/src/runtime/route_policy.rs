//! Per-route policies compiled next to the route table: HTTP filter overrides
//! (`typed_per_filter_config`), request mirrors, stream-duration limits and regex rewrites.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use regex::Regex;

use super::cors::{Cors, compile_cors};
use super::fault::{Fault, Fraction, compile_fault};
use crate::error::{At, Result};
use crate::model::filters::{PerFilterConfig, PerFilterConfigs};
use crate::model::route as m;

#[derive(Debug, Clone)]
pub enum FilterOverride {
    Fault(Arc<Fault>),
    Cors(Arc<Cors>),
    /// `RBACPerRoute`: `None` disables the RBAC filter for the route.
    Rbac(Option<Arc<super::rbac::Rbac>>),
}

/// `typed_per_filter_config` of a route merged over its virtual host's, by filter name.
#[derive(Debug, Clone, Default)]
pub struct FilterOverrides(BTreeMap<String, FilterOverride>);

impl FilterOverrides {
    pub fn fault(&self, filter_name: &str) -> Option<&Arc<Fault>> {
        match self.0.get(filter_name) {
            Some(FilterOverride::Fault(f)) => Some(f),
            _ => None,
        }
    }

    pub fn cors(&self, filter_name: &str) -> Option<&Arc<Cors>> {
        match self.0.get(filter_name) {
            Some(FilterOverride::Cors(c)) => Some(c),
            _ => None,
        }
    }

    /// `Some(None)`: RBAC disabled here; `Some(Some(r))`: `r` replaces the filter's rules.
    pub fn rbac(&self, filter_name: &str) -> Option<Option<&Arc<super::rbac::Rbac>>> {
        match self.0.get(filter_name) {
            Some(FilterOverride::Rbac(r)) => Some(r.as_ref()),
            _ => None,
        }
    }
}

/// Compiles `typed_per_filter_config`; entries of `parent` not overridden are kept.
pub fn compile_overrides(
    at: &At<'_>,
    configs: &PerFilterConfigs,
    parent: &FilterOverrides,
) -> Result<FilterOverrides> {
    let mut out = parent.clone();
    for (name, cfg) in configs {
        let cat = at.field("typed_per_filter_config").field(name);
        let compiled = match cfg {
            PerFilterConfig::Fault(f) => FilterOverride::Fault(Arc::new(compile_fault(&cat, f)?)),
            PerFilterConfig::Cors(c) => FilterOverride::Cors(Arc::new(compile_cors(&cat, c)?)),
            PerFilterConfig::Rbac(r) => {
                FilterOverride::Rbac(super::rbac::compile_per_route(&cat, r)?.map(Arc::new))
            }
        };
        out.0.insert(name.clone(), compiled);
    }
    Ok(out)
}

/// One `request_mirror_policies` entry.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub cluster: String,
    pub fraction: Fraction,
}

pub fn compile_mirror(at: &At<'_>, p: &m::RequestMirrorPolicy) -> Result<Mirror> {
    if p.cluster.is_empty() {
        return Err(at.field("cluster").err("must not be empty"));
    }
    // Without runtime_fraction every request is mirrored.
    let fraction = match &p.runtime_fraction {
        None => Fraction {
            numerator: 100,
            denominator: 100,
        },
        Some(r) => Fraction::from_model(r.default_value),
    };
    Ok(Mirror {
        cluster: p.cluster.clone(),
        fraction,
    })
}

/// `max_stream_duration` of a route action.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamDuration {
    pub max: Option<Duration>,
    /// `Some` when the `grpc-timeout` header is honoured; `Some(None)` means uncapped.
    pub grpc_max: Option<Option<Duration>>,
    pub grpc_offset: Duration,
}

pub fn compile_stream_duration(d: &m::MaxStreamDuration) -> StreamDuration {
    StreamDuration {
        max: d.max_stream_duration.map(|d| d.0).filter(|d| !d.is_zero()),
        grpc_max: d
            .grpc_timeout_header_max
            .map(|d| Some(d.0).filter(|d| !d.is_zero())),
        grpc_offset: d.grpc_timeout_header_offset.map_or(Duration::ZERO, |d| d.0),
    }
}

/// A trusted caller's override of the route timeout, in milliseconds.
pub static UPSTREAM_RQ_TIMEOUT_MS: http::HeaderName =
    http::HeaderName::from_static("x-envoy-upstream-rq-timeout-ms");

/// Parses a gRPC `grpc-timeout` value (`<digits><unit>`, units H M S m u n).
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let unit = v.chars().last()?;
    let n: u64 = v.get(..v.len() - 1)?.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n.saturating_mul(3600)),
        'M' => Duration::from_secs(n.saturating_mul(60)),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

impl StreamDuration {
    /// The timeout of a request: the route timeout, replaced by the request's `grpc-timeout`
    /// (minus the offset, capped by `grpc_timeout_header_max`) when that is honoured, then by
    /// `x-envoy-upstream-rq-timeout-ms` (0 = none) when the request has it, and never beyond
    /// `max_stream_duration`. The connection manager strips `x-envoy-*` headers of external
    /// requests, so only trusted callers can set the last one.
    pub fn effective_timeout(&self, route: Option<Duration>, h: &HeaderMap) -> Option<Duration> {
        let mut t = route;
        if let Some(cap) = self.grpc_max
            && let Some(g) = h
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_grpc_timeout)
        {
            let g = g.saturating_sub(self.grpc_offset);
            t = Some(cap.map_or(g, |c| g.min(c)))
                .filter(|d| !d.is_zero())
                .or(t);
        }
        if let Some(ms) = h
            .get(&UPSTREAM_RQ_TIMEOUT_MS)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        {
            t = Some(Duration::from_millis(ms)).filter(|d| !d.is_zero());
        }
        match (t, self.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `regex_rewrite`: the pattern and the substitution in `regex` syntax (`\1` becomes `${1}`).
#[derive(Debug, Clone)]
pub struct RegexRewrite {
    pub pattern: Regex,
    pub substitution: String,
}

pub fn compile_regex_rewrite(at: &At<'_>, r: &m::RegexRewrite) -> Result<RegexRewrite> {
    let pattern = Regex::new(&r.pattern.regex)
        .map_err(|e| at.field("pattern.regex").err(format!("invalid regex: {e}")))?;
    let mut substitution = String::with_capacity(r.substitution.len());
    let mut chars = r.substitution.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                substitution.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => substitution.push_str("$$"),
            _ => substitution.push(c),
        }
    }
    Ok(RegexRewrite {
        pattern,
        substitution,
    })
}

impl RegexRewrite {
    /// Rewrites the path part (the query string is kept).
    pub fn apply(&self, path_and_query: &str) -> String {
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let mut out = self
            .pattern
            .replace_all(path, self.substitution.as_str())
            .into_owned();
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("x"), None);
        let d = StreamDuration {
            max: None,
            grpc_max: Some(Some(Duration::from_secs(1))),
            grpc_offset: Duration::from_millis(10),
        };
        let mut h = HeaderMap::new();
        let route = Some(Duration::from_secs(15));
        assert_eq!(d.effective_timeout(route, &h), route);
        h.insert("grpc-timeout", "200m".parse().expect("v"));
        assert_eq!(
            d.effective_timeout(route, &h),
            Some(Duration::from_millis(190))
        );
        h.insert("grpc-timeout", "5S".parse().expect("v"));
        assert_eq!(d.effective_timeout(route, &h), Some(Duration::from_secs(1)));
        let capped = StreamDuration {
            max: Some(Duration::from_secs(3)),
            ..Default::default()
        };
        assert_eq!(
            capped.effective_timeout(route, &h),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            capped.effective_timeout(None, &h),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn regex_rewrite_groups() {
        let r: m::RegexRewrite = serde_json::from_value(serde_json::json!({
            "pattern": {"regex": "^/v1/(\\w+)/x$"}, "substitution": "/\\1/y"
        }))
        .expect("model");
        let rw = compile_regex_rewrite(&At::new("t"), &r).expect("compile");
        assert_eq!(rw.apply("/v1/abc/x?q=1"), "/abc/y?q=1");
        assert_eq!(rw.apply("/other"), "/other");
    }

    #[test]
    fn upstream_rq_timeout_header_overrides_route_and_grpc_timeouts() {
        let route = Some(Duration::from_secs(15));
        let d = StreamDuration {
            grpc_max: Some(None),
            max: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", "2S".parse().unwrap());
        h.insert(UPSTREAM_RQ_TIMEOUT_MS.clone(), "250".parse().unwrap());
        assert_eq!(
            d.effective_timeout(route, &h),
            Some(Duration::from_millis(250))
        );
        h.insert(UPSTREAM_RQ_TIMEOUT_MS.clone(), "0".parse().unwrap());
        assert_eq!(
            d.effective_timeout(route, &h),
            Some(Duration::from_secs(60)),
            "0 lifts the timeout, max_stream_duration still bounds it"
        );
        h.insert(UPSTREAM_RQ_TIMEOUT_MS.clone(), "soon".parse().unwrap());
        assert_eq!(
            d.effective_timeout(route, &h),
            Some(Duration::from_secs(2)),
            "an unparsable value is ignored"
        );
    }
}
