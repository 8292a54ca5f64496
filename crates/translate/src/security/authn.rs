//! RequestAuthentication → `envoy.filters.http.jwt_authn`.
//!
//! Placeholder: emits nothing until the request-authentication work lands.

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
