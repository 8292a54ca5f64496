//! The request headers each Bookinfo service copies from the request it serves to the calls
//! it makes, so that traces join up and routing on `end-user` works downstream.

use http::HeaderMap;
use http::header::HeaderName;

/// The user a request is made for; productpage sets it from the session.
pub const END_USER: &str = "end-user";

/// Headers copied from an incoming request to every outgoing call.
pub const PROPAGATED: &[&str] = &[
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "traceparent",
    "tracestate",
    END_USER,
];

/// The propagated headers of `incoming` (every value, in order).
pub fn forward(incoming: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in PROPAGATED {
        let name = HeaderName::from_static(name);
        for value in incoming.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn copies_only_tracing_and_user_headers() {
        let mut incoming = HeaderMap::new();
        incoming.insert("x-request-id", HeaderValue::from_static("abc"));
        incoming.insert("traceparent", HeaderValue::from_static("00-1-2-01"));
        incoming.insert("end-user", HeaderValue::from_static("jason"));
        incoming.insert("cookie", HeaderValue::from_static("session=jason"));
        incoming.insert("content-length", HeaderValue::from_static("3"));
        let out = forward(&incoming);
        assert_eq!(out.len(), 3);
        assert_eq!(out["x-request-id"], "abc");
        assert_eq!(out["end-user"], "jason");
        assert!(out.get("cookie").is_none());
    }
}
