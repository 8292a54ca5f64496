//! Analysis messages: a catalogue entry (code, name, level), the text made from its template,
//! and the object, file, line and field the message points at.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use weft_config::{Object, ObjectRef, Problem, yaml};

/// Base of the per-code documentation pages (`…/ist0101/`).
pub const DOCUMENTATION_BASE: &str = "https://istio.io/latest/docs/reference/config/analysis";

/// How serious a message is. The order is Istio's: `Error` sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Error, Level::Warning, Level::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        }
    }

    /// True when `self` is as serious as `threshold` or more (`Error` is at least `Warning`).
    pub fn at_least(self, threshold: Level) -> bool {
        self <= threshold
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not `Error`, `Warning` or `Info`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?} (valid values: Error, Warning, Info)")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Parses a level name, ignoring case as istioctl does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownLevel(s.to_string()))
    }
}

/// One entry of Istio's message catalogue.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageType {
    /// `IST0101`.
    pub code: &'static str,
    /// `ReferencedResourceNotFound`.
    pub name: &'static str,
    pub level: Level,
}

impl MessageType {
    /// The documentation page of this code.
    pub fn documentation_url(&self) -> String {
        format!("{DOCUMENTATION_BASE}/{}/", self.code.to_ascii_lowercase())
    }
}

/// Where a message points: the object it is about, and the file, line and field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    pub origin: Option<ObjectRef>,
    pub file: Option<Arc<str>>,
    /// 0 when unknown.
    pub line: u32,
    /// Field path such as `spec.http[0].route[0].destination.host`; empty for the whole object.
    pub field: String,
}

impl Anchor {
    /// The field at `field` of `obj` (the object's first line when `field` is empty).
    pub fn at(obj: &Object, field: impl Into<String>) -> Anchor {
        let field = field.into();
        Anchor {
            origin: Some(obj.object_ref()),
            file: Some(obj.origin.file.clone()),
            line: obj.origin.line_of(&field),
            field,
        }
    }

    /// The entry `key` of the map at `parent` (`metadata.annotations`, `spec.selector`), for
    /// keys that contain dots or slashes and so cannot be written in a dotted path.
    pub fn at_key(obj: &Object, parent: &str, key: &str) -> Anchor {
        let mut path = yaml::parse_path(parent);
        path.push(yaml::PathSegment::Key(key.to_string()));
        Anchor {
            origin: Some(obj.object_ref()),
            file: Some(obj.origin.file.clone()),
            line: yaml::line_at(&obj.origin.tree, &path),
            field: key_path(parent, key),
        }
    }

    /// Where a loading or validation problem points.
    pub fn of_problem(p: &Problem) -> Anchor {
        Anchor {
            origin: p.object.clone(),
            file: Some(p.file.clone()),
            line: p.line,
            field: p.field.clone(),
        }
    }
}

/// One finding of the analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_type: &'static MessageType,
    /// The catalogue's template filled in.
    pub text: String,
    pub anchor: Anchor,
}

impl Message {
    pub fn new(message_type: &'static MessageType, anchor: Anchor, text: String) -> Message {
        Message {
            message_type,
            text,
            anchor,
        }
    }

    pub fn code(&self) -> &'static str {
        self.message_type.code
    }

    pub fn level(&self) -> Level {
        self.message_type.level
    }

    pub fn origin(&self) -> Option<&ObjectRef> {
        self.anchor.origin.as_ref()
    }

    /// `file:line` (or just `file` when the line is unknown).
    pub fn reference(&self) -> Option<String> {
        let file = self.anchor.file.as_deref()?;
        Some(match self.anchor.line {
            0 => file.to_string(),
            line => format!("{file}:{line}"),
        })
    }

    /// ` (Kind ns/name file:line)` as istioctl prints it, or empty.
    fn origin_suffix(&self) -> String {
        let parts: Vec<String> = self
            .origin()
            .map(ToString::to_string)
            .into_iter()
            .chain(self.reference())
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(" "))
        }
    }

    fn sort_key(
        &self,
    ) -> (
        Level,
        &str,
        Option<&ObjectRef>,
        Option<&str>,
        u32,
        &str,
        &str,
    ) {
        (
            self.level(),
            self.code(),
            self.origin(),
            self.anchor.file.as_deref(),
            self.anchor.line,
            &self.anchor.field,
            &self.text,
        )
    }
}

/// The log line: `Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced …`.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]{} {}",
            self.level(),
            self.code(),
            self.origin_suffix(),
            self.text
        )
    }
}

impl PartialOrd for Message {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Istio's order: level, code, origin, then position and text.
impl Ord for Message {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

/// Sorts messages into Istio's order and drops exact duplicates (two analyzers noticing the
/// same thing, such as a gateway selector that matches nothing).
pub fn sort_and_dedup(messages: &mut Vec<Message>) {
    messages.sort();
    messages.dedup_by(|a, b| a.to_string() == b.to_string());
}

/// The path of map entry `key` under `base`, as weft-validate writes it: `base.key`, or
/// `base[key]` when the key has a dot.
pub fn key_path(base: &str, key: &str) -> String {
    if key.contains('.') {
        format!("{base}[{key}]")
    } else {
        format!("{base}.{key}")
    }
}

/// Go's `%q`: a double-quoted string with Go escapes, as Istio's templates print values.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a slice: `[a b c]`.
pub fn go_list<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: MessageType = MessageType {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        level: Level::Error,
    };

    fn anchored(ns: &str, name: &str, line: u32) -> Anchor {
        Anchor {
            origin: Some(ObjectRef {
                kind: "VirtualService".into(),
                namespace: Some(ns.into()),
                name: name.into(),
            }),
            file: Some("vs.yaml".into()),
            line,
            field: String::new(),
        }
    }

    #[test]
    fn log_line_has_istioctl_shape() {
        let m = Message::new(
            &T,
            anchored("default", "reviews", 12),
            "Referenced host not found: \"reviews2\"".into(),
        );
        assert_eq!(
            m.to_string(),
            "Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not found: \"reviews2\""
        );
    }

    #[test]
    fn log_line_without_origin_or_line() {
        let m = Message::new(&T, Anchor::default(), "x".into());
        assert_eq!(m.to_string(), "Error [IST0101] x");
        let a = Anchor {
            file: Some("f.yaml".into()),
            ..Anchor::default()
        };
        assert_eq!(
            Message::new(&T, a, "x".into()).to_string(),
            "Error [IST0101] (f.yaml) x"
        );
    }

    #[test]
    fn levels_parse_ignoring_case_and_compare_by_severity() {
        assert_eq!("warning".parse::<Level>(), Ok(Level::Warning));
        assert_eq!("INFO".parse::<Level>(), Ok(Level::Info));
        assert!("fatal".parse::<Level>().is_err());
        assert!(Level::Error.at_least(Level::Warning));
        assert!(Level::Warning.at_least(Level::Warning));
        assert!(!Level::Info.at_least(Level::Warning));
    }

    #[test]
    fn sorting_orders_by_level_then_origin_and_drops_duplicates() {
        static W: MessageType = MessageType {
            code: "IST0103",
            name: "PodMissingProxy",
            level: Level::Warning,
        };
        let mut ms = vec![
            Message::new(&W, anchored("default", "a", 1), "w".into()),
            Message::new(&T, anchored("default", "b", 3), "e".into()),
            Message::new(&T, anchored("default", "a", 9), "e".into()),
            Message::new(&T, anchored("default", "b", 3), "e".into()),
        ];
        sort_and_dedup(&mut ms);
        let names: Vec<_> = ms
            .iter()
            .map(|m| (m.code(), m.origin().map(|o| o.name.as_str())))
            .collect();
        assert_eq!(
            names,
            [
                ("IST0101", Some("a")),
                ("IST0101", Some("b")),
                ("IST0103", Some("a"))
            ]
        );
    }

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote("reviews"), "\"reviews\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_list(&[80, 443]), "[80 443]");
        assert_eq!(go_list::<String>(&[]), "[]");
    }

    #[test]
    fn documentation_url_uses_lowercase_code() {
        assert_eq!(
            T.documentation_url(),
            "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
        );
    }
}
