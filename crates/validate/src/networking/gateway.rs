//! Rules for Gateway: servers, their ports, hosts and bind addresses, and server-side TLS
//! (also used by Sidecar ingress listeners).

use std::collections::BTreeMap;

use weft_config::model::networking::{Gateway, Port, Server, ServerTlsMode, ServerTlsSettings};

use super::{
    Protocol, check_labels, check_port, check_protocol, check_unix_address, is_ip, one_of, report,
};
use crate::Checker;
use crate::common::{HostRules, check_host};

pub fn check(spec: &Gateway, c: &mut Checker) {
    c.require(!spec.servers.is_empty(), "spec.servers");
    for (i, server) in spec.servers.iter().enumerate() {
        check_server(server, &format!("spec.servers[{i}]"), c);
    }
    check_unique_names(spec, c);
    check_labels(c, "spec.selector", &spec.selector);
}

/// Istio requires port names, and server names when set, to be unique across servers (two
/// servers on port 443 need two port names).
fn check_unique_names(spec: &Gateway, c: &mut Checker) {
    let mut ports: BTreeMap<&str, usize> = BTreeMap::new();
    let mut servers: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in spec.servers.iter().enumerate() {
        let port_name = s.port.as_ref().and_then(|p| p.name.as_deref());
        for (seen, name, field) in [
            (&mut ports, port_name, "port.name"),
            (&mut servers, s.name.as_deref(), "name"),
        ] {
            let Some(name) = name else { continue };
            if let Some(first) = seen.get(name) {
                c.error(
                    format!("spec.servers[{i}].{field}"),
                    format!("{field} {name:?} is already used by spec.servers[{first}]"),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }
}

fn check_server(s: &Server, path: &str, c: &mut Checker) {
    c.require(!s.hosts.is_empty(), format!("{path}.hosts"));
    for (i, host) in s.hosts.iter().enumerate() {
        report(c, format!("{path}.hosts[{i}]"), check_gateway_host(host));
    }
    let bind = s.bind.as_deref();
    let protocol = match &s.port {
        None => {
            c.require(false, format!("{path}.port"));
            None
        }
        Some(port) => check_server_port(port, &format!("{path}.port"), bind, c),
    };
    if let Some(bind) = bind {
        let result = if bind.starts_with("unix://") {
            check_unix_address(bind)
        } else if is_ip(bind) {
            Ok(())
        } else {
            Err(format!(
                "bind {bind:?} must be an IP address or a unix:// socket"
            ))
        };
        report(c, format!("{path}.bind"), result);
    }
    if let Some(protocol) = protocol {
        check_server_tls_presence(s, path, protocol, c);
    }
    if let Some(tls) = &s.tls {
        check_server_tls(tls, &format!("{path}.tls"), c);
    }
    if s.default_endpoint.is_some() {
        c.warn(
            format!("{path}.defaultEndpoint"),
            "defaultEndpoint is not implemented for Gateway servers and has no effect",
        );
    }
}

/// `[namespace/]host` where the namespace is `*`, `.` or a namespace name.
fn check_gateway_host(host: &str) -> Result<(), String> {
    if host.starts_with("~/") {
        return Err(format!(
            "{host:?}: namespace \"~\" is only allowed in Sidecar hosts"
        ));
    }
    check_host(host, HostRules::NAMESPACED)
}

/// Checks the port and returns its protocol when valid.
fn check_server_port(
    port: &Port,
    path: &str,
    bind: Option<&str>,
    c: &mut Checker,
) -> Option<Protocol> {
    let on_socket = bind.is_some_and(|b| b.starts_with("unix://"));
    match port.number {
        Some(n) if !on_socket => check_port(c, &format!("{path}.number"), n),
        Some(_) => {}
        None if on_socket => {}
        None => c.require(false, format!("{path}.number")),
    }
    if let Some(t) = port.target_port {
        let at = format!("{path}.targetPort");
        c.warn(
            &at,
            "targetPort is deprecated and ignored for Gateway servers",
        );
        check_port(c, &at, t);
    }
    if port.name.as_deref().is_none_or(str::is_empty) {
        c.require(false, format!("{path}.name"));
    }
    match port.protocol.as_deref() {
        None => {
            c.require(false, format!("{path}.protocol"));
            None
        }
        Some(p) => check_protocol(c, &format!("{path}.protocol"), p),
    }
}

/// HTTPS and TLS servers need TLS settings; others may have none, except that an HTTP server
/// may ask for a redirect to HTTPS.
fn check_server_tls_presence(s: &Server, path: &str, protocol: Protocol, c: &mut Checker) {
    let redirect = s.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
    match &s.tls {
        None if protocol.is_tls() => c.error(
            format!("{path}.tls"),
            "required field is missing (HTTPS and TLS servers need TLS settings)",
        ),
        Some(tls) if !protocol.is_tls() => {
            let only_redirect = *tls
                == ServerTlsSettings {
                    https_redirect: tls.https_redirect,
                    ..Default::default()
                };
            if !(protocol.is_http() && only_redirect) {
                c.error(
                    format!("{path}.tls"),
                    "TLS settings are only allowed on HTTPS and TLS servers (an HTTP server may set only httpsRedirect)",
                );
            }
        }
        _ => {}
    }
    if redirect && protocol != Protocol::Http {
        c.error(
            format!("{path}.tls.httpsRedirect"),
            "httpsRedirect only applies to HTTP servers",
        );
    }
}

/// Server-side TLS of a Gateway server or Sidecar ingress listener.
pub(super) fn check_server_tls(tls: &ServerTlsSettings, path: &str, c: &mut Checker) {
    let sources = [
        ("serverCertificate", tls.server_certificate.is_some()),
        ("credentialName", tls.credential_name.is_some()),
        ("credentialNames", !tls.credential_names.is_empty()),
        ("tlsCertificates", !tls.tls_certificates.is_empty()),
    ];
    one_of(c, path, &sources, false);
    let has_credential = sources[1..].iter().any(|(_, s)| *s);
    // Istio's default mode is PASSTHROUGH.
    match tls.mode.unwrap_or(ServerTlsMode::Passthrough) {
        ServerTlsMode::Simple => check_certificate(tls, path, has_credential, "SIMPLE", c),
        mode @ (ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual) => {
            let name = if mode == ServerTlsMode::Mutual {
                "MUTUAL"
            } else {
                "OPTIONAL_MUTUAL"
            };
            check_certificate(tls, path, has_credential, name, c);
            let has_ca = tls.ca_certificates.is_some()
                || tls.ca_cert_credential_name.is_some()
                || has_credential;
            if !has_ca {
                c.error(
                    format!("{path}.caCertificates"),
                    format!("required field is missing (mode {name} needs a client CA: caCertificates, caCertCredentialName or credentialName)"),
                );
            }
        }
        ServerTlsMode::IstioMutual => {
            for (field, set) in sources {
                if set {
                    c.error(
                        format!("{path}.{field}"),
                        format!("{field} must not be set with mode ISTIO_MUTUAL (Istio provides the certificates)"),
                    );
                }
            }
        }
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough => {
            if sources.iter().any(|(_, s)| *s) || tls.private_key.is_some() {
                c.warn(
                    path,
                    "certificates have no effect when TLS is passed through",
                );
            }
        }
    }
    check_tls_details(tls, path, c);
}

fn check_certificate(
    tls: &ServerTlsSettings,
    path: &str,
    has_credential: bool,
    mode: &str,
    c: &mut Checker,
) {
    if has_credential {
        if tls.private_key.is_some() {
            c.error(
                format!("{path}.privateKey"),
                "privateKey cannot be combined with credentialName, credentialNames or tlsCertificates",
            );
        }
        return;
    }
    for (field, set) in [
        ("serverCertificate", tls.server_certificate.is_some()),
        ("privateKey", tls.private_key.is_some()),
    ] {
        if !set {
            c.error(
                format!("{path}.{field}"),
                format!("required field is missing (mode {mode} needs serverCertificate and privateKey, or credentialName)"),
            );
        }
    }
}

/// Multiple certificates, CRLs and protocol versions.
fn check_tls_details(tls: &ServerTlsSettings, path: &str, c: &mut Checker) {
    if tls.credential_names.len() > 2 {
        c.error(
            format!("{path}.credentialNames"),
            "at most two credentialNames (one RSA and one ECDSA certificate) are supported",
        );
    }
    if tls.tls_certificates.len() > 2 {
        c.error(
            format!("{path}.tlsCertificates"),
            "at most two tlsCertificates (one RSA and one ECDSA certificate) are supported",
        );
    }
    for (i, cert) in tls.tls_certificates.iter().enumerate() {
        let at = format!("{path}.tlsCertificates[{i}]");
        c.require(
            cert.server_certificate.is_some(),
            format!("{at}.serverCertificate"),
        );
        c.require(cert.private_key.is_some(), format!("{at}.privateKey"));
    }
    if tls.ca_crl.is_some() {
        let at = format!("{path}.caCrl");
        if tls.credential_name.is_some() || !tls.credential_names.is_empty() {
            c.error(
                &at,
                "caCrl cannot be combined with credentialName; put the CRL in the secret",
            );
        } else if tls.mode == Some(ServerTlsMode::Simple) {
            c.error(
                &at,
                "caCrl only applies to modes MUTUAL and OPTIONAL_MUTUAL",
            );
        }
    }
    if let (Some(min), Some(max)) = (tls.min_protocol_version, tls.max_protocol_version) {
        use weft_config::model::networking::TlsProtocol::TlsAuto;
        if min != TlsAuto && max != TlsAuto && max < min {
            c.error(
                format!("{path}.maxProtocolVersion"),
                "maxProtocolVersion is older than minProtocolVersion",
            );
        }
    }
}
