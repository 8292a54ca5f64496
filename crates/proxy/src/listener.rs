//! Listener manager: binds the snapshot's listeners, accepts connections, picks a filter chain
//! (after the TLS/HTTP inspectors and original-destination lookup) and hands the connection to
//! the TCP proxy or the HTTP connection manager. The listener config is looked up per accepted
//! connection, so config changes apply to new connections without rebinding.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use weft_proxy_config::runtime::chain_match::{ConnInfo, select};
use weft_proxy_config::runtime::listener::FilterChain;
use weft_proxy_config::runtime::{Listener, NetworkKind};

use crate::inspect::{self, Inspected};
use crate::orig_dst;
use crate::state::Shared;
use crate::tls::{self, Stream};

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// The set of bound listeners.
#[derive(Debug, Default)]
pub struct ListenerManager {
    running: HashMap<String, Running>,
}

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("Listener {name}: address: cannot bind {addr}: {source}")]
pub struct BindError {
    pub name: String,
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl ListenerManager {
    /// Brings bound listeners in line with the published snapshot. Bind failures are returned
    /// per listener; the others are still applied.
    pub fn sync(&mut self, shared: &Arc<Shared>) -> Vec<BindError> {
        let snap = shared.live.load().snap.clone();
        self.running.retain(|name, r| {
            let keep = snap
                .listeners
                .get(name)
                .is_some_and(|l| l.addr == r.addr || !l.bind_to_port);
            if !keep {
                r.task.abort();
            }
            keep
        });
        let mut errors = Vec::new();
        for (name, l) in &snap.listeners {
            if self.running.contains_key(name) || !l.bind_to_port {
                continue;
            }
            match bind(l.addr) {
                Ok(sock) => {
                    let addr = sock.local_addr().unwrap_or(l.addr);
                    let task = tokio::spawn(accept_loop(shared.clone(), name.clone(), sock));
                    tracing::info!(listener = %name, %addr, "listening");
                    self.running
                        .insert(name.clone(), Running { addr: l.addr, task });
                }
                Err(source) => errors.push(BindError {
                    name: name.clone(),
                    addr: l.addr,
                    source,
                }),
            }
        }
        errors
    }

    /// Stops accepting on every listener.
    pub fn stop(&mut self) {
        for (_, r) in self.running.drain() {
            r.task.abort();
        }
    }
}

impl Drop for ListenerManager {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

async fn accept_loop(shared: Arc<Shared>, name: String, sock: TcpListener) {
    loop {
        match sock.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let name = name.clone();
                tokio::spawn(async move { handle_conn(shared, name, stream, peer).await });
            }
            Err(e) => {
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle_conn(shared: Arc<Shared>, name: String, stream: TcpStream, peer: SocketAddr) {
    let live = shared.live.load_full();
    let Some(mut listener) = live.snap.listeners.get(&name).cloned() else {
        return;
    };
    let local = stream.local_addr().unwrap_or(listener.addr);
    // Both `use_original_dst` and the `original_dst` listener filter restore the destination
    // the connection had before REDIRECT; only `use_original_dst` also hands it over.
    let destination = if listener.use_original_dst || listener.original_dst_filter {
        orig_dst::original_dst(&stream).unwrap_or(local)
    } else {
        local
    };
    if listener.use_original_dst
        && let Some(other) = find_by_destination(&live.snap.listeners, destination, &name)
    {
        listener = other;
    }
    let lstats = shared.stats.listener(&listener.stat_prefix);
    lstats.downstream_cx_total.inc();
    lstats.downstream_cx_active.inc();
    let _active = scopeguard(lstats.clone());
    let inspected = if listener.tls_inspector || listener.http_inspector {
        inspect::inspect(
            &stream,
            listener.tls_inspector,
            listener.http_inspector,
            listener.inspect_timeout,
        )
        .await
    } else {
        Inspected::default()
    };
    if inspected.timed_out && !listener.continue_on_inspect_timeout {
        // Envoy closes a connection whose listener filters timed out, unless told to go on.
        lstats.downstream_pre_cx_timeout.inc();
        tracing::debug!(listener = %listener.name, %peer, "listener filters timed out");
        return;
    }
    let conn = ConnInfo {
        destination,
        source: peer,
        server_name: inspected.server_name.as_deref(),
        transport_protocol: inspected.transport_protocol(),
        application_protocols: &inspected.application_protocols,
    };
    let chain = select(listener.chains.iter().map(|c| &c.matcher), &conn)
        .map(|i| &listener.chains[i])
        .or(listener.default_chain.as_ref());
    let Some(chain) = chain else {
        lstats.no_filter_chain_match.inc();
        tracing::debug!(listener = %listener.name, %destination, "no filter chain matched");
        return;
    };
    let mut ctx = crate::ConnMeta {
        peer,
        local: destination,
        server_name: inspected.server_name.clone().unwrap_or_default(),
        tls: None,
    };
    let Some(stream) = terminate_tls(&shared, &listener, chain, stream, &mut ctx).await else {
        return;
    };
    if !crate::network_rbac::admit(&shared, chain, &ctx) {
        return;
    }
    match &chain.kind {
        NetworkKind::Tcp(t) => {
            let drained = shared.drained(&listener);
            crate::tcp::proxy(shared.clone(), t.clone(), stream, ctx, drained).await
        }
        NetworkKind::Http(h) => {
            crate::http::serve(shared.clone(), listener.clone(), h.clone(), stream, ctx).await
        }
    }
}

/// Terminates TLS when the chain has it (filling `ctx.tls`); `None` when the handshake
/// failed, which is counted in `listener.<prefix>.ssl.*`.
async fn terminate_tls(
    shared: &Shared,
    listener: &Listener,
    chain: &FilterChain,
    stream: TcpStream,
    ctx: &mut crate::ConnMeta,
) -> Option<Stream> {
    let Some(tls) = &chain.tls else {
        return Some(Stream::Plain(stream));
    };
    let ssl = shared.stats.listener_ssl(&listener.stat_prefix);
    let handshake_timeout = listener
        .inspect_timeout
        .unwrap_or(weft_proxy_config::runtime::listener::DEFAULT_INSPECT_TIMEOUT);
    match tls::server::accept(tls, &shared.secrets, stream, handshake_timeout).await {
        Ok((s, peer_tls)) => {
            ssl.handshake.inc();
            ctx.tls = Some(Arc::new(peer_tls));
            Some(Stream::Server(Box::new(s)))
        }
        Err(e) => {
            e.failure().count(&ssl);
            tracing::debug!(listener = %listener.name, chain = %chain.name, peer = %ctx.peer, error = %e, "downstream TLS handshake failed");
            None
        }
    }
}

/// For `use_original_dst`: the listener bound to the original destination (exact address, then
/// the wildcard address with the same port), as Envoy hands the connection over.
fn find_by_destination(
    listeners: &std::collections::BTreeMap<String, Arc<Listener>>,
    dst: SocketAddr,
    except: &str,
) -> Option<Arc<Listener>> {
    let exact = listeners
        .values()
        .find(|l| l.name != except && l.addr == dst);
    exact
        .or_else(|| {
            listeners.values().find(|l| {
                l.name != except && l.addr.port() == dst.port() && l.addr.ip().is_unspecified()
            })
        })
        .cloned()
}

struct ActiveCx(Arc<crate::stats::ListenerStats>);

fn scopeguard(s: Arc<crate::stats::ListenerStats>) -> ActiveCx {
    ActiveCx(s)
}

impl Drop for ActiveCx {
    fn drop(&mut self) {
        self.0.downstream_cx_active.dec();
    }
}
