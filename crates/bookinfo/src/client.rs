//! Calls from one Bookinfo service to another: one HTTP/1.1 connection per call, with a
//! deadline over the whole exchange and a fixed number of retries. `HTTP_PROXY` (or
//! `http_proxy`) sends calls through an HTTP proxy, as weft's local mode does without traffic
//! capture; `NO_PROXY` lists hosts called directly.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Error;

/// Where a service's upstream is: `http://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    host: String,
    port: u16,
    /// The HTTP proxy the calls go through, if any.
    via: Option<(String, u16)>,
}

impl Upstream {
    /// Parses an `http://host[:port]` URL given to `flag`.
    pub fn parse(flag: &'static str, url: &str) -> Result<Upstream, Error> {
        let bad = |reason: &'static str| Error::Url {
            flag,
            value: url.to_string(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("give the address only, without a path"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let env = |a: &str, b: &str| std::env::var(a).or_else(|_| std::env::var(b)).ok();
        let via = proxy_for(
            &host,
            env("HTTP_PROXY", "http_proxy").as_deref(),
            env("NO_PROXY", "no_proxy").as_deref(),
        );
        Ok(Upstream {
            host,
            port: uri.port_u16().unwrap_or(80),
            via,
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The proxy (`host`, `port`) for calls to `host`, from the values of `HTTP_PROXY` and
/// `NO_PROXY` (comma-separated names, `.suffix` or `*`).
pub fn proxy_for(
    host: &str,
    http_proxy: Option<&str>,
    no_proxy: Option<&str>,
) -> Option<(String, u16)> {
    let proxy: http::Uri = http_proxy.filter(|p| !p.is_empty())?.parse().ok()?;
    let bypass = no_proxy.unwrap_or("").split(',').map(str::trim).any(|n| {
        n == "*" || n.eq_ignore_ascii_case(host) || (n.starts_with('.') && host.ends_with(n))
    });
    if bypass {
        return None;
    }
    Some((proxy.host()?.to_string(), proxy.port_u16().unwrap_or(80)))
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("connecting to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered {0}")]
    Status(StatusCode),
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// An upstream's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How long to wait for each attempt and how many times to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub timeout: Duration,
    pub retries: u32,
}

/// One call: `method path` with `headers` and `body`, all of it within `timeout`.
pub async fn fetch(
    upstream: &Upstream,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, FetchError> {
    tokio::time::timeout(timeout, exchange(upstream, method, path, headers, body))
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
}

async fn exchange(
    upstream: &Upstream,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, FetchError> {
    let authority = upstream.authority();
    let (host, port) = match &upstream.via {
        Some((h, p)) => (h.as_str(), *p),
        None => (upstream.host.as_str(), upstream.port),
    };
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| FetchError::Connect(authority.clone(), e))?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    let mut request = http::Request::new(Full::new(body));
    *request.method_mut() = method;
    // Through a proxy the request line carries the whole URL (absolute form).
    let target = match upstream.via {
        Some(_) => format!("http://{authority}{path}"),
        None => path.to_string(),
    };
    *request.uri_mut() = target
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    *request.headers_mut() = headers;
    if let Ok(host) = HeaderValue::from_str(&authority) {
        request.headers_mut().insert(HOST, host);
    }
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    conn.abort();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// GET `path` and parse a 2xx JSON answer; failures (including 5xx) are tried again
/// `policy.retries` times.
pub async fn get_json(
    upstream: &Upstream,
    path: &str,
    headers: &HeaderMap,
    policy: Policy,
) -> Result<serde_json::Value, FetchError> {
    let mut attempt = 0;
    loop {
        let result = fetch(
            upstream,
            Method::GET,
            path,
            headers.clone(),
            Bytes::new(),
            policy.timeout,
        )
        .await
        .and_then(|reply| {
            if reply.status.is_success() {
                Ok(serde_json::from_slice(&reply.body)?)
            } else {
                Err(FetchError::Status(reply.status))
            }
        });
        match result {
            Err(e) if attempt < policy.retries && retryable(&e) => {
                tracing::debug!("{upstream}{path}: {e}; trying again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Status(status) => status.is_server_error(),
        FetchError::Json(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_urls() {
        let u = Upstream::parse("--details-url", "http://details:9080").expect("valid");
        assert_eq!(u.to_string(), "http://details:9080");
        let u = Upstream::parse("--details-url", "http://127.0.0.1/").expect("valid");
        assert_eq!(u.to_string(), "http://127.0.0.1:80");
        let u = Upstream::parse("--details-url", "http://[::1]:9080").expect("valid");
        assert_eq!(u.to_string(), "http://[::1]:9080");
    }

    #[test]
    fn http_proxy_unless_no_proxy_matches() {
        let p = Some("http://127.10.0.3:15080");
        assert_eq!(
            proxy_for("reviews", p, None),
            Some(("127.10.0.3".to_string(), 15080))
        );
        assert_eq!(proxy_for("reviews", p, Some("localhost, reviews")), None);
        assert_eq!(proxy_for("a.example.com", p, Some(".example.com")), None);
        assert_eq!(proxy_for("reviews", p, Some("*")), None);
        assert_eq!(proxy_for("reviews", None, None), None);
        assert_eq!(proxy_for("reviews", Some(""), None), None);
    }

    #[test]
    fn rejects_bad_upstream_urls_naming_the_flag() {
        for bad in [
            "https://details:9080",
            "details:9080",
            "http://details:9080/x",
            "::",
        ] {
            let e = Upstream::parse("--reviews-url", bad)
                .expect_err(bad)
                .to_string();
            assert!(e.starts_with("--reviews-url: "), "{e}");
        }
    }
}
