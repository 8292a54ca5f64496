//! Istio's names for generated resources.

/// `outbound|9080|v1|reviews.default.svc.cluster.local` (subset may be empty).
pub fn outbound_cluster(port: u32, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}")
}

/// `inbound|9080||`.
pub fn inbound_cluster(port: u32) -> String {
    format!("inbound|{port}||")
}

/// `0.0.0.0_9080`, `10.96.0.10_3306`.
pub fn listener(address: &str, port: u32) -> String {
    format!("{address}_{port}")
}

/// `echo.default.svc.cluster.local:7070`: a proxyless gRPC client's listener and route
/// configuration, named like the client's target (`xds:///HOST:PORT`).
pub fn api_listener(host: &str, port: u32) -> String {
    format!("{host}:{port}")
}

/// `http.8080`: a gateway's route configuration for a port.
pub fn gateway_route(port: u32) -> String {
    format!("http.{port}")
}

pub const VIRTUAL_OUTBOUND: &str = "virtualOutbound";
pub const VIRTUAL_INBOUND: &str = "virtualInbound";
pub const PASSTHROUGH_CLUSTER: &str = "PassthroughCluster";
pub const BLACKHOLE_CLUSTER: &str = "BlackHoleCluster";
pub const INBOUND_PASSTHROUGH_CLUSTER: &str = "InboundPassthroughCluster";
pub const OUTBOUND_PORT: u32 = 15001;
pub const INBOUND_PORT: u32 = 15006;
pub const WILDCARD: &str = "0.0.0.0";

/// The domains a virtual host answers to: the host with its short forms when the client is in
/// the same namespace (`reviews`, `reviews.default`, `reviews.default.svc`, ...), the VIPs,
/// each with and without `:port`.
pub fn domains(
    host: &str,
    service_namespace: &str,
    proxy_namespace: &str,
    vips: &[String],
    port: u32,
) -> Vec<String> {
    let mut names = vec![host.to_string()];
    let suffix = format!(".{service_namespace}.svc.");
    if let Some(idx) = host.find(&suffix) {
        let short = &host[..idx];
        let with_ns = format!("{short}.{service_namespace}");
        let mut forms = vec![format!("{with_ns}.svc")];
        // `reviews.default.svc.cluster` for `...svc.cluster.local`.
        let rest = &host[idx + suffix.len()..];
        if let Some((first, _)) = rest.split_once('.') {
            forms.push(format!("{with_ns}.svc.{first}"));
        }
        forms.push(with_ns);
        if service_namespace == proxy_namespace {
            forms.push(short.to_string());
        }
        names.extend(forms);
    }
    names.extend(vips.iter().cloned());
    let mut out = Vec::with_capacity(names.len() * 2);
    for n in names {
        out.push(format!("{n}:{port}"));
        out.push(n);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_domains() {
        let d = domains(
            "reviews.default.svc.cluster.local",
            "default",
            "default",
            &["10.0.0.1".into()],
            9080,
        );
        for want in [
            "reviews",
            "reviews:9080",
            "reviews.default",
            "reviews.default.svc",
            "reviews.default.svc.cluster",
            "10.0.0.1:9080",
        ] {
            assert!(d.contains(&want.to_string()), "{want} in {d:?}");
        }
        let other = domains(
            "reviews.default.svc.cluster.local",
            "default",
            "other",
            &[],
            9080,
        );
        assert!(!other.contains(&"reviews".to_string()));
        assert!(other.contains(&"reviews.default".to_string()));
        assert_eq!(
            domains("httpbin.org", "x", "x", &[], 80),
            vec!["httpbin.org", "httpbin.org:80"]
        );
    }
}
