//! HTTP/1.1 protocol upgrades (`Upgrade: websocket` …) through the connection manager: an
//! upgrade the manager's and route's `upgrade_configs` allow keeps its `connection` and
//! `upgrade` headers upstream (HTTP/1.1 upstreams only); on a 101 answer both connections are
//! handed over by hyper and spliced byte for byte until either side closes.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use weft_proxy_config::runtime::UpstreamProtocol;
use weft_proxy_config::runtime::route::Forward;
use weft_proxy_config::runtime::upgrade::upgrade_allowed;

use super::Ctx;
use super::request_body::DownstreamBody;

/// A downstream request that asked for an allowed upgrade.
#[derive(Debug)]
pub struct Requested {
    /// The `upgrade` header as the client sent it.
    token: HeaderValue,
    downstream: OnUpgrade,
}

/// The upgrade the request asks for (HTTP/1.1 with `connection: upgrade` and `upgrade`).
fn asked(req: &Request<DownstreamBody>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 {
        return None;
    }
    let wants = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    wants.then(|| req.headers().get(header::UPGRADE).cloned())?
}

/// Takes the downstream connection's upgrade handle when the request's upgrade is allowed;
/// otherwise the request goes on with its upgrade headers stripped.
pub fn prepare(
    ctx: &Ctx,
    f: &Forward,
    protocol: UpstreamProtocol,
    req: &mut Request<DownstreamBody>,
) -> Option<Requested> {
    let token = asked(req)?;
    let name = token.to_str().ok()?;
    if protocol != UpstreamProtocol::Http1 || !upgrade_allowed(&ctx.hcm.upgrades, &f.upgrades, name)
    {
        return None;
    }
    Some(Requested {
        token,
        downstream: hyper::upgrade::on(req),
    })
}

impl Requested {
    /// Puts the upgrade back on the upstream request after hop-by-hop headers were removed.
    pub fn restore(&self, h: &mut HeaderMap) {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, self.token.clone());
    }

    /// On a 101 answer, splices the two connections (holding `hold`, the request's counters,
    /// until the splice ends) and returns the headers to restore on the downstream response;
    /// `None` when the upstream did not switch protocols.
    pub fn on_response<H: Send + 'static>(
        self,
        resp: &mut Response<hyper::body::Incoming>,
        hold: H,
    ) -> Result<HeaderValue, H> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(hold);
        }
        let token = resp
            .headers()
            .get(header::UPGRADE)
            .cloned()
            .unwrap_or(self.token);
        let upstream = hyper::upgrade::on(resp);
        tokio::spawn(splice(self.downstream, upstream, hold));
        Ok(token)
    }
}

/// Who holds `hold` (the request's counters): the splice after a 101 (the restored `upgrade`
/// header is returned), else the caller (returned back).
pub fn switch<H: Send + 'static>(
    upgrade: Option<Requested>,
    resp: &mut Response<hyper::body::Incoming>,
    hold: H,
) -> (Option<HeaderValue>, Option<H>) {
    let Some(u) = upgrade else {
        return (None, Some(hold));
    };
    match u.on_response(resp, hold) {
        Ok(token) => (Some(token), None),
        Err(hold) => (None, Some(hold)),
    }
}

async fn splice<H>(downstream: OnUpgrade, upstream: OnUpgrade, hold: H) {
    let (d, u) = tokio::join!(downstream, upstream);
    match (d, u) {
        (Ok(d), Ok(u)) => {
            crate::pipe::tunnel(TokioIo::new(d), TokioIo::new(u), "upgraded connection").await;
        }
        (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "upgrade did not complete"),
    }
    drop(hold);
}

/// The downstream 101's upgrade headers.
pub fn restore_response(h: &mut HeaderMap, token: HeaderValue) {
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, token);
}
