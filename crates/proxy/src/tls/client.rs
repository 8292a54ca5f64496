//! Upstream TLS origination: the client config of a cluster (from its `UpstreamTlsContext`
//! and the secret store, cached per secrets version) and the handshake on a connected socket.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use weft_proxy_config::runtime::tls::UpstreamTls;

use super::material::{self, MaterialError};
use super::verify::ServerVerifier;
use super::{Failure, provider, provider_for, versions};
use crate::secrets::SecretStore;
use crate::stats::SslStats;

/// The configs of one context at one secrets version: as configured, and with the ALPN
/// fallbacks HTTP pools use when the context names no protocols (as Envoy's pools do).
#[derive(Debug)]
struct Built {
    version: u64,
    config: Arc<ClientConfig>,
    h2: Arc<ClientConfig>,
    http11: Arc<ClientConfig>,
}

/// Which application protocol a connection is for, when the context sets no ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpnFallback {
    None,
    H2,
    Http11,
}

/// A cluster's TLS: its context, the store its SDS names resolve in, its `ssl.*` stats.
#[derive(Debug)]
pub struct ClientTls {
    pub cfg: Arc<UpstreamTls>,
    pub secrets: Arc<SecretStore>,
    pub stats: Arc<SslStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsConnectError {
    #[error("TLS client config: {0}")]
    Config(#[from] MaterialError),
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
}

impl ClientTls {
    fn config(&self, fallback: AlpnFallback) -> Result<Arc<ClientConfig>, MaterialError> {
        let version = self.secrets.version();
        let built = match self
            .cfg
            .built
            .get::<Built>()
            .filter(|b| b.version == version)
        {
            Some(b) => b,
            None => {
                let config = build(&self.cfg, &self.secrets)?;
                let with = |alpn: &[u8]| {
                    let mut c = config.clone();
                    if c.alpn_protocols.is_empty() {
                        c.alpn_protocols = vec![alpn.to_vec()];
                    }
                    Arc::new(c)
                };
                let b = Arc::new(Built {
                    version,
                    h2: with(b"h2"),
                    http11: with(b"http/1.1"),
                    config: Arc::new(config),
                });
                self.cfg.built.set(b.clone());
                b
            }
        };
        Ok(match fallback {
            AlpnFallback::None => built.config.clone(),
            AlpnFallback::H2 => built.h2.clone(),
            AlpnFallback::Http11 => built.http11.clone(),
        })
    }

    /// Runs the handshake on a connected socket (the caller bounds it with its connect
    /// timeout). Failures are counted in the cluster's `ssl.*` stats.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        fallback: AlpnFallback,
    ) -> Result<TlsStream<TcpStream>, TlsConnectError> {
        let res = self.handshake(tcp, addr, fallback).await;
        match &res {
            Ok(_) => {
                self.stats.handshake.inc();
            }
            Err(TlsConnectError::Handshake(e)) => Failure::of_io(e).count(&self.stats),
            Err(TlsConnectError::Config(e)) => {
                tracing::debug!(error = %e, "upstream TLS config unavailable");
                Failure::Other.count(&self.stats);
            }
        }
        res
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        fallback: AlpnFallback,
    ) -> Result<TlsStream<TcpStream>, TlsConnectError> {
        let config = self.config(fallback)?;
        // Without `sni` no SNI is sent (an IP address as server name suppresses it).
        let name = match &self.cfg.sni {
            Some(sni) => ServerName::try_from(sni.clone()).map_err(|_| MaterialError::Bad {
                what: "sni".into(),
                reason: format!("{sni:?} is not a valid server name"),
            })?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(TlsConnectError::Handshake)
    }
}

fn build(tls: &UpstreamTls, store: &SecretStore) -> Result<ClientConfig, MaterialError> {
    let common = &tls.common;
    let roots = common
        .validation
        .ca
        .as_ref()
        .map(|ca| material::roots(ca, store))
        .transpose()?;
    let verifier = Arc::new(ServerVerifier {
        roots,
        sans: common.validation.sans.clone(),
        provider: provider(),
    });
    let builder = ClientConfig::builder_with_provider(provider_for(common))
        .with_protocol_versions(&versions(common.min_version, common.max_version))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &common.certificate {
        Some(cert) => {
            let ck = material::cert_key(cert, store)?;
            builder.with_client_auth_cert(ck.chain, ck.key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = common.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(config)
}
