//! Reading objects from files, directories, stdin and strings.
//!
//! Loading never stops at the first problem: a file that cannot be read, a document that does
//! not parse or an object with a bad field is reported as a [`Problem`] with its position, and
//! everything else is still loaded so one run shows every mistake.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diag::{ObjectRef, Problem};
use crate::meta::{GroupVersion, ObjectMeta};
use crate::model::{Body, KINDS, Kind, KindInfo, Scope};
use crate::object::{Object, Origin};
use crate::yaml::{self, Node, NodeKind};

/// Options for loading.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Namespace given to namespaced objects that have none (`kubectl`'s behaviour).
    pub default_namespace: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".into(),
        }
    }
}

/// Everything loaded, and every problem met on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub problems: Vec<Problem>,
    /// Unknown kinds already reported, so each is reported once.
    unknown_kinds: BTreeSet<String>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Loads `paths`: files, directories (recursively, `.yaml`, `.yml` and `.json` files in name
/// order) and `-` for standard input.
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => load_str_into(&mut loaded, "<stdin>", &text, opts),
                Err(e) => loaded.problems.push(Problem::error(
                    "<stdin>".into(),
                    0,
                    format!("cannot read: {e}"),
                )),
            }
        } else {
            load_path_into(&mut loaded, path, opts);
        }
    }
    loaded
}

/// Loads YAML or JSON text as if it came from `file`.
pub fn load_str(file: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    load_str_into(&mut loaded, file, text, opts);
    loaded
}

fn load_path_into(loaded: &mut Loaded, path: &Path, opts: &LoadOptions) {
    let name: Arc<str> = path.display().to_string().into();
    if path.is_dir() {
        match config_files_in(path) {
            Ok(files) => files.iter().for_each(|f| load_path_into(loaded, f, opts)),
            Err(e) => loaded.problems.push(Problem::error(
                name,
                0,
                format!("cannot read directory: {e}"),
            )),
        }
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_into(loaded, &name, &text, opts),
        Err(e) => loaded
            .problems
            .push(Problem::error(name, 0, format!("cannot read: {e}"))),
    }
}

/// The configuration files below `dir`, recursively, sorted by path.
pub fn config_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            out.extend(config_files_in(&path)?);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(out)
}

fn load_str_into(loaded: &mut Loaded, file: &str, text: &str, opts: &LoadOptions) {
    let file: Arc<str> = file.into();
    let (docs, syntax) = yaml::parse_documents(text);
    for doc in docs {
        load_node(loaded, &file, Arc::new(doc.root), opts);
    }
    if let Some(e) = syntax {
        loaded.problems.push(Problem::error(
            file,
            e.line,
            format!("YAML syntax error: {}", e.message),
        ));
    }
}

fn load_node(loaded: &mut Loaded, file: &Arc<str>, node: Arc<Node>, opts: &LoadOptions) {
    let line = node.line;
    let Value::Object(mut map) = yaml::to_json(&node) else {
        loaded.problems.push(Problem::error(
            file.clone(),
            line,
            "document is not an object (expected apiVersion, kind and metadata)",
        ));
        return;
    };
    let api_version = take_string(&mut map, "apiVersion");
    let kind_name = take_string(&mut map, "kind");
    let (Some(api_version), Some(kind_name)) = (api_version, kind_name) else {
        let missing = if map.contains_key("apiVersion") || map.contains_key("kind") {
            "apiVersion and kind must be strings"
        } else {
            "document has no apiVersion or kind"
        };
        loaded
            .problems
            .push(Problem::error(file.clone(), line, missing));
        return;
    };
    if kind_name == "List" || kind_name.ends_with("List") && map.contains_key("items") {
        load_list(loaded, file, &node, opts);
        return;
    }
    let origin = Origin {
        file: file.clone(),
        line,
        tree: node.clone(),
    };
    let mut ctx = ObjectContext {
        origin,
        api_version,
        kind_name,
        problems: &mut loaded.problems,
    };
    let Some(metadata) = ctx.decode_metadata(map.remove("metadata"), opts) else {
        return;
    };
    let Some(info) = ctx.lookup_kind(&mut loaded.unknown_kinds, &metadata, opts) else {
        let group = GroupVersion::parse(&ctx.api_version).group;
        if KINDS
            .iter()
            .any(|k| k.name == ctx.kind_name && k.group == group)
        {
            return; // a known kind with an unserved version: already reported
        }
        let body = Body::Unknown(Value::Object(map));
        loaded.objects.push(ctx.into_object(metadata, body, opts));
        return;
    };
    match Body::decode(info.kind, Value::Object(map)) {
        Ok(body) => {
            if ctx.check_metadata(&metadata, info, opts) {
                loaded.objects.push(ctx.into_object(metadata, body, opts));
            }
        }
        Err(errors) => {
            for e in errors {
                ctx.report(&metadata, opts, &e.path, e.message);
            }
        }
    }
}

fn load_list(loaded: &mut Loaded, file: &Arc<str>, node: &Node, opts: &LoadOptions) {
    let NodeKind::Map(entries) = &node.kind else {
        return;
    };
    let Some((_, items)) = entries.iter().find(|(k, _)| k == "items") else {
        return;
    };
    let NodeKind::Seq(items) = &items.kind else {
        loaded.problems.push(Problem::error(
            file.clone(),
            items.line,
            "items: must be a list",
        ));
        return;
    };
    for item in items {
        load_node(loaded, file, Arc::new(item.clone()), opts);
    }
}

fn take_string(map: &mut serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(other) => {
            map.insert(key.to_string(), other);
            None
        }
        None => None,
    }
}

struct ObjectContext<'a> {
    origin: Origin,
    api_version: String,
    kind_name: String,
    problems: &'a mut Vec<Problem>,
}

impl ObjectContext<'_> {
    /// Decodes `metadata`; on failure reports it (naming the object as far as the raw map
    /// allows) and returns `None`, as nothing about the object can be trusted then.
    fn decode_metadata(&mut self, value: Option<Value>, opts: &LoadOptions) -> Option<ObjectMeta> {
        let value = value.unwrap_or(Value::Object(Default::default()));
        let raw = value.clone();
        match serde_path_to_error::deserialize::<_, ObjectMeta>(value) {
            Ok(m) => Some(m),
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let err = crate::hint::field_error(path, e.into_inner().to_string());
                let field = if err.path.is_empty() {
                    "metadata".to_string()
                } else {
                    format!("metadata.{}", err.path)
                };
                let best_effort = ObjectMeta {
                    name: raw
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    namespace: raw
                        .get("namespace")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    ..ObjectMeta::default()
                };
                self.report(&best_effort, opts, &field, err.message);
                None
            }
        }
    }

    /// Finds the kind; reports an unknown kind once and an unserved version always.
    fn lookup_kind(
        &mut self,
        reported: &mut BTreeSet<String>,
        meta: &ObjectMeta,
        opts: &LoadOptions,
    ) -> Option<&'static KindInfo> {
        let gv = GroupVersion::parse(&self.api_version);
        let Some(info) = KINDS
            .iter()
            .find(|k| k.name == self.kind_name && k.group == gv.group)
        else {
            let key = format!("{}/{}", self.api_version, self.kind_name);
            if reported.insert(key) {
                let msg = format!(
                    "unknown kind {} (apiVersion {}): passed through without checks",
                    self.kind_name, self.api_version
                );
                self.problems.push(Problem::warning(
                    self.origin.file.clone(),
                    self.origin.line,
                    msg,
                ));
            }
            return None;
        };
        if !info.versions.contains(&gv.version.as_str()) {
            let served = info.versions.join(", ");
            let msg = format!(
                "version {:?} of {} is not served (served: {served})",
                gv.version, self.api_version
            );
            self.report(meta, opts, "apiVersion", msg);
            return None;
        }
        Some(info)
    }

    fn check_metadata(&mut self, meta: &ObjectMeta, info: &KindInfo, opts: &LoadOptions) -> bool {
        if meta.name.is_empty() && meta.generate_name.is_none() {
            self.report(
                meta,
                opts,
                "metadata.name",
                "required field is missing".into(),
            );
            return false;
        }
        if info.scope == Scope::Cluster && meta.namespace.is_some() {
            let msg = format!(
                "{} is cluster-scoped and cannot have a namespace",
                info.name
            );
            self.push(Some(meta), "metadata.namespace", msg);
            return false;
        }
        true
    }

    fn report(&mut self, meta: &ObjectMeta, opts: &LoadOptions, field: &str, message: String) {
        let mut meta = meta.clone();
        if meta.namespace.is_none()
            && Kind::from_name(&self.kind_name).is_some_and(|k| k.info().scope == Scope::Namespaced)
        {
            meta.namespace = Some(opts.default_namespace.clone());
        }
        self.push(Some(&meta), field, message);
    }

    fn push(&mut self, meta: Option<&ObjectMeta>, field: &str, message: String) {
        let line = self.origin.line_of(field);
        let object = meta.map(|m| ObjectRef {
            kind: self.kind_name.clone(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
        });
        let mut p = Problem::error(self.origin.file.clone(), line, message);
        p.object = object;
        p.field = field.to_string();
        self.problems.push(p);
    }

    fn into_object(self, mut metadata: ObjectMeta, body: Body, opts: &LoadOptions) -> Object {
        let namespaced = body
            .kind()
            .map(|k| k.info().scope == Scope::Namespaced)
            .unwrap_or(true);
        if namespaced && metadata.namespace.is_none() {
            metadata.namespace = Some(opts.default_namespace.clone());
        }
        Object {
            api_version: self.api_version,
            kind: self.kind_name,
            metadata,
            body,
            origin: self.origin,
        }
    }
}
