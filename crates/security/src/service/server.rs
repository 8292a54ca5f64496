//! The server side: a tonic service (mountable on any tonic router, as the control plane does
//! beside ADS) that authenticates the caller and has the CA sign only the caller's identity.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::{
    CREATE_CERTIFICATE_PATH, IstioCertificateRequest, IstioCertificateResponse, SERVICE_NAME,
};
use crate::ca::{CaError, CertificateAuthority};
use crate::credential::Authenticator;

/// The CA behind gRPC; cheap to clone.
#[derive(Clone)]
pub struct CaService {
    ca: Arc<CertificateAuthority>,
    authenticator: Arc<dyn Authenticator>,
}

impl std::fmt::Debug for CaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaService")
            .field("trust_domain", &self.ca.trust_domain())
            .finish_non_exhaustive()
    }
}

impl NamedService for CaService {
    const NAME: &'static str = SERVICE_NAME;
}

impl CaService {
    pub fn new(ca: Arc<CertificateAuthority>, authenticator: Arc<dyn Authenticator>) -> Self {
        CaService { ca, authenticator }
    }

    /// `CreateCertificate`: authenticate, then sign the CSR for the caller's identity.
    pub async fn create_certificate(
        &self,
        request: Request<IstioCertificateRequest>,
    ) -> Result<Response<IstioCertificateResponse>, Status> {
        let token = bearer_token(&request)?;
        let identity = self.authenticator.authenticate(&token).await.map_err(|e| {
            tracing::warn!(error = %e, "CA: caller not authenticated");
            Status::unauthenticated(e.to_string())
        })?;
        let req = request.into_inner();
        let ttl = u64::try_from(req.validity_duration)
            .ok()
            .map(Duration::from_secs);
        let signed = self
            .ca
            .sign(&req.csr, &identity, ttl)
            .map_err(|e| status_of(&identity, e))?;
        Ok(Response::new(IstioCertificateResponse {
            cert_chain: signed.certificates,
        }))
    }
}

fn bearer_token<T>(request: &Request<T>) -> Result<String, Status> {
    let value = request
        .metadata()
        .get("authorization")
        .ok_or_else(|| Status::unauthenticated("no authorization metadata (Bearer token)"))?;
    let text = value
        .to_str()
        .map_err(|_| Status::unauthenticated("authorization metadata is not text"))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| Status::unauthenticated("authorization metadata is not `Bearer TOKEN`"))?;
    Ok(token.trim().to_string())
}

fn status_of(identity: &crate::SpiffeId, e: CaError) -> Status {
    tracing::warn!(%identity, error = %e, "CA: refused to sign");
    match e {
        CaError::IdentityMismatch { .. } => Status::permission_denied(e.to_string()),
        CaError::Csr(_) => Status::invalid_argument(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

struct CreateCertificate(CaService);

impl UnaryService<IstioCertificateRequest> for CreateCertificate {
    type Response = IstioCertificateResponse;
    type Future = BoxFuture<Response<IstioCertificateResponse>, Status>;

    fn call(&mut self, request: Request<IstioCertificateRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.create_certificate(request).await })
    }
}

impl<B> Service<http::Request<B>> for CaService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != CREATE_CERTIFICATE_PATH {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let method = CreateCertificate(self.clone());
        Box::pin(async move {
            let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}
