//! Envoy's RBAC filter (`envoy.filters.http.rbac`, `envoy.filters.network.rbac`): policies of
//! permissions and principals, compiled once (`compile`), evaluated per request or connection
//! by a pure function over a small input (`eval`).
//!
//! Owns the decision only; counting stats, answering 403 and closing connections belong to the
//! proxy's request path.

mod compile;
mod eval;

use std::net::IpAddr;

use ipnet::IpNet;

use super::matcher::{HeaderMatcher, StringMatcher};
pub use crate::model::rbac::Action;

pub use compile::{compile_http, compile_network, compile_per_route};
pub use eval::{Input, PeerCert, RequestInput};

/// A compiled RBAC filter (HTTP or network).
#[derive(Debug)]
pub struct Rbac {
    /// Enforced rules; `None` enforces nothing.
    pub rules: Option<Engine>,
    /// Evaluated for the `shadow_allowed` / `shadow_denied` stats only.
    pub shadow: Option<Engine>,
    pub rules_stat_prefix: String,
    pub shadow_rules_stat_prefix: String,
    /// The network filter's `stat_prefix` (stats `<stat_prefix>rbac.allowed`); empty for HTTP.
    pub stat_prefix: String,
}

/// One rule set: an action and its policies in name order.
#[derive(Debug)]
pub struct Engine {
    pub action: Action,
    pub policies: Vec<(String, Policy)>,
}

#[derive(Debug)]
pub struct Policy {
    pub permissions: Vec<Permission>,
    pub principals: Vec<Principal>,
}

#[derive(Debug)]
pub enum Permission {
    Any,
    And(Vec<Permission>),
    Or(Vec<Permission>),
    Not(Box<Permission>),
    Header(HeaderMatcher),
    UrlPath(StringMatcher),
    DestinationIp(IpNet),
    DestinationPort(u32),
    /// `[start, end)`.
    DestinationPortRange(i32, i32),
    Metadata(MetadataMatch),
    RequestedServerName(StringMatcher),
}

#[derive(Debug)]
pub enum Principal {
    Any,
    And(Vec<Principal>),
    Or(Vec<Principal>),
    Not(Box<Principal>),
    /// A peer certificate; with a matcher, one of its URI SANs, then DNS SANs, must match.
    Authenticated(Option<StringMatcher>),
    DirectRemoteIp(IpNet),
    RemoteIp(IpNet),
    SourceIp(IpNet),
    Header(HeaderMatcher),
    UrlPath(StringMatcher),
    Metadata(MetadataMatch),
}

/// The dynamic-metadata value at `path` under filter namespace `filter`.
#[derive(Debug)]
pub struct MetadataMatch {
    pub filter: String,
    pub path: Vec<String>,
    pub value: ValueMatch,
    pub invert: bool,
}

#[derive(Debug)]
pub enum ValueMatch {
    Null,
    DoubleRange(f64, f64),
    DoubleExact(f64),
    Str(StringMatcher),
    Bool(bool),
    Present(bool),
    /// Some element of a list value matches.
    ListOneOf(Box<ValueMatch>),
}

/// What one engine decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The policy that matched, if any (for DENY: the one that denied).
    pub policy: Option<String>,
}

impl Verdict {
    /// Envoy's `response_code_details` / `connection_termination_details` of a denial.
    pub fn details(&self) -> String {
        format!(
            "rbac_access_denied_matched_policy[{}]",
            self.policy.as_deref().unwrap_or("none")
        )
    }
}

/// What the filter decided about one request or connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `None` when the filter has no enforced rules.
    pub enforced: Option<Verdict>,
    /// `None` when the filter has no shadow rules.
    pub shadow: Option<Verdict>,
}

impl Check {
    pub fn denied(&self) -> bool {
        self.enforced.as_ref().is_some_and(|v| !v.allowed)
    }
}

impl Rbac {
    pub fn check(&self, input: &Input<'_>) -> Check {
        Check {
            enforced: self.rules.as_ref().map(|e| e.evaluate(input)),
            shadow: self.shadow.as_ref().map(|e| e.evaluate(input)),
        }
    }
}

/// An IPv4-mapped IPv6 address also matches IPv4 ranges (dual-stack listeners).
fn in_net(net: &IpNet, ip: IpAddr) -> bool {
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4))
}

#[cfg(test)]
mod tests;
