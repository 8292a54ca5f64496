//! Access-log formats: Envoy's command operators parsed once, rendered per request from a
//! plain record. Istio's default text format is the default.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// Istio's default proxy access-log format.
pub const ISTIO_DEFAULT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// What one request or connection left for the access log.
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    pub start_time: Option<SystemTime>,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub protocol: String,
    pub response_code: u16,
    pub response_flags: String,
    pub response_code_details: String,
    /// Why the proxy closed the connection (network RBAC: the denying policy).
    pub connection_termination_details: String,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration: Duration,
    pub request_headers: HeaderMap,
    pub response_headers: HeaderMap,
    pub upstream_host: Option<SocketAddr>,
    pub upstream_cluster: String,
    pub upstream_local: Option<SocketAddr>,
    pub upstream_failure: String,
    pub downstream_local: Option<SocketAddr>,
    pub downstream_remote: Option<SocketAddr>,
    pub server_name: String,
    pub route_name: String,
    /// URI SANs of the downstream TLS peer's certificate, comma-separated.
    pub downstream_peer_uri_san: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    StartTime,
    Req(String, Option<String>),
    Resp(String),
    Protocol,
    ResponseCode,
    ResponseFlags,
    ResponseCodeDetails,
    ConnectionTerminationDetails,
    UpstreamTransportFailureReason,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    DownstreamLocalAddress,
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    RequestedServerName,
    RouteName,
    DownstreamPeerUriSan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Op(Op, Option<usize>),
}

/// A parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    segments: Vec<Segment>,
}

impl Format {
    /// Parses Envoy's `%OPERATOR(arg):maxlen%` syntax; `%%` is a literal `%`.
    pub fn parse(text: &str) -> Result<Format, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while let Some(pos) = rest.find('%') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(r) = after.strip_prefix('%') {
                literal.push('%');
                rest = r;
                continue;
            }
            let end = after
                .find('%')
                .ok_or_else(|| format!("unterminated operator at {:?}", &rest[pos..]))?;
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            let (op, max) = parse_op(&after[..end])?;
            segments.push(Segment::Op(op, max));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Format { segments })
    }

    pub fn istio_default() -> Format {
        Self::parse(ISTIO_DEFAULT_FORMAT).unwrap_or(Format {
            segments: Vec::new(),
        })
    }

    pub fn render(&self, r: &LogRecord) -> String {
        let mut out = String::with_capacity(256);
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Op(op, max) => {
                    let v = value(op, r);
                    let v = if v.is_empty() { "-".to_string() } else { v };
                    match max {
                        Some(n) => out.extend(v.chars().take(*n)),
                        None => out.push_str(&v),
                    }
                }
            }
        }
        out
    }
}

fn parse_op(spec: &str) -> Result<(Op, Option<usize>), String> {
    let (body, max) = match spec.rsplit_once("):") {
        Some((b, m)) => (
            format!("{b})"),
            Some(m.parse().map_err(|_| format!("bad length in %{spec}%"))?),
        ),
        None => (spec.to_string(), None),
    };
    let (name, arg) = match body.split_once('(') {
        Some((n, a)) => (n, a.strip_suffix(')').map(str::to_string)),
        None => (body.as_str(), None),
    };
    let header = |arg: Option<String>| arg.ok_or_else(|| format!("%{name}% needs a header name"));
    let op = match name {
        "START_TIME" => Op::StartTime,
        "REQ" => {
            let a = header(arg)?.to_ascii_lowercase();
            match a.split_once('?') {
                Some((x, y)) => Op::Req(x.to_string(), Some(y.to_string())),
                None => Op::Req(a, None),
            }
        }
        "RESP" => Op::Resp(header(arg)?.to_ascii_lowercase()),
        "PROTOCOL" => Op::Protocol,
        "RESPONSE_CODE" => Op::ResponseCode,
        "RESPONSE_FLAGS" => Op::ResponseFlags,
        "RESPONSE_CODE_DETAILS" => Op::ResponseCodeDetails,
        "CONNECTION_TERMINATION_DETAILS" => Op::ConnectionTerminationDetails,
        "UPSTREAM_TRANSPORT_FAILURE_REASON" => Op::UpstreamTransportFailureReason,
        "BYTES_RECEIVED" => Op::BytesReceived,
        "BYTES_SENT" => Op::BytesSent,
        "DURATION" => Op::Duration,
        "UPSTREAM_HOST" => Op::UpstreamHost,
        "UPSTREAM_CLUSTER" | "UPSTREAM_CLUSTER_RAW" => Op::UpstreamCluster,
        "UPSTREAM_LOCAL_ADDRESS" => Op::UpstreamLocalAddress,
        "DOWNSTREAM_LOCAL_ADDRESS" => Op::DownstreamLocalAddress,
        "DOWNSTREAM_REMOTE_ADDRESS" => Op::DownstreamRemoteAddress,
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => Op::DownstreamRemoteAddressWithoutPort,
        "REQUESTED_SERVER_NAME" => Op::RequestedServerName,
        "ROUTE_NAME" => Op::RouteName,
        "DOWNSTREAM_PEER_URI_SAN" => Op::DownstreamPeerUriSan,
        other => return Err(format!("unsupported command operator %{other}%")),
    };
    Ok((op, max))
}

fn header_value(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn addr(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

fn value(op: &Op, r: &LogRecord) -> String {
    match op {
        Op::StartTime => r.start_time.map(format_time).unwrap_or_default(),
        Op::Req(name, alt) => {
            let v = request_value(r, name);
            match alt {
                Some(a) if v.is_empty() => request_value(r, a),
                _ => v,
            }
        }
        Op::Resp(name) => header_value(&r.response_headers, name),
        Op::Protocol => r.protocol.clone(),
        Op::ResponseCode => r.response_code.to_string(),
        Op::ResponseFlags => r.response_flags.clone(),
        Op::ResponseCodeDetails => r.response_code_details.clone(),
        Op::ConnectionTerminationDetails => r.connection_termination_details.clone(),
        Op::UpstreamTransportFailureReason => r.upstream_failure.clone(),
        Op::BytesReceived => r.bytes_received.to_string(),
        Op::BytesSent => r.bytes_sent.to_string(),
        Op::Duration => r.duration.as_millis().to_string(),
        Op::UpstreamHost => addr(r.upstream_host),
        Op::UpstreamCluster => r.upstream_cluster.clone(),
        Op::UpstreamLocalAddress => addr(r.upstream_local),
        Op::DownstreamLocalAddress => addr(r.downstream_local),
        Op::DownstreamRemoteAddress => addr(r.downstream_remote),
        Op::DownstreamRemoteAddressWithoutPort => r
            .downstream_remote
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        Op::RequestedServerName => r.server_name.clone(),
        Op::RouteName => r.route_name.clone(),
        Op::DownstreamPeerUriSan => r.downstream_peer_uri_san.clone(),
    }
}

fn request_value(r: &LogRecord, name: &str) -> String {
    match name {
        ":method" => r.method.clone(),
        ":path" => r.path.clone(),
        ":authority" => r.authority.clone(),
        _ => header_value(&r.request_headers, name),
    }
}

/// RFC 3339 UTC with milliseconds, as Envoy's default `%START_TIME%`.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
    s
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_default_and_renders_dashes() {
        let f = Format::istio_default();
        let mut r = LogRecord {
            method: "GET".into(),
            path: "/x".into(),
            protocol: "HTTP/1.1".into(),
            response_code: 503,
            response_flags: "UF".into(),
            upstream_cluster: "backend".into(),
            start_time: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            ..Default::default()
        };
        r.request_headers
            .insert("x-request-id", "abc".parse().expect("hv"));
        let line = f.render(&r);
        assert!(
            line.starts_with("[2023-11-14T22:13:20.123Z] \"GET /x HTTP/1.1\" 503 UF "),
            "{line}"
        );
        assert!(line.contains("\"abc\""), "{line}");
        assert!(line.contains(" backend "), "{line}");
        assert!(line.ends_with(" - -\n"), "{line}");
    }

    #[test]
    fn alternative_header_truncation_and_errors() {
        let f = Format::parse("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(USER-AGENT):3% 100%%")
            .expect("parse");
        let mut r = LogRecord {
            path: "/p".into(),
            ..Default::default()
        };
        r.request_headers
            .insert("user-agent", "curl/8".parse().expect("hv"));
        assert_eq!(f.render(&r), "/p cur 100%");
        assert!(Format::parse("%NOPE%").is_err());
        assert!(Format::parse("%REQ(x)").is_err());
    }
}
