//! Envoy's JWT authentication filter (`envoy.filters.http.jwt_authn`): providers, where tokens
//! are read from, and the requirements per route.
//!
//! Placeholder: the request-authentication work fills it in; until then `from_pb` rejects it.

/// A compiled jwt_authn filter.
#[derive(Debug, Default)]
pub struct JwtAuthn {}
