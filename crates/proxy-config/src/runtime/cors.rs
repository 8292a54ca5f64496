//! The CORS filter (`envoy.filters.http.cors`) with per-route `CorsPolicy`: preflight answers
//! and the headers added to responses of matching simple requests. Requests whose origin does
//! not match get no CORS headers and are forwarded unchanged.

use http::Method;
use http::header::{self, HeaderMap, HeaderValue};

use super::matcher::{StringMatcher, compile_string};
use crate::error::{At, Result};
use crate::model::filters as m;

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<StringMatcher>,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    allow_credentials: bool,
}

/// What the CORS filter does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsDecision {
    /// Not a CORS request, or its origin does not match: nothing to do.
    Pass,
    /// A matching preflight: answer 200 locally with these headers.
    Preflight(HeaderMap),
    /// A matching actual request: forward it, then add these headers to the response.
    Decorate(HeaderMap),
}

fn optional_value(at: &At<'_>, field: &str, v: &str) -> Result<Option<HeaderValue>> {
    if v.is_empty() {
        return Ok(None);
    }
    HeaderValue::from_str(v)
        .map(Some)
        .map_err(|_| at.field(field).err("invalid header value"))
}

pub fn compile_cors(at: &At<'_>, c: &m::CorsPolicy) -> Result<Cors> {
    let origins = c
        .allow_origin_string_match
        .iter()
        .enumerate()
        .map(|(i, s)| compile_string(&at.field("allow_origin_string_match").index(i), s))
        .collect::<Result<_>>()?;
    if !c.max_age.is_empty() && c.max_age.parse::<u64>().is_err() {
        return Err(at.field("max_age").err("must be a number of seconds"));
    }
    Ok(Cors {
        origins,
        allow_methods: optional_value(at, "allow_methods", &c.allow_methods)?,
        allow_headers: optional_value(at, "allow_headers", &c.allow_headers)?,
        expose_headers: optional_value(at, "expose_headers", &c.expose_headers)?,
        max_age: optional_value(at, "max_age", &c.max_age)?,
        allow_credentials: c.allow_credentials.unwrap_or(false),
    })
}

impl Cors {
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|m| m.matches(origin))
    }

    pub fn decide(&self, method: &Method, h: &HeaderMap) -> CorsDecision {
        let Some(origin) = h.get(header::ORIGIN) else {
            return CorsDecision::Pass;
        };
        if !origin.to_str().is_ok_and(|o| self.origin_allowed(o)) {
            return CorsDecision::Pass;
        }
        let mut out = HeaderMap::new();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.allow_credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let preflight = method == Method::OPTIONS
            && h.get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .is_some_and(|v| !v.is_empty());
        if !preflight {
            if let Some(v) = &self.expose_headers {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
            }
            return CorsDecision::Decorate(out);
        }
        let set = [
            (header::ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers),
            (header::ACCESS_CONTROL_MAX_AGE, &self.max_age),
        ];
        for (name, value) in set {
            if let Some(v) = value {
                out.insert(name, v.clone());
            }
        }
        CorsDecision::Preflight(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Cors {
        let c: m::CorsPolicy = serde_json::from_value(serde_json::json!({
            "allow_origin_string_match": [{"exact": "https://example.com"}, {"safe_regex": {"regex": "https://.*\\.example\\.org"}}],
            "allow_methods": "GET,POST", "allow_headers": "x-token", "expose_headers": "x-trace",
            "max_age": "86400", "allow_credentials": true
        }))
        .expect("model");
        compile_cors(&At::new("t"), &c).expect("compile")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_matching() {
        let c = policy();
        assert!(c.origin_allowed("https://example.com"));
        assert!(c.origin_allowed("https://a.example.org"));
        assert!(!c.origin_allowed("https://example.com.evil"));
        assert!(!c.origin_allowed("http://a.example.org"));
    }

    #[test]
    fn preflight_and_simple_requests() {
        let c = policy();
        let pre = headers(&[
            ("origin", "https://example.com"),
            ("access-control-request-method", "POST"),
        ]);
        let CorsDecision::Preflight(h) = c.decide(&Method::OPTIONS, &pre) else {
            panic!("expected preflight");
        };
        assert_eq!(h["access-control-allow-origin"], "https://example.com");
        assert_eq!(h["access-control-allow-methods"], "GET,POST");
        assert_eq!(h["access-control-allow-headers"], "x-token");
        assert_eq!(h["access-control-max-age"], "86400");
        assert_eq!(h["access-control-allow-credentials"], "true");
        let simple = headers(&[("origin", "https://b.example.org")]);
        let CorsDecision::Decorate(h) = c.decide(&Method::GET, &simple) else {
            panic!("expected decorate");
        };
        assert_eq!(h["access-control-expose-headers"], "x-trace");
        assert!(!h.contains_key("access-control-allow-methods"));
        let other = headers(&[
            ("origin", "https://other.com"),
            ("access-control-request-method", "GET"),
        ]);
        assert_eq!(c.decide(&Method::OPTIONS, &other), CorsDecision::Pass);
        assert_eq!(
            c.decide(&Method::GET, &HeaderMap::new()),
            CorsDecision::Pass
        );
    }
}
