//! What `/certs` shows (Envoy's `CertificatesInfo` JSON): per certificate its serial, SANs and
//! validity, for the secrets in the store and the inline certificates of the served config.
//! Only public certificate data is read; keys are never touched here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use weft_proxy_config::access_log::format_time;
use weft_proxy_config::runtime::Snapshot;
use weft_proxy_config::runtime::secret::Secret;
use weft_proxy_config::runtime::tls::{CaSource, CertSource, CommonTls};

use crate::secrets::SecretStore;

/// Envoy's `CertificateDetails` of each certificate in a PEM bundle.
pub fn details(path: &str, pem: &str) -> Vec<Value> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .filter_map(|der| one(path, &der))
        .collect()
}

fn one(path: &str, der: &[u8]) -> Option<Value> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::URI(u) => sans.push(json!({ "uri": u })),
                GeneralName::DNSName(d) => sans.push(json!({ "dns": d })),
                _ => {}
            }
        }
    }
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let not_before = at(cert.validity().not_before.timestamp());
    let not_after = at(cert.validity().not_after.timestamp());
    let days_left = not_after
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs() / 86_400);
    Some(json!({
        "path": path,
        "serial_number": serial_hex(cert.tbs_certificate.raw_serial()),
        "subject_alt_names": sans,
        "days_until_expiration": days_left.to_string(),
        "valid_from": format_time(not_before),
        "expiration_time": format_time(not_after),
    }))
}

/// Lowercase hex without leading zero bytes, as Envoy prints serials.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    raw[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `/certs` document.
pub fn certs_json(store: &SecretStore, snap: &Snapshot) -> Value {
    let mut out = Vec::new();
    for (name, secret) in store.all() {
        out.push(match &*secret {
            Secret::Certificate(c) => {
                json!({"ca_cert": [], "cert_chain": details(&name, &c.chain_pem)})
            }
            Secret::Validation(v) => {
                json!({"ca_cert": details(&name, &v.trusted_ca_pem), "cert_chain": []})
            }
        });
    }
    for common in inline_contexts(snap) {
        let chain = match &common.certificate {
            Some(CertSource::Inline(c)) => details("<inline>", &c.chain_pem),
            _ => Vec::new(),
        };
        let ca = match &common.validation.ca {
            Some(CaSource::Inline(pem)) => details("<inline>", pem),
            _ => Vec::new(),
        };
        if !chain.is_empty() || !ca.is_empty() {
            out.push(json!({"ca_cert": ca, "cert_chain": chain}));
        }
    }
    json!({ "certificates": out })
}

fn inline_contexts(snap: &Snapshot) -> Vec<&CommonTls> {
    let chains = snap
        .listeners
        .values()
        .flat_map(|l| l.chains.iter().chain(l.default_chain.iter()))
        .filter_map(|c| c.tls.as_deref().map(|t| &t.common));
    let clusters = snap
        .clusters
        .values()
        .flat_map(|c| {
            let matches = c.tls_matches.iter().filter_map(|m| m.tls.as_deref());
            c.tls.as_deref().into_iter().chain(matches)
        })
        .map(|t| &t.common);
    chains.chain(clusters).collect()
}
