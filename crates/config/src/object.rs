//! A loaded object: type, metadata, decoded body and where it came from.

use std::sync::Arc;

use crate::diag::{ObjectRef, Problem};
use crate::meta::ObjectMeta;
use crate::model::{Body, Kind};
use crate::yaml::{self, Node};

/// Where an object was read from. The node tree lets any field path be turned into a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub file: Arc<str>,
    /// Line of the object's first field.
    pub line: u32,
    pub tree: Arc<Node>,
}

impl Origin {
    /// An origin for objects built in code (tests, generated defaults).
    pub fn synthetic(file: &str) -> Self {
        let tree = Node {
            line: 0,
            kind: yaml::NodeKind::Map(Vec::new()),
        };
        Origin {
            file: file.into(),
            line: 0,
            tree: Arc::new(tree),
        }
    }

    /// The line of the field at `path` (`spec.http[0].route`), or of its deepest ancestor.
    pub fn line_of(&self, path: &str) -> u32 {
        if path.is_empty() {
            return self.line;
        }
        yaml::line_at(&self.tree, &yaml::parse_path(path))
    }
}

/// One Kubernetes-style object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub api_version: String,
    /// The kind as written (also for unknown kinds).
    pub kind: String,
    pub metadata: ObjectMeta,
    pub body: Body,
    pub origin: Origin,
}

impl Object {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The namespace; the loader fills it in for namespaced kinds, so this is `""` only for
    /// cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    pub fn known_kind(&self) -> Option<Kind> {
        self.body.kind()
    }

    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind.clone(),
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// A problem at `field` of this object, with the field's line.
    pub fn problem(&self, field: &str, message: impl Into<String>) -> Problem {
        let mut p = Problem::error(
            self.origin.file.clone(),
            self.origin.line_of(field),
            message,
        );
        p.object = Some(self.object_ref());
        p.field = field.to_string();
        p
    }
}
