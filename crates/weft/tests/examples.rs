//! The bundled examples validate and analyze clean; broken variants of them do not, with the
//! exact message a user would see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run weft")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_example_validates_clean() {
    let o = weft(&[
        "validate",
        "-f",
        "examples/bookinfo",
        "-f",
        "examples/traffic",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "",
        "no problems expected"
    );
}

#[test]
fn bookinfo_and_each_traffic_scenario_analyze_clean() {
    let o = weft(&["analyze", "-f", "examples/bookinfo"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("No validation issues found"),
        "{}",
        text(&o)
    );
    let scenarios = std::fs::read_dir(root().join("examples/traffic")).expect("examples/traffic");
    let mut checked = 0;
    for entry in scenarios {
        let path = entry.expect("entry").path();
        if !path.is_dir() || path.ends_with("destination-rule-all-mtls") {
            continue;
        }
        let dir = path
            .strip_prefix(root())
            .expect("relative")
            .to_string_lossy()
            .to_string();
        let o = weft(&["analyze", "-f", "examples/bookinfo", "-f", &dir]);
        assert!(o.status.success(), "{dir}: {}", text(&o));
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} scenarios found");
}

#[test]
fn the_mtls_destination_rules_analyze_clean_in_place_of_the_plain_ones() {
    let b = "examples/bookinfo";
    let o = weft(&[
        "analyze",
        "-f",
        &format!("{b}/platform.yaml"),
        "-f",
        &format!("{b}/ingress-gateway.yaml"),
        "-f",
        &format!("{b}/gateway.yaml"),
        "-f",
        "examples/traffic/destination-rule-all-mtls",
        "-f",
        "examples/traffic/route-all-v1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Each broken variant, analyzed with the Bookinfo objects, gives the message istioctl would.
#[test]
fn broken_variants_report_the_exact_problem() {
    let broken = "crates/weft/tests/data/broken";
    let cases = [
        (
            "reviews-unknown-host.yaml",
            "Error [IST0101] (VirtualService default/reviews crates/weft/tests/data/broken/reviews-unknown-host.yaml:12) Referenced host not found: \"reviews2\"",
        ),
        (
            "reviews-unknown-subset.yaml",
            "Error [IST0101] (VirtualService default/reviews crates/weft/tests/data/broken/reviews-unknown-subset.yaml:13) Referenced host+subset in destinationrule not found: \"reviews+v4\"",
        ),
        (
            "reviews-bad-weights.yaml",
            "Error [IST0106] (VirtualService default/reviews crates/weft/tests/data/broken/reviews-bad-weights.yaml:11) Schema validation error: spec.http[0].route: weights must sum to 100 when there is more than one destination (they sum to 110)",
        ),
        (
            "ratings-typo.yaml",
            "Error [IST0106] (DestinationRule default/ratings crates/weft/tests/data/broken/ratings-typo.yaml:10) Schema validation error: spec.trafficPolicy.loadBalancer.simpel: unknown field \"simpel\" (did you mean \"simple\"?)",
        ),
        (
            "gateway-wrong-port.yaml",
            "Warning [IST0104] (Gateway default/bookinfo-gateway crates/weft/tests/data/broken/gateway-wrong-port.yaml:",
        ),
    ];
    for (file, expected) in cases {
        let path = format!("{broken}/{file}");
        // The broken object replaces Bookinfo's own object of the same name.
        let replaced = if file.starts_with("gateway") {
            "gateway.yaml"
        } else if file.starts_with("ratings") {
            "destination-rule-all.yaml"
        } else {
            ""
        };
        let base: Vec<String> = [
            "platform.yaml",
            "ingress-gateway.yaml",
            "gateway.yaml",
            "destination-rule-all.yaml",
        ]
        .into_iter()
        .filter(|f| *f != replaced)
        .map(|f| format!("examples/bookinfo/{f}"))
        .collect();
        let mut args = vec!["analyze"];
        for f in &base {
            args.extend(["-f", f.as_str()]);
        }
        args.extend(["-f", &path]);
        let o = weft(&args);
        let out = text(&o);
        assert!(
            out.contains(expected),
            "{file}: expected\n  {expected}\ngot\n{out}"
        );
        if expected.starts_with("Error") {
            assert_eq!(o.status.code(), Some(79), "{file}: {out}");
        }
    }
}

#[test]
fn validate_flags_the_schema_problems_of_broken_variants() {
    let o = weft(&["validate", "-f", "crates/weft/tests/data/broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("crates/weft/tests/data/broken/ratings-typo.yaml:10: DestinationRule default/ratings: spec.trafficPolicy.loadBalancer.simpel: unknown field \"simpel\" (did you mean \"simple\"?)"), "{out}");
    assert!(out.contains("reviews-bad-weights.yaml:11: VirtualService default/reviews: spec.http[0].route: weights must sum to 100"), "{out}");
}
