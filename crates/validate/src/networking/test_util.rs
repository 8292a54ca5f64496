//! Helpers for the networking rule tests: objects from YAML, validated as a whole.

use weft_config::{LoadOptions, Problem, Severity, load_str};

/// All validation problems of the objects in `yaml`, which must load cleanly.
pub(super) fn problems(yaml: &str) -> Vec<Problem> {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    assert!(
        loaded.problems.is_empty(),
        "loading failed: {:#?}",
        loaded.problems
    );
    crate::validate_all(&loaded.objects)
}

/// A `kind` object named `name` in namespace `default`; `spec` is the YAML below `spec:`,
/// indented by two spaces.
pub(super) fn object(kind: &str, name: &str, spec: &str) -> String {
    let version = if kind == "EnvoyFilter" {
        "v1alpha3"
    } else {
        "v1"
    };
    format!(
        "apiVersion: networking.istio.io/{version}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: default\nspec:{spec}\n"
    )
}

fn show(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {:?} {}: {}", p.severity, p.field, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `spec` of `kind` has no problem at all.
pub(super) fn assert_clean(kind: &str, spec: &str) {
    let found = problems(&object(kind, "test", spec));
    assert!(
        found.is_empty(),
        "expected no problems, got:\n{}",
        show(&found)
    );
}

fn assert_has(kind: &str, spec: &str, severity: Severity, field: &str, message: &str) {
    let found = problems(&object(kind, "test", spec));
    let hit = found
        .iter()
        .any(|p| p.severity == severity && p.field == field && p.message == message);
    assert!(
        hit,
        "expected {severity:?} at {field}: {message}\ngot:\n{}",
        show(&found)
    );
}

pub(super) fn assert_error(kind: &str, spec: &str, field: &str, message: &str) {
    assert_has(kind, spec, Severity::Error, field, message);
}

pub(super) fn assert_warning(kind: &str, spec: &str, field: &str, message: &str) {
    assert_has(kind, spec, Severity::Warning, field, message);
}

/// The rule holds for `good` (no problems) and reports `message` at `field` for `bad`.
pub(super) fn pass_fail(kind: &str, good: &str, bad: &str, field: &str, message: &str) {
    assert_clean(kind, good);
    assert_error(kind, bad, field, message);
}
