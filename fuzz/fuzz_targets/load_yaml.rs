//! Fuzzes the YAML/JSON reader, the typed decoding of every kind and validation: no input may
//! panic, and every problem must point at a line inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_config::{LoadOptions, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = load_str("fuzz.yaml", text, &LoadOptions::default());
    let lines = weft_config::yaml::line_count(text);
    for p in loaded.problems.iter().chain(weft_validate::validate_all(&loaded.objects).iter()) {
        assert!(p.line <= lines, "problem outside the input: {p}");
    }
});
