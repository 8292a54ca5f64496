//! The fault filter (`envoy.filters.http.fault`): compiled `HTTPFault` and the per-request
//! decision whether to delay and/or abort. The caller enforces `max_active_faults` (it owns the
//! counter) and supplies the random rolls, so the decision is deterministic under test.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::error::{At, Result};
use crate::model::filters::{self as m, FractionalPercent};

pub const DELAY_HEADER: &str = "x-envoy-fault-delay-request";
pub const DELAY_PERCENT_HEADER: &str = "x-envoy-fault-delay-request-percentage";
pub const ABORT_HEADER: &str = "x-envoy-fault-abort-request";
pub const ABORT_GRPC_HEADER: &str = "x-envoy-fault-abort-grpc-request";
pub const ABORT_PERCENT_HEADER: &str = "x-envoy-fault-abort-request-percentage";

/// A compiled `FractionalPercent`: `numerator` out of `denominator` (100, 10 000, 1 000 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    pub numerator: u32,
    pub denominator: u32,
}

impl Fraction {
    /// An unset percentage is 0 %, as protobuf's default `FractionalPercent`.
    pub fn from_model(p: Option<FractionalPercent>) -> Self {
        let p = p.unwrap_or_default();
        Self {
            numerator: p.numerator,
            denominator: p.denominator.value(),
        }
    }

    /// Whether a roll uniform in `0..denominator` falls inside the fraction (a numerator above
    /// the denominator means 100 %).
    pub fn hit(&self, roll: u32) -> bool {
        roll < self.numerator.min(self.denominator)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelaySource {
    Fixed(Duration),
    /// Milliseconds from `x-envoy-fault-delay-request`.
    Header,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortSource {
    Http(StatusCode),
    Grpc(u32),
    /// Status from `x-envoy-fault-abort-request` or `x-envoy-fault-abort-grpc-request`.
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub delay: Option<(DelaySource, Fraction)>,
    pub abort: Option<(AbortSource, Fraction)>,
    pub max_active_faults: Option<u32>,
}

/// How a request is aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    Http(StatusCode),
    /// Answered as HTTP 200 with `grpc-status` (trailers-only).
    Grpc(u32),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultDecision {
    pub delay: Option<Duration>,
    pub abort: Option<Abort>,
}

impl FaultDecision {
    pub fn is_fault(&self) -> bool {
        self.delay.is_some() || self.abort.is_some()
    }
}

pub fn compile_fault(at: &At<'_>, f: &m::HttpFault) -> Result<Fault> {
    let delay = match &f.delay {
        None => None,
        Some(d) => {
            let dat = at.field("delay");
            let source = match (&d.fixed_delay, &d.header_delay) {
                (Some(t), None) => DelaySource::Fixed(t.0),
                (None, Some(_)) => DelaySource::Header,
                _ => return Err(dat.err("exactly one of fixed_delay, header_delay is required")),
            };
            Some((source, Fraction::from_model(d.percentage)))
        }
    };
    let abort = match &f.abort {
        None => None,
        Some(a) => Some((
            abort_source(&at.field("abort"), a)?,
            Fraction::from_model(a.percentage),
        )),
    };
    Ok(Fault {
        delay,
        abort,
        max_active_faults: f.max_active_faults,
    })
}

fn abort_source(at: &At<'_>, a: &m::FaultAbort) -> Result<AbortSource> {
    match (a.http_status, a.grpc_status, &a.header_abort) {
        (Some(s), None, None) => u16::try_from(s)
            .ok()
            .filter(|s| (200..600).contains(s))
            .and_then(|s| StatusCode::from_u16(s).ok())
            .map(AbortSource::Http)
            .ok_or_else(|| at.field("http_status").err("must be between 200 and 599")),
        (None, Some(g), None) => Ok(AbortSource::Grpc(g)),
        (None, None, Some(_)) => Ok(AbortSource::Header),
        _ => Err(at.err("exactly one of http_status, grpc_status, header_abort is required")),
    }
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The configured fraction, lowered (never raised) by a percentage request header.
fn effective(f: Fraction, h: &HeaderMap, header: &str, from_header: bool) -> Fraction {
    match header_u64(h, header) {
        Some(n) if from_header => Fraction {
            numerator: f.numerator.min(u32::try_from(n).unwrap_or(u32::MAX)),
            ..f
        },
        _ => f,
    }
}

impl Fault {
    /// Decides the faults for one request; `roll(n)` returns a uniform value in `0..n`.
    pub fn decide(&self, h: &HeaderMap, roll: &mut dyn FnMut(u32) -> u32) -> FaultDecision {
        let mut out = FaultDecision::default();
        if let Some((source, frac)) = self.delay {
            let header = source == DelaySource::Header;
            let frac = effective(frac, h, DELAY_PERCENT_HEADER, header);
            let delay = match source {
                DelaySource::Fixed(d) => Some(d),
                DelaySource::Header => header_u64(h, DELAY_HEADER).map(Duration::from_millis),
            };
            if delay.is_some() && frac.hit(roll(frac.denominator)) {
                out.delay = delay;
            }
        }
        if let Some((source, frac)) = self.abort {
            let header = source == AbortSource::Header;
            let frac = effective(frac, h, ABORT_PERCENT_HEADER, header);
            let abort = match source {
                AbortSource::Http(s) => Some(Abort::Http(s)),
                AbortSource::Grpc(g) => Some(Abort::Grpc(g)),
                AbortSource::Header => header_abort(h),
            };
            if abort.is_some() && frac.hit(roll(frac.denominator)) {
                out.abort = abort;
            }
        }
        out
    }
}

fn header_abort(h: &HeaderMap) -> Option<Abort> {
    if let Some(s) = header_u64(h, ABORT_HEADER) {
        return u16::try_from(s)
            .ok()
            .filter(|s| (200..600).contains(s))
            .and_then(|s| StatusCode::from_u16(s).ok())
            .map(Abort::Http);
    }
    header_u64(h, ABORT_GRPC_HEADER)
        .and_then(|g| u32::try_from(g).ok())
        .map(Abort::Grpc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: serde_json::Value) -> Fault {
        let f: m::HttpFault = serde_json::from_value(json).expect("model");
        compile_fault(&At::new("t"), &f).expect("compile")
    }

    #[test]
    fn fractions_by_denominator() {
        let f = |n, d: &str| {
            let p: FractionalPercent =
                serde_json::from_value(serde_json::json!({"numerator": n, "denominator": d}))
                    .expect("fraction");
            Fraction::from_model(Some(p))
        };
        let hundred = f(30, "HUNDRED");
        assert!(hundred.hit(29) && !hundred.hit(30));
        assert_eq!(f(5000, "MILLION").denominator, 1_000_000);
        assert!(f(5000, "MILLION").hit(4999) && !f(5000, "MILLION").hit(5000));
        assert!(f(1, "TEN_THOUSAND").hit(0) && !f(1, "TEN_THOUSAND").hit(1));
        assert!(f(200, "HUNDRED").hit(99));
        assert!(!Fraction::from_model(None).hit(0));
    }

    #[test]
    fn fixed_delay_and_http_abort() {
        let f = fault(serde_json::json!({
            "delay": {"fixed_delay": "2s", "percentage": {"numerator": 10}},
            "abort": {"http_status": 503, "percentage": {"numerator": 50}}
        }));
        let h = HeaderMap::new();
        let d = f.decide(&h, &mut |_| 5);
        assert_eq!(d.delay, Some(Duration::from_secs(2)));
        assert_eq!(d.abort, Some(Abort::Http(StatusCode::SERVICE_UNAVAILABLE)));
        let d = f.decide(&h, &mut |_| 60);
        assert!(!d.is_fault());
        let d = f.decide(&h, &mut |_| 20);
        assert_eq!((d.delay, d.abort.is_some()), (None, true));
    }

    #[test]
    fn header_faults_only_when_configured() {
        let mut h = HeaderMap::new();
        h.insert(ABORT_HEADER, "429".parse().expect("v"));
        h.insert(DELAY_HEADER, "150".parse().expect("v"));
        let plain = fault(
            serde_json::json!({"abort": {"grpc_status": 14, "percentage": {"numerator": 100}}}),
        );
        assert_eq!(plain.decide(&h, &mut |_| 0).abort, Some(Abort::Grpc(14)));
        assert_eq!(plain.decide(&h, &mut |_| 0).delay, None);
        let by_header = fault(serde_json::json!({
            "abort": {"header_abort": {}, "percentage": {"numerator": 100}},
            "delay": {"header_delay": {}, "percentage": {"numerator": 100}}
        }));
        let d = by_header.decide(&h, &mut |_| 0);
        assert_eq!(d.abort, Some(Abort::Http(StatusCode::TOO_MANY_REQUESTS)));
        assert_eq!(d.delay, Some(Duration::from_millis(150)));
        h.insert(ABORT_PERCENT_HEADER, "0".parse().expect("v"));
        assert_eq!(by_header.decide(&h, &mut |_| 0).abort, None);
        assert!(!by_header.decide(&HeaderMap::new(), &mut |_| 0).is_fault());
    }

    #[test]
    fn invalid_abort_rejected() {
        let f: m::HttpFault =
            serde_json::from_value(serde_json::json!({"abort": {"http_status": 99}})).expect("m");
        let e = compile_fault(&At::new("Listener l").field("abort_cfg"), &f).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "Listener l: abort_cfg.abort.http_status: must be between 200 and 599"
        );
    }
}
