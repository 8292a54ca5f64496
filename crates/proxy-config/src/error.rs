//! Errors of the conversion to runtime config: one resource, one field path, one reason.

use std::fmt;

/// A rejected resource field: printed as `KIND NAME: field.path: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// `Listener x`, `Cluster y`, `RouteConfiguration z`, `ClusterLoadAssignment w`.
    pub resource: String,
    /// Field path inside the resource, e.g. `filter_chains[0].filters[1].typed_config`.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.resource, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.resource, self.path, self.reason)
        }
    }
}

/// A field path under construction, with the resource it belongs to.
#[derive(Debug, Clone)]
pub struct At<'a> {
    resource: &'a str,
    path: String,
}

impl<'a> At<'a> {
    pub fn new(resource: &'a str) -> Self {
        Self {
            resource,
            path: String::new(),
        }
    }

    /// The path to a child field.
    pub fn field(&self, name: &str) -> At<'a> {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        At {
            resource: self.resource,
            path,
        }
    }

    /// The path to a list element.
    pub fn index(&self, i: usize) -> At<'a> {
        At {
            resource: self.resource,
            path: format!("{}[{i}]", self.path),
        }
    }

    pub fn err(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            resource: self.resource.to_string(),
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;
