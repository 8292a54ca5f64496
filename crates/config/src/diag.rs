//! Problems found while loading or validating configuration, printed the same way everywhere:
//! `FILE:LINE: Kind namespace/name: field.path: message`.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Which object a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.name.is_empty() {
            "<unnamed>"
        } else {
            &self.name
        };
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, name),
            None => write!(f, "{} {}", self.kind, name),
        }
    }
}

/// How serious a problem is. Loading and validation only produce errors and warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem with a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: Arc<str>,
    pub line: u32,
    pub object: Option<ObjectRef>,
    /// Field path such as `spec.http[0].route[0].weight`; empty when about the whole input.
    pub field: String,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(file: Arc<str>, line: u32, message: impl Into<String>) -> Self {
        Problem {
            file,
            line,
            object: None,
            field: String::new(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(file: Arc<str>, line: u32, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(file, line, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(obj) = &self.object {
            write!(f, "{obj}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}
