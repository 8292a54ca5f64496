//! CDS: outbound clusters per service port and subset, inbound clusters per served port, and
//! Istio's PassthroughCluster, BlackHoleCluster and InboundPassthroughCluster.

use std::collections::BTreeMap;
use std::net::IpAddr;

use weft_registry::{Endpoint, Resolution, Service, ServicePort};
use weft_xds::pb::envoy::config::cluster::v3::Cluster;
use weft_xds::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, DnsLookupFamily, EdsClusterConfig, LbPolicy,
    common_lb_config::{LocalityConfigSpecifier, LocalityWeightedLbConfig},
};
use weft_xds::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use weft_xds::pb::envoy::config::core::v3::{BindConfig, Http2ProtocolOptions, SocketAddress};
use weft_xds::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use weft_xds::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use weft_xds::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::{
    ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
};

use crate::context::{Context, labels_subset};
use crate::endpoint::{AssignmentOptions, load_assignment};
use crate::pbutil::{ads, any, duration_of};
use crate::policy::EffectivePolicy;
use crate::security::client_tls;
use crate::view::ProxyView;
use crate::{locality, names};

/// The source of InboundPassthroughCluster's connections (Istio's `127.0.0.6`).
const INBOUND_PASSTHROUGH_SOURCE: &str = "127.0.0.6";

fn base(ctx: &Context, name: String, kind: DiscoveryType) -> Cluster {
    Cluster {
        name,
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(kind as i32)),
        connect_timeout: Some(duration_of(&ctx.mesh.connect_timeout())),
        ..Default::default()
    }
}

/// PassthroughCluster (original destination), BlackHoleCluster (no endpoints) and
/// InboundPassthroughCluster.
pub fn special_clusters(ctx: &Context) -> Vec<Cluster> {
    let mut passthrough = base(
        ctx,
        names::PASSTHROUGH_CLUSTER.into(),
        DiscoveryType::OriginalDst,
    );
    passthrough.lb_policy = LbPolicy::ClusterProvided as i32;
    let blackhole = base(ctx, names::BLACKHOLE_CLUSTER.into(), DiscoveryType::Static);
    let mut inbound = base(
        ctx,
        names::INBOUND_PASSTHROUGH_CLUSTER.into(),
        DiscoveryType::OriginalDst,
    );
    inbound.lb_policy = LbPolicy::ClusterProvided as i32;
    inbound.upstream_bind_config = Some(inbound_passthrough_bind());
    vec![blackhole, inbound, passthrough]
}

/// Istio connects inbound passthrough traffic from 127.0.0.6: the capture rules let the
/// proxy's own traffic to that source through, so a connection to the pod's own IP is not
/// captured to 15006 again.
fn inbound_passthrough_bind() -> BindConfig {
    BindConfig {
        source_address: Some(SocketAddress {
            address: INBOUND_PASSTHROUGH_SOURCE.into(),
            port_specifier: Some(PortSpecifier::PortValue(0)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Clusters of one service for a proxy (its namespace, labels and locality count): one per
/// port, plus one per port and DestinationRule subset; EDS clusters come with their load
/// assignment.
pub fn outbound_clusters(
    ctx: &Context,
    service: &Service,
    view: &ProxyView,
    endpoints: &BTreeMap<u32, Vec<&Endpoint>>,
) -> Vec<(Cluster, Option<ClusterLoadAssignment>)> {
    let dr = ctx.destination_rule(&service.hostname, &view.namespace, &service.namespace);
    let mut out = Vec::new();
    for port in &service.ports {
        let base_policy = dr.and_then(|d| d.spec.traffic_policy.as_ref());
        let subsets = dr.map(|d| d.spec.subsets.as_slice()).unwrap_or_default();
        let mut variants = vec![(String::new(), None, BTreeMap::new())];
        for s in subsets {
            let name = s.name.clone().unwrap_or_default();
            variants.push((name, s.traffic_policy.as_ref(), s.labels.clone()));
        }
        for (subset, subset_policy, labels) in variants {
            let policy = EffectivePolicy::resolve(base_policy, subset_policy, port.port);
            let eps = subset_endpoints(endpoints.get(&port.port), &labels);
            let variant = Variant {
                service,
                port,
                subset: &subset,
                policy: &policy,
                endpoints: &eps,
            };
            out.push(outbound_variant(ctx, &variant, view));
        }
    }
    out
}

/// One cluster of a service: a port and a subset, with its effective policy and endpoints.
struct Variant<'a> {
    service: &'a Service,
    port: &'a ServicePort,
    subset: &'a str,
    policy: &'a EffectivePolicy,
    endpoints: &'a [&'a Endpoint],
}

fn outbound_variant(
    ctx: &Context,
    v: &Variant<'_>,
    view: &ProxyView,
) -> (Cluster, Option<ClusterLoadAssignment>) {
    let (service, port, policy) = (v.service, v.port, v.policy);
    let name = names::outbound_cluster(port.port, v.subset, &service.hostname);
    let mut cluster = outbound_cluster(ctx, service, name);
    policy.apply_to(&mut cluster);
    if service.resolution == Resolution::Passthrough {
        cluster.lb_policy = LbPolicy::ClusterProvided as i32;
    } else {
        client_tls::apply_cluster_tls(
            ctx,
            &mut cluster,
            service,
            (port.port, v.subset),
            policy.tls.as_ref(),
            v.endpoints,
        );
    }
    let mut eds = None;
    if service.resolution != Resolution::Passthrough {
        let la = assignment_for(ctx, v, view, &mut cluster);
        if service.resolution == Resolution::ClientSideLb {
            eds = Some(la);
        } else {
            cluster.load_assignment = Some(la);
        }
    }
    let common = policy.common_http_options();
    if port.protocol.is_http2() || common.is_some() {
        let mut options = if port.protocol.is_http2() {
            http2_options()
        } else {
            HttpProtocolOptions::default()
        };
        options.common_http_protocol_options = common;
        cluster.typed_extension_protocol_options.insert(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".into(),
            any(&options),
        );
    }
    (cluster, eds)
}

/// The endpoints of a variant's cluster with locality load balancing for `view`:
/// `failoverPriority` groups by endpoint labels (needs outlier detection, as failover does);
/// distribute and locality failover need the proxy's locality.
fn assignment_for(
    ctx: &Context,
    v: &Variant<'_>,
    view: &ProxyView,
    cluster: &mut Cluster,
) -> ClusterLoadAssignment {
    let rule = v
        .policy
        .load_balancer
        .as_ref()
        .and_then(|lb| lb.locality_lb_setting.as_ref());
    let setting = locality::effective(rule, ctx.mesh.locality_lb_setting.as_ref());
    let outlier = cluster.outlier_detection.is_some();
    let Some(setting) = setting else {
        return service_assignment(ctx, v.service, cluster, v.endpoints);
    };
    if outlier && setting.distribute.is_empty() && !setting.failover_priority.is_empty() {
        let priority =
            |ep: &Endpoint| locality::label_priority(&setting.failover_priority, view, ep);
        let mut groups: BTreeMap<u32, Vec<&Endpoint>> = BTreeMap::new();
        for ep in v.endpoints {
            groups.entry(priority(ep)).or_default().push(ep);
        }
        let mut la = service_assignment(ctx, v.service, cluster, &[]);
        for (rank, eps) in (0..).zip(groups.values()) {
            let part = service_assignment(ctx, v.service, cluster, eps);
            la.endpoints.extend(part.endpoints.into_iter().map(|mut g| {
                g.priority = rank;
                g
            }));
        }
        return la;
    }
    let mut la = service_assignment(ctx, v.service, cluster, v.endpoints);
    let Some(client) = view.locality.as_deref().map(locality::parse) else {
        return la;
    };
    if locality::apply(&setting, &client, outlier, &mut la) {
        let common = cluster
            .common_lb_config
            .get_or_insert_with(Default::default);
        common.locality_config_specifier = Some(LocalityConfigSpecifier::LocalityWeightedLbConfig(
            LocalityWeightedLbConfig {},
        ));
    }
    la
}

fn subset_endpoints<'a>(
    endpoints: Option<&Vec<&'a Endpoint>>,
    subset: &BTreeMap<String, String>,
) -> Vec<&'a Endpoint> {
    endpoints
        .map(|eps| {
            eps.iter()
                .copied()
                .filter(|e| labels_subset(subset, &e.labels))
                .collect()
        })
        .unwrap_or_default()
}

fn outbound_cluster(ctx: &Context, service: &Service, name: String) -> Cluster {
    match service.resolution {
        Resolution::ClientSideLb => {
            let mut c = base(ctx, name.clone(), DiscoveryType::Eds);
            c.eds_cluster_config = Some(EdsClusterConfig {
                eds_config: Some(ads()),
                service_name: name,
            });
            c
        }
        Resolution::Passthrough => base(ctx, name, DiscoveryType::OriginalDst),
        Resolution::Dns | Resolution::DnsRoundRobin => {
            let kind = if service.resolution == Resolution::Dns {
                DiscoveryType::StrictDns
            } else {
                DiscoveryType::LogicalDns
            };
            let mut c = base(ctx, name, kind);
            c.dns_lookup_family = DnsLookupFamily::V4Only as i32;
            c
        }
    }
}

/// The assignment of `cluster` of `service` (EDS or a DNS cluster's own): `endpoints` are
/// already filtered by subset; with auto mTLS each endpoint says whether it takes mesh mTLS.
fn service_assignment(
    ctx: &Context,
    service: &Service,
    cluster: &Cluster,
    endpoints: &[&Endpoint],
) -> ClusterLoadAssignment {
    let takes = |ep: &Endpoint| client_tls::endpoint_takes_istio_mtls(ctx, service, ep);
    let options = AssignmentOptions {
        takes_istio_mtls: (!cluster.transport_socket_matches.is_empty())
            .then_some(&takes as &dyn Fn(&Endpoint) -> bool),
    };
    load_assignment(&cluster.name, endpoints, &BTreeMap::new(), &options)
}

fn http2_options() -> HttpProtocolOptions {
    HttpProtocolOptions {
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                    Http2ProtocolOptions::default(),
                )),
            },
        )),
        ..Default::default()
    }
}

/// `inbound|PORT||`: the local application on `app_ip:PORT` (127.0.0.1 in a pod).
pub fn inbound_cluster(ctx: &Context, app_ip: IpAddr, port: u32, http2: bool) -> Cluster {
    let name = names::inbound_cluster(port);
    let mut c = base(ctx, name.clone(), DiscoveryType::Static);
    let local = Endpoint {
        address: app_ip.to_string(),
        service_port: port,
        port,
        labels: BTreeMap::new(),
        service_account: None,
        locality: None,
        network: None,
        weight: None,
        healthy: true,
    };
    c.load_assignment = Some(load_assignment(
        &name,
        &[&local],
        &BTreeMap::new(),
        &AssignmentOptions::default(),
    ));
    if http2 {
        c.typed_extension_protocol_options.insert(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".into(),
            any(&http2_options()),
        );
    }
    c
}
