//! Istio's security policies as Envoy config: PeerAuthentication (`mtls`: inbound TLS
//! modes), DestinationRule TLS and auto mTLS (`client_tls`; `tls_context` builds the sockets),
//! RequestAuthentication (`authn`: the jwt_authn filter) and AuthorizationPolicy (`authz`: RBAC
//! filters). Each module picks the policies that apply to a proxy with Istio's precedence and
//! emits standard Envoy v3 config.

mod authn;
mod authz;
pub(crate) mod client_tls;
pub(crate) mod credentials;
pub(crate) mod mtls;
pub(crate) mod tls_context;

use weft_xds::pb::envoy::config::listener::v3::Filter;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;

use crate::context::Context;
use crate::view::ProxyView;

/// HTTP filters that run before fault, cors and the router on the proxy's inbound (sidecar) or
/// gateway listener for `port`: jwt_authn first, then RBAC (CUSTOM, DENY, ALLOW), as Istio.
pub(crate) fn http_filters(ctx: &Context, view: &ProxyView, port: Option<u32>) -> Vec<HttpFilter> {
    let mut filters = authn::http_filters(ctx, view, port);
    filters.extend(authz::http_filters(ctx, view, port));
    filters
}

/// Network filters before tcp_proxy on an inbound TCP port (network RBAC).
pub(crate) fn network_filters(ctx: &Context, view: &ProxyView, port: u32) -> Vec<Filter> {
    authz::network_filters(ctx, view, port)
}
