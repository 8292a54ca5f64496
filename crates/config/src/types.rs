//! Value types used across Istio and Kubernetes objects: durations in Istio's (Go's) format,
//! IntOrString and resource quantities.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written the way Istio accepts it: a sequence of decimal numbers with
/// units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (`"1s"`, `"100ms"`, `"1h30m"`, `"1.5s"`).
/// Negative durations are parsed (so validation can say they are negative) and kept as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    /// Total length in nanoseconds.
    pub nanos: i128,
}

impl Duration {
    pub const fn from_millis(ms: i64) -> Self {
        Self {
            nanos: ms as i128 * 1_000_000,
        }
    }
    pub const fn from_secs(s: i64) -> Self {
        Self {
            nanos: s as i128 * 1_000_000_000,
        }
    }
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
    /// The duration as a `std::time::Duration`, zero when negative.
    pub fn to_std(&self) -> std::time::Duration {
        let n = self.nanos.clamp(0, u64::MAX as i128) as u64;
        std::time::Duration::from_nanos(n)
    }
    pub fn as_millis(&self) -> i128 {
        self.nanos / 1_000_000
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (use a number with a unit, e.g. \"1s\", \"100ms\", \"1h\")"
)]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let (negative, mut rest) = match input.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, input.strip_prefix('+').unwrap_or(input)),
        };
        if rest == "0" {
            return Ok(Duration::default());
        }
        if rest.is_empty() {
            return Err(err("empty"));
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(err("expected a number"));
            }
            let value: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit")),
            };
            rest = &rest[unit_len..];
            total += value * scale;
        }
        if total > 1e20 {
            return Err(err("too large"));
        }
        let nanos = total.round() as i128;
        Ok(Duration {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

impl fmt::Display for Duration {
    /// Prints the shortest exact form: `1h`, `1.5s`, `100ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0s");
        }
        let sign = if n < 0 { "-" } else { "" };
        let a = n.unsigned_abs();
        for (unit, size) in [
            ("h", 3_600_000_000_000u128),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ] {
            if a.is_multiple_of(size) {
                return write!(f, "{sign}{}{unit}", a / size);
            }
        }
        if a >= 1_000_000_000 {
            let secs = a as f64 / 1e9;
            return write!(f, "{sign}{secs}s");
        }
        write!(f, "{sign}{a}ns")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"1s\" or \"100ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a unit is required, e.g. \"{v}s\""
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_u64(v.unsigned_abs())
            }
        }
        d.deserialize_any(V)
    }
}

/// Kubernetes' IntOrString (`targetPort: 8080` or `targetPort: http`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

/// A Kubernetes resource quantity (`100m`, `1Gi`, `0.5`), kept as written and parseable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Number(f64),
    String(String),
}

impl Quantity {
    /// The value in base units (cores, bytes), or `None` when malformed.
    pub fn value(&self) -> Option<f64> {
        let s = match self {
            Quantity::Number(n) => return Some(*n),
            Quantity::String(s) => s.as_str(),
        };
        let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let base: f64 = num.parse().ok()?;
        let mult = match suffix {
            "" => 1.0,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024.0,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            _ => return None,
        };
        Some(base * mult)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_durations() {
        assert_eq!("1s".parse::<Duration>().unwrap(), Duration::from_secs(1));
        assert_eq!(
            "100ms".parse::<Duration>().unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            "1h30m".parse::<Duration>().unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            "1.5s".parse::<Duration>().unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!("0".parse::<Duration>().unwrap(), Duration::default());
        assert!("-1s".parse::<Duration>().unwrap().is_negative());
    }

    #[test]
    fn refuses_malformed_durations() {
        for bad in ["", "1", "s", "1x", "1.2.3s", "abc"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_shortest_form() {
        assert_eq!(Duration::from_secs(3600).to_string(), "1h");
        assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Duration::from_millis(100).to_string(), "100ms");
    }

    #[test]
    fn deserializes_from_json() {
        let d: Duration = serde_json::from_value(serde_json::json!("10s")).unwrap();
        assert_eq!(d, Duration::from_secs(10));
        assert!(serde_json::from_value::<Duration>(serde_json::json!(5)).is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(Quantity::String("100m".into()).value(), Some(0.1));
        assert_eq!(Quantity::String("1Gi".into()).value(), Some(1073741824.0));
        assert_eq!(Quantity::String("1Zz".into()).value(), None);
    }
}
