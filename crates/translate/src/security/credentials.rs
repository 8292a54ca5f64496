//! Gateway `credentialName`s → SDS secrets, as istiod serves them to gateways over ADS:
//! `kubernetes://NAME` (key and chain from `tls.key`/`tls.crt`, or `key`/`cert`) and
//! `kubernetes://NAME-cacert` (from `ca.crt`/`cacert`, in the same Secret or in a Secret named
//! `NAME-cacert`).
//!
//! A gateway reads only Secrets of its own namespace: a name that points elsewhere
//! (`other/NAME`) or does not exist yields nothing, so the server that needs it is not served
//! (the class of bug behind CVE-2021-34824 is a gateway reading another namespace's keys).

use base64::Engine;
use weft_config::model::kube::Secret as KubeSecret;
use weft_xds::pb::envoy::config::core::v3::{DataSource, data_source};
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};

use crate::context::Context;

pub const PREFIX: &str = "kubernetes://";
pub const CA_SUFFIX: &str = "-cacert";

/// SDS name of a credential's certificate.
pub fn certificate_name(credential: &str) -> String {
    format!("{PREFIX}{credential}")
}

/// SDS name of a credential's CA bundle.
pub fn ca_name(credential: &str) -> String {
    format!("{PREFIX}{credential}{CA_SUFFIX}")
}

fn value(s: &KubeSecret, keys: &[&str]) -> Option<Vec<u8>> {
    keys.iter().find_map(|k| {
        if let Some(text) = s.string_data.get(*k) {
            return Some(text.clone().into_bytes());
        }
        let raw: String = s.data.get(*k)?.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD.decode(raw).ok()
    })
}

fn inline(bytes: Vec<u8>) -> DataSource {
    DataSource {
        specifier: Some(data_source::Specifier::InlineBytes(bytes)),
        ..Default::default()
    }
}

fn lookup<'a>(ctx: &'a Context, namespace: &str, name: &str) -> Option<&'a KubeSecret> {
    ctx.secrets
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .map(|s| &s.spec)
}

/// The credential's name if a gateway in `namespace` may read it.
fn own_name<'a>(namespace: &str, credential: &'a str) -> Option<&'a str> {
    match credential.split_once('/') {
        Some((ns, name)) if ns == namespace => Some(name),
        Some(_) => None,
        None => Some(credential),
    }
}

/// The certificate secret for a gateway in `namespace`, if readable and complete.
pub fn certificate(ctx: &Context, namespace: &str, credential: &str) -> Option<Secret> {
    let name = own_name(namespace, credential)?;
    let s = lookup(ctx, namespace, name)?;
    let chain = value(s, &["tls.crt", "cert"])?;
    let key = value(s, &["tls.key", "key"])?;
    Some(Secret {
        name: certificate_name(credential),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(inline(chain)),
            private_key: Some(inline(key)),
            ..Default::default()
        })),
    })
}

/// The CA secret (for MUTUAL servers) for a gateway in `namespace`.
pub fn ca_bundle(ctx: &Context, namespace: &str, credential: &str) -> Option<Secret> {
    let name = own_name(namespace, credential)?;
    let ca = lookup(ctx, namespace, name)
        .and_then(|s| value(s, &["ca.crt", "cacert"]))
        .or_else(|| {
            let separate = lookup(ctx, namespace, &format!("{name}{CA_SUFFIX}"))?;
            value(separate, &["ca.crt", "cacert"])
        })?;
    Some(Secret {
        name: ca_name(credential),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: Some(inline(ca)),
                ..Default::default()
            },
        )),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_config::model::mesh::MeshConfig;
    use weft_registry::Registry;

    use super::*;

    fn ctx(yaml: &str) -> Context {
        let loaded = weft_config::load_str("test.yaml", yaml, &Default::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.problems);
        Context::new(
            &loaded.objects,
            Arc::new(Registry::default()),
            MeshConfig::default(),
        )
    }

    const SECRETS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: web, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: Q0VSVA==, tls.key: S0VZ, ca.crt: Q0E=}
---
apiVersion: v1
kind: Secret
metadata: {name: other, namespace: default}
stringData: {cert: C, key: K}
"#;

    fn bytes(s: &Secret) -> Vec<u8> {
        let ds = match &s.r#type {
            Some(secret::Type::TlsCertificate(t)) => t.certificate_chain.clone(),
            Some(secret::Type::ValidationContext(v)) => v.trusted_ca.clone(),
            _ => None,
        };
        match ds.and_then(|d| d.specifier) {
            Some(data_source::Specifier::InlineBytes(b)) => b,
            other => panic!("not inline bytes: {other:?}"),
        }
    }

    #[test]
    fn reads_own_namespace_with_base64_and_ca() {
        let c = ctx(SECRETS);
        let cert = certificate(&c, "istio-system", "web").expect("certificate");
        assert_eq!(cert.name, "kubernetes://web");
        assert_eq!(bytes(&cert), b"CERT");
        let ca = ca_bundle(&c, "istio-system", "web").expect("ca");
        assert_eq!(ca.name, "kubernetes://web-cacert");
        assert_eq!(bytes(&ca), b"CA");
    }

    #[test]
    fn never_reads_another_namespace() {
        let c = ctx(SECRETS);
        assert!(certificate(&c, "istio-system", "other").is_none());
        assert!(certificate(&c, "istio-system", "default/other").is_none());
        assert!(certificate(&c, "default", "other").is_some());
    }
}
