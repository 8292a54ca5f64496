//! Test helpers: run one analyzer over YAML loaded with `weft_config::load_str` and compare the
//! log lines, which carry the code, level, origin, position and text of each message.

use weft_config::{LoadOptions, load_str};

use super::Analyzer;
use crate::context::Context;
use crate::message::sort_and_dedup;

/// The log lines `analyzer` reports for `yaml` (read as `test.yaml`), sorted. Loading must
/// succeed without errors, so a test cannot pass on a typo in its own input.
pub fn lines(analyzer: &dyn Analyzer, yaml: &str) -> Vec<String> {
    let loaded = load_str("test.yaml", yaml, &LoadOptions::default());
    let errors: Vec<String> = loaded
        .problems
        .iter()
        .filter(|p| p.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "test input does not load: {errors:#?}");
    let ctx = Context::new(&loaded.objects, &[]);
    let mut messages = analyzer.run(&ctx);
    sort_and_dedup(&mut messages);
    messages.iter().map(ToString::to_string).collect()
}
