//! Incremental (delta) xDS on one `DeltaAggregatedResources` stream.
//!
//! A new stream subscribes CDS, EDS (when there are names), LDS, RDS in that order: CDS and
//! LDS as wildcards (an empty first `resource_names_subscribe`), EDS and RDS by name, each with
//! `initial_resource_versions` listing what is already accepted so the server can send only
//! what changed. Later EDS/RDS requests carry only the names to subscribe and unsubscribe;
//! unsubscribed resources are forgotten at once. A response upserts its resources (each with
//! its own version) and drops its `removed_resources`; rejected resources keep their previous
//! version. Each response is answered with its nonce, and on rejection an `error_detail`.

use super::session::status_text;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use weft_xds::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use weft_xds::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use weft_xds::pb::google::protobuf::Any;
use weft_xds::pb::google::rpc::Status;

use super::resources::Kind;
use super::session::{Client, INVALID_ARGUMENT};

/// Per-stream state: the request sender and whether the node went out yet.
#[derive(Debug)]
struct DeltaStream {
    tx: mpsc::Sender<DeltaDiscoveryRequest>,
    node_sent: bool,
}

impl DeltaStream {
    async fn send(
        &mut self,
        client: &Client,
        mut req: DeltaDiscoveryRequest,
    ) -> Result<(), String> {
        if !self.node_sent {
            req.node = Some(client.node.clone());
            self.node_sent = true;
        }
        self.tx
            .send(req)
            .await
            .map_err(|_| "the request stream closed".to_string())
    }
}

/// Names in `next` and not in `prev`.
fn added(prev: &[String], next: &[String]) -> Vec<String> {
    let prev: BTreeSet<&String> = prev.iter().collect();
    next.iter().filter(|n| !prev.contains(n)).cloned().collect()
}

impl Client {
    pub(super) async fn delta_stream(
        &mut self,
        channel: Channel,
        addr: SocketAddr,
        got: &mut bool,
    ) -> Result<(), String> {
        let (tx, rx) = mpsc::channel(32);
        let mut st = DeltaStream {
            tx,
            node_sent: false,
        };
        for kind in Kind::ALL {
            if kind.is_wildcard() || !self.names(kind).is_empty() {
                let req = self.initial_request(kind);
                st.send(self, req).await?;
            }
        }
        let mut client = AggregatedDiscoveryServiceClient::new(channel);
        let mut responses = client
            .delta_aggregated_resources(ReceiverStream::new(rx))
            .await
            .map_err(status_text)?
            .into_inner();
        self.opened(addr);
        while let Some(resp) = responses.message().await.map_err(status_text)? {
            *got = true;
            self.on_delta_response(&mut st, resp).await?;
        }
        Ok(())
    }

    /// The first request of a type on a stream: its names (none for a wildcard) and the
    /// versions of what is already accepted.
    fn initial_request(&self, kind: Kind) -> DeltaDiscoveryRequest {
        DeltaDiscoveryRequest {
            type_url: kind.type_url().to_string(),
            resource_names_subscribe: self.names(kind).to_vec(),
            initial_resource_versions: self.res.known(kind).into_iter().collect(),
            ..Default::default()
        }
    }

    async fn on_delta_response(
        &mut self,
        st: &mut DeltaStream,
        resp: DeltaDiscoveryResponse,
    ) -> Result<(), String> {
        let Some(kind) = Kind::from_type_url(&resp.type_url) else {
            tracing::warn!(type_url = %resp.type_url, "ADS: ignoring a delta response of a type weft did not ask for");
            return Ok(());
        };
        let (anys, versions, mut errors) = unwrap_resources(kind, &resp);
        errors.extend(self.res.apply_delta(
            kind,
            &anys,
            &versions,
            &resp.removed_resources,
            &resp.system_version_info,
        ));
        let (eds_before, rds_before, sds_before) =
            (self.eds.clone(), self.rds.clone(), self.sds.clone());
        self.update_subscriptions();
        self.publish(kind, &mut errors);
        let carried: Vec<String> = resp.resources.iter().map(|r| r.name.clone()).collect();
        let error = self.settle(
            kind,
            &resp.system_version_info,
            &resp.nonce,
            errors,
            &carried,
            &resp.removed_resources,
        );
        let (eds_after, rds_after, sds_after) =
            (self.eds.clone(), self.rds.clone(), self.sds.clone());
        self.resubscribe(st, Kind::Endpoint, &eds_before, &eds_after)
            .await?;
        self.resubscribe(st, Kind::Route, &rds_before, &rds_after)
            .await?;
        self.resubscribe(st, Kind::Secret, &sds_before, &sds_after)
            .await?;
        let ack = DeltaDiscoveryRequest {
            type_url: kind.type_url().to_string(),
            response_nonce: resp.nonce.clone(),
            error_detail: error.map(|message| Status {
                code: INVALID_ARGUMENT,
                message,
                details: Vec::new(),
            }),
            ..Default::default()
        };
        st.send(self, ack).await
    }

    /// Tells the server which EDS/RDS names were added and dropped, if any.
    async fn resubscribe(
        &self,
        st: &mut DeltaStream,
        kind: Kind,
        before: &[String],
        after: &[String],
    ) -> Result<(), String> {
        let subscribe = added(before, after);
        let unsubscribe = added(after, before);
        if subscribe.is_empty() && unsubscribe.is_empty() {
            return Ok(());
        }
        tracing::debug!(
            type_url = kind.type_url(),
            ?subscribe,
            ?unsubscribe,
            "ADS: delta subscription change"
        );
        let req = DeltaDiscoveryRequest {
            type_url: kind.type_url().to_string(),
            resource_names_subscribe: subscribe,
            resource_names_unsubscribe: unsubscribe,
            ..Default::default()
        };
        st.send(self, req).await
    }
}

/// The `Any`s of a delta response with their versions by name; a `Resource` without a body
/// is rejected (a removal goes in `removed_resources`).
fn unwrap_resources(
    kind: Kind,
    resp: &DeltaDiscoveryResponse,
) -> (Vec<Any>, BTreeMap<String, String>, Vec<String>) {
    let mut anys = Vec::new();
    let mut versions = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, r) in resp.resources.iter().enumerate() {
        match &r.resource {
            Some(any) => {
                anys.push(any.clone());
                versions.insert(r.name.clone(), r.version.clone());
            }
            None => errors.push(format!(
                "{} {}: resources[{i}].resource: is required",
                kind.label(),
                r.name
            )),
        }
    }
    (anys, versions, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_is_the_set_difference_in_order() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(added(&s(&["a", "b"]), &s(&["b", "c", "d"])), s(&["c", "d"]));
        assert_eq!(added(&s(&["b", "c"]), &s(&["b"])), Vec::<String>::new());
    }
}
