//! A YAML (and therefore JSON) reader that keeps the line of every node.
//!
//! serde-based YAML crates throw positions away once a document is parsed, but every message
//! weft prints must point at `FILE:LINE`. We therefore read the event stream ourselves, build a
//! small tree whose nodes remember their line, and convert that tree to `serde_json::Value` for
//! typed deserialization. Scalars are resolved with the YAML 1.2 core schema (plus the YAML 1.1
//! booleans Kubernetes users still write), quoted scalars always stay strings.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One parsed node with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u32,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar and whether it was quoted (quoted scalars are never numbers or booleans).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A document of a multi-document stream.
#[derive(Debug, Clone)]
pub struct Document {
    /// Line of the document's first content.
    pub line: u32,
    pub root: Node,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SyntaxError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Parses every document of `text`. Empty documents (only comments, `---` separators) are
/// skipped. On a syntax error the documents before it are returned together with the error, so
/// the rest of a file that was fine can still be checked.
pub fn parse_documents(text: &str) -> (Vec<Document>, Option<SyntaxError>) {
    let mut builder = TreeBuilder {
        last_line: line_count(text),
        ..TreeBuilder::default()
    };
    let mut parser = Parser::new_from_str(text);
    let result = parser.load(&mut builder, true);
    let docs = builder.docs;
    match result {
        Ok(()) => (docs, None),
        Err(e) => {
            let m = e.marker();
            // The scanner may report an error at end of input one line past the last one.
            let err = SyntaxError {
                line: (m.line().max(1) as u32).min(line_count(text)),
                column: (m.col() + 1) as u32,
                message: e.info().to_string(),
            };
            (docs, Some(err))
        }
    }
}

/// The number of lines of `text` as YAML counts them: `\n`, `\r\n` and a lone `\r` each end
/// a line; the text after the last break is a line too.
pub fn line_count(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    u32::try_from(breaks).unwrap_or(u32::MAX).saturating_add(1)
}

enum Frame {
    Seq(Node),
    Map { node: Node, key: Option<String> },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    anchor_of_frame: Vec<usize>,
    docs: Vec<Document>,
    /// Markers of empty values at end of input point one line past it; lines are clamped.
    last_line: u32,
}

impl TreeBuilder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                let is_null =
                    matches!(&node.kind, NodeKind::Scalar { text, quoted: false } if is_null(text));
                if !is_null {
                    self.docs.push(Document {
                        line: node.line,
                        root: node,
                    });
                }
            }
            Some(Frame::Seq(seq)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map { node: map, key }) => match key.take() {
                None => *key = Some(scalar_key(&node)),
                Some(k) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

fn scalar_key(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text.clone(),
        // Complex keys do not occur in Kubernetes objects; keep something printable.
        _ => format!("<complex key at line {}>", node.line),
    }
}

fn line_of(mark: &Marker) -> u32 {
    // yaml-rust2 markers count lines from 1.
    mark.line().max(1) as u32
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = line_of(&mark).min(self.last_line);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(
                    Node {
                        line,
                        kind: NodeKind::Scalar { text, quoted },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.anchor_of_frame.push(anchor);
                self.stack.push(Frame::Seq(Node {
                    line,
                    kind: NodeKind::Seq(Vec::new()),
                }));
            }
            Event::MappingStart(anchor, _) => {
                self.anchor_of_frame.push(anchor);
                let node = Node {
                    line,
                    kind: NodeKind::Map(Vec::new()),
                };
                self.stack.push(Frame::Map { node, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let anchor = self.anchor_of_frame.pop().unwrap_or(0);
                let node = match self.stack.pop() {
                    Some(Frame::Seq(n)) | Some(Frame::Map { node: n, .. }) => n,
                    None => return,
                };
                self.push_value(node, anchor);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    line,
                    kind: NodeKind::Scalar {
                        text: String::new(),
                        quoted: false,
                    },
                });
                self.push_value(node, 0);
            }
            _ => {}
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Converts a node to JSON, resolving plain scalars with the core schema.
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar { text, quoted: true } => Value::String(text.clone()),
        NodeKind::Scalar {
            text,
            quoted: false,
        } => resolve_plain(text),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(k.clone(), to_json(v));
            }
            Value::Object(map)
        }
    }
}

fn resolve_plain(text: &str) -> Value {
    if is_null(text) {
        return Value::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    if looks_like_float(text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<Number> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() {
        return None;
    }
    let magnitude: u64 = if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()?
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    if neg {
        let v = i64::try_from(magnitude).ok()?;
        Some(Number::from(-v))
    } else {
        Some(Number::from(magnitude))
    }
}

fn looks_like_float(text: &str) -> bool {
    let t = text.trim_start_matches(['-', '+']);
    !t.is_empty()
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

/// Finds the line of the node at `path` (segments of map keys and sequence indexes). When the
/// exact node does not exist (a missing required field, say) the deepest existing ancestor's
/// line is returned, which is where a user has to look.
pub fn line_at(root: &Node, path: &[PathSegment]) -> u32 {
    let mut node = root;
    for seg in path {
        let next = match (seg, &node.kind) {
            (PathSegment::Key(k), NodeKind::Map(entries)) => {
                entries.iter().find(|(key, _)| key == k).map(|(_, v)| v)
            }
            (PathSegment::Index(i), NodeKind::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node.line
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Splits a printed path such as `spec.http[0].route` into segments.
pub fn parse_path(path: &str) -> Vec<PathSegment> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                out.push(PathSegment::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let close = stripped.find(']').unwrap_or(stripped.len());
                let inner = &stripped[..close];
                match inner.parse::<usize>() {
                    Ok(i) => out.push(PathSegment::Index(i)),
                    Err(_) => out.push(PathSegment::Key(inner.to_string())),
                }
                rest = stripped.get(close + 1..).unwrap_or("");
            }
        } else {
            out.push(PathSegment::Key(rest.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(text: &str) -> Document {
        let (docs, err) = parse_documents(text);
        assert!(err.is_none(), "{err:?}");
        docs.into_iter().next().expect("one document")
    }

    #[test]
    fn keeps_lines_of_nested_nodes() {
        let doc = first("a: 1\nb:\n  c:\n  - x\n  - y: 2\n");
        let path = parse_path("b.c[1].y");
        assert_eq!(line_at(&doc.root, &path), 5);
        assert_eq!(line_at(&doc.root, &parse_path("b.c[0]")), 4);
        assert_eq!(line_at(&doc.root, &parse_path("b.missing")), 3);
    }

    #[test]
    fn resolves_scalars_with_core_schema() {
        let doc = first("i: 42\nn: -7\nf: 1.5\nb: true\nq: \"42\"\nz: ~\ns: 1s\nh: 0x10\n");
        let v = to_json(&doc.root);
        assert_eq!(v["i"], 42);
        assert_eq!(v["n"], -7);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["b"], true);
        assert_eq!(v["q"], "42");
        assert!(v["z"].is_null());
        assert_eq!(v["s"], "1s");
        assert_eq!(v["h"], 16);
    }

    #[test]
    fn splits_documents_and_skips_empty_ones() {
        let (docs, err) = parse_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn reports_syntax_errors_with_position_and_keeps_earlier_documents() {
        let (docs, err) = parse_documents("a: 1\n---\nb: [1, 2\n");
        assert_eq!(docs.len(), 1);
        let err = err.expect("syntax error");
        assert!(err.line >= 3, "{err}");
    }

    #[test]
    fn reads_json_too() {
        let doc =
            first("{\n \"kind\": \"Service\",\n \"spec\": {\"ports\": [{\"port\": 80}]}\n}\n");
        assert_eq!(to_json(&doc.root)["spec"]["ports"][0]["port"], 80);
        assert_eq!(line_at(&doc.root, &parse_path("spec.ports[0]")), 3);
    }

    #[test]
    fn resolves_aliases() {
        let doc = first("a: &x {k: v}\nb: *x\n");
        assert_eq!(to_json(&doc.root)["b"]["k"], "v");
    }
}
