//! Reading a bootstrap file (YAML or JSON in Envoy v3 shape) with `FILE:LINE: field.path:
//! reason` errors.

use std::fmt;
use std::path::Path;

use weft_config::yaml;

use crate::error::ConfigError;
use crate::model::Bootstrap;
use crate::runtime::Snapshot;
use crate::runtime::cluster::build_cluster;
use crate::runtime::listener::build_listener;
use crate::runtime::tls::build_secret;

/// A bootstrap problem at a position in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BootstrapError {
    pub file: String,
    pub line: u32,
    /// `Listener x` or `Cluster y` when the problem is inside one resource.
    pub resource: Option<String>,
    pub path: String,
    pub reason: String,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(r) = &self.resource {
            write!(f, "{r}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

/// Reads and checks a bootstrap file.
pub fn load_file(path: &Path) -> Result<(Bootstrap, Snapshot), BootstrapError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| BootstrapError {
        file: file.clone(),
        line: 0,
        resource: None,
        path: String::new(),
        reason: format!("cannot read: {e}"),
    })?;
    load_str(&file, &text)
}

/// Parses bootstrap text; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<(Bootstrap, Snapshot), BootstrapError> {
    let err = |line: u32, path: String, reason: String| BootstrapError {
        file: file.to_string(),
        line,
        resource: None,
        path,
        reason,
    };
    let (docs, syntax) = yaml::parse_documents(text);
    if let Some(e) = syntax {
        return Err(err(e.line, String::new(), e.message));
    }
    let doc = match docs.len() {
        1 => &docs[0],
        0 => return Err(err(1, String::new(), "the file is empty".into())),
        _ => {
            return Err(err(
                docs[1].line,
                String::new(),
                "expected a single document".into(),
            ));
        }
    };
    let value = yaml::to_json(&doc.root);
    let bootstrap: Bootstrap = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let line = yaml::line_at(&doc.root, &yaml::parse_path(&path));
        err(line, path, e.into_inner().to_string())
    })?;
    if let Some(Err(reason)) = bootstrap
        .dynamic_resources
        .as_ref()
        .map(|d| d.ads_api_type())
    {
        let path = "dynamic_resources.ads_config.api_type".to_string();
        let line = yaml::line_at(&doc.root, &yaml::parse_path(&path));
        return Err(err(line, path, reason));
    }
    let snapshot = compile(&bootstrap).map_err(|(prefix, e)| {
        let path = join(&prefix, &e.path);
        BootstrapError {
            file: file.to_string(),
            line: yaml::line_at(&doc.root, &yaml::parse_path(&path)),
            resource: Some(e.resource),
            path,
            reason: e.reason,
        }
    })?;
    Ok((bootstrap, snapshot))
}

fn join(prefix: &str, path: &str) -> String {
    if path.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{path}")
    }
}

/// Compiles the static resources; an error comes with the path of its resource.
pub fn compile(b: &Bootstrap) -> Result<Snapshot, (String, ConfigError)> {
    let mut snap = Snapshot::default();
    for (i, l) in b.static_resources.listeners.iter().enumerate() {
        let prefix = format!("static_resources.listeners[{i}]");
        let built = build_listener(l).map_err(|e| (prefix.clone(), e))?;
        if snap
            .listeners
            .insert(l.name.clone(), built.into())
            .is_some()
        {
            return Err((prefix, dup("Listener", &l.name)));
        }
    }
    for (i, c) in b.static_resources.clusters.iter().enumerate() {
        let prefix = format!("static_resources.clusters[{i}]");
        let built = build_cluster(c).map_err(|e| (prefix.clone(), e))?;
        if snap.clusters.insert(c.name.clone(), built.into()).is_some() {
            return Err((prefix, dup("Cluster", &c.name)));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in b.static_resources.secrets.iter().enumerate() {
        let prefix = format!("static_resources.secrets[{i}]");
        build_secret(s).map_err(|e| (prefix.clone(), e))?;
        if !names.insert(s.name.as_str()) {
            return Err((prefix, dup("Secret", &s.name)));
        }
    }
    Ok(snap)
}

fn dup(kind: &str, name: &str) -> ConfigError {
    ConfigError {
        resource: format!("{kind} {name}"),
        path: "name".into(),
        reason: format!("duplicate {kind} name {name:?}"),
    }
}
