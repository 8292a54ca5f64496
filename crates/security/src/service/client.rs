//! The client side: calls `CreateCertificate` with the caller's bearer credential.

use std::time::Duration;

use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use super::{CREATE_CERTIFICATE_PATH, IstioCertificateRequest, IstioCertificateResponse};

/// Why a certificate could not be obtained from the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaClientError {
    #[error("CA address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("credential cannot be sent as metadata (it must be printable ASCII)")]
    Credential,
    #[error("CA is not reachable: {0}")]
    Unavailable(String),
    #[error("CA refused: {}: {}", .0.code(), .0.message())]
    Refused(tonic::Status),
}

/// A client of the CA service; connects lazily and reconnects by itself.
#[derive(Debug, Clone)]
pub struct CaClient {
    grpc: Grpc<Channel>,
    authorization: MetadataValue<tonic::metadata::Ascii>,
}

impl CaClient {
    /// A client for the CA at `address` (`HOST:PORT` or `http://HOST:PORT`, plaintext gRPC).
    pub fn new(address: &str, credential: &str) -> Result<CaClient, CaClientError> {
        let uri = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| CaClientError::Address {
            address: address.to_string(),
            reason: e.to_string(),
        })?;
        let channel = endpoint
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let authorization = format!("Bearer {}", credential.trim())
            .parse()
            .map_err(|_| CaClientError::Credential)?;
        Ok(CaClient {
            grpc: Grpc::new(channel),
            authorization,
        })
    }

    /// Sends a CSR; returns the chain (leaf first, root last).
    pub async fn create_certificate(
        &mut self,
        csr_pem: String,
        validity: Duration,
    ) -> Result<Vec<String>, CaClientError> {
        self.grpc
            .ready()
            .await
            .map_err(|e| CaClientError::Unavailable(e.to_string()))?;
        let body = IstioCertificateRequest {
            csr: csr_pem,
            validity_duration: i64::try_from(validity.as_secs()).unwrap_or(i64::MAX),
            metadata: None,
        };
        let mut request = tonic::Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let path = PathAndQuery::from_static(CREATE_CERTIFICATE_PATH);
        let codec =
            tonic_prost::ProstCodec::<IstioCertificateRequest, IstioCertificateResponse>::default();
        let response =
            self.grpc
                .unary(request, path, codec)
                .await
                .map_err(|status| match status.code() {
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                        CaClientError::Unavailable(status.message().to_string())
                    }
                    _ => CaClientError::Refused(status),
                })?;
        Ok(response.into_inner().cert_chain)
    }
}
