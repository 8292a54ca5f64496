//! Local replies: errors, direct responses and redirects.

use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use weft_proxy_config::model::route::RedirectAction;

use super::ProxyBody;

pub fn local(status: u16, body: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body.to_string()));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    resp
}

/// The `Location` of a redirect, from the request's authority and path.
pub fn location(
    r: &RedirectAction,
    matched_prefix: Option<&str>,
    authority: &str,
    path: &str,
) -> String {
    let scheme = if r.https_redirect {
        "https"
    } else {
        r.scheme_redirect.as_deref().unwrap_or("http")
    };
    let scheme_changed = r.https_redirect || r.scheme_redirect.is_some();
    let (req_host, req_port) = split_host_port(authority);
    let host = r.host_redirect.as_deref().unwrap_or(req_host);
    let port = match r.port_redirect {
        Some(p) => Some(p.to_string()),
        None if scheme_changed => None,
        None => req_port.map(str::to_string),
    };
    let (req_path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let new_path = match (&r.path_redirect, &r.prefix_rewrite, matched_prefix) {
        (Some(p), _, _) => p.clone(),
        (None, Some(rw), Some(prefix)) if req_path.starts_with(prefix) => {
            format!("{rw}{}", &req_path[prefix.len()..])
        }
        _ => req_path.to_string(),
    };
    let mut out = format!("{scheme}://{host}");
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p);
    }
    out.push_str(&new_path);
    if let (Some(q), false, false) = (query, r.strip_query, new_path.contains('?')) {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => (h, Some(p)),
        _ => (authority, None),
    }
}

pub fn redirect(
    r: &RedirectAction,
    matched_prefix: Option<&str>,
    authority: &str,
    path: &str,
) -> Response<ProxyBody> {
    let mut resp = local(r.response_code.status(), "");
    if let Ok(v) = HeaderValue::from_str(&location(r, matched_prefix, authority, path)) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ra(json: serde_json::Value) -> RedirectAction {
        serde_json::from_value(json).expect("model")
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(
            location(
                &ra(serde_json::json!({"https_redirect": true})),
                None,
                "a.com:8080",
                "/x?q=1"
            ),
            "https://a.com/x?q=1"
        );
        assert_eq!(
            location(
                &ra(serde_json::json!({"host_redirect": "b.com", "port_redirect": 9})),
                None,
                "a.com",
                "/x"
            ),
            "http://b.com:9/x"
        );
        assert_eq!(
            location(
                &ra(serde_json::json!({"prefix_rewrite": "/new", "strip_query": true})),
                Some("/old"),
                "a.com",
                "/old/p?q"
            ),
            "http://a.com/new/p"
        );
        assert_eq!(
            location(
                &ra(serde_json::json!({"path_redirect": "/z"})),
                Some("/"),
                "a.com:80",
                "/y"
            ),
            "http://a.com:80/z"
        );
    }
}
