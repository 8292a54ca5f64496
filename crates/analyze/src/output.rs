//! Printing messages the way istioctl does: log lines, or a JSON or YAML list of
//! `{code, documentationUrl, level, message, origin, reference}` (keys in that order, as Go
//! prints maps).

use serde::Serialize;
use serde_json::ser::PrettyFormatter;

use crate::message::Message;

/// Output format of `weft analyze -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Log,
    Json,
    Yaml,
}

/// One message as the JSON and YAML outputs carry it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    code: &'a str,
    documentation_url: String,
    level: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

impl<'a> Entry<'a> {
    fn of(m: &'a Message) -> Entry<'a> {
        Entry {
            code: m.code(),
            documentation_url: m.message_type.documentation_url(),
            level: m.level().as_str(),
            message: &m.text,
            origin: m.origin().map(ToString::to_string),
            reference: m.reference(),
        }
    }

    /// `(key, value)` pairs in output order, for the YAML writer.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("code", self.code),
            ("documentationUrl", self.documentation_url.as_str()),
            ("level", self.level),
            ("message", self.message),
        ];
        if let Some(o) = &self.origin {
            out.push(("origin", o));
        }
        if let Some(r) = &self.reference {
            out.push(("reference", r));
        }
        out
    }
}

/// Renders `messages`; the text ends with a newline unless it is empty (log format, nothing
/// to say).
pub fn render(messages: &[Message], format: Format) -> String {
    match format {
        Format::Log => messages.iter().map(|m| format!("{m}\n")).collect(),
        Format::Json => render_json(messages),
        Format::Yaml => render_yaml(messages),
    }
}

fn render_json(messages: &[Message]) -> String {
    let entries: Vec<Entry> = messages.iter().map(Entry::of).collect();
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(b"\t"));
    // Serializing plain strings into a Vec cannot fail.
    if entries.serialize(&mut ser).is_err() {
        return "[]\n".into();
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push('\n');
    text
}

fn render_yaml(messages: &[Message]) -> String {
    if messages.is_empty() {
        return "[]\n".into();
    }
    let mut out = String::new();
    for m in messages {
        let entry = Entry::of(m);
        for (i, (key, value)) in entry.fields().into_iter().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(key);
            out.push_str(": ");
            out.push_str(&yaml_scalar(value));
            out.push('\n');
        }
    }
    out
}

/// A string as a YAML scalar: plain when it cannot be read as anything else, single-quoted
/// when it is printable on one line, double-quoted (JSON escapes are valid YAML) otherwise.
pub fn yaml_scalar(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_string();
    }
    if s.chars().all(|c| !c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    serde_json::to_string(s).unwrap_or_else(|_| format!("'{}'", s.replace('\'', "''")))
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first == ' ' || s.ends_with(' ') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(char::is_control) {
        return false;
    }
    !looks_like_non_string(s)
}

/// Words and numbers a YAML reader would not take as a string.
fn looks_like_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    if WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return true;
    }
    let unsigned = s.trim_start_matches(['-', '+']);
    unsigned.parse::<f64>().is_ok()
        || unsigned.starts_with("0x")
        || unsigned.starts_with("0o")
        || unsigned.eq_ignore_ascii_case(".inf")
        || unsigned.eq_ignore_ascii_case(".nan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::message::Anchor;
    use weft_config::ObjectRef;

    fn sample() -> Vec<Message> {
        let at = Anchor {
            origin: Some(ObjectRef {
                kind: "VirtualService".into(),
                namespace: Some("default".into()),
                name: "reviews".into(),
            }),
            file: Some("vs.yaml".into()),
            line: 12,
            field: String::new(),
        };
        vec![
            catalogue::referenced_resource_not_found(at, "host", "reviews2"),
            catalogue::schema_validation_error(Anchor::default(), "bad"),
        ]
    }

    #[test]
    fn log_format_is_one_line_per_message() {
        assert_eq!(
            render(&sample(), Format::Log),
            "Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not \
             found: \"reviews2\"\nError [IST0106] Schema validation error: bad\n"
        );
        assert_eq!(render(&[], Format::Log), "");
    }

    #[test]
    fn json_format_matches_istioctl() {
        let want = "[\n\t{\n\t\t\"code\": \"IST0101\",\n\t\t\"documentationUrl\": \
                    \"https://istio.io/latest/docs/reference/config/analysis/ist0101/\",\n\t\t\
                    \"level\": \"Error\",\n\t\t\"message\": \"Referenced host not found: \
                    \\\"reviews2\\\"\",\n\t\t\"origin\": \"VirtualService default/reviews\",\
                    \n\t\t\"reference\": \"vs.yaml:12\"\n\t},\n\t{\n\t\t\"code\": \"IST0106\",\
                    \n\t\t\"documentationUrl\": \
                    \"https://istio.io/latest/docs/reference/config/analysis/ist0106/\",\n\t\t\
                    \"level\": \"Error\",\n\t\t\"message\": \"Schema validation error: bad\"\n\t}\
                    \n]\n";
        assert_eq!(render(&sample(), Format::Json), want);
        assert_eq!(render(&[], Format::Json), "[]\n");
    }

    #[test]
    fn yaml_format_matches_istioctl() {
        let want = "- code: IST0101\n  documentationUrl: \
                    https://istio.io/latest/docs/reference/config/analysis/ist0101/\n  level: \
                    Error\n  message: 'Referenced host not found: \"reviews2\"'\n  origin: \
                    VirtualService default/reviews\n  reference: vs.yaml:12\n- code: IST0106\n  \
                    documentationUrl: \
                    https://istio.io/latest/docs/reference/config/analysis/ist0106/\n  level: \
                    Error\n  message: 'Schema validation error: bad'\n";
        assert_eq!(render(&sample(), Format::Yaml), want);
        assert_eq!(render(&[], Format::Yaml), "[]\n");
    }

    #[test]
    fn yaml_scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("plain text"), "plain text");
        assert_eq!(yaml_scalar("a: b"), "'a: b'");
        assert_eq!(yaml_scalar("it's: x"), "'it''s: x'");
        assert_eq!(yaml_scalar("true"), "'true'");
        assert_eq!(yaml_scalar("80"), "'80'");
        assert_eq!(yaml_scalar("*.example.com"), "'*.example.com'");
        assert_eq!(yaml_scalar(""), "''");
        assert_eq!(yaml_scalar("a\nb"), "\"a\\nb\"");
    }
}
