//! CONNECT termination (a route's CONNECT `upgrade_configs` entry with `connect_config`): the
//! proxy opens a TCP connection to a host of the route's cluster, answers 200 and tunnels the
//! bytes both ways, as Envoy does when it terminates CONNECT. Forwarding CONNECT upstream as a
//! request is not supported (the config is rejected), so a CONNECT the route does not
//! terminate gets 403.

use std::sync::Arc;

use http::{Request, Response};
use hyper_util::rt::TokioIo;
use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::runtime::route::Forward;
use weft_proxy_config::runtime::upgrade::connect_terminated;

use super::forward::{choose_cluster, fail};
use super::request_body::DownstreamBody;
use super::{Ctx, Outcome, ProxyBody};
use crate::state::Live;

pub async fn terminate(
    ctx: &Ctx,
    live: &Arc<Live>,
    f: &Forward,
    mut req: Request<DownstreamBody>,
    rec: &mut LogRecord,
) -> (Response<ProxyBody>, Outcome) {
    if !connect_terminated(&ctx.hcm.upgrades, &f.upgrades) {
        return fail(403, "", "-", "upgrade_failed");
    }
    let (cluster_name, _) = choose_cluster(&f.clusters);
    rec.upstream_cluster = cluster_name.to_string();
    let upstream = match crate::tcp::connect(live, cluster_name, rec).await {
        Ok(u) => u,
        Err(flag) => {
            if flag == "NC" {
                ctx.stats.no_cluster.inc();
            }
            return fail(503, "", flag, "upstream_connect_failed");
        }
    };
    rec.upstream_local = upstream.stream.local_addr().ok();
    let downstream = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match downstream.await {
            Ok(d) => crate::pipe::tunnel(TokioIo::new(d), upstream.stream, "CONNECT tunnel").await,
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade did not complete"),
        }
    });
    let mut resp = Response::new(ProxyBody::full(""));
    *resp.status_mut() = http::StatusCode::OK;
    (
        resp,
        Outcome {
            flags: "-",
            details: "via_upstream".into(),
        },
    )
}
