//! The collector every rule reports through.

use weft_config::{Object, Problem, Severity};

/// Collects problems for one object. Paths are written as they appear in YAML, relative to
/// the object: `spec.http[0].route[1].weight`.
#[derive(Debug)]
pub struct Checker<'a> {
    obj: &'a Object,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub fn new(obj: &'a Object) -> Self {
        Checker {
            obj,
            problems: Vec::new(),
        }
    }

    /// The object being checked (for its name, namespace, labels).
    pub fn object(&self) -> &'a Object {
        self.obj
    }

    /// Reports an error at `path`.
    pub fn error(&mut self, path: impl AsRef<str>, message: impl Into<String>) {
        self.problems.push(self.obj.problem(path.as_ref(), message));
    }

    /// Reports a warning at `path`: accepted, but probably not what the author meant.
    pub fn warn(&mut self, path: impl AsRef<str>, message: impl Into<String>) {
        let mut p = self.obj.problem(path.as_ref(), message);
        p.severity = Severity::Warning;
        self.problems.push(p);
    }

    /// Reports "required field is missing" at `path` when `present` is false.
    pub fn require(&mut self, present: bool, path: impl AsRef<str>) {
        if !present {
            self.error(path, "required field is missing");
        }
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}
