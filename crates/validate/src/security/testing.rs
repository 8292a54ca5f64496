//! Test helpers: load YAML as a user would write it and run the object's rules.

use weft_config::{LoadOptions, Problem, Severity, load_str};

/// Problems of every object in `yaml`, which must load cleanly.
pub(crate) fn problems(yaml: &str) -> Vec<Problem> {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    assert!(
        loaded.problems.is_empty(),
        "load problems: {:?}",
        loaded.problems
    );
    assert!(!loaded.objects.is_empty(), "no objects in {yaml}");
    loaded
        .objects
        .iter()
        .flat_map(crate::validate_object)
        .collect()
}

fn of(yaml: &str, severity: Severity) -> Vec<(String, String)> {
    problems(yaml)
        .into_iter()
        .filter(|p| p.severity == severity)
        .map(|p| (p.field, p.message))
        .collect()
}

/// `(field, message)` of every error.
pub(crate) fn errors(yaml: &str) -> Vec<(String, String)> {
    of(yaml, Severity::Error)
}

/// `(field, message)` of every warning.
pub(crate) fn warnings(yaml: &str) -> Vec<(String, String)> {
    of(yaml, Severity::Warning)
}

/// The single error of `yaml`, with no warnings either.
pub(crate) fn only_error(yaml: &str) -> (String, String) {
    let all = problems(yaml);
    assert_eq!(all.len(), 1, "expected one problem, got {all:#?}");
    assert_eq!(all[0].severity, Severity::Error, "{:?}", all[0]);
    (all[0].field.clone(), all[0].message.clone())
}

/// Asserts `yaml` has no problems at all.
pub(crate) fn assert_clean(yaml: &str) {
    let all = problems(yaml);
    assert!(all.is_empty(), "expected no problems, got {all:#?}");
}
