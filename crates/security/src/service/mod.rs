//! The certificate-signing gRPC service with the shape of Istio's
//! `istio.v1.auth.IstioCertificateService/CreateCertificate`, and its client. The messages are
//! written by hand with Istio's field numbers (`security/proto/.../ca.proto`).

mod client;
mod server;

pub use client::{CaClient, CaClientError};
pub use server::CaService;

/// The gRPC service name.
pub const SERVICE_NAME: &str = "istio.v1.auth.IstioCertificateService";
/// The path of `CreateCertificate`.
pub const CREATE_CERTIFICATE_PATH: &str =
    "/istio.v1.auth.IstioCertificateService/CreateCertificate";

/// `istio.v1.auth.IstioCertificateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateRequest {
    /// PEM-encoded PKCS#10 certificate request.
    #[prost(string, tag = "1")]
    pub csr: String,
    /// Requested validity in seconds; 0 asks for the CA's default.
    #[prost(int64, tag = "3")]
    pub validity_duration: i64,
    /// Opaque metadata from the node (Istio: WorkloadName, WorkloadIP, ClusterID).
    #[prost(message, optional, tag = "4")]
    pub metadata: Option<prost_types::Struct>,
}

/// `istio.v1.auth.IstioCertificateResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateResponse {
    /// PEM certificates: the leaf first, the root last.
    #[prost(string, repeated, tag = "1")]
    pub cert_chain: Vec<String>,
}
