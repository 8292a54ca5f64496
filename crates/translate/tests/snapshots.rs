//! Snapshot tests: each `tests/snapshots/<case>/input.yaml` is translated for the proxy named
//! in its header and compared, as Envoy's JSON, with `expected.json`.
//!
//! Header lines of input.yaml:
//! `# proxy: sidecar~10.1.0.1~reviews-v1.default~default.svc.cluster.local` (required),
//! `# labels: app=reviews,version=v1`, `# show: routes,clusters` (default: everything),
//! `# mesh: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}`, `# meta: INTERCEPTION_MODE=NONE` (node metadata),
//! `# locality: region/zone/sub-zone` (the node's locality).
//! `UPDATE_SNAPSHOTS=1 cargo test -p weft-translate --test snapshots` rewrites the expectations.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use serde_json::{Value, json};
use weft_config::model::mesh::MeshConfig;
use weft_config::{LoadOptions, load_str};
use weft_registry::{Registry, RegistryOptions};
use weft_translate::{Context, NodeMetadata, Proxy, generate_for};

struct Case {
    proxy: String,
    labels: Vec<(String, String)>,
    meta: Vec<(String, String)>,
    show: Vec<String>,
    mesh: String,
    locality: Option<String>,
}

fn header(text: &str) -> Case {
    let mut case = Case {
        proxy: String::new(),
        labels: Vec::new(),
        meta: Vec::new(),
        show: Vec::new(),
        mesh: String::new(),
        locality: None,
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some((key, value)) = line.trim_start_matches('#').split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "proxy" => case.proxy = value.to_string(),
            "labels" => case.labels = pairs(value),
            "meta" => case.meta = pairs(value),
            "show" => case.show = value.split(',').map(|s| s.trim().to_string()).collect(),
            "mesh" => case.mesh = value.to_string(),
            "locality" => case.locality = Some(value.to_string()),
            _ => {}
        }
    }
    case
}

fn pairs(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn packed<T: Message + prost::Name>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|m| support::render::any_to_json(&T::type_url(), &m.encode_to_vec()))
        .collect()
}

/// Translates one case's input for the proxy in its header; also the input of `proxy_accepts`.
pub fn resources(input: &Path) -> (weft_translate::Resources, Vec<String>) {
    let text = std::fs::read_to_string(input).expect("read input");
    let case = header(&text);
    let loaded = load_str(&input.display().to_string(), &text, &LoadOptions::default());
    assert!(
        loaded.problems.is_empty(),
        "{}: {:?}",
        input.display(),
        loaded.problems
    );
    let invalid: Vec<_> = loaded
        .objects
        .iter()
        .flat_map(weft_validate::validate_object)
        .filter(|p| p.is_error())
        .collect();
    assert!(
        invalid.is_empty(),
        "{}: invalid input: {invalid:#?}",
        input.display()
    );
    let mesh = MeshConfig::from_yaml("mesh", &case.mesh).expect("mesh config");
    let registry = Arc::new(Registry::build(
        &loaded.objects,
        &RegistryOptions::default(),
    ));
    let ctx = Context::new(&loaded.objects, registry, mesh);
    let meta = NodeMetadata {
        labels: case.labels.into_iter().collect(),
        strings: case.meta.into_iter().collect(),
    };
    let mut proxy = Proxy::parse(&case.proxy, &meta).expect("proxy in header");
    if case.locality.is_some() {
        proxy.locality = case.locality;
    }
    (generate_for(&ctx, &proxy), case.show)
}

fn translate(input: &Path) -> Value {
    let (r, show) = resources(input);
    let mut all = json!({
        "listeners": packed(&r.listeners),
        "routes": packed(&r.routes),
        "clusters": packed(&r.clusters),
        "endpoints": packed(&r.endpoints),
    });
    // Only gateways with credentials have secrets; other cases stay as they were.
    if !r.secrets.is_empty() {
        all["secrets"] = packed(&r.secrets).into();
    }
    if show.is_empty() {
        return all;
    }
    let mut shown = serde_json::Map::new();
    for key in show {
        shown.insert(key.clone(), all[&key].clone());
    }
    Value::Object(shown)
}

/// A line diff (longest common subsequence) of two texts, `-` expected and `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("{:>5} + {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("{:>5} - {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("snapshot dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("input.yaml").exists())
        .collect();
    out.sort();
    out
}

#[test]
fn snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 8, "snapshot cases missing: {all:?}");
    for case in all {
        let actual = serde_json::to_string_pretty(&translate(&case.join("input.yaml")))
            .expect("json")
            + "\n";
        let expected_path = case.join("expected.json");
        if update {
            std::fs::write(&expected_path, &actual).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {}\n{}",
                case.display(),
                diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "snapshots differ (UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        failures.join("\n")
    );
}

#[test]
fn diff_shows_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nx\nc\n");
    assert!(d.contains("- b") && d.contains("+ x"), "{d}");
}

/// The contract between control plane and data plane: every resource translated for a
/// snapshot case must be accepted by `weft proxy`'s xDS converters and runtime compiler
/// (except proxyless gRPC api listeners, which only gRPC reads).
#[test]
fn proxy_accepts_every_translated_resource() {
    use weft_proxy_config::{from_pb, runtime};
    let mut rejected = Vec::new();
    for case in cases() {
        let (r, _) = resources(&case.join("input.yaml"));
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let mut note = |what: &str, res: &str, e: String| {
            // Certificate files a DestinationRule or Gateway names live on the proxy's host;
            // the cases use /etc/certs/..., which this machine does not have.
            if e.contains("cannot read \"/etc/certs/") {
                return;
            }
            rejected.push(format!("{name}: {what} {res}: {e}"));
        };
        // An api_listener is for a proxyless gRPC client's resolver, never for `weft proxy`,
        // which NACKs it (an unsupported Listener field) rather than ignoring it silently.
        for l in r.listeners.iter().filter(|l| l.api_listener.is_none()) {
            match from_pb::listener(l) {
                Ok(m) => {
                    if let Err(e) = runtime::listener::build_listener(&m) {
                        note("listener", &l.name, e.to_string());
                    }
                }
                Err(e) => note("listener", &l.name, e.to_string()),
            }
        }
        for rc in &r.routes {
            match from_pb::route_configuration(rc) {
                Ok(m) => {
                    if let Err(e) = runtime::route::build_route_table(&rc.name, &m) {
                        note("route", &rc.name, e.to_string());
                    }
                }
                Err(e) => note("route", &rc.name, e.to_string()),
            }
        }
        for c in &r.clusters {
            match from_pb::cluster(c) {
                Ok(m) => {
                    if let Err(e) = runtime::cluster::build_cluster(&m) {
                        note("cluster", &c.name, e.to_string());
                    }
                }
                Err(e) => note("cluster", &c.name, e.to_string()),
            }
        }
        for la in &r.endpoints {
            if let Err(e) = from_pb::load_assignment(la) {
                note("endpoints", &la.cluster_name, e.to_string());
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "weft proxy rejects {} translated resources:\n{}",
        rejected.len(),
        rejected.join("\n")
    );
}
