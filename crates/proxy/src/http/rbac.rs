//! The RBAC HTTP filter on the request path: picks the filter's rules or the route's
//! `RBACPerRoute` override, evaluates them (`weft_proxy_config::runtime::rbac`), counts
//! `http.<prefix>.rbac.*` and answers a denial with Envoy's 403 `RBAC: access denied`.
//! The decision itself lives in proxy-config; this module only gathers its input.

use std::net::IpAddr;
use std::sync::Arc;

use http::Request;
use weft_proxy_config::runtime::matcher::PseudoHeaders;
use weft_proxy_config::runtime::rbac::{Check, Input, PeerCert, Rbac, RequestInput};
use weft_proxy_config::runtime::route::Route;

use super::forwarded::X_FORWARDED_FOR;
use super::request_body::DownstreamBody;
use super::{Ctx, Outcome, reply};
use crate::ConnMeta;
use crate::stats::RbacStats;

pub const DENIED_BODY: &str = "RBAC: access denied";

type LocalReply = (http::Response<super::ProxyBody>, Outcome);

/// Runs one RBAC filter named `filter_name`; `Some` is the 403 of a denial.
pub(super) fn run(
    ctx: &Ctx,
    filter_name: &str,
    configured: &Arc<Rbac>,
    route: &Route,
    req: &Request<DownstreamBody>,
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Option<LocalReply> {
    let rbac = match route.filters.rbac(filter_name) {
        Some(None) => return None,
        Some(Some(r)) => r,
        None => configured,
    };
    let authority = super::authority(req);
    let full_path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let request = RequestInput {
        headers: req.headers(),
        pseudo: PseudoHeaders {
            method: req.method().as_str(),
            authority: &authority,
            path: full_path,
            scheme: "http",
        },
        path: req.uri().path(),
    };
    let remote_ip = remote_ip(ctx, req.headers());
    let check = rbac.check(&input(&ctx.meta, remote_ip, Some(request), Some(metadata)));
    if let Some(stats) = &ctx.rbac_stats {
        count(stats, &check);
    }
    match check.enforced {
        Some(v) if !v.allowed => {
            tracing::debug!(filter = filter_name, details = %v.details(), "RBAC denied a request");
            let outcome = Outcome {
                flags: "-",
                details: v.details().into(),
            };
            Some((reply::local(403, DENIED_BODY), outcome))
        }
        _ => None,
    }
}

/// The evaluation input of a connection (and its request, for the HTTP filter).
pub(crate) fn input<'a>(
    meta: &'a ConnMeta,
    remote_ip: IpAddr,
    request: Option<RequestInput<'a>>,
    metadata: Option<&'a serde_json::Map<String, serde_json::Value>>,
) -> Input<'a> {
    let peer_cert = meta
        .tls
        .as_deref()
        .filter(|t| !t.uri_sans.is_empty() || !t.dns_sans.is_empty())
        .map(|t| PeerCert {
            uri_sans: &t.uri_sans,
            dns_sans: &t.dns_sans,
        });
    Input {
        peer: meta.peer,
        remote_ip,
        local: meta.local,
        server_name: &meta.server_name,
        peer_cert,
        request,
        metadata,
    }
}

pub(crate) fn count(stats: &RbacStats, check: &Check) {
    if let Some(v) = &check.enforced {
        if v.allowed {
            stats.allowed.inc();
        } else {
            stats.denied.inc();
        }
    }
    if let Some(v) = &check.shadow {
        if v.allowed {
            stats.shadow_allowed.inc();
        } else {
            stats.shadow_denied.inc();
        }
    }
}

/// RBAC's `remote_ip`: without trusted hops the connection's peer, so a client cannot forge
/// it. With `xff_num_trusted_hops` N, Envoy's rule on the received `x-forwarded-for`: the N-th
/// entry from the right with `use_remote_address`, else the (N+1)-th (the entry this proxy
/// appended, if any, is skipped first).
fn remote_ip(ctx: &Ctx, headers: &http::HeaderMap) -> IpAddr {
    let peer = ctx.meta.peer.ip();
    let hops = ctx.hcm.xff_num_trusted_hops as usize;
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let appended = usize::from(ctx.hcm.use_remote_address && !ctx.hcm.skip_xff_append);
    let from_right = if ctx.hcm.use_remote_address {
        hops - 1 + appended
    } else {
        hops
    };
    entries
        .len()
        .checked_sub(from_right + 1)
        .and_then(|i| entries[i].parse().ok())
        .unwrap_or(peer)
}
