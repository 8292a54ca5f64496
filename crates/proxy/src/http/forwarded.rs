//! What the connection manager does to a request's headers on arrival: `x-request-id`,
//! `x-forwarded-for` / `-proto` and, for external callers, removal of `x-envoy-*`.

use http::Request;
use http::header::{Entry, HeaderName, HeaderValue};

use super::Ctx;
use super::request_body::DownstreamBody;

pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(super) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Request id, `x-forwarded-for` and `x-forwarded-proto`, as Envoy's connection manager.
pub(super) fn prepare_request(ctx: &Ctx, req: &mut Request<DownstreamBody>) -> Option<HeaderValue> {
    let hcm = &ctx.hcm;
    let h = req.headers_mut();
    if hcm.use_remote_address && !is_internal(ctx.meta.peer.ip()) {
        strip_envoy_headers(h);
    }
    if hcm.use_remote_address && !hcm.skip_xff_append {
        let ip = ctx.meta.peer.ip().to_string();
        let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) if !prev.is_empty() => format!("{prev}, {ip}"),
            _ => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            h.insert(X_FORWARDED_FOR.clone(), v);
        }
    }
    let proto = HeaderValue::from_static(if ctx.meta.tls.is_some() {
        "https"
    } else {
        "http"
    });
    // One lookup per header (entry), not a check and then an insert.
    match h.entry(X_FORWARDED_PROTO.clone()) {
        Entry::Occupied(mut e) if hcm.use_remote_address => {
            e.insert(proto);
        }
        Entry::Occupied(_) => {}
        Entry::Vacant(e) => {
            e.insert(proto);
        }
    }
    // Envoy resets the id of an edge request only: one from an external (non-internal) peer
    // when the manager uses the remote address.
    let edge = hcm.use_remote_address && !is_internal(ctx.meta.peer.ip());
    let keep_external = hcm.preserve_external_request_id || !edge;
    let new_id = || HeaderValue::from_bytes(&uuid_v4()).ok();
    match h.entry(X_REQUEST_ID.clone()) {
        Entry::Occupied(mut e) => {
            if !keep_external
                && hcm.generate_request_id
                && let Some(v) = new_id()
            {
                e.insert(v);
            }
            Some(e.get().clone())
        }
        Entry::Vacant(e) if hcm.generate_request_id => new_id().map(|v| e.insert(v).clone()),
        Entry::Vacant(_) => None,
    }
}

/// Envoy's default internal addresses: loopback and private ranges (RFC 1918, RFC 4193).
fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        std::net::IpAddr::V6(v6) => {
            let mapped = v6
                .to_ipv4_mapped()
                .is_some_and(|v4| v4.is_loopback() || v4.is_private());
            mapped || v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// An external caller must not steer the proxy (`x-envoy-upstream-rq-timeout-ms`,
/// `x-envoy-max-retries`, ...) nor pretend to be internal: its `x-envoy-*` headers go, as
/// Envoy sanitizes external requests when it uses the remote address.
fn strip_envoy_headers(h: &mut http::HeaderMap) {
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("x-envoy-"))
        .cloned()
        .collect();
    for name in names {
        h.remove(&name);
    }
}

/// A random (version 4) UUID in its 36-character text form, built without formatting
/// machinery: it is made for every request.
fn uuid_v4() -> [u8; 36] {
    let a = fastrand::u128(..);
    let a = (a & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut nibble = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let shift = 124 - 4 * nibble;
        *slot = HEX[((a >> shift) & 0xF) as usize];
        nibble += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn internal_addresses_are_loopback_and_private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "::1",
            "fd00::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let a = uuid_v4();
        let text = std::str::from_utf8(&a).unwrap();
        let groups: Vec<&str> = text.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12], "{text}");
        assert!(
            groups
                .iter()
                .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert!(text.bytes().all(|b| !b.is_ascii_uppercase()), "{text}");
        assert_eq!(&text[14..15], "4", "version nibble: {text}");
        assert!("89ab".contains(&text[19..20]), "variant nibble: {text}");
        assert_ne!(uuid_v4(), a, "two ids must differ");
    }

    #[test]
    fn external_requests_lose_every_x_envoy_header() {
        let mut h = http::HeaderMap::new();
        h.insert("x-envoy-upstream-rq-timeout-ms", "1".parse().unwrap());
        h.insert("x-envoy-max-retries", "9".parse().unwrap());
        h.insert("x-request-id", "keep".parse().unwrap());
        strip_envoy_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-request-id"));
    }
}
