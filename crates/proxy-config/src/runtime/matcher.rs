//! Precompiled string, header and query-parameter matchers.

use http::HeaderMap;
use http::header::HeaderName;
use regex::Regex;

use crate::error::{At, Result};
use crate::model::core as m;

#[derive(Debug, Clone)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(Regex),
}

/// A string matcher with its case handling; patterns are lowercased once when
/// `ignore_case` is set.
#[derive(Debug, Clone)]
pub struct StringMatcher {
    kind: StringMatch,
    ignore_case: bool,
}

impl StringMatcher {
    pub fn new(kind: StringMatch, ignore_case: bool) -> Self {
        let kind = match kind {
            StringMatch::Exact(s) if ignore_case => StringMatch::Exact(s.to_lowercase()),
            StringMatch::Prefix(s) if ignore_case => StringMatch::Prefix(s.to_lowercase()),
            StringMatch::Suffix(s) if ignore_case => StringMatch::Suffix(s.to_lowercase()),
            StringMatch::Contains(s) if ignore_case => StringMatch::Contains(s.to_lowercase()),
            other => other,
        };
        Self { kind, ignore_case }
    }

    pub fn matches(&self, value: &str) -> bool {
        if let StringMatch::Regex(re) = &self.kind {
            return full_match(re, value);
        }
        let lowered;
        let v = if self.ignore_case {
            lowered = value.to_lowercase();
            lowered.as_str()
        } else {
            value
        };
        match &self.kind {
            StringMatch::Exact(s) => v == s,
            StringMatch::Prefix(s) => v.starts_with(s.as_str()),
            StringMatch::Suffix(s) => v.ends_with(s.as_str()),
            StringMatch::Contains(s) => v.contains(s.as_str()),
            StringMatch::Regex(_) => false,
        }
    }
}

/// Envoy's `safe_regex` matches the whole value.
pub fn full_match(re: &Regex, value: &str) -> bool {
    re.find(value)
        .is_some_and(|m| m.start() == 0 && m.end() == value.len())
}

/// Compiles a regex anchored to the whole input.
pub fn compile_regex(at: &At<'_>, r: &m::RegexMatcher) -> Result<Regex> {
    Regex::new(&format!("^(?:{})$", r.regex))
        .map_err(|e| at.field("regex").err(format!("invalid regex: {e}")))
}

pub fn compile_string(at: &At<'_>, s: &m::StringMatcher) -> Result<StringMatcher> {
    let mut kinds = Vec::new();
    if let Some(v) = &s.exact {
        kinds.push(StringMatch::Exact(v.clone()));
    }
    if let Some(v) = &s.prefix {
        kinds.push(StringMatch::Prefix(v.clone()));
    }
    if let Some(v) = &s.suffix {
        kinds.push(StringMatch::Suffix(v.clone()));
    }
    if let Some(v) = &s.contains {
        kinds.push(StringMatch::Contains(v.clone()));
    }
    if let Some(r) = &s.safe_regex {
        kinds.push(StringMatch::Regex(compile_regex(
            &at.field("safe_regex"),
            r,
        )?));
    }
    match kinds.len() {
        1 => Ok(StringMatcher::new(kinds.remove(0), s.ignore_case)),
        0 => Err(at.err("one of exact, prefix, suffix, contains, safe_regex is required")),
        _ => Err(at.err("only one of exact, prefix, suffix, contains, safe_regex may be set")),
    }
}

#[derive(Debug, Clone)]
enum HeaderTest {
    Str(StringMatcher),
    Present(bool),
    Range(i64, i64),
}

/// A header matcher's target: a regular header or one of the request pseudo-headers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderKey {
    Regular(HeaderName),
    Method,
    Authority,
    Path,
    Scheme,
}

/// The request pseudo-headers, which `HeaderMap` does not carry.
#[derive(Debug, Clone, Copy, Default)]
pub struct PseudoHeaders<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    pub scheme: &'a str,
}

#[derive(Debug, Clone)]
pub struct HeaderMatcher {
    name: HeaderKey,
    test: HeaderTest,
    invert: bool,
    missing_as_empty: bool,
}

impl HeaderMatcher {
    /// Matches regular headers only (pseudo-header matchers see an absent header).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        self.matches_request(headers, None)
    }

    pub fn matches_request<'a>(
        &self,
        headers: &'a HeaderMap,
        pseudo: Option<&PseudoHeaders<'a>>,
    ) -> bool {
        let p = pseudo.copied().unwrap_or_default();
        let pseudo_value =
            |v: &'a str| -> Vec<&'a str> { if v.is_empty() { Vec::new() } else { vec![v] } };
        let values: Vec<&'a str> = match &self.name {
            HeaderKey::Regular(name) => headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect(),
            HeaderKey::Method => pseudo_value(p.method),
            HeaderKey::Authority => pseudo_value(p.authority),
            HeaderKey::Path => pseudo_value(p.path),
            HeaderKey::Scheme => pseudo_value(p.scheme),
        };
        let joined;
        let value = if values.is_empty() {
            if self.missing_as_empty {
                Some("")
            } else {
                None
            }
        } else {
            joined = values.join(",");
            Some(joined.as_str())
        };
        let hit = match (&self.test, value) {
            (HeaderTest::Present(want), v) => v.is_some() == *want,
            // Envoy: an absent header fails every non-presence matcher, inverted or not.
            (_, None) => return false,
            (HeaderTest::Str(sm), Some(v)) => sm.matches(v),
            (HeaderTest::Range(lo, hi), Some(v)) => {
                v.trim().parse::<i64>().is_ok_and(|n| n >= *lo && n < *hi)
            }
        };
        hit != self.invert
    }
}

pub fn compile_header(at: &At<'_>, h: &m::HeaderMatcher) -> Result<HeaderMatcher> {
    let lower = h.name.to_ascii_lowercase();
    let name = match lower.as_str() {
        ":method" => HeaderKey::Method,
        ":authority" | "host" => HeaderKey::Authority,
        ":path" => HeaderKey::Path,
        ":scheme" => HeaderKey::Scheme,
        _ => HeaderKey::Regular(HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
            at.field("name")
                .err(format!("invalid header name {:?}", h.name))
        })?),
    };
    let mut tests = Vec::new();
    let plain = |k| HeaderTest::Str(StringMatcher::new(k, false));
    if let Some(v) = &h.exact_match {
        tests.push(plain(StringMatch::Exact(v.clone())));
    }
    if let Some(v) = &h.prefix_match {
        tests.push(plain(StringMatch::Prefix(v.clone())));
    }
    if let Some(v) = &h.suffix_match {
        tests.push(plain(StringMatch::Suffix(v.clone())));
    }
    if let Some(v) = &h.contains_match {
        tests.push(plain(StringMatch::Contains(v.clone())));
    }
    if let Some(r) = &h.safe_regex_match {
        let re = compile_regex(&at.field("safe_regex_match"), r)?;
        tests.push(plain(StringMatch::Regex(re)));
    }
    if let Some(s) = &h.string_match {
        tests.push(HeaderTest::Str(compile_string(
            &at.field("string_match"),
            s,
        )?));
    }
    if let Some(r) = &h.range_match {
        if r.start >= r.end {
            return Err(at.field("range_match").err("start must be less than end"));
        }
        tests.push(HeaderTest::Range(r.start, r.end));
    }
    if let Some(p) = h.present_match {
        tests.push(HeaderTest::Present(p));
    }
    if tests.len() > 1 {
        return Err(at.err("only one header match specifier may be set"));
    }
    Ok(HeaderMatcher {
        name,
        test: tests.pop().unwrap_or(HeaderTest::Present(true)),
        invert: h.invert_match,
        missing_as_empty: h.treat_missing_header_as_empty,
    })
}

#[derive(Debug, Clone)]
pub struct QueryMatcher {
    name: String,
    /// `None` means "present".
    test: Option<StringMatcher>,
    present: bool,
}

impl QueryMatcher {
    /// Matches against the raw query string (without `?`).
    pub fn matches(&self, query: &str) -> bool {
        let value = query.split('&').filter(|p| !p.is_empty()).find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == self.name).then_some(v)
        });
        match (&self.test, value) {
            (None, v) => v.is_some() == self.present,
            (Some(_), None) => false,
            (Some(sm), Some(v)) => sm.matches(v),
        }
    }
}

pub fn compile_query(at: &At<'_>, q: &m::QueryParameterMatcher) -> Result<QueryMatcher> {
    if q.name.is_empty() {
        return Err(at.field("name").err("must not be empty"));
    }
    if q.string_match.is_some() && q.present_match.is_some() {
        return Err(at.err("only one of string_match and present_match may be set"));
    }
    let test = match &q.string_match {
        Some(s) => Some(compile_string(&at.field("string_match"), s)?),
        None => None,
    };
    Ok(QueryMatcher {
        name: q.name.clone(),
        test,
        present: q.present_match.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(yaml: serde_json::Value) -> HeaderMatcher {
        let m: m::HeaderMatcher = serde_json::from_value(yaml).expect("model");
        compile_header(&At::new("test"), &m).expect("compile")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn header_match_kinds() {
        let h = headers(&[("x-a", "hello"), ("x-n", "42")]);
        assert!(hm(serde_json::json!({"name": "x-a", "exact_match": "hello"})).matches(&h));
        assert!(!hm(serde_json::json!({"name": "x-a", "exact_match": "Hello"})).matches(&h));
        assert!(hm(serde_json::json!({"name": "x-a", "prefix_match": "he"})).matches(&h));
        assert!(hm(serde_json::json!({"name": "x-a", "suffix_match": "lo"})).matches(&h));
        assert!(hm(serde_json::json!({"name": "x-a", "contains_match": "ell"})).matches(&h));
        assert!(
            hm(serde_json::json!({"name": "x-a", "safe_regex_match": {"regex": "h.*o"}}))
                .matches(&h)
        );
        assert!(
            !hm(serde_json::json!({"name": "x-a", "safe_regex_match": {"regex": "h.l"}}))
                .matches(&h)
        );
        assert!(
            hm(serde_json::json!({"name": "x-n", "range_match": {"start": 40, "end": 43}}))
                .matches(&h)
        );
        assert!(
            !hm(serde_json::json!({"name": "x-n", "range_match": {"start": 0, "end": 42}}))
                .matches(&h)
        );
        assert!(hm(serde_json::json!({"name": "X-A"})).matches(&h));
        assert!(hm(serde_json::json!({"name": "x-b", "present_match": false})).matches(&h));
        assert!(!hm(serde_json::json!({"name": "x-b", "present_match": true})).matches(&h));
        assert!(hm(serde_json::json!({"name": "x-a", "string_match": {"exact": "HELLO", "ignore_case": true}})).matches(&h));
    }

    #[test]
    fn header_match_invert_and_missing() {
        let h = headers(&[("x-a", "hello")]);
        assert!(
            hm(serde_json::json!({"name": "x-a", "exact_match": "no", "invert_match": true}))
                .matches(&h)
        );
        assert!(
            !hm(serde_json::json!({"name": "x-a", "exact_match": "hello", "invert_match": true}))
                .matches(&h)
        );
        assert!(
            !hm(serde_json::json!({"name": "x-z", "exact_match": "no", "invert_match": true}))
                .matches(&h)
        );
        assert!(
            hm(serde_json::json!({"name": "x-z", "present_match": true, "invert_match": true}))
                .matches(&h)
        );
        assert!(hm(serde_json::json!({"name": "x-z", "exact_match": "", "treat_missing_header_as_empty": true})).matches(&h));
    }

    #[test]
    fn query_and_string_matchers() {
        let q: m::QueryParameterMatcher = serde_json::from_value(
            serde_json::json!({"name": "debug", "string_match": {"exact": "1"}}),
        )
        .expect("model");
        let q = compile_query(&At::new("t"), &q).expect("compile");
        assert!(q.matches("a=b&debug=1"));
        assert!(!q.matches("debug=2"));
        assert!(!q.matches(""));
        let p: m::QueryParameterMatcher =
            serde_json::from_value(serde_json::json!({"name": "x"})).expect("model");
        let p = compile_query(&At::new("t"), &p).expect("compile");
        assert!(p.matches("x"));
        assert!(!p.matches("y=1"));
        let bad: m::StringMatcher =
            serde_json::from_value(serde_json::json!({"exact": "a", "prefix": "b"}))
                .expect("model");
        let err = compile_string(&At::new("Listener l").field("m"), &bad).expect_err("two kinds");
        assert_eq!(
            err.to_string(),
            "Listener l: m: only one of exact, prefix, suffix, contains, safe_regex may be set"
        );
    }
}
