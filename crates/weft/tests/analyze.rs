//! End-to-end tests of `weft analyze`: the built binary on small YAML sets, checking the
//! printed messages, the output formats, the thresholds and the exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BROKEN: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews2
      weight: 50
    - destination:
        host: reviews
        subset: v3
      weight: 50
";

const CLEAN: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: ratings
spec:
  selector:
    app: ratings
  ports:
  - name: http
    port: 9080
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - route:
    - destination:
        host: ratings
";

/// Only an Info message (IST0118) and nothing worse.
const INFO_ONLY: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - name: web
    port: 8080
";

/// A fresh directory holding `files`.
fn workdir(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "weft-analyze-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write input");
    }
    dir
}

fn weft(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run weft")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn broken_set_prints_istioctl_lines_and_exits_79() {
    let dir = workdir(&[("bookinfo.yaml", BROKEN)]);
    let out = weft(&dir, &["-f", "bookinfo.yaml"]);
    assert_eq!(out.status.code(), Some(79), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Error [IST0101] (VirtualService default/reviews bookinfo.yaml:33) Referenced host not \
         found: \"reviews2\"\n\
         Error [IST0101] (VirtualService default/reviews bookinfo.yaml:37) Referenced host+subset \
         in destinationrule not found: \"reviews+v3\"\n"
    );
    assert!(
        stderr(&out).contains("Error: Analyzers found issues when analyzing namespace: default."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_output_carries_istioctl_fields() {
    let dir = workdir(&[("bookinfo.yaml", BROKEN)]);
    let out = weft(&dir, &["-f", "bookinfo.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(79));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let first = &v[0];
    assert_eq!(first["code"], "IST0101");
    assert_eq!(first["level"], "Error");
    assert_eq!(first["message"], "Referenced host not found: \"reviews2\"");
    assert_eq!(first["origin"], "VirtualService default/reviews");
    assert_eq!(first["reference"], "bookinfo.yaml:33");
    assert_eq!(
        first["documentationUrl"],
        "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
    );
    assert_eq!(v.as_array().map(Vec::len), Some(2));
}

#[test]
fn yaml_output_is_a_list() {
    let dir = workdir(&[("bookinfo.yaml", BROKEN)]);
    let out = weft(&dir, &["-f", "bookinfo.yaml", "-o", "yaml"]);
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "- code: IST0101\n  documentationUrl: \
             https://istio.io/latest/docs/reference/config/analysis/ist0101/\n  level: Error\n  \
             message: 'Referenced host not found: \"reviews2\"'\n  origin: VirtualService \
             default/reviews\n  reference: bookinfo.yaml:33\n"
        ),
        "{text}"
    );
}

#[test]
fn clean_set_says_so_and_exits_0() {
    let dir = workdir(&[("ratings.yaml", CLEAN)]);
    let out = weft(&dir, &["-f", "ratings.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "\u{2714} No validation issues found when analyzing namespace: default.\n"
    );
}

#[test]
fn thresholds_decide_exit_code_and_output() {
    let dir = workdir(&[("web.yaml", INFO_ONLY)]);
    let default = weft(&dir, &["-f", "web.yaml"]);
    assert_eq!(default.status.code(), Some(0));
    assert!(stdout(&default).starts_with("Info [IST0118] (Service default/web web.yaml:7)"));

    let strict = weft(&dir, &["-f", "web.yaml", "--failure-threshold", "Info"]);
    assert_eq!(strict.status.code(), Some(79));

    let quiet = weft(&dir, &["-f", "web.yaml", "--output-threshold", "warning"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stdout(&quiet), "");
    assert!(stderr(&quiet).contains("No validation issues found"));
}

#[test]
fn namespace_flag_defaults_objects_and_filters_messages() {
    let dir = workdir(&[("bookinfo.yaml", BROKEN)]);
    let out = weft(&dir, &["-f", "bookinfo.yaml", "-n", "shop"]);
    assert_eq!(out.status.code(), Some(79));
    assert!(stdout(&out).contains("(VirtualService shop/reviews bookinfo.yaml:33)"));

    let prod = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: prod\n\
                spec:\n  ports:\n  - name: web\n    port: 80\n";
    let dir = workdir(&[("prod.yaml", prod)]);
    let only_default = weft(&dir, &["-f", "prod.yaml"]);
    assert_eq!(stdout(&only_default), "");
    let all = weft(&dir, &["-f", "prod.yaml", "-A"]);
    assert!(
        stdout(&all).contains("(Service prod/web prod.yaml:8)"),
        "{}",
        stdout(&all)
    );
    assert!(!stderr(&all).contains("No validation issues"));
}

#[test]
fn directories_are_read_and_schema_errors_are_ist0106() {
    let bad = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: \
               typo\nspec:\n  hostz:\n  - a\n";
    let dir = workdir(&[("a.yaml", CLEAN), ("b.yaml", bad)]);
    let out = weft(&dir, &["-f", "."]);
    assert_eq!(out.status.code(), Some(79));
    let text = stdout(&out);
    assert!(
        text.contains("Error [IST0106] (VirtualService default/typo ./b.yaml:7) Schema validation error: spec.hostz: unknown field \"hostz\""),
        "{text}"
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = workdir(&[]);
    let missing = weft(&dir, &["-f", "nope.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.yaml"),
        "{}",
        stderr(&missing)
    );

    let bad_format = weft(&dir, &["-f", "nope.yaml", "-o", "xml"]);
    assert_eq!(bad_format.status.code(), Some(2));
    let bad_level = weft(&dir, &["-f", "nope.yaml", "--failure-threshold", "Fatal"]);
    assert_eq!(bad_level.status.code(), Some(2));
}

#[test]
fn list_analyzers() {
    let dir = workdir(&[]);
    let out = weft(&dir, &["-L"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("* virtualservice.DestinationHostAnalyzer:\n"));
}
