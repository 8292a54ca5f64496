//! Listener filters `tls_inspector` and `http_inspector`: peek at the first bytes of a
//! connection (without consuming them) to learn the TLS server name and ALPN, or whether the
//! client speaks HTTP/1.x or h2c, for filter-chain matching.

use std::time::Duration;

use tokio::net::TcpStream;

const PEEK_MAX: usize = 16 * 1024;
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub tls: bool,
    pub server_name: Option<String>,
    pub application_protocols: Vec<String>,
    /// The timeout passed before the inspectors could decide (a server-first protocol, or a
    /// client that sends nothing).
    pub timed_out: bool,
}

impl Inspected {
    pub fn transport_protocol(&self) -> &'static str {
        if self.tls { "tls" } else { "raw_buffer" }
    }
}

/// Peeks until the inspectors have an answer, the peer stops sending or `timeout` passes
/// (`None`: no timeout, as Envoy's `listener_filters_timeout: 0s`).
pub async fn inspect(
    stream: &TcpStream,
    tls: bool,
    http: bool,
    timeout: Option<Duration>,
) -> Inspected {
    let mut buf = vec![0u8; PEEK_MAX];
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut last = 0;
    // Bounded: each round either sees more bytes or waits for readability until the deadline.
    for _ in 0..64 {
        let peeked = match deadline {
            Some(at) => tokio::time::timeout_at(at, stream.peek(&mut buf)).await,
            None => Ok(stream.peek(&mut buf).await),
        };
        let n = match peeked {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => break,
            Err(_) => {
                return Inspected {
                    timed_out: true,
                    ..Inspected::default()
                };
            }
        };
        let data = &buf[..n];
        if let Some(done) = classify(data, tls, http) {
            return done;
        }
        if n == 0 || n == last || n == PEEK_MAX {
            if n == last && n > 0 {
                // No new data yet: wait a little before peeking again.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            break;
        }
        last = n;
    }
    Inspected::default()
}

/// Decides from the bytes seen so far; `None` means "need more bytes".
pub fn classify(data: &[u8], tls: bool, http: bool) -> Option<Inspected> {
    if data.is_empty() {
        return None;
    }
    if tls && data[0] == 0x16 {
        return match parse_client_hello(data) {
            Hello::Done(sni, alpn) => Some(Inspected {
                tls: true,
                server_name: sni,
                application_protocols: alpn,
                timed_out: false,
            }),
            Hello::Partial => None,
            Hello::Invalid => Some(Inspected::default()),
        };
    }
    if http {
        let n = data.len().min(H2_PREFACE.len());
        if data[..n] == H2_PREFACE[..n] {
            return (n == H2_PREFACE.len()).then(|| proto("h2c"));
        }
        if let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
            let line = &data[..line_end];
            return Some(
                if line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0") {
                    proto("http/1.1")
                } else {
                    Inspected::default()
                },
            );
        }
        return if data.len() < 8192 {
            None
        } else {
            Some(Inspected::default())
        };
    }
    Some(Inspected::default())
}

fn proto(p: &str) -> Inspected {
    Inspected {
        application_protocols: vec![p.to_string()],
        ..Inspected::default()
    }
}

enum Hello {
    Done(Option<String>, Vec<String>),
    Partial,
    Invalid,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// Parses the first TLS record holding a ClientHello for SNI and ALPN.
fn parse_client_hello(data: &[u8]) -> Hello {
    let mut rec = Reader(data);
    let (Some(_ct), Some(_ver), Some(len)) = (rec.u8(), rec.u16(), rec.u16()) else {
        return Hello::Partial;
    };
    let Some(body) = rec.take(len) else {
        return Hello::Partial;
    };
    let mut hs = Reader(body);
    if hs.u8() != Some(1) {
        return Hello::Invalid;
    }
    match parse_hello_body(&mut hs) {
        Some(h) => h,
        None => Hello::Invalid,
    }
}

fn parse_hello_body(hs: &mut Reader<'_>) -> Option<Hello> {
    hs.take(3)?; // handshake length
    hs.take(2 + 32)?; // version, random
    hs.vec8()?; // session id
    hs.vec16()?; // cipher suites
    hs.vec8()?; // compression methods
    let mut exts = Reader(hs.vec16().unwrap_or(&[]));
    let (mut sni, mut alpn) = (None, Vec::new());
    while let (Some(kind), Some(body)) = (exts.u16(), exts.vec16()) {
        let mut r = Reader(body);
        match kind {
            0 => {
                let mut list = Reader(r.vec16()?);
                while let (Some(t), Some(name)) = (list.u8(), list.vec16()) {
                    if t == 0 {
                        sni = Some(String::from_utf8_lossy(name).to_ascii_lowercase());
                    }
                }
            }
            16 => {
                let mut list = Reader(r.vec16()?);
                while let Some(p) = list.vec8() {
                    alpn.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            _ => {}
        }
    }
    Some(Hello::Done(sni, alpn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
        let mut exts = Vec::new();
        let name = sni.as_bytes();
        let mut sni_ext = vec![0u8];
        sni_ext.extend((name.len() as u16).to_be_bytes());
        sni_ext.extend(name);
        let mut sni_body = (sni_ext.len() as u16).to_be_bytes().to_vec();
        sni_body.extend(sni_ext);
        exts.extend(0u16.to_be_bytes());
        exts.extend((sni_body.len() as u16).to_be_bytes());
        exts.extend(sni_body);
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend(p.as_bytes());
        }
        let mut alpn_body = (list.len() as u16).to_be_bytes().to_vec();
        alpn_body.extend(list);
        exts.extend(16u16.to_be_bytes());
        exts.extend((alpn_body.len() as u16).to_be_bytes());
        exts.extend(alpn_body);
        let mut body = vec![3, 3];
        body.extend([0u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1, 0];
        hs.extend((body.len() as u16).to_be_bytes());
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn reads_sni_and_alpn() {
        let hello = client_hello("API.example.com", &["h2", "http/1.1"]);
        let got = classify(&hello, true, false).expect("complete");
        assert!(got.tls);
        assert_eq!(got.server_name.as_deref(), Some("api.example.com"));
        assert_eq!(got.application_protocols, vec!["h2", "http/1.1"]);
        assert_eq!(classify(&hello[..20], true, false), None);
    }

    #[test]
    fn detects_http_versions() {
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\nHost: x\r\n", false, true),
            Some(proto("http/1.1"))
        );
        assert_eq!(classify(H2_PREFACE, false, true), Some(proto("h2c")));
        assert_eq!(classify(&H2_PREFACE[..5], false, true), None);
        assert_eq!(
            classify(b"\x00\x01binary\r\n", false, true),
            Some(Inspected::default())
        );
    }
}
