//! "Did you mean" hints for serde's unknown-field and unknown-variant errors.

use crate::model::FieldError;

/// Turns a serde error message at `path` into a field error. serde reports an unknown field
/// at the path of the object that contains it, so the field itself is appended to the path.
pub(crate) fn field_error(path: String, message: String) -> FieldError {
    if let Some((name, expected)) = parse_unknown(&message, "unknown field `") {
        let path = if path.is_empty() {
            name.clone()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path
        } else {
            format!("{path}.{name}")
        };
        let message = match closest(&name, &expected) {
            Some(best) => format!("unknown field \"{name}\" (did you mean \"{best}\"?)"),
            None if expected.is_empty() => {
                format!("unknown field \"{name}\": this object has no fields")
            }
            None => format!(
                "unknown field \"{name}\" (known fields: {})",
                expected.join(", ")
            ),
        };
        return FieldError { path, message };
    }
    if let Some((name, expected)) = parse_unknown(&message, "unknown variant `") {
        let message = match closest(&name, &expected) {
            Some(best) => format!("unknown value \"{name}\" (did you mean \"{best}\"?)"),
            None => format!(
                "unknown value \"{name}\" (expected one of: {})",
                expected.join(", ")
            ),
        };
        return FieldError { path, message };
    }
    FieldError {
        path,
        message: tidy(&message),
    }
}

/// serde writes `invalid type: string "x", expected u32`; keep it, minus the backticks.
fn tidy(message: &str) -> String {
    message.replace('`', "\"")
}

/// Parses "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`",
/// "expected `a`", "there are no fields").
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    let name = rest[..end].to_string();
    let tail = &rest[end + 1..];
    let expected = tail
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect();
    Some((name, expected))
}

/// The candidate nearest to `name`, when near enough to be a likely typo.
pub fn closest(name: &str, candidates: &[String]) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            let score = strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase());
            (score, c)
        })
        .filter(|(score, c)| *score <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(score, _)| *score)
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_field() {
        let e = field_error(
            "spec".into(),
            "unknown field `hots`, expected one of `hosts`, `gateways`, `http`".into(),
        );
        assert_eq!(e.path, "spec.hots");
        assert_eq!(
            e.message,
            "unknown field \"hots\" (did you mean \"hosts\"?)"
        );
    }

    #[test]
    fn lists_fields_when_nothing_is_close() {
        let e = field_error(
            String::new(),
            "unknown field `zzzzzz`, expected `spec` or `status`".into(),
        );
        assert_eq!(e.path, "zzzzzz");
        assert!(
            e.message.contains("known fields: spec, status"),
            "{}",
            e.message
        );
    }

    #[test]
    fn suggests_enum_values() {
        let e = field_error(
            "spec.trafficPolicy.tls.mode".into(),
            "unknown variant `ISTIO_MUTAUL`, expected one of `DISABLE`, `SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL`".into(),
        );
        assert_eq!(
            e.message,
            "unknown value \"ISTIO_MUTAUL\" (did you mean \"ISTIO_MUTUAL\"?)"
        );
    }
}
