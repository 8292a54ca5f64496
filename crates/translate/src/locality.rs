//! Locality load balancing (`localityLbSetting` of a DestinationRule, else of the mesh), as
//! Istio applies it to a load assignment for one client locality:
//!
//! - `distribute`: the first rule whose `from` matches the client sets each destination
//!   locality's `load_balancing_weight` (a wildcard `to` shares its weight among the
//!   localities it matches, in proportion to their own weights); localities no `to` matches
//!   are dropped.
//! - failover (the default once enabled): EDS priorities by closeness to the client: 0 same
//!   region/zone/sub-zone, 1 same zone, 2 same region, 3 a region named by a `failover`
//!   rule `from` the client's region, 4 the rest; then renumbered without gaps. It needs
//!   outlier detection, without which the proxy would never leave priority 0, so Istio (and
//!   weft) only applies it when the cluster has `outlierDetection`.
//!
//! - `failoverPriority` (instead of locality failover, also only with outlier detection): an
//!   endpoint's priority is how many of the listed labels, counted from the first, fail to
//!   match the proxy's: `key` compares the endpoint's value with the proxy's, `key=value`
//!   with `value`; `topology.kubernetes.io/region`, `topology.kubernetes.io/zone` and
//!   `topology.istio.io/subzone` are read from the localities, `topology.istio.io/network`
//!   from the endpoint's network and the proxy's label. Priorities are then renumbered
//!   without gaps.

use std::collections::{BTreeMap, BTreeSet};

use weft_config::model::networking::traffic_policy::{LocalityDistribute, LocalityLbSetting};
use weft_xds::pb::envoy::config::core::v3::Locality;
use weft_xds::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;

use weft_registry::Endpoint;

use crate::pbutil::u32v;
use crate::view::ProxyView;

/// `region/zone/sub-zone` (missing parts empty) as an Envoy locality.
pub fn parse(l: &str) -> Locality {
    let mut parts = l.splitn(3, '/');
    Locality {
        region: parts.next().unwrap_or_default().into(),
        zone: parts.next().unwrap_or_default().into(),
        sub_zone: parts.next().unwrap_or_default().into(),
    }
}

/// The setting in force: the rule's, else the mesh's; `enabled: false` turns it off. Istio's
/// mesh default is `{enabled: true}`: failover by locality.
pub fn effective(
    rule: Option<&LocalityLbSetting>,
    mesh: Option<&serde_json::Value>,
) -> Option<LocalityLbSetting> {
    let setting = match rule {
        Some(r) => r.clone(),
        None => mesh
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
    };
    (setting.enabled != Some(false)).then_some(setting)
}

/// Whether a locality matches a rule's `region/zone/sub-zone`, where `*` and missing zone or
/// sub-zone match anything.
fn matches(l: &Locality, rule: &str) -> bool {
    let r = parse(rule);
    let part = |rule: &str, actual: &str, optional: bool| {
        rule == "*" || (optional && rule.is_empty()) || rule == actual
    };
    part(&r.region, &l.region, false)
        && part(&r.zone, &l.zone, true)
        && part(&r.sub_zone, &l.sub_zone, true)
}

/// Applies `setting` for a client in `client` to `la`. Returns whether locality weights were
/// set (the cluster then needs `locality_weighted_lb_config`).
pub fn apply(
    setting: &LocalityLbSetting,
    client: &Locality,
    outlier_detection: bool,
    la: &mut ClusterLoadAssignment,
) -> bool {
    if la.endpoints.is_empty() {
        return false;
    }
    if !setting.distribute.is_empty() {
        if let Some(rule) = setting
            .distribute
            .iter()
            .find(|d| d.from.as_deref().is_some_and(|f| matches(client, f)))
        {
            distribute(rule, la);
            return true;
        }
        return false;
    }
    if outlier_detection && setting.failover_priority.is_empty() {
        failover(setting, client, la);
    }
    false
}

fn distribute(rule: &LocalityDistribute, la: &mut ClusterLoadAssignment) {
    let mut unmatched: BTreeSet<usize> = (0..la.endpoints.len()).collect();
    let mut weights: BTreeMap<usize, u32> = BTreeMap::new();
    for (to, share) in &rule.to {
        let group: Vec<(usize, u32)> = unmatched
            .iter()
            .copied()
            .filter(|i| matches(&locality_of(la, *i), to))
            .map(|i| {
                let own = la.endpoints[i]
                    .load_balancing_weight
                    .as_ref()
                    .map_or(1, |w| w.value);
                (i, own)
            })
            .collect();
        let total: u64 = group.iter().map(|(_, w)| u64::from(*w)).sum();
        for (i, own) in group {
            unmatched.remove(&i);
            let weight = (u64::from(own) * u64::from(*share)).div_ceil(total.max(1));
            if weight > 0 {
                weights.insert(i, u32::try_from(weight).unwrap_or(u32::MAX));
            }
        }
    }
    for (i, w) in &weights {
        la.endpoints[*i].load_balancing_weight = Some(u32v(*w));
    }
    let mut index = 0;
    la.endpoints.retain(|_| {
        index += 1;
        !unmatched.contains(&(index - 1))
    });
}

/// The `failoverPriority` priority of `ep` for the proxy of `view`: the number of labels left
/// once the first one that does not match is met.
pub fn label_priority(keys: &[String], view: &ProxyView, ep: &Endpoint) -> u32 {
    let client = view.locality.as_deref().map(parse).unwrap_or_default();
    let endpoint = ep.locality.as_deref().map(parse).unwrap_or_default();
    let matched = keys
        .iter()
        .take_while(|key| {
            let (key, wanted) = match key.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (key.as_str(), None),
            };
            let wanted = wanted.or_else(|| topology_value(key, &client, None, &view.labels));
            let actual = topology_value(key, &endpoint, ep.network.as_deref(), &ep.labels);
            wanted.is_some() && wanted == actual
        })
        .count();
    u32::try_from(keys.len() - matched).unwrap_or(u32::MAX)
}

fn topology_value(
    key: &str,
    locality: &Locality,
    network: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    let value = match key {
        "topology.kubernetes.io/region" => Some(locality.region.clone()),
        "topology.kubernetes.io/zone" => Some(locality.zone.clone()),
        "topology.istio.io/subzone" => Some(locality.sub_zone.clone()),
        "topology.istio.io/network" => network
            .map(str::to_string)
            .or_else(|| labels.get(key).cloned()),
        _ => labels.get(key).cloned(),
    };
    value.filter(|v| !v.is_empty())
}

fn locality_of(la: &ClusterLoadAssignment, i: usize) -> Locality {
    la.endpoints[i].locality.clone().unwrap_or_default()
}

fn failover(setting: &LocalityLbSetting, client: &Locality, la: &mut ClusterLoadAssignment) {
    let raw: Vec<u32> = (0..la.endpoints.len())
        .map(|i| closeness(setting, client, &locality_of(la, i)))
        .collect();
    let used: BTreeSet<u32> = raw.iter().copied().collect();
    let rank: BTreeMap<u32, u32> = used.into_iter().zip(0..).collect();
    for (group, p) in la.endpoints.iter_mut().zip(raw) {
        group.priority = rank[&p];
    }
}

fn closeness(setting: &LocalityLbSetting, client: &Locality, ep: &Locality) -> u32 {
    if ep.region == client.region {
        return match (ep.zone == client.zone, ep.sub_zone == client.sub_zone) {
            (true, true) => 0,
            (true, false) => 1,
            (false, _) => 2,
        };
    }
    let named = setting.failover.iter().any(|f| {
        f.from.as_deref() == Some(client.region.as_str())
            && f.to.as_deref() == Some(ep.region.as_str())
    });
    if named { 3 } else { 4 }
}

#[cfg(test)]
mod tests;
