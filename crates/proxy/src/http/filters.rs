//! The HTTP filters before the router: fault injection (delay, abort) and CORS, run in the
//! order the connection manager lists them, with route / virtual-host overrides by filter
//! name. Also `require_tls` of the virtual host.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use http::{Request, Response};
use weft_proxy_config::model::route::TlsRequirement;
use weft_proxy_config::runtime::Hcm;
use weft_proxy_config::runtime::cors::CorsDecision;
use weft_proxy_config::runtime::fault::Abort;
use weft_proxy_config::runtime::listener::HttpFilterKind;
use weft_proxy_config::runtime::route::{Route, VirtualHost};

use super::request_body::DownstreamBody;
use super::{Ctx, Outcome, ProxyBody, reply};

pub const FAULT_ABORT_BODY: &str = "fault filter abort";

/// What the filters left for the rest of the request.
#[derive(Debug, Default)]
pub struct Filtered {
    /// CORS headers for the response of a matching actual request.
    pub cors: Option<HeaderMap>,
    /// A fault delay was injected (response flag DI).
    pub delayed: bool,
    /// Dynamic metadata by filter namespace, as Envoy's: `jwt_authn` writes the verified
    /// payloads (`envoy.filters.http.jwt_authn`) and Istio's request identity (`istio_authn`:
    /// `request.auth.principal`, `request.auth.audiences`, `request.auth.presenter`,
    /// `request.auth.claims`); RBAC reads them.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    _fault: Option<ActiveFault>,
}

/// Counts one request in the connection manager's active faults while it lives.
#[derive(Debug)]
struct ActiveFault(Arc<Hcm>);

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.0.active_faults.fetch_sub(1, Ordering::Relaxed);
    }
}

type LocalReply = (Response<ProxyBody>, Outcome);

/// Runs the filters; `Err` is a local reply (fault abort, CORS preflight).
pub async fn run(
    ctx: &Ctx,
    route: &Route,
    req: &mut Request<DownstreamBody>,
) -> Result<Filtered, LocalReply> {
    let mut out = Filtered::default();
    for f in &ctx.hcm.http_filters {
        match &f.kind {
            HttpFilterKind::Fault(default) => {
                let cfg = route.filters.fault(&f.name).unwrap_or(default);
                let d = cfg.decide(req.headers(), &mut |n| fastrand::u32(0..n.max(1)));
                if !d.is_fault() || out._fault.is_some() {
                    continue;
                }
                let active = ctx.hcm.active_faults.fetch_add(1, Ordering::Relaxed);
                let guard = ActiveFault(ctx.hcm.clone());
                if cfg
                    .max_active_faults
                    .is_some_and(|max| active >= u64::from(max))
                {
                    continue;
                }
                out._fault = Some(guard);
                if let Some(delay) = d.delay {
                    tokio::time::sleep(delay).await;
                    out.delayed = true;
                }
                if let Some(abort) = d.abort {
                    return Err(abort_reply(abort));
                }
            }
            HttpFilterKind::JwtAuthn(authn) => {
                super::jwt::run(ctx, authn, req, &mut out.metadata).await?;
            }
            HttpFilterKind::Rbac(rbac) => {
                if let Some(denied) =
                    super::rbac::run(ctx, &f.name, rbac, route, req, &out.metadata)
                {
                    return Err(denied);
                }
            }
            HttpFilterKind::Cors => {
                let Some(policy) = route.filters.cors(&f.name) else {
                    continue;
                };
                match policy.decide(req.method(), req.headers()) {
                    CorsDecision::Pass => {}
                    CorsDecision::Decorate(h) => out.cors = Some(h),
                    CorsDecision::Preflight(h) => {
                        let mut resp = reply::local(200, "");
                        resp.headers_mut().extend(h);
                        let outcome = Outcome {
                            flags: "-",
                            details: "cors_response".into(),
                        };
                        return Err((resp, outcome));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn abort_reply(abort: Abort) -> LocalReply {
    let outcome = Outcome {
        flags: "FI",
        details: "fault_filter_abort".into(),
    };
    match abort {
        Abort::Http(status) => (reply::local(status.as_u16(), FAULT_ABORT_BODY), outcome),
        Abort::Grpc(code) => {
            // A trailers-only gRPC response: status and message in the headers, no body.
            let mut resp = reply::local(200, "");
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
                h.insert("grpc-status", v);
            }
            h.insert("grpc-message", HeaderValue::from_static(FAULT_ABORT_BODY));
            (resp, outcome)
        }
    }
}

/// Envoy's default notion of an internal peer: loopback and private addresses.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    }
}

/// `require_tls`: a request that must use TLS and came in plaintext is redirected (301) to
/// its `https://` URL.
pub fn require_tls(ctx: &Ctx, vh: &VirtualHost, authority: &str, path: &str) -> Option<LocalReply> {
    let redirect = match vh.require_tls {
        TlsRequirement::None => false,
        TlsRequirement::All => true,
        TlsRequirement::ExternalOnly => !is_internal(ctx.meta.peer.ip()),
    };
    if !redirect || ctx.meta.tls.is_some() {
        return None;
    }
    let mut resp = reply::local(301, "");
    if let Ok(v) = HeaderValue::from_str(&format!("https://{authority}{path}")) {
        resp.headers_mut().insert(LOCATION, v);
    }
    Some((
        resp,
        Outcome {
            flags: "-",
            details: "direct_response".into(),
        },
    ))
}

/// The connection manager's path normalization, before routing and authorization: the
/// request's path is rewritten in place (and in the log record), or the local reply is
/// returned (400 for a path that cannot be normalized, 307 for `UNESCAPE_AND_REDIRECT`).
pub fn normalize_path(
    ctx: &Ctx,
    req: &mut Request<DownstreamBody>,
    path: &mut String,
) -> Option<LocalReply> {
    use weft_proxy_config::runtime::path_normalize::PathVerdict;
    if req.method() == http::Method::CONNECT {
        return None;
    }
    let new_path = match ctx.hcm.path_normalization.apply(path) {
        PathVerdict::Unchanged => return None,
        PathVerdict::Rewritten(p) => p,
        PathVerdict::Reject => return Some(path_failure()),
        PathVerdict::Redirect(p) => {
            let mut resp = reply::local(307, "");
            if let Ok(v) = HeaderValue::from_str(&p) {
                resp.headers_mut().insert(LOCATION, v);
            }
            let outcome = Outcome {
                flags: "-",
                details: "path_normalization_redirect".into(),
            };
            return Some((resp, outcome));
        }
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = match new_path.parse() {
        Ok(p) => Some(p),
        Err(_) => return Some(path_failure()),
    };
    match http::Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return Some(path_failure()),
    }
    *path = new_path;
    None
}

fn path_failure() -> LocalReply {
    (
        reply::local(400, "Bad Request"),
        Outcome {
            flags: "-",
            details: "path_normalization_failed".into(),
        },
    )
}
