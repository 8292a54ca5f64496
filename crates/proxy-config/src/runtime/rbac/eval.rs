//! Evaluation of compiled RBAC rules against what is known about a request or connection.
//! Request-only matchers (headers, paths) match nothing on a connection, as in Envoy's
//! network filter.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use serde_json::{Map, Value};

use super::in_net;
use super::{Action, Engine, MetadataMatch, Permission, Policy, Principal, ValueMatch, Verdict};
use crate::runtime::matcher::PseudoHeaders;

/// The peer certificate of a TLS connection terminated by the proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerCert<'a> {
    /// Full URI SANs (`spiffe://cluster.local/ns/default/sa/x`).
    pub uri_sans: &'a [String],
    pub dns_sans: &'a [String],
}

/// The HTTP request, for the HTTP filter.
#[derive(Debug, Clone, Copy)]
pub struct RequestInput<'a> {
    pub headers: &'a HeaderMap,
    pub pseudo: PseudoHeaders<'a>,
    /// `:path` without query string and fragment.
    pub path: &'a str,
}

/// Everything a permission or principal may look at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The connection's peer (`direct_remote_ip`, `source_ip`).
    pub peer: SocketAddr,
    /// The client address after trusted `x-forwarded-for` hops (`remote_ip`).
    pub remote_ip: IpAddr,
    /// The (original) destination.
    pub local: SocketAddr,
    /// SNI of the connection; empty without one.
    pub server_name: &'a str,
    /// `None` on plaintext or without a client certificate.
    pub peer_cert: Option<PeerCert<'a>>,
    pub request: Option<RequestInput<'a>>,
    /// Dynamic metadata by filter namespace (`istio_authn` ...).
    pub metadata: Option<&'a Map<String, Value>>,
}

impl Engine {
    /// ALLOW: allowed when a policy matches; DENY: denied when one does; LOG: always allowed.
    pub fn evaluate(&self, input: &Input<'_>) -> Verdict {
        let matched = self
            .policies
            .iter()
            .find(|(_, p)| p.matches(input))
            .map(|(name, _)| name.clone());
        let allowed = match self.action {
            Action::Allow => matched.is_some(),
            Action::Deny => matched.is_none(),
            Action::Log => true,
        };
        Verdict {
            allowed,
            policy: matched,
        }
    }
}

impl Policy {
    fn matches(&self, input: &Input<'_>) -> bool {
        self.permissions.iter().any(|p| p.matches(input))
            && self.principals.iter().any(|p| p.matches(input))
    }
}

impl Permission {
    pub fn matches(&self, input: &Input<'_>) -> bool {
        match self {
            Permission::Any => true,
            Permission::And(all) => all.iter().all(|p| p.matches(input)),
            Permission::Or(any) => any.iter().any(|p| p.matches(input)),
            Permission::Not(p) => !p.matches(input),
            Permission::Header(h) => input
                .request
                .is_some_and(|r| h.matches_request(r.headers, Some(&r.pseudo))),
            Permission::UrlPath(sm) => input.request.is_some_and(|r| sm.matches(r.path)),
            Permission::DestinationIp(net) => in_net(net, input.local.ip()),
            Permission::DestinationPort(port) => u32::from(input.local.port()) == *port,
            Permission::DestinationPortRange(start, end) => {
                (*start..*end).contains(&i32::from(input.local.port()))
            }
            Permission::Metadata(md) => md.matches(input.metadata),
            Permission::RequestedServerName(sm) => sm.matches(input.server_name),
        }
    }
}

impl Principal {
    pub fn matches(&self, input: &Input<'_>) -> bool {
        match self {
            Principal::Any => true,
            Principal::And(all) => all.iter().all(|p| p.matches(input)),
            Principal::Or(any) => any.iter().any(|p| p.matches(input)),
            Principal::Not(p) => !p.matches(input),
            Principal::Authenticated(name) => match (input.peer_cert, name) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(cert), Some(sm)) => {
                    let sans = if cert.uri_sans.is_empty() {
                        cert.dns_sans
                    } else {
                        cert.uri_sans
                    };
                    sans.iter().any(|s| sm.matches(s))
                }
            },
            Principal::DirectRemoteIp(net) | Principal::SourceIp(net) => {
                in_net(net, input.peer.ip())
            }
            Principal::RemoteIp(net) => in_net(net, input.remote_ip),
            Principal::Header(h) => input
                .request
                .is_some_and(|r| h.matches_request(r.headers, Some(&r.pseudo))),
            Principal::UrlPath(sm) => input.request.is_some_and(|r| sm.matches(r.path)),
            Principal::Metadata(md) => md.matches(input.metadata),
        }
    }
}

impl MetadataMatch {
    /// A missing value is "absent": only `present_match: false` matches it.
    fn matches(&self, metadata: Option<&Map<String, Value>>) -> bool {
        let mut value = metadata.and_then(|m| m.get(&self.filter));
        for key in &self.path {
            value = value.and_then(|v| v.as_object()).and_then(|o| o.get(key));
        }
        self.value.matches(value) != self.invert
    }
}

impl ValueMatch {
    fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (ValueMatch::Present(want), v) => v.is_some() == *want,
            (_, None) => false,
            (ValueMatch::Null, Some(v)) => v.is_null(),
            (ValueMatch::DoubleRange(lo, hi), Some(v)) => {
                v.as_f64().is_some_and(|x| x >= *lo && x < *hi)
            }
            (ValueMatch::DoubleExact(x), Some(v)) => v.as_f64() == Some(*x),
            (ValueMatch::Str(sm), Some(v)) => v.as_str().is_some_and(|s| sm.matches(s)),
            (ValueMatch::Bool(b), Some(v)) => v.as_bool() == Some(*b),
            (ValueMatch::ListOneOf(inner), Some(v)) => v
                .as_array()
                .is_some_and(|items| items.iter().any(|i| inner.matches(Some(i)))),
        }
    }
}
