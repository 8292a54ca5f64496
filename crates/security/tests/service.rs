//! The CreateCertificate service over real gRPC on loopback: the agent obtains a chain for its
//! own identity; no, bad or expired credentials get UNAUTHENTICATED; a CSR for another
//! identity gets PERMISSION_DENIED; the rotation loop renews a short-lived certificate before
//! it expires.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Scratch, signed_by, with_cert};
use tokio_stream::wrappers::TcpListenerStream;
use weft_security::agent::{
    KeyAlgorithm, RotationOptions, csr_for, generate_key, leaf_uris, obtain, run_rotation,
};
use weft_security::credential::CredentialKey;
use weft_security::service::{CaClient, CaClientError, CaService};
use weft_security::{CertificateAuthority, SpiffeId, TtlPolicy};

struct Served {
    addr: SocketAddr,
    key: Arc<CredentialKey>,
    ca: Arc<CertificateAuthority>,
    _dir: Scratch,
}

async fn serve(ttl: TtlPolicy) -> Served {
    let dir = Scratch::new("service");
    let ca = Arc::new(CertificateAuthority::self_signed(&dir.0, "cluster.local", ttl).unwrap());
    let key = Arc::new(CredentialKey::load_or_create(&dir.0).unwrap());
    let service = CaService::new(ca.clone(), key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Served {
        addr,
        key,
        ca,
        _dir: dir,
    }
}

fn id(sa: &str) -> SpiffeId {
    SpiffeId::new("cluster.local", "default", sa).unwrap()
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn agent_obtains_a_chain_for_its_own_identity() {
    let s = serve(TtlPolicy::default()).await;
    let token = s.key.issue(&id("ratings"), DAY);
    let mut client = CaClient::new(&s.addr.to_string(), &token).unwrap();
    let issued = obtain(&mut client, &id("ratings"), KeyAlgorithm::EcdsaP256, DAY)
        .await
        .unwrap();
    assert_eq!(issued.root_pem, s.ca.root_pem());
    assert!(signed_by(&issued.chain_pem, &issued.root_pem));
    with_cert(&issued.chain_pem, |c| {
        assert_eq!(leaf_uris(c), vec![id("ratings").uri()]);
    });
    assert!(issued.key_pem.contains("BEGIN PRIVATE KEY"));
    assert!(
        !format!("{issued:?}").contains("PRIVATE KEY"),
        "Debug redacts the key"
    );
    let life = issued.not_after.duration_since(SystemTime::now()).unwrap();
    assert!(life > DAY - Duration::from_secs(10) && life <= DAY);
}

fn refused_code(result: Result<Vec<String>, CaClientError>) -> (tonic::Code, String) {
    match result {
        Err(CaClientError::Refused(status)) => (status.code(), status.message().to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_forged_and_expired_credentials_are_unauthenticated() {
    let s = serve(TtlPolicy::default()).await;
    let csr = csr_for(
        &id("ratings"),
        &generate_key(KeyAlgorithm::EcdsaP256).unwrap(),
    )
    .unwrap();
    let forged = CredentialKey::from_bytes(&[1; 32]).issue(&id("ratings"), DAY);
    let expired = s.key.issue(&id("ratings"), Duration::ZERO);
    for (token, want) in [
        ("", "not a weft credential"),
        ("not-a-token", "not a weft credential"),
        (forged.as_str(), "signature does not verify"),
        (expired.as_str(), "expired"),
    ] {
        let mut client = CaClient::new(&s.addr.to_string(), token).unwrap();
        let (code, message) = refused_code(client.create_certificate(csr.clone(), DAY).await);
        assert_eq!(code, tonic::Code::Unauthenticated, "{token:?}: {message}");
        assert!(message.contains(want), "{token:?}: {message}");
    }
}

#[tokio::test]
async fn csr_for_an_identity_the_caller_does_not_own_is_permission_denied() {
    let s = serve(TtlPolicy::default()).await;
    let token = s.key.issue(&id("ratings"), DAY);
    let mut client = CaClient::new(&s.addr.to_string(), &token).unwrap();
    let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = csr_for(&id("productpage"), &key).unwrap();
    let (code, message) = refused_code(client.create_certificate(csr, DAY).await);
    assert_eq!(code, tonic::Code::PermissionDenied, "{message}");
    assert!(
        message.contains("sa/productpage") && message.contains("sa/ratings"),
        "{message}"
    );
    let (code, _) = refused_code(client.create_certificate("garbage".into(), DAY).await);
    assert_eq!(code, tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_renews_a_short_lived_certificate_before_it_expires() {
    let ttl = Duration::from_secs(4);
    let s = serve(TtlPolicy {
        default_ttl: ttl,
        max_ttl: ttl,
    })
    .await;
    let token = s.key.issue(&id("reviews"), DAY);
    let client = CaClient::new(&s.addr.to_string(), &token).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let options = RotationOptions::new(id("reviews"));
    let task = tokio::spawn(run_rotation(client, options, move |issued| {
        let _ = tx.send((SystemTime::now(), issued));
    }));
    let mut deliveries = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while deliveries.len() < 3 {
        let next = tokio::time::timeout_at(deadline, rx.recv()).await;
        deliveries.push(next.expect("rotation within 15 s").expect("loop alive"));
    }
    task.abort();
    for pair in deliveries.windows(2) {
        let ((obtained_at, old), (renewed_at, new)) = (&pair[0], &pair[1]);
        assert!(
            *renewed_at < old.not_after,
            "renewed before the old one expired"
        );
        assert!(new.not_after > old.not_after);
        assert_ne!(new.key_pem, old.key_pem, "a fresh key each time");
        // Half of what is left of 4 s, less the sub-second precision of X.509 times.
        let gap = renewed_at.duration_since(*obtained_at).unwrap();
        assert!(
            gap >= Duration::from_millis(1000),
            "renewed at about half life: {gap:?}"
        );
    }
}
