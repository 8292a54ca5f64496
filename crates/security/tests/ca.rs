//! The CA: a self-signed root created 0600 and reloaded, the plugged-in `cacerts` layout,
//! leaves that chain to the root with the caller's URI SAN and Istio's usages, and refusals
//! of CSRs for identities the caller does not own.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Scratch, mode, openssl_verify, signed_by, with_cert};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use weft_security::agent::{KeyAlgorithm, csr_for, generate_key, leaf_uris};
use weft_security::ca::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};
use weft_security::{CaError, CertificateAuthority, SpiffeId, TtlPolicy};

const TD: &str = "cluster.local";

fn reviews() -> SpiffeId {
    SpiffeId::new(TD, "default", "reviews").unwrap()
}

fn csr(identity: &SpiffeId) -> String {
    csr_for(identity, &generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap()
}

fn csr_with_sans(sans: Vec<SanType>) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans;
    let key = KeyPair::generate().unwrap();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn self_signed_root_is_created_with_a_0600_key_and_reloaded() {
    let dir = Scratch::new("root");
    let ca = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    assert_eq!(mode(&dir.path(CA_KEY)), 0o600, "ca-key.pem must be 0600");
    assert_eq!(mode(&dir.0), 0o700, "the CA directory is private");
    let root = std::fs::read_to_string(dir.path(ROOT_CERT)).unwrap();
    assert_eq!(root, ca.root_pem());
    with_cert(&root, |c| {
        assert!(c.is_ca());
        let v = c.validity();
        let years = (v.not_after.timestamp() - v.not_before.timestamp()) / (365 * 86_400);
        assert_eq!(years, 10);
        assert_eq!(
            c.public_key().algorithm.algorithm.to_id_string(),
            "1.2.840.10045.2.1",
            "EC public key"
        );
        assert!(c.subject().to_string().contains(TD), "{}", c.subject());
    });
    let again = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    assert_eq!(again.root_pem(), root, "restart reuses the root");
}

#[test]
fn a_root_dir_missing_its_key_is_refused_not_overwritten() {
    let dir = Scratch::new("incomplete");
    CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    std::fs::remove_file(dir.path(CA_KEY)).unwrap();
    let err = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap_err();
    assert!(matches!(err, CaError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("has root-cert.pem but not ca-key.pem"),
        "{err}"
    );
}

#[test]
fn signed_leaf_chains_to_the_root_with_the_uri_san_usages_and_ttl() {
    let dir = Scratch::new("sign");
    let ca = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    let signed = ca.sign(&csr(&reviews()), &reviews(), None).unwrap();
    assert_eq!(signed.certificates.len(), 2, "leaf and root");
    let (leaf, root) = (&signed.certificates[0], &signed.certificates[1]);
    assert_eq!(root, ca.root_pem(), "root last");
    assert!(signed_by(leaf, root));
    with_cert(leaf, |c| {
        assert_eq!(leaf_uris(c), vec![reviews().uri()]);
        assert!(!c.is_ca());
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let v = c.validity();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(v.not_before.timestamp() < now, "not-before is in the past");
        let ttl = v.not_after.timestamp() - now;
        assert!(
            (24 * 3600 - 5..=24 * 3600 + 5).contains(&ttl),
            "24 h, got {ttl} s"
        );
    });
    openssl_verify(&dir.0, leaf, &[], root);
}

#[test]
fn requested_ttl_is_honoured_up_to_the_maximum() {
    let dir = Scratch::new("ttl");
    let policy = TtlPolicy {
        default_ttl: Duration::from_secs(3600),
        max_ttl: Duration::from_secs(7200),
    };
    let ca = CertificateAuthority::self_signed(&dir.0, TD, policy).unwrap();
    let ttl_of = |requested: u64| {
        let s = ca
            .sign(
                &csr(&reviews()),
                &reviews(),
                Some(Duration::from_secs(requested)),
            )
            .unwrap();
        (s.not_after - time::OffsetDateTime::now_utc()).whole_seconds()
    };
    assert!((595..=600).contains(&ttl_of(600)));
    assert!((7195..=7200).contains(&ttl_of(99_999)), "capped at max");
    assert!((3595..=3600).contains(&ttl_of(0)), "0 means the default");
}

#[test]
fn csr_for_another_identity_is_refused() {
    let dir = Scratch::new("refuse");
    let ca = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    let admin = SpiffeId::new(TD, "istio-system", "admin").unwrap();
    let err = ca.sign(&csr(&admin), &reviews(), None).unwrap_err();
    assert!(matches!(err, CaError::IdentityMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("istio-system/sa/admin") && text.contains("default/sa/reviews"),
        "{text}"
    );

    let uri = |s: String| SanType::URI(s.try_into().unwrap());
    let extra = csr_with_sans(vec![
        uri(reviews().uri()),
        SanType::DnsName("evil.com".try_into().unwrap()),
    ]);
    let err = ca.sign(&extra, &reviews(), None).unwrap_err();
    assert!(err.to_string().contains("DNS:evil.com"), "{err}");
    let none = csr_with_sans(Vec::new());
    assert!(matches!(
        ca.sign(&none, &reviews(), None),
        Err(CaError::IdentityMismatch { .. })
    ));

    let foreign = SpiffeId::new("other.domain", "default", "reviews").unwrap();
    let err = ca.sign(&csr(&foreign), &foreign, None).unwrap_err();
    assert!(
        matches!(err, CaError::IdentityMismatch { .. }),
        "other trust domain: {err}"
    );
}

#[test]
fn csr_with_a_bad_signature_or_no_pem_is_refused() {
    let dir = Scratch::new("badcsr");
    let ca = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    let mut der = common::der(&csr(&reviews()));
    let last = der.len() - 1;
    der[last] ^= 0x55;
    let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
    let err = ca.sign(&tampered, &reviews(), None).unwrap_err();
    assert_eq!(err.to_string(), "CSR: signature does not verify");
    let err = ca.sign("hello", &reviews(), None).unwrap_err();
    assert!(matches!(err, CaError::Csr(_)), "{err}");
}

#[test]
fn rsa_csrs_are_accepted() {
    let dir = Scratch::new("rsa");
    let ca = CertificateAuthority::self_signed(&dir.0, TD, TtlPolicy::default()).unwrap();
    let key = generate_key(KeyAlgorithm::Rsa2048).unwrap();
    let signed = ca
        .sign(&csr_for(&reviews(), &key).unwrap(), &reviews(), None)
        .unwrap();
    let leaf = &signed.certificates[0];
    with_cert(leaf, |c| {
        assert_eq!(
            c.public_key().algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.1"
        );
    });
    openssl_verify(&dir.0, leaf, &[], ca.root_pem());
}

/// Writes an Istio `cacerts` directory: a root and an intermediate signed by it.
fn write_cacerts(dir: &std::path::Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_params = |cn: &str| {
        let mut p = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, cn);
        p.distinguished_name = name;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p
    };
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("Plugged Root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate().unwrap();
    let int = ca_params("Plugged Intermediate")
        .signed_by(&int_key, &root_issuer)
        .unwrap();
    std::fs::write(dir.join(CA_CERT), int.pem()).unwrap();
    std::fs::write(dir.join(CA_KEY), int_key.serialize_pem()).unwrap();
    std::fs::write(dir.join(ROOT_CERT), root.pem()).unwrap();
    std::fs::write(dir.join(CERT_CHAIN), format!("{}{}", int.pem(), root.pem())).unwrap();
    (int.pem(), root.pem())
}

#[test]
fn cacerts_layout_signs_with_the_intermediate_and_returns_leaf_plus_cert_chain() {
    let dir = Scratch::new("cacerts");
    let (intermediate, root) = write_cacerts(&dir.0);
    let ca = CertificateAuthority::from_cacerts(&dir.0, TD, TtlPolicy::default()).unwrap();
    assert_eq!(ca.root_pem(), root);
    let signed = ca.sign(&csr(&reviews()), &reviews(), None).unwrap();
    assert_eq!(
        signed.certificates.len(),
        3,
        "leaf, cert-chain.pem (intermediate, root)"
    );
    assert_eq!(signed.certificates[1], intermediate);
    assert_eq!(signed.certificates[2], root);
    let leaf = &signed.certificates[0];
    assert!(signed_by(leaf, &intermediate) && !signed_by(leaf, &root));
    openssl_verify(&dir.0, leaf, &[intermediate], &root);
}

#[test]
fn cacerts_with_a_foreign_key_or_a_broken_chain_is_refused() {
    let dir = Scratch::new("badcacerts");
    let (intermediate, _) = write_cacerts(&dir.0);
    std::fs::write(
        dir.path(CA_KEY),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let err = CertificateAuthority::from_cacerts(&dir.0, TD, TtlPolicy::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("ca-cert.pem: does not match the key in ca-key.pem"),
        "{err}"
    );

    let (_, _) = write_cacerts(&dir.0);
    let (_, other_root) = write_cacerts(&dir.path("other"));
    std::fs::write(dir.path(ROOT_CERT), other_root).unwrap();
    let err = CertificateAuthority::from_cacerts(&dir.0, TD, TtlPolicy::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cert-chain.pem: [1] is not signed by"),
        "{err}"
    );

    write_cacerts(&dir.0);
    std::fs::write(dir.path(CERT_CHAIN), intermediate).unwrap();
    let err = CertificateAuthority::from_cacerts(&dir.0, TD, TtlPolicy::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cert-chain.pem: must start with ca-cert.pem"),
        "{err}"
    );
}
