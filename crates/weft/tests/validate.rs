//! `weft validate` from the built binary: output shape, exit codes, stdin, JSON.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn validate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("validate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run weft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

const GOOD: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n";

#[test]
fn valid_input_prints_nothing_and_exits_0() {
    let o = validate(&["-f", "-"], GOOD);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn problems_are_one_line_each_and_exit_1() {
    let bad = format!(
        "{GOOD}---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: g, namespace: prod}}\nspec:\n  servers:\n  - port: {{number: 70000, name: http, protocol: HTTP}}\n    hosts: [\"*\"]\n"
    );
    let o = validate(&["-f", "-"], &bad);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("<stdin>:15: Gateway prod/g: spec.servers[0].port.number: "),
        "{out}"
    );
    assert!(lines[0].contains("65535"), "{out}");
}

#[test]
fn json_output_has_every_field() {
    let o = validate(
        &["-f", "-", "-o", "json"],
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 0}]\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let p = &v[0];
    assert_eq!(p["file"], "<stdin>");
    assert_eq!(p["line"], 5);
    assert_eq!(p["kind"], "Service");
    assert_eq!(p["namespace"], "default");
    assert_eq!(p["name"], "s");
    assert_eq!(p["field"], "spec.ports[0].port");
    assert!(
        p["message"].as_str().is_some_and(|m| m.contains("1-65535")),
        "{p}"
    );
}

#[test]
fn unreadable_input_exits_2_and_the_rest_is_still_checked() {
    let o = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["validate", "-f", "/nonexistent.yaml", "-f", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("/nonexistent.yaml:0: cannot read"));
}

#[test]
fn namespace_flag_fills_in_missing_namespaces() {
    let o = validate(
        &["-n", "shop", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspc: {}\n",
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Service shop/s: spc: unknown field"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
