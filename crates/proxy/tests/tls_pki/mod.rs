//! A test PKI made with rcgen: a CA and leaf certificates with SPIFFE URI SANs, written to a
//! temporary directory for curl and openssl, and as inline YAML/secrets for the proxy.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use weft_proxy_config::runtime::secret::{PrivateKey, Secret, TlsCertificate, ValidationContext};

pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `spiffe://cluster.local/ns/default/sa/{sa}` (and DNS `localhost`).
    pub fn leaf(&self, sa: &str, serial: u64) -> Leaf {
        self.leaf_with(
            &format!("spiffe://cluster.local/ns/default/sa/{sa}"),
            serial,
            None,
        )
    }

    /// A leaf with one URI SAN; `validity` as (not_before, not_after) years when given.
    pub fn leaf_with(&self, uri: &str, serial: u64, validity: Option<(i32, i32)>) -> Leaf {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "workload");
        p.subject_alt_names = vec![
            SanType::URI(uri.try_into().unwrap()),
            SanType::DnsName("localhost".try_into().unwrap()),
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        if let Some((from, to)) = validity {
            p.not_before = rcgen::date_time_ymd(from, 1, 1);
            p.not_after = rcgen::date_time_ymd(to, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    pub fn root_secret(&self) -> Secret {
        Secret::Validation(ValidationContext {
            trusted_ca_pem: self.pem(),
        })
    }
}

pub struct Leaf {
    pub chain_pem: String,
    pub key_pem: String,
    pub serial: u64,
}

impl Leaf {
    pub fn secret(&self) -> Secret {
        Secret::Certificate(TlsCertificate {
            chain_pem: self.chain_pem.clone(),
            key: PrivateKey::new(self.key_pem.clone()),
        })
    }

    /// Writes `NAME.crt` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &Files, name: &str) -> (PathBuf, PathBuf) {
        (
            dir.write(&format!("{name}.crt"), &self.chain_pem),
            dir.write(&format!("{name}.key"), &self.key_pem),
        )
    }
}

/// A temporary directory removed on drop.
pub struct Files(pub PathBuf);

impl Files {
    pub fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!(
            "weft-tls-{tag}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// PEM text as an indented YAML block scalar (`|` then lines at `indent` spaces).
pub fn yaml_block(pem: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::from("|\n");
    for line in pem.lines() {
        out.push_str(&pad);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Runs a command with stdin, returning (success, stdout+stderr). Fails loudly when missing.
pub fn run(cmd: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} is required for this test: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// --- bootstrap pieces (JSON, which the YAML bootstrap loader reads as well) ------------------

use serde_json::{Value, json};

pub const TLS_SOCKET: &str = "envoy.transport_sockets.tls";
const DOWNSTREAM: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UPSTREAM: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

pub fn inline(pem: &str) -> Value {
    json!({ "inline_string": pem })
}

/// `tls_certificates: [...]` entry from inline PEM.
pub fn inline_cert(leaf: &Leaf) -> Value {
    json!({"certificate_chain": inline(&leaf.chain_pem), "private_key": inline(&leaf.key_pem)})
}

/// An SDS reference served by the in-process identity agent (`sds-grpc`).
pub fn agent_sds(name: &str) -> Value {
    json!({"name": name, "sds_config": {"api_config_source": {"api_type": "GRPC",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}]}}})
}

/// Istio's shape: key and chain `default`, trust bundle `ROOTCA`, SANs in the default context.
pub fn istio_common(sans: &[&str], alpn: &[&str]) -> Value {
    let matchers: Vec<Value> = sans
        .iter()
        .map(|s| json!({"san_type": "URI", "matcher": {"exact": s}}))
        .collect();
    json!({
        "tls_certificate_sds_secret_configs": [agent_sds("default")],
        "combined_validation_context": {
            "default_validation_context": {"match_typed_subject_alt_names": matchers},
            "validation_context_sds_secret_config": agent_sds("ROOTCA"),
        },
        "alpn_protocols": alpn,
    })
}

pub fn downstream(common: Value, require_client_certificate: bool) -> Value {
    json!({"name": TLS_SOCKET, "typed_config": {"@type": DOWNSTREAM,
        "common_tls_context": common,
        "require_client_certificate": require_client_certificate}})
}

pub fn upstream(common: Value, sni: &str) -> Value {
    json!({"name": TLS_SOCKET, "typed_config": {"@type": UPSTREAM,
        "common_tls_context": common, "sni": sni}})
}

pub fn file_log(path: &std::path::Path, format: &str) -> Value {
    json!([{"name": "log", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path, "log_format": {"text_format_source": {"inline_string": format}}}}])
}

/// An HTTP connection manager routing everything to `cluster`.
pub fn hcm_to(cluster: &str, access_log: Value) -> Value {
    json!({"name": "hcm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        "access_log": access_log}})
}

/// An HTTP connection manager answering `body` itself.
pub fn hcm_direct(body: &str) -> Value {
    json!({"name": "hcm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "direct",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"},
                "direct_response": {"status": 200, "body": {"inline_string": body}}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}})
}

pub fn tcp_to(cluster: &str) -> Value {
    json!({"name": "tcp", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "tcp", "cluster": cluster}})
}

pub fn listener(name: &str, port: u16, chains: Vec<Value>, tls_inspector: bool) -> Value {
    let filters: Vec<Value> = if tls_inspector {
        vec![
            json!({"name": "envoy.filters.listener.tls_inspector", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}),
        ]
    } else {
        Vec::new()
    };
    json!({"name": name, "stat_prefix": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": filters, "filter_chains": chains})
}

pub fn chain(filter: Value, transport_socket: Option<Value>, transport_protocol: &str) -> Value {
    let mut c = json!({"filters": [filter]});
    if let Some(ts) = transport_socket {
        c["transport_socket"] = ts;
    }
    if !transport_protocol.is_empty() {
        c["filter_chain_match"] = json!({"transport_protocol": transport_protocol});
    }
    c
}

pub fn cluster(name: &str, addr: std::net::SocketAddr, ts: Option<Value>) -> Value {
    let mut c = json!({"name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint":
            {"address": {"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}}}}]}]}});
    if let Some(ts) = ts {
        c["transport_socket"] = ts;
    }
    c
}

pub fn bootstrap(listeners: Vec<Value>, clusters: Vec<Value>, secrets: Vec<Value>) -> String {
    let admin = super::common::free_port();
    json!({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": listeners, "clusters": clusters, "secrets": secrets}})
    .to_string()
}

/// A TLS client for `localhost` trusting `ca`, optionally presenting `leaf`.
pub fn client_config(
    ca: &Ca,
    leaf: Option<&Leaf>,
    alpn: &[&str],
) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match leaf {
        Some(l) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(l.chain_pem.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(l.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    std::sync::Arc::new(cfg)
}
