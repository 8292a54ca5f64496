//! Downstream TLS termination: the server config of a filter chain (built from its
//! `DownstreamTlsContext` and the secret store, cached per secrets version) and the handshake,
//! which yields the stream and what it says about the peer.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use weft_proxy_config::runtime::tls::DownstreamTls;

use super::material::{self, MaterialError};
use super::verify::{ClientVerifier, sans_of};
use super::{Failure, provider, provider_for, versions};
use crate::PeerTls;
use crate::secrets::SecretStore;

/// The configs built for one chain at one secrets version. `no_alpn` serves clients that
/// offer none of the chain's ALPN protocols: Envoy then negotiates no protocol rather than
/// failing the handshake, as rustls would.
#[derive(Debug)]
struct Built {
    version: u64,
    config: Arc<ServerConfig>,
    no_alpn: Arc<ServerConfig>,
}

/// A failed downstream handshake.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("TLS server config: {0}")]
    Config(#[from] MaterialError),
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake timed out")]
    Timeout,
}

impl AcceptError {
    pub fn failure(&self) -> Failure {
        match self {
            AcceptError::Handshake(e) => Failure::of_io(e),
            _ => Failure::Other,
        }
    }
}

fn config_for(tls: &DownstreamTls, store: &SecretStore) -> Result<Arc<Built>, MaterialError> {
    let version = store.version();
    if let Some(b) = tls.built.get::<Built>().filter(|b| b.version == version) {
        return Ok(b);
    }
    let built = Arc::new(build(tls, store, version)?);
    tls.built.set(built.clone());
    Ok(built)
}

fn build(tls: &DownstreamTls, store: &SecretStore, version: u64) -> Result<Built, MaterialError> {
    let common = &tls.common;
    let cert = common
        .certificate
        .as_ref()
        .ok_or_else(|| MaterialError::Missing("server certificate".into()))?;
    let ck = material::cert_key(cert, store)?;
    let builder = ServerConfig::builder_with_provider(provider_for(common))
        .with_protocol_versions(&versions(common.min_version, common.max_version))?;
    let builder = match &common.validation.ca {
        Some(ca) => {
            let roots = material::roots(ca, store)?;
            let mut vb = WebPkiClientVerifier::builder_with_provider(roots, provider());
            if !tls.require_client_certificate {
                vb = vb.allow_unauthenticated();
            }
            let inner = vb.build().map_err(|e| MaterialError::Bad {
                what: "client certificate verifier".into(),
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(Arc::new(ClientVerifier {
                inner,
                sans: common.validation.sans.clone(),
            }))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(ck.chain, ck.key)?;
    config.alpn_protocols = common.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let mut no_alpn = config.clone();
    no_alpn.alpn_protocols.clear();
    Ok(Built {
        version,
        config: Arc::new(config),
        no_alpn: Arc::new(no_alpn),
    })
}

/// Terminates TLS on `stream` within `timeout`.
pub async fn accept(
    tls: &DownstreamTls,
    store: &SecretStore,
    stream: TcpStream,
    timeout: Duration,
) -> Result<(TlsStream<TcpStream>, PeerTls), AcceptError> {
    let built = config_for(tls, store)?;
    let handshake = async {
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = acceptor.await.map_err(AcceptError::Handshake)?;
        let hello = start.client_hello();
        let offered: Vec<Vec<u8>> = hello
            .alpn()
            .map(|it| it.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let overlap = offered
            .iter()
            .any(|p| built.config.alpn_protocols.contains(p));
        let config = if overlap || offered.is_empty() {
            built.config.clone()
        } else {
            built.no_alpn.clone()
        };
        start
            .into_stream(config)
            .await
            .map_err(AcceptError::Handshake)
    };
    let stream = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| AcceptError::Timeout)??;
    let peer = peer_of(stream.get_ref().1);
    Ok((stream, peer))
}

fn peer_of(conn: &rustls::ServerConnection) -> PeerTls {
    let (uri_sans, dns_sans) = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|leaf| sans_of(leaf))
        .unwrap_or_default();
    PeerTls {
        principal: uri_sans
            .iter()
            .find_map(|u| u.strip_prefix("spiffe://"))
            .map(str::to_string),
        uri_sans,
        dns_sans,
        sni: conn.server_name().map(str::to_string),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    }
}
