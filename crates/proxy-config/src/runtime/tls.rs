//! TLS transport sockets (`envoy.transport_sockets.tls`): what a filter chain needs to
//! terminate TLS (`DownstreamTlsContext`) and what a cluster needs to originate it
//! (`UpstreamTlsContext`), with certificates by value or by SDS name.
//!
//! Placeholder: the TLS work fills these in; until then `from_pb` rejects transport sockets.

/// Downstream (server-side) TLS of a filter chain.
#[derive(Debug, Default)]
pub struct DownstreamTls {}

/// Upstream (client-side) TLS of a cluster.
#[derive(Debug, Default)]
pub struct UpstreamTls {}
