//! Envoy's RBAC filter (`envoy.filters.http.rbac`, `envoy.filters.network.rbac`): policies of
//! permissions and principals, compiled once, evaluated per request or connection.
//!
//! Placeholder: the authorization work fills it in; until then `from_pb` rejects RBAC filters.

/// A compiled RBAC filter.
#[derive(Debug, Default)]
pub struct Rbac {}
