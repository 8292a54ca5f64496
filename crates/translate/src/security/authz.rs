//! AuthorizationPolicy → `envoy.filters.http.rbac` and `envoy.filters.network.rbac`.
//!
//! Placeholder: emits nothing until the authorization work lands.

use weft_xds::pb::envoy::config::listener::v3::Filter;
use weft_xds::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;

use crate::context::Context;
use crate::view::ProxyView;

pub(crate) fn http_filters(
    _ctx: &Context,
    _view: &ProxyView,
    _port: Option<u32>,
) -> Vec<HttpFilter> {
    Vec::new()
}

pub(crate) fn network_filters(_ctx: &Context, _view: &ProxyView, _port: u32) -> Vec<Filter> {
    Vec::new()
}
