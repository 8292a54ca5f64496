//! The network RBAC filter (`envoy.filters.network.rbac`) on the connection path: checked once
//! per connection, before the terminal filter opens anything upstream. A denied connection is
//! closed, counted in `<stat_prefix>rbac.denied` and, in front of tcp_proxy, access-logged with
//! Envoy's `connection_termination_details` `rbac_access_denied_matched_policy[NAME]`.

use std::time::SystemTime;

use weft_proxy_config::access_log::LogRecord;
use weft_proxy_config::runtime::listener::{FilterChain, NetworkKind};

use crate::ConnMeta;
use crate::state::Shared;

/// Whether the chain's network RBAC filters (if any) let the connection through; they run in
/// order and the first denial closes the connection.
pub(crate) fn admit(shared: &Shared, chain: &FilterChain, meta: &ConnMeta) -> bool {
    // A connection has no forwarded-for: its remote address is the peer's.
    let input = crate::http::rbac::input(meta, meta.peer.ip(), None, None);
    for rbac in &chain.rbac {
        let check = rbac.check(&input);
        crate::http::rbac::count(&shared.stats.network_rbac(&rbac.stat_prefix), &check);
        if let Some(verdict) = check.enforced.filter(|v| !v.allowed) {
            log_denial(shared, chain, meta, verdict.details());
            return false;
        }
    }
    true
}

fn log_denial(shared: &Shared, chain: &FilterChain, meta: &ConnMeta, details: String) {
    tracing::debug!(chain = %chain.name, peer = %meta.peer, %details, "RBAC closed a connection");
    let NetworkKind::Tcp(t) = &chain.kind else {
        return;
    };
    let rec = LogRecord {
        start_time: Some(SystemTime::now()),
        downstream_local: Some(meta.local),
        downstream_remote: Some(meta.peer),
        server_name: meta.server_name.clone(),
        response_flags: "-".into(),
        connection_termination_details: details,
        ..Default::default()
    };
    shared
        .live
        .load()
        .log(&t.access_log, |s| s.format.render(&rec));
}
